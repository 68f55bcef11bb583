//! What the web page tests share: a cookie-carrying HTTP client that signs
//! in through the form, a scenario dated relative to today (the pages show
//! the last N days), and reading the figures a scorecard shows.

#![allow(dead_code)]

pub mod webdriver;

use crate::common::Server;
use serde_json::{Value, json};
use std::collections::HashMap;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub const PASSWORD: &str = "correct horse battery";

/// Creates a user of `org` and returns its email.
pub fn user(s: &Server, org: &str, email: &str, admin: bool) -> String {
    let mut args = vec!["user", "create", "--org", org, "--email", email];
    if admin {
        args.push("--admin");
    }
    s.cli.json_with_stdin(&args, PASSWORD);
    email.to_owned()
}

/// A browser without a browser: keeps the session cookie, never follows
/// redirects (the tests look at them).
pub struct Web {
    pub base: String,
    pub http: reqwest::Client,
    pub cookie: Option<String>,
}

pub struct Answer {
    pub status: u16,
    pub location: Option<String>,
    pub set_cookie: Vec<String>,
    pub body: String,
}

impl Web {
    pub fn new(s: &Server) -> Web {
        Web {
            base: s.base.clone(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("a client"),
            cookie: None,
        }
    }

    async fn answer(&mut self, r: reqwest::Response) -> Answer {
        let set_cookie: Vec<String> = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        for c in &set_cookie {
            let pair = c.split(';').next().unwrap().to_owned();
            self.cookie = (!pair.ends_with('=')).then_some(pair);
        }
        Answer {
            status: r.status().as_u16(),
            location: r
                .headers()
                .get("location")
                .map(|v| v.to_str().unwrap().to_owned()),
            set_cookie,
            body: r.text().await.unwrap(),
        }
    }

    pub async fn get(&mut self, path: &str) -> Answer {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(c) = &self.cookie {
            req = req.header("cookie", c);
        }
        let r = req.send().await.expect("the server answers");
        self.answer(r).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Answer {
        let body = form
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(c) = &self.cookie {
            req = req.header("cookie", c);
        }
        let r = req.send().await.expect("the server answers");
        self.answer(r).await
    }

    /// Signs in through the form; panics unless it worked.
    pub async fn sign_in(&mut self, email: &str) {
        let a = self.sign_in_with(email, PASSWORD).await;
        assert_eq!(a.status, 303, "signing in failed: {}", a.body);
        assert_eq!(a.location.as_deref(), Some("/scorecard"));
    }

    pub async fn sign_in_with(&mut self, email: &str, password: &str) -> Answer {
        let form = self.get("/signin").await;
        let csrf = csrf(&form.body);
        self.post(
            "/signin",
            &[("_csrf", &csrf), ("email", email), ("password", password)],
        )
        .await
    }

    /// The CSRF token of the page at `path`.
    pub async fn csrf_of(&mut self, path: &str) -> String {
        let page = self.get(path).await;
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        csrf(&page.body)
    }
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub fn csrf(html: &str) -> String {
    attribute_after(html, r#"name="_csrf" value=""#).expect("the page has a CSRF token")
}

fn attribute_after(html: &str, marker: &str) -> Option<String> {
    let at = html.find(marker)? + marker.len();
    Some(html[at..].split('"').next()?.to_owned())
}

/// `metric -> (data-value, data-level)` of a scorecard's cards, and the
/// window (`data-from`, `data-to`) they cover.
pub struct Shown {
    pub figures: HashMap<String, (String, String)>,
    pub from: String,
    pub to: String,
}

pub fn shown(html: &str) -> Shown {
    let mut figures = HashMap::new();
    for part in html.split(r#"<article class="card" "#).skip(1) {
        let get = |name: &str| attribute_after(part, &format!(r#"{name}=""#)).unwrap();
        figures.insert(get("data-metric"), (get("data-value"), get("data-level")));
    }
    Shown {
        figures,
        from: attribute_after(html, r#"data-from=""#).expect("data-from"),
        to: attribute_after(html, r#"data-to=""#).expect("data-to"),
    }
}

/// The headline number and level of each figure in a `/dora` answer, as
/// the page's `data-value` and `data-level` write them.
pub fn expected(report: &Value) -> HashMap<String, (String, String)> {
    let headline = [
        ("deployment_frequency", "per_day"),
        ("lead_time_for_changes", "median_seconds"),
        ("change_failure_rate", "rate"),
        ("failed_deployment_recovery_time", "median_seconds"),
        ("time_to_restore_service", "median_seconds"),
        ("rework_rate", "rate"),
    ];
    headline
        .into_iter()
        .map(|(metric, key)| {
            let m = &report[metric];
            let level = match &m["level"] {
                Value::String(s) => s.clone(),
                _ => "null".into(),
            };
            (metric.to_owned(), (m[key].to_string(), level))
        })
        .collect()
}

fn at(days_ago: i64, hours: i64) -> String {
    let midnight = OffsetDateTime::now_utc().replace_time(time::Time::MIDNIGHT);
    (midnight - time::Duration::days(days_ago) + time::Duration::hours(hours))
        .format(&Rfc3339)
        .unwrap()
}

pub const C1: &str = "c100000000000000000000000000000000000001";
pub const C2: &str = "c200000000000000000000000000000000000002";
pub const C3: &str = "c300000000000000000000000000000000000003";
pub const C9: &str = "c900000000000000000000000000000000000009";

/// Checkout deploys three times in the last ten days (and fails once), cart
/// once three weeks ago; one incident of each, one resolved.
pub async fn scenario(s: &Server, org: &str, token: &str) {
    let changes = json!({"repo": "https://github.com/acme/shop", "commits": [
        {"sha": C1, "parents": [], "committed_at": at(10, 0)},
        {"sha": C2, "parents": [C1], "committed_at": at(6, 0)},
        {"sha": C3, "parents": [C2], "committed_at": at(3, 2)},
    ]});
    let (status, v) = s
        .post(
            &format!("/api/v1/orgs/{org}/changes"),
            token,
            &changes.to_string(),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    let repo = "github.com/acme/shop";
    let events = json!([
        {"type": "deploy", "service": "checkout", "id": "D1", "time": at(9, 0), "repo": repo, "commit_sha": C1},
        {"type": "deploy", "service": "checkout", "id": "D2", "time": at(5, 0), "repo": repo, "commit_sha": C2},
        {"type": "deploy", "service": "checkout", "id": "D3", "time": at(2, 0), "repo": repo, "commit_sha": C3},
        {"type": "deploy", "service": "checkout", "id": "D4", "time": at(1, 0), "repo": repo, "commit_sha": C3, "result": "failure"},
        {"type": "deploy", "service": "cart", "id": "E1", "time": at(20, 0), "repo": "github.com/acme/cart",
         "commit_sha": C9, "commits": [{"sha": C9, "committed_at": at(23, 0)}]},
        {"type": "incident_started", "service": "checkout", "id": "INC-1", "time": at(2, 1), "title": "Checkout fails"},
        {"type": "incident_resolved", "service": "checkout", "id": "INC-1", "time": at(2, 4)},
        {"type": "incident_started", "service": "cart", "id": "INC-2", "time": at(3, 0), "title": "Cart is slow"},
    ]);
    let (status, v) = s
        .post(
            &format!("/api/v1/orgs/{org}/events"),
            token,
            &events.to_string(),
        )
        .await;
    assert_eq!(status, 201, "{v}");
}

/// `GET /dora` for the window a page showed.
pub async fn api_figures(s: &Server, token: &str, shown: &Shown, extra: &str) -> Value {
    let (status, v) = s
        .get(
            &format!(
                "/api/v1/orgs/acme/dora?from={}&to={}{extra}",
                shown.from, shown.to
            ),
            token,
        )
        .await;
    assert_eq!(status, 200, "{v}");
    v
}
