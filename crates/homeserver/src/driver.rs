//! Running the sans-IO flows of the `flows` crate over the client: each request a flow
//! asks for is sent and its answer, whatever its status, fed back.

use zeroize::Zeroizing;

use crate::{
    Client, ClientError,
    transport::{Call, read_body, read_response},
};

impl Client {
    /// Runs a flow of the `flows` crate to its end over this client: each request it asks
    /// for is sent, and each answer (errors included) fed back — as the bytes of its body
    /// when the request [`wants_bytes`](flows::Request::wants_bytes) (a keys body, which
    /// the flow reads with the backup body's grammar), else parsed.
    pub fn run<F: flows::Flow>(&self, mut flow: F) -> Result<F::Output, ClientError> {
        while let Some(request) = flow.next_request() {
            if request.wants_bytes {
                let (status, bytes) = self.send_for_bytes(&request)?;
                flow.receive_bytes(status, &bytes)
            } else {
                let response = self.send_request(&request)?;
                flow.receive(response)
            }
            .map_err(ClientError::Flow)?;
        }
        flow.finish().map_err(ClientError::Flow)
    }

    /// Sends `request` as [`Client::send_request`] does, returning the status and the
    /// body's bytes unparsed (for [`flows::Request::wants_bytes`] and
    /// [`flows::SetupStep::SendForBytes`]).
    pub(crate) fn send_for_bytes(
        &self,
        request: &flows::Request,
    ) -> Result<(u16, Zeroizing<Vec<u8>>), ClientError> {
        let mut call = Call::of(request);
        call.errors_are_answers = true;
        self.exchange(&call, |mut response| {
            let status = response.status().as_u16();
            Ok((status, Zeroizing::new(read_body(&mut response)?)))
        })
    }

    /// Sends one request a flow or a plan of the `flows` crate made, and returns the
    /// server's answer whatever its status. Rate limits are waited out; a 5xx answer or a
    /// failed connection is retried with backoff when the request may be repeated
    /// ([`flows::Request::repeatable`]), and the last answer returned; a connection that
    /// cannot be made is an error.
    pub fn send_request(&self, request: &flows::Request) -> Result<flows::Response, ClientError> {
        let mut call = Call::of(request);
        call.errors_are_answers = true;
        self.exchange(&call, read_response)
    }
}
