//! What the native-source tests share: making sources with the real
//! command line, and signing deliveries the way each vendor does.
#![allow(dead_code)]

use crate::common::{Server, answer};
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;

pub const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../dorado-hooks/tests/samples/native"
);

pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
}

pub fn hmac_hex(secret: &[u8], parts: &[&[u8]]) -> String {
    hex::encode(hmac_bytes(secret, parts))
}

fn hmac_bytes(secret: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("any key length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().to_vec()
}

/// A source made with `dorado source create --json`; its answer (with the
/// secret, shown this once).
pub fn create_source(s: &Server, args: &[&str], stdin: &str) -> Value {
    let mut all = vec!["source", "create", "--org", "acme"];
    all.extend_from_slice(args);
    s.cli.json_with_stdin(&all, stdin)
}

pub fn secret(source: &Value) -> String {
    source["secret"].as_str().expect("a secret").to_owned()
}

pub fn path(source: &Value) -> String {
    source["url"].as_str().expect("a url").to_owned()
}

/// Posts as GitHub does: the event's name, a delivery id and the signature.
pub async fn github(
    s: &Server,
    source: &Value,
    event: &str,
    delivery: &str,
    body: &[u8],
) -> (u16, Value) {
    let sig = format!("sha256={}", hmac_hex(secret(source).as_bytes(), &[body]));
    github_signed(s, source, event, delivery, body, &sig, "application/json").await
}

pub async fn github_signed(
    s: &Server,
    source: &Value,
    event: &str,
    delivery: &str,
    body: &[u8],
    signature: &str,
    content_type: &str,
) -> (u16, Value) {
    let r = s
        .http
        .post(s.url(&path(source)))
        .header("X-GitHub-Event", event)
        .header("X-GitHub-Delivery", delivery)
        .header("X-Hub-Signature-256", signature)
        .header("Content-Type", content_type)
        .header("User-Agent", "GitHub-Hookshot/test")
        .body(body.to_vec())
        .send()
        .await
        .expect("the server answers");
    answer(r).await
}

/// Posts as GitLab does with a secret token and a signing token (the
/// source's one secret is both).
pub async fn gitlab(
    s: &Server,
    source: &Value,
    event: &str,
    key: &str,
    body: &[u8],
) -> (u16, Value) {
    let secret = secret(source);
    let b64 = secret
        .strip_prefix("whsec_")
        .expect("a Standard Webhooks secret");
    let signing_key = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("base64");
    let timestamp = "1733300000";
    let mac = hmac_bytes(
        &signing_key,
        &[key.as_bytes(), b".", timestamp.as_bytes(), b".", body],
    );
    let signature = format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac)
    );
    let r = s
        .http
        .post(s.url(&path(source)))
        .header("X-Gitlab-Event", event)
        .header("X-Gitlab-Token", secret.as_str())
        .header("Idempotency-Key", key)
        .header("webhook-id", key)
        .header("webhook-timestamp", timestamp)
        .header("webhook-signature", signature)
        .header("Content-Type", "application/json")
        .body(body.to_vec())
        .send()
        .await
        .expect("the server answers");
    answer(r).await
}

/// Posts as PagerDuty does, signed with `secret`.
pub async fn pagerduty(s: &Server, source: &Value, secret: &str, body: &[u8]) -> (u16, Value) {
    let sig = format!("v1={}", hmac_hex(secret.as_bytes(), &[body]));
    let r = s
        .http
        .post(s.url(&path(source)))
        .header("X-PagerDuty-Signature", sig)
        .header("Content-Type", "application/json")
        .body(body.to_vec())
        .send()
        .await
        .expect("the server answers");
    answer(r).await
}

/// Posts a CloudEvent as an emitter does, with an ingest token.
pub async fn cdevents(
    s: &Server,
    source: &Value,
    token: &str,
    content_type: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Value) {
    let mut req = s
        .http
        .post(s.url(&path(source)))
        .bearer_auth(token)
        .header("Content-Type", content_type);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req
        .body(body.to_vec())
        .send()
        .await
        .expect("the server answers");
    answer(r).await
}
