//! What the end-to-end tests share: the real `dorado` binary, started on a
//! random port against a fresh database, and spoken to over real HTTP.

#![allow(dead_code)]

use dorado_store::testing::TestDatabase;
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_dorado");

/// Every database the suite runs on: SQLite and PostgreSQL.
pub fn databases() -> Vec<TestDatabase> {
    // Callable from plain and from tokio tests alike: a thread with its own
    // runtime does the async set-up.
    std::thread::spawn(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
            .block_on(TestDatabase::all())
    })
    .join()
    .expect("the test databases are created")
}

/// The `dorado` command line against one database.
pub struct Cli {
    pub url: String,
}

impl Cli {
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_with_stdin(args, "")
    }

    pub fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = Command::new(BIN)
            .arg("--database")
            .arg(&self.url)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the dorado binary starts");
        child
            .stdin
            .take()
            .expect("stdin is piped")
            .write_all(stdin.as_bytes())
            .expect("stdin takes the input");
        child.wait_with_output().expect("dorado finishes")
    }

    /// Runs with `--json`, asserts success, and parses stdout.
    pub fn json(&self, args: &[&str]) -> Value {
        self.json_with_stdin(args, "")
    }

    pub fn json_with_stdin(&self, args: &[&str], stdin: &str) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.run_with_stdin(&all, stdin);
        assert!(
            out.status.success(),
            "dorado {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "dorado {args:?} printed no JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }
}

/// A running `dorado serve` on a random port.
pub struct Server {
    child: Child,
    pub base: String,
    pub cli: Cli,
    pub http: reqwest::Client,
    /// Every line the server printed so far.
    pub log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    /// Owned databases are dropped with the server; `None` for a server
    /// started again on a database another one owns.
    _db: Option<TestDatabase>,
}

impl Server {
    pub fn start(db: TestDatabase) -> Server {
        Self::start_with(db, &[])
    }

    pub fn start_with(db: TestDatabase, extra: &[&str]) -> Server {
        let mut s = Self::start_on(&db.url, extra);
        s._db = Some(db);
        s
    }

    /// A server on a database that something else owns.
    pub fn start_on(url: &str, extra: &[&str]) -> Server {
        Self::start_logging(url, extra, "info")
    }

    /// A server on a database that something else owns, logging at `level`.
    pub fn start_logging(url: &str, extra: &[&str], level: &str) -> Server {
        let cli = Cli {
            url: url.to_owned(),
        };
        let mut child = Command::new(BIN)
            .arg("--database")
            .arg(url)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .env("DORADO_LOG", level)
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the dorado binary starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = std::sync::mpsc::channel();
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let lines = log.clone();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(mut all) = lines.lock() {
                    all.push(line.clone());
                }
                if !sent && let Some(at) = line.find("listening on http://") {
                    let addr = line[at + "listening on ".len()..]
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_owned();
                    let _ = tx.send(addr);
                    sent = true;
                }
                // Keep draining so the server never blocks on a full pipe.
            }
        });
        let base = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the server says where it listens");
        Server {
            child,
            base,
            cli,
            http: reqwest::Client::new(),
            log,
            _db: None,
        }
    }

    /// What the server printed, as one text.
    pub fn log_text(&self) -> String {
        self.log.lock().map(|l| l.join("\n")).unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends SIGTERM and waits for the process to end.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// An organization `acme` with services `checkout` and `cart` and a
    /// token with every scope; returns the token.
    pub fn acme(&self) -> String {
        self.cli.json(&["org", "create", "acme"]);
        self.cli
            .json(&["service", "create", "--org", "acme", "checkout"]);
        self.cli
            .json(&["service", "create", "--org", "acme", "cart"]);
        let t = self.cli.json(&[
            "token",
            "create",
            "--org",
            "acme",
            "--name",
            "ci",
            "--scopes",
            "ingest,read,admin",
        ]);
        t["token"].as_str().expect("a token").to_owned()
    }

    pub async fn post(&self, path: &str, token: &str, body: &str) -> (u16, Value) {
        let r = self
            .http
            .post(self.url(path))
            .bearer_auth(token)
            .body(body.to_owned())
            .send()
            .await
            .expect("the server answers");
        answer(r).await
    }

    pub async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        let r = self
            .http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("the server answers");
        answer(r).await
    }
}

pub async fn answer(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let text = r.text().await.expect("a body");
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
