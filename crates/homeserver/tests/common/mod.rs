//! The real Synapse the tests talk to (started by `scripts/synapse.sh start`).
#![allow(dead_code, unreachable_pub)]

use homeserver::Client;
use serde_json::json;

/// The homeserver URL: `MKB_HOMESERVER`, else the one `scripts/synapse.sh` wrote. Without
/// one, tests are skipped with a loud message — except in CI, where they must run.
pub fn homeserver() -> Option<String> {
    if let Ok(url) = std::env::var("MKB_HOMESERVER") {
        return Some(url);
    }
    let env = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.synapse/env");
    let url = std::fs::read_to_string(env).ok().and_then(|t| {
        t.lines()
            .find_map(|l| l.strip_prefix("MKB_HOMESERVER=").map(str::to_owned))
    });
    let reachable = url.as_ref().is_some_and(|u| ureq_probe(u));
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

fn ureq_probe(url: &str) -> bool {
    std::net::TcpStream::connect(url.trim_start_matches("http://").trim_end_matches('/')).is_ok()
}

/// Registers a fresh user; returns a logged-in client, the user id and the password.
pub fn new_user(url: &str) -> (Client, String, String) {
    let mut rnd = [0u8; 6];
    getrandom::fill(&mut rnd).unwrap();
    let name = format!(
        "t{}",
        rnd.iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
    let password = format!("pw-{name}-long-enough");
    let agent = ureq_agent();
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

fn ureq_agent() -> ureq::Agent {
    ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build(),
    )
}
