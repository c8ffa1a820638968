//! Helpers for tests against a real homeserver (started by `scripts/synapse.sh start`).
//! Only with the `test-util` feature.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::Client;
use serde_json::json;

/// The homeserver URL: `MKB_HOMESERVER`, else the one `scripts/synapse.sh` wrote. Without
/// one, tests are skipped with a loud message — except in CI, where they must run.
pub fn homeserver_url() -> Option<String> {
    if let Ok(url) = std::env::var("MKB_HOMESERVER") {
        return Some(url);
    }
    let env = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.synapse/env");
    let url = std::fs::read_to_string(env).ok().and_then(|t| {
        t.lines()
            .find_map(|l| l.strip_prefix("MKB_HOMESERVER=").map(str::to_owned))
    });
    let reachable = url.as_ref().is_some_and(|u| probe(u));
    if reachable {
        return url;
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "no homeserver reachable in CI: scripts/test.sh must start Synapse (scripts/synapse.sh start)"
        );
    }
    eprintln!(
        "\n*** SKIPPED: no Synapse reachable. Run `bash scripts/synapse.sh start` first. ***\n"
    );
    None
}

fn probe(url: &str) -> bool {
    std::net::TcpStream::connect(url.trim_start_matches("http://").trim_end_matches('/')).is_ok()
}

/// Registers a fresh user; returns a logged-in client, the user id and the password.
pub fn new_user(url: &str) -> (Client, String, String) {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let name = format!(
        "t{}x{nanos}x{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let password = format!("pw-{name}-long-enough");
    let agent = ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build(),
    );
    let mut r = agent
        .post(&format!("{url}/_matrix/client/v3/register"))
        .send_json(
            json!({"username": name, "password": password, "auth": {"type": "m.login.dummy"}}),
        )
        .unwrap();
    assert!(
        r.status().is_success(),
        "register: {}",
        r.body_mut().read_to_string().unwrap()
    );
    let (client, info) = Client::login_password(url, &name, &password).unwrap();
    (client, info.user_id, password)
}
