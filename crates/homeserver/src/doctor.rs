//! The doctor over the blocking client: [`flows::DoctorFlow`] run for the token's owner.

use flows::{Diagnosis, DoctorFlow, DoctorOptions};

use crate::{Client, ClientError};

impl Client {
    /// Reads the account of this client's token and diagnoses it with what the user has
    /// (`input`: Security Key or Phrase, or the backup's own key; `None` skips what needs a
    /// key). The device of this token is not counted as a login left behind. `progress` is
    /// called as entries are decrypted: (checked so far, to check in all). Nothing is changed
    /// on the account.
    pub fn diagnose(
        &self,
        input: Option<&str>,
        options: DoctorOptions,
        progress: impl FnMut(usize, usize) + Send + 'static,
    ) -> Result<Diagnosis, ClientError> {
        let me = self.whoami()?;
        let options = options.own_device_id(me.device_id.clone());
        self.run(DoctorFlow::new(&me.user_id, input, options).on_entry_progress(progress))
    }
}
