//! A real headless Chromium, driven through chromedriver's W3C WebDriver
//! HTTP API with reqwest: a handful of JSON calls, lighter than a WebDriver
//! crate and its TLS stack.
//!
//! Every step can leave a screenshot in `target/e2e-screenshots/`; a test
//! that panics leaves one more of the page it failed on.

use base64::Engine as _;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    driver: Child,
    port: u16,
    session: String,
    http: reqwest::Client,
    test: String,
    step: u32,
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| PathBuf::from(d).join(name))
        .find(|p| p.is_file())
}

/// `target/e2e-screenshots`, next to the `dorado` binary under test.
pub fn screenshot_dir() -> PathBuf {
    let bin = PathBuf::from(crate::common::BIN);
    let target = bin
        .parent()
        .and_then(|p| p.parent())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"));
    target.join("e2e-screenshots")
}

impl Browser {
    /// Starts chromedriver and a headless Chromium. `None` (the test is
    /// skipped) when they are not installed, except under CI, where
    /// `.ci/run` installs them and their absence is a failure.
    pub async fn start(test: &str) -> Option<Browser> {
        let (Some(chromium), Some(driver)) = (on_path("chromium"), on_path("chromedriver")) else {
            assert!(
                std::env::var_os("CI").is_none(),
                "chromium and chromedriver are needed: apt-get install chromium chromium-driver"
            );
            eprintln!("skipping {test}: chromium or chromedriver is not installed");
            return None;
        };
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let driver = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let http = reqwest::Client::new();
        let status = format!("http://127.0.0.1:{port}/status");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = http.get(&status).send().await
                && let Ok(v) = r.json::<Value>().await
                && v["value"]["ready"] == true
            {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not get ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless", "--no-sandbox", "--disable-gpu",
                         "--disable-background-networking", "--disable-component-update",
                         "--no-first-run", "--disable-dev-shm-usage", "--window-size=1280,1100"],
            },
        }}});
        let mut browser = Browser {
            driver,
            port,
            session: String::new(),
            http,
            test: test.to_owned(),
            step: 0,
        };
        let v = browser.call("POST", "/session", Some(caps)).await;
        browser.session = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {v}"))
            .to_owned();
        std::fs::create_dir_all(screenshot_dir()).expect("the screenshot folder");
        Some(browser)
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("http://127.0.0.1:{}{path}", self.port);
        let req = match method {
            "GET" => self.http.get(&url),
            "DELETE" => self.http.delete(&url),
            _ => self
                .http
                .post(&url)
                .json(&body.unwrap_or_else(|| json!({}))),
        };
        let r = req.send().await.expect("chromedriver answers");
        let ok = r.status().is_success();
        let v: Value = r.json().await.expect("chromedriver answers JSON");
        assert!(ok, "WebDriver {method} {path} failed: {v}");
        v
    }

    async fn session_call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let path = format!("/session/{}{path}", self.session);
        self.call(method, &path, body).await["value"].take()
    }

    pub async fn goto(&self, url: &str) {
        self.session_call("POST", "/url", Some(json!({"url": url})))
            .await;
    }

    pub async fn url(&self) -> String {
        self.session_call("GET", "/url", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    async fn try_find(&self, css: &str) -> Option<String> {
        let path = format!("/session/{}/element", self.session);
        let url = format!("http://127.0.0.1:{}{path}", self.port);
        let r = self
            .http
            .post(url)
            .json(&json!({"using": "css selector", "value": css}))
            .send()
            .await
            .ok()?;
        if !r.status().is_success() {
            return None;
        }
        let v: Value = r.json().await.ok()?;
        v["value"][ELEMENT].as_str().map(str::to_owned)
    }

    /// The element `css` selects, waiting up to five seconds for it.
    pub async fn find(&self, css: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(e) = self.try_find(css).await {
                return e;
            }
            assert!(
                Instant::now() < deadline,
                "no element matches {css} on {}",
                self.url().await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn find_all(&self, css: &str) -> Vec<String> {
        let v = self
            .session_call(
                "POST",
                "/elements",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e[ELEMENT].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub async fn click(&self, css: &str) {
        let e = self.find(css).await;
        self.session_call("POST", &format!("/element/{e}/click"), None)
            .await;
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        self.session_call("POST", &format!("/element/{e}/clear"), None)
            .await;
        self.session_call(
            "POST",
            &format!("/element/{e}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    pub async fn text(&self, css: &str) -> String {
        let e = self.find(css).await;
        self.element_text(&e).await
    }

    pub async fn element_text(&self, e: &str) -> String {
        self.session_call("GET", &format!("/element/{e}/text"), None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub async fn attribute(&self, e: &str, name: &str) -> Option<String> {
        self.session_call("GET", &format!("/element/{e}/attribute/{name}"), None)
            .await
            .as_str()
            .map(str::to_owned)
    }

    /// Accepts the `confirm()` the page opened.
    pub async fn accept_alert(&self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let url = format!(
                "http://127.0.0.1:{}/session/{}/alert/accept",
                self.port, self.session
            );
            let r = self.http.post(url).json(&json!({})).send().await;
            if r.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            assert!(Instant::now() < deadline, "no dialog to accept");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Saves the page as `{test}-{step}-{label}.png`.
    pub async fn screenshot(&mut self, label: &str) {
        self.step += 1;
        let v = self.session_call("GET", "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or_default())
            .expect("a PNG in base64");
        let file = screenshot_dir().join(format!("{}-{:02}-{label}.png", self.test, self.step));
        std::fs::write(&file, png).expect("the screenshot is written");
    }

    pub async fn quit(mut self) {
        self.session_call("DELETE", "", None).await;
        self.session.clear();
    }

    /// A blocking WebDriver call, for `Drop` (no runtime there).
    fn blocking(&self, method: &str, path: &str) -> Option<Value> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
        write!(
            s,
            "{method} /session/{}{path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
            self.session
        )
        .ok()?;
        // chromedriver keeps the connection open: read what the headers announce.
        let mut reader = BufReader::new(s);
        let mut length = None;
        let mut chunked = false;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).ok()?;
            let lower = line.trim().to_ascii_lowercase();
            if lower.is_empty() {
                break;
            }
            if let Some(n) = lower.strip_prefix("content-length:") {
                length = n.trim().parse::<usize>().ok();
            }
            chunked |= lower.starts_with("transfer-encoding:") && lower.contains("chunked");
        }
        let body = if chunked {
            let mut out = Vec::new();
            loop {
                let mut size = String::new();
                reader.read_line(&mut size).ok()?;
                let n = usize::from_str_radix(size.trim(), 16).ok()?;
                if n == 0 {
                    break;
                }
                let mut chunk = vec![0; n + 2];
                reader.read_exact(&mut chunk).ok()?;
                out.extend_from_slice(&chunk[..n]);
            }
            out
        } else {
            let mut out = vec![0; length?];
            reader.read_exact(&mut out).ok()?;
            out
        };
        let body = String::from_utf8(body).ok()?;
        serde_json::from_str(&body).ok()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            if std::thread::panicking()
                && let Some(v) = self.blocking("GET", "/screenshot")
                && let Some(b64) = v["value"].as_str()
                && let Ok(png) = base64::engine::general_purpose::STANDARD.decode(b64)
            {
                let file = screenshot_dir().join(format!("{}-failure.png", self.test));
                let _ = std::fs::write(&file, png);
                eprintln!("the page at the failure: {}", file.display());
            }
            let _ = self.blocking("DELETE", "");
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
