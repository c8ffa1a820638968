//! The network's edges: a homeserver behind a private certificate authority is reached with
//! `--ca-file` (and refused without it: the system trust store does not know that CA), and
//! a token or password is never sent over plain http:// to another host unless asked.
//! The TLS server is Python's `ssl` on loopback with a CA and certificate made by the
//! `openssl` command for this test.
#![cfg(unix)]

mod common;
use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
};

use common::{p, run, stderr, stdout, tmp, write};

const SERVER: &str = r#"
import http.server, json, ssl, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"errcode": "M_NOT_FOUND", "error": "No backup found"}).encode()
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
srv = http.server.HTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print(srv.server_address[1], flush=True)
srv.serve_forever()
"#;

fn openssl(dir: &std::path::Path, args: &[&str]) {
    let o = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl command is needed for this test");
    assert!(
        o.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

struct Server(Child);
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_private_ca_is_trusted_only_when_given() {
    let dir = tmp("ca");
    let ext = write(
        &dir,
        "server.ext",
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    );
    openssl(
        &dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=megolm-backup test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign",
        ],
    );
    openssl(
        &dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    openssl(
        &dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            &ext,
        ],
    );
    let mut child = Command::new("python3")
        .args([
            "-c",
            SERVER,
            p(&dir.join("server.pem")),
            p(&dir.join("server.key")),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _server = Server(child);
    let url = format!("https://127.0.0.1:{}", line.trim());
    let token = write(&dir, "token.txt", "syt_test");

    // The system trust store does not know this CA: refused, and said so.
    let o = run(
        &["info", "--homeserver", &url, "--access-token-file", &token],
        "",
    );
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("cannot reach the homeserver"),
        "{}",
        stderr(&o)
    );
    // An untrusted certificate stays untrusted: not retried.
    assert!(!stderr(&o).contains("retrying"), "{}", stderr(&o));

    // With the CA: the server's answer (no backup) comes through.
    let ca = dir.join("ca.pem");
    let o = run(
        &[
            "info",
            "--homeserver",
            &url,
            "--access-token-file",
            &token,
            "--ca-file",
            p(&ca),
        ],
        "",
    );
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("no key backup on this account"),
        "{}",
        stdout(&o)
    );

    // A CA file that holds no certificate is a clear error.
    let bad = write(&dir, "bad.pem", "not a certificate\n");
    let o = run(
        &[
            "info",
            "--homeserver",
            &url,
            "--access-token-file",
            &token,
            "--ca-file",
            &bad,
        ],
        "",
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("cannot use the CA file"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_token_never_goes_over_plain_http_to_another_host() {
    let dir = tmp("http");
    let token = write(&dir, "token.txt", "syt_secret_token");
    // 192.0.2.1 is TEST-NET-1: nothing is sent there, the refusal comes first.
    for url in [
        "http://192.0.2.1:8008",
        "http://matrix.example.org",
        "http://[2001:db8::1]:80",
    ] {
        let o = run(
            &["info", "--homeserver", url, "--access-token-file", &token],
            "",
        );
        assert_eq!(o.status.code(), Some(1), "{url}");
        assert!(
            stderr(&o).contains("refusing to send your access token"),
            "{}",
            stderr(&o)
        );
        assert!(!stderr(&o).contains("syt_secret_token"));
    }
}

/// The URL is parsed, not prefix-matched: plain http in any case, or with user-info that
/// hides the real host, is refused before any name is resolved (`.invalid` never
/// resolves: a DNS attempt would be "cannot reach"), and user-info is never printed.
#[test]
fn urls_are_parsed_whatever_the_case_or_user_info() {
    let dir = tmp("parsed");
    let token = write(&dir, "token.txt", "syt_secret_token");
    for (url, said) in [
        (
            "HTTP://name.invalid:8008",
            "refusing to send your access token",
        ),
        ("hTtP://name.invalid", "refusing to send your access token"),
        ("http://localhost:1@name.invalid", "user name or password"),
        ("http://[::1]@name.invalid", "user name or password"),
        (
            "https://alice:PASSWORD@name.invalid",
            "user name or password",
        ),
        ("HTTP://alice:PASSWORD@127.0.0.1:1", "user name or password"),
        ("ftp://alice:PASSWORD@name.invalid", "its scheme is ftp"),
        (
            "https://alice:PASSWORD@exa mple.invalid",
            "not a homeserver URL",
        ),
    ] {
        let o = run(
            &["info", "--homeserver", url, "--access-token-file", &token],
            "",
        );
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{url}: {err}");
        assert!(err.contains(said), "{url}: {err}");
        assert!(!err.contains("cannot reach"), "{url}: {err}");
        assert!(!err.contains("PASSWORD"), "{url}: {err}");
        assert!(!err.contains("syt_secret_token"), "{url}: {err}");
    }
    // The CLI names its option where the library says "allow it explicitly".
    let o = run(
        &[
            "info",
            "--homeserver",
            "HTTP://name.invalid",
            "--access-token-file",
            &token,
        ],
        "",
    );
    assert!(
        stderr(&o).contains("--allow-insecure-http"),
        "{}",
        stderr(&o)
    );
}

/// A token file that cannot hold a token is said so, before anything is sent (port 1 on
/// loopback: nothing listens, so a request would be "cannot reach").
#[test]
fn a_malformed_token_file_is_not_a_network_error() {
    let dir = tmp("token");
    for (name, text, said) in [
        ("empty.txt", "\n", "it is empty"),
        ("lines.txt", "syt_one\nsyt_two\n", "more than one line"),
        ("space.txt", "syt one", "character 4"),
        ("utf8.txt", "syt_\u{e9}t\u{e9}", "character 5"),
    ] {
        let file = write(&dir, name, text);
        let o = run(
            &[
                "info",
                "--homeserver",
                "http://127.0.0.1:1",
                "--access-token-file",
                &file,
            ],
            "",
        );
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{name}: {err}");
        assert!(
            err.contains("does not hold an access token"),
            "{name}: {err}"
        );
        assert!(err.contains(&file), "{name}: {err}");
        assert!(err.contains(said), "{name}: {err}");
        assert!(!err.contains("cannot reach"), "{name}: {err}");
        assert!(!err.contains("syt_"), "{name}: {err}");
    }
}
