//! Starts the real `fluxer-server` binary on a random loopback port with a fresh data directory, and a
//! small HTTP/1.1 client to drive it. The server is killed when the harness is dropped.
//!
//! Shared by the `e2e` and `hardening` test targets; each uses part of it.
//!
//! With `FLUXER_E2E_DATABASE=postgres` the same servers keep their data in PostgreSQL (a fresh
//! database per data directory on the machine's server at 127.0.0.1:5432) with every other port on
//! its embedded default: the monolith on PostgreSQL, no Redis or NATS. `scripts/test` runs the
//! end-to-end suite both ways.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub(crate) struct Server {
    child: Child,
    pub base: String,
    pub addr: String,
    pub data_dir: PathBuf,
    /// Leave the data directory behind when dropped (for a restart on it).
    keep_data: bool,
    /// Everything the server logged (to stderr) so far.
    output: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Server {
    /// Starts the monolith with extra `FLUXER_CONFIG__*` variables.
    pub(crate) fn start(extra_env: &[(&str, &str)]) -> Server {
        Server::start_in(fresh_data_dir(), extra_env)
    }

    /// Starts the monolith on an existing (or new) data directory.
    pub(crate) fn start_in(data_dir: PathBuf, extra_env: &[(&str, &str)]) -> Server {
        Server::spawn(data_dir, extra_env)
    }

    fn spawn(data_dir: PathBuf, extra_env: &[(&str, &str)]) -> Server {
        std::fs::create_dir_all(&data_dir).unwrap();
        let mut cmd = fluxer_server(&data_dir);
        cmd.env("FLUXER_CONFIG__SERVICES__SERVER__PORT", "0")
            .env("FLUXER_CONFIG__LOG__FORMAT", "json")
            .env("FLUXER_CONFIG__LOG__LEVEL", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start fluxer-server");
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let output = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        // The log (stderr) is kept for `log()` and passed on: the test shows it when it fails.
        let log = output.clone();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stderr);
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 {
                log.lock().unwrap().push_str(&line);
                eprint!("{line}");
                line.clear();
            }
        });
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 {
                if let Some(url) = line.split("listening on ").nth(1) {
                    let _ = tx.send(
                        url.trim()
                            .trim_matches('"')
                            .split_whitespace()
                            .next()
                            .unwrap_or("")
                            .to_owned(),
                    );
                }
                line.clear();
            }
        });
        let base = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("server printed its address");
        let addr = base.trim_start_matches("http://").to_owned();
        Server {
            child,
            base,
            addr,
            data_dir,
            keep_data: false,
            output,
        }
    }

    /// The server's log so far (`warn` and above unless the test set `LOG__LEVEL`).
    pub(crate) fn log(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// Leaves the data directory (and its database) behind for a restart on it, once the process
    /// has stopped; the caller then owns it.
    pub(crate) fn keep_data(mut self) -> PathBuf {
        self.keep_data = true;
        self.data_dir.clone()
    }

    /// The server process's ID.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the server with SIGKILL, as a crash would, and returns its data directory (which the
    /// caller then owns).
    pub(crate) fn kill_keeping_data(mut self) -> PathBuf {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.keep_data = true;
        self.data_dir.clone()
    }

    pub(crate) fn client(&self) -> Client {
        Client {
            addr: self.addr.clone(),
            token: None,
            retry_on_429: true,
        }
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub(crate) fn terminate(&mut self) -> std::process::ExitStatus {
        unsafe_kill(self.child.id(), 15);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "server did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A data directory no other server of this run uses.
fn fresh_data_dir() -> PathBuf {
    std::env::temp_dir().join(format!(
        "fluxer-e2e-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ))
}

fn unsafe_kill(pid: u32, signal: i32) {
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status();
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !self.keep_data {
            let _ = std::fs::remove_dir_all(&self.data_dir);
            drop_postgres_database(&self.data_dir);
        }
    }
}

/// `fluxer-server` (any command) on a data directory and its database: the file inside it, or the
/// PostgreSQL database named after it.
pub(crate) fn fluxer_server(data_dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fluxer-server"));
    match postgres_database(data_dir) {
        Some(url) => cmd
            .env("FLUXER_CONFIG__DATABASE__BACKEND", "postgres")
            .env("FLUXER_CONFIG__DATABASE__URL", url)
            .env("FLUXER_CONFIG__DATABASE__POOL_SIZE", "8"),
        None => cmd.env("FLUXER_CONFIG__DATABASE__PATH", data_dir.join("fluxer.db")),
    };
    cmd.env("FLUXER_CONFIG__INSTANCE__DATA_DIR", data_dir);
    cmd
}

/// Whether this run keeps the servers' data in PostgreSQL (`FLUXER_E2E_DATABASE=postgres`).
pub(crate) fn on_postgres() -> bool {
    match std::env::var("FLUXER_E2E_DATABASE").as_deref() {
        Ok("postgres") => true,
        Ok("sqlite") | Err(_) => false,
        Ok(other) => panic!("FLUXER_E2E_DATABASE must be sqlite or postgres, not {other:?}"),
    }
}

/// The database a data directory's server uses, named after the directory (so a restart on the
/// same directory finds its data): created on first use. `None` on SQLite runs.
fn postgres_database(data_dir: &std::path::Path) -> Option<String> {
    if !on_postgres() {
        return None;
    }
    Some(crate::postgres::create_database(&database_name(data_dir)))
}

fn drop_postgres_database(data_dir: &std::path::Path) {
    if on_postgres() {
        crate::postgres::drop_database(&database_name(data_dir));
    }
}

fn database_name(data_dir: &std::path::Path) -> String {
    let dir = data_dir.file_name().unwrap().to_string_lossy();
    let safe: String = dir
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("fx_{safe}")
}

/// A response: status, lower-cased headers, body.
#[derive(Debug, Clone)]
pub(crate) struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Asserts the status, printing the body when it differs.
    pub(crate) fn expect(self, status: u16) -> Response {
        assert_eq!(
            self.status,
            status,
            "body: {}",
            String::from_utf8_lossy(&self.body)
        );
        self
    }

    /// Asserts a Fluxer error body with this status and code.
    pub(crate) fn expect_error(self, status: u16, code: &str) -> Value {
        let r = self.expect(status);
        assert_eq!(r.header("content-type"), Some("application/json"));
        let v = r.json();
        assert_eq!(v["code"], code, "{v}");
        assert!(v["message"].is_string(), "{v}");
        v
    }
}

#[derive(Clone)]
pub(crate) struct Client {
    pub addr: String,
    pub token: Option<String>,
    pub retry_on_429: bool,
}

impl Client {
    pub(crate) fn with_token(&self, token: &str) -> Client {
        Client {
            token: Some(token.to_owned()),
            ..self.clone()
        }
    }

    pub(crate) fn raw(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        loop {
            let r = self.once(method, path, headers, body);
            if r.status == 429 && self.retry_on_429 {
                let wait: f64 = r.json()["retry_after"].as_f64().unwrap_or(1.0);
                std::thread::sleep(Duration::from_millis((wait * 1000.0) as u64 + 20));
                continue;
            }
            return r;
        }
    }

    fn once(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
        let mut stream = TcpStream::connect(&self.addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        if let Some(t) = &self.token {
            req.push_str(&format!("Authorization: {t}\r\n"));
        }
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        stream.write_all(req.as_bytes()).unwrap();
        // Large bodies are written from another thread while this one reads: a server that refuses a
        // body answers before reading it all, and the answer must not be lost to the reset that follows.
        let writer = if body.len() > 64 * 1024 {
            let mut w = stream.try_clone().unwrap();
            let owned = body.to_vec();
            Some(std::thread::spawn(move || {
                let _ = w.write_all(&owned);
            }))
        } else {
            stream.write_all(body).unwrap();
            None
        };
        let mut raw = Vec::new();
        let mut buf = [0u8; 16 * 1024];
        loop {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => raw.extend_from_slice(&buf[..n]),
            }
        }
        if let Some(w) = writer {
            let _ = stream.shutdown(std::net::Shutdown::Both);
            let _ = w.join();
        }
        parse_response(&raw)
    }

    pub(crate) fn get(&self, path: &str) -> Response {
        self.raw("GET", path, &[], b"")
    }

    pub(crate) fn delete(&self, path: &str) -> Response {
        self.raw("DELETE", path, &[], b"")
    }

    pub(crate) fn send(&self, method: &str, path: &str, body: &Value) -> Response {
        let bytes = serde_json::to_vec(body).unwrap();
        self.raw(
            method,
            path,
            &[("Content-Type", "application/json")],
            &bytes,
        )
    }

    pub(crate) fn post(&self, path: &str, body: &Value) -> Response {
        self.send("POST", path, body)
    }

    pub(crate) fn patch(&self, path: &str, body: &Value) -> Response {
        self.send("PATCH", path, body)
    }

    pub(crate) fn put(&self, path: &str, body: &Value) -> Response {
        self.send("PUT", path, body)
    }
}

fn parse_response(raw: &[u8]) -> Response {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("response head");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    Response {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = data.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&data[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&data[eol + 2..eol + 2 + size]);
        data = &data[eol + 2 + size + 2..];
    }
    out
}
