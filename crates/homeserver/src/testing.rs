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

/// The devices of the token's owner (`GET /devices`): (device id, display name), sorted.
pub fn devices(url: &str, token: &str) -> Vec<(String, Option<String>)> {
    let agent = ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build(),
    );
    let mut r = agent
        .get(&format!("{url}/_matrix/client/v3/devices"))
        .header("Authorization", &format!("Bearer {token}"))
        .call()
        .unwrap();
    let body: serde_json::Value = r.body_mut().read_json().unwrap();
    assert!(r.status().is_success(), "devices: {body}");
    let mut devices: Vec<_> = body["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["device_id"].as_str().unwrap().to_owned(),
                d["display_name"].as_str().map(str::to_owned),
            )
        })
        .collect();
    devices.sort();
    devices
}

pub use fake::{Delivery, FakeServer, Recorded, Reply};

/// The answer of a scripted server to the backup version request: version 7 of
/// `m.megolm_backup.v1.curve25519-aes-sha2`, holding `count` keys.
pub fn version_body(count: u64) -> serde_json::Value {
    json!({
        "algorithm": "m.megolm_backup.v1.curve25519-aes-sha2",
        "auth_data": {"public_key": "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo"},
        "count": count, "etag": "1", "version": "7"
    })
}

/// A keys body (`{"rooms": {…}}`, pretty-printed) of `n` sessions in one room. The
/// ciphertexts are not real: for tests of what is downloaded and saved, not decrypted.
pub fn keys_body(n: usize) -> Vec<u8> {
    let sessions: serde_json::Map<String, serde_json::Value> = (0..n)
        .map(|i| {
            (
                format!("session{i}"),
                json!({"first_message_index": 0, "forwarded_count": 0, "is_verified": false,
                       "session_data": {"ciphertext": "Y2lwaGVydGV4dA", "ephemeral": "ZXBo", "mac": "bWFj"}}),
            )
        })
        .collect();
    serde_json::to_vec_pretty(&json!({"rooms": {"!room:example.org": {"sessions": sessions}}}))
        .unwrap()
}

/// A scripted homeserver on 127.0.0.1 (never another address), for tests of what the
/// client does with slow, silent, cut, failing or rate-limiting answers.
mod fake {
    use std::{
        collections::VecDeque,
        io::{BufRead, BufReader, Read, Write},
        net::{Shutdown, TcpListener, TcpStream},
        sync::{
            Arc, Mutex,
            atomic::{AtomicBool, Ordering},
        },
        thread::JoinHandle,
        time::{Duration, Instant},
    };

    /// How a reply's body is sent.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Delivery {
        /// All at once.
        Whole,
        /// The first `n` bytes of the body, then the connection is closed.
        CutAfter(usize),
        /// `chunk` bytes every `every`.
        Slow {
            /// Bytes per write.
            chunk: usize,
            /// Pause between writes.
            every: Duration,
        },
        /// The first `n` bytes, then nothing for `pause`, then the connection is closed.
        StallAfter(usize, Duration),
        /// Nothing at all (not even the head) for `pause`, then the connection is closed.
        Silent(Duration),
    }

    /// One scripted answer.
    #[derive(Debug, Clone)]
    pub struct Reply {
        /// HTTP status.
        pub status: u16,
        /// Headers besides `Content-Length` and `Connection`.
        pub headers: Vec<(String, String)>,
        /// The body.
        pub body: Vec<u8>,
        /// `Content-Length` to announce: `Some(n)` (may lie), or `None` for a body that
        /// ends when the connection closes. Default: the body's length.
        pub content_length: Option<usize>,
        /// How the body is sent.
        pub delivery: Delivery,
    }

    impl Reply {
        /// A JSON answer.
        pub fn json(status: u16, body: &serde_json::Value) -> Self {
            Self::bytes(status, "application/json", body.to_string().into_bytes())
        }
        /// An answer of any type.
        pub fn bytes(status: u16, content_type: &str, body: Vec<u8>) -> Self {
            Self {
                status,
                headers: vec![("Content-Type".into(), content_type.into())],
                content_length: Some(body.len()),
                body,
                delivery: Delivery::Whole,
            }
        }
        /// Sent this way.
        pub fn delivered(mut self, delivery: Delivery) -> Self {
            self.delivery = delivery;
            self
        }
        /// With this `Content-Length` (`None`: none, the body ends with the connection).
        pub fn content_length(mut self, n: Option<usize>) -> Self {
            self.content_length = n;
            self
        }
    }

    /// A request the server received.
    #[derive(Debug, Clone)]
    pub struct Recorded {
        /// `GET`, `POST`, …
        pub method: String,
        /// The path with its query.
        pub path: String,
        /// The `Authorization` header, if any.
        pub authorization: Option<String>,
        /// The body.
        pub body: Vec<u8>,
    }

    struct Route {
        method: String,
        path: String,
        replies: VecDeque<Reply>,
    }

    #[derive(Default)]
    struct State {
        routes: Vec<Route>,
        log: Vec<Recorded>,
    }

    /// The server; stops when dropped. Requests with no route get 404 `M_UNRECOGNIZED`.
    pub struct FakeServer {
        url: String,
        state: Arc<Mutex<State>>,
        stop: Arc<AtomicBool>,
        thread: Option<JoinHandle<()>>,
    }

    /// The longest a server lives, whatever the test does.
    const LIFETIME: Duration = Duration::from_secs(300);

    impl FakeServer {
        /// Starts a server on a free port of 127.0.0.1.
        pub fn start() -> Self {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            listener.set_nonblocking(true).unwrap();
            let url = format!("http://{}", listener.local_addr().unwrap());
            let state = Arc::new(Mutex::new(State::default()));
            let stop = Arc::new(AtomicBool::new(false));
            let thread = {
                let (state, stop) = (state.clone(), stop.clone());
                std::thread::spawn(move || {
                    let born = Instant::now();
                    while !stop.load(Ordering::Relaxed) && born.elapsed() < LIFETIME {
                        match listener.accept() {
                            Ok((stream, _)) => {
                                let state = state.clone();
                                std::thread::spawn(move || serve(stream, &state));
                            }
                            Err(_) => std::thread::sleep(Duration::from_millis(5)),
                        }
                    }
                })
            };
            Self {
                url,
                state,
                stop,
                thread: Some(thread),
            }
        }

        /// `http://127.0.0.1:PORT`.
        pub fn url(&self) -> &str {
            &self.url
        }

        /// Answers `method` on `path` (without query; a trailing `*` matches any rest)
        /// with `replies` in turn, the last one again and again.
        pub fn on(&self, method: &str, path: &str, replies: impl IntoIterator<Item = Reply>) {
            self.state.lock().unwrap().routes.push(Route {
                method: method.into(),
                path: path.into(),
                replies: replies.into_iter().collect(),
            });
        }

        /// The requests received so far.
        pub fn requests(&self) -> Vec<Recorded> {
            self.state.lock().unwrap().log.clone()
        }
    }

    impl Drop for FakeServer {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::Relaxed);
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }

    fn serve(stream: TcpStream, state: &Mutex<State>) {
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        let mut reader = BufReader::new(&stream);
        let mut line = String::new();
        if reader.read_line(&mut line).is_err() {
            return;
        }
        let mut parts = line.split_whitespace();
        let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
            return;
        };
        let (method, path) = (method.to_owned(), path.to_owned());
        let mut length = 0usize;
        let mut authorization = None;
        for _ in 0..100 {
            let mut h = String::new();
            if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_owned());
                if k == "content-length" {
                    length = v.parse().unwrap_or(0);
                } else if k == "authorization" {
                    authorization = Some(v);
                }
            }
        }
        let mut body = vec![0; length.min(16 * 1024 * 1024)];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let reply = {
            let mut state = state.lock().unwrap();
            state.log.push(Recorded {
                method: method.clone(),
                path: path.clone(),
                authorization,
                body,
            });
            let bare = path.split('?').next().unwrap_or_default();
            state
                .routes
                .iter_mut()
                .find(|r| {
                    r.method == method
                        && match r.path.strip_suffix('*') {
                            Some(prefix) => bare.starts_with(prefix),
                            None => r.path == bare,
                        }
                })
                .and_then(|r| {
                    if r.replies.len() > 1 {
                        r.replies.pop_front()
                    } else {
                        r.replies.front().cloned()
                    }
                })
        };
        let reply = reply.unwrap_or_else(|| {
            Reply::json(
                404,
                &serde_json::json!({"errcode": "M_UNRECOGNIZED", "error": "no route"}),
            )
        });
        let _ = send(&stream, &reply);
        let _ = stream.shutdown(Shutdown::Both);
    }

    fn send(mut stream: &TcpStream, reply: &Reply) -> std::io::Result<()> {
        if let Delivery::Silent(pause) = reply.delivery {
            std::thread::sleep(pause);
            return Ok(());
        }
        let mut head = format!(
            "HTTP/1.1 {} Scripted\r\nConnection: close\r\n",
            reply.status
        );
        for (k, v) in &reply.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if let Some(n) = reply.content_length {
            head.push_str(&format!("Content-Length: {n}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes())?;
        let body = &reply.body;
        match reply.delivery {
            Delivery::Whole => stream.write_all(body)?,
            Delivery::CutAfter(n) => stream.write_all(&body[..n.min(body.len())])?,
            Delivery::Slow { chunk, every } => {
                for part in body.chunks(chunk.max(1)) {
                    stream.write_all(part)?;
                    stream.flush()?;
                    std::thread::sleep(every);
                }
            }
            Delivery::StallAfter(n, pause) => {
                stream.write_all(&body[..n.min(body.len())])?;
                stream.flush()?;
                std::thread::sleep(pause);
            }
            Delivery::Silent(_) => {}
        }
        stream.flush()
    }
}
