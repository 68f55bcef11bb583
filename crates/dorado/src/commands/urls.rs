//! `dorado service urls`: where each dialect posts for one service, and a
//! curl command that works as pasted once `DORADO_TOKEN` is set. The token
//! itself is never printed: the commands end up in CI scripts and logs.

use crate::output::emit;
use dorado_server::webhook_urls::webhook_urls;
use dorado_store::{Org, Service};
use serde_json::{Map, Value, json};

pub fn print(json: bool, org: &Org, service: &Service, base_url: &str) -> anyhow::Result<()> {
    let base = base_url.trim().trim_end_matches('/');
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        anyhow::bail!("--base-url must start with http:// or https://, not '{base}'");
    }
    let entries = webhook_urls(org, service, base);
    let value: Map<String, Value> = entries
        .iter()
        .map(|e| (e.key.to_owned(), json!({"url": e.url, "curl": e.curl})))
        .collect();
    emit(json, &value, || {
        let mut out = format!(
            "Webhooks of service {} (id {}) in {}, at {base}.\n\
             Set DORADO_TOKEN to a token with the ingest scope \
             (dorado token create --org {} --name ci); replace the sample values.",
            service.name, service.id, org.name, org.name
        );
        for e in &entries {
            out.push_str(&format!("\n\n{}\n  POST {}\n  {}", e.title, e.url, e.curl));
        }
        out
    })
}
