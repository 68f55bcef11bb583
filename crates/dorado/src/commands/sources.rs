//! `dorado source`: the tools that send their own webhooks (api.md,
//! "Native sources"). A secret is printed only when it is made or given.

use super::find_org;
use crate::cli::SourceCommand;
use crate::output::{emit, or_dash};
use anyhow::{anyhow, bail};
use dorado_core::SourceKind;
use dorado_store::{NewSource, Org, Source, Store};
use serde_json::{Value, json};
use std::io::{BufRead, IsTerminal};

pub async fn run(store: &Store, json: bool, c: SourceCommand) -> anyhow::Result<()> {
    match c {
        SourceCommand::Create {
            org,
            kind,
            name,
            deploy_workflows,
            secret_stdin,
        } => {
            let o = find_org(store, &org).await?;
            let kind = SourceKind::parse(&kind).map_err(|e| anyhow!("--kind: {e}"))?;
            let secret = secret_stdin.then(|| read_secret(kind)).transpose()?;
            let made = store
                .create_source(o.id, kind, name.as_deref(), &deploy_workflows, secret)
                .await?;
            emit(json, &new_json(&o, &made), || created_text(&o, &made))
        }
        SourceCommand::List { org } => {
            let o = find_org(store, &org).await?;
            let sources = store.list_sources(o.id).await?;
            let value: Vec<Value> = sources.iter().map(|s| source_json(&o, s)).collect();
            emit(json, &value, || {
                let mut out = format!(
                    "{:>6}  {:<10}  {:<20}  {:<24}  {:<24}  URL",
                    "ID", "KIND", "NAME", "LAST ACCEPTED", "LAST REFUSED"
                );
                for s in &sources {
                    out.push_str(&format!(
                        "\n{:>6}  {:<10}  {:<20}  {:<24}  {:<24}  {}",
                        s.id,
                        s.kind,
                        s.name,
                        or_dash(s.last_accepted_at),
                        or_dash(s.last_refused_at),
                        url(&o, s)
                    ));
                }
                out
            })
        }
        SourceCommand::Rotate {
            org,
            source,
            secret_stdin,
        } => {
            let o = find_org(store, &org).await?;
            let s = find_source(store, &o, &source).await?;
            let secret = secret_stdin.then(|| read_secret(s.kind)).transpose()?;
            if secret.is_none() && s.kind == SourceKind::Pagerduty {
                bail!(
                    "PagerDuty makes the signing secret: pass --secret-stdin and give the subscription's secret"
                );
            }
            let made = store.rotate_source(o.id, s.id, secret).await?;
            emit(json, &new_json(&o, &made), || {
                let mut out = created_text(&o, &made);
                out.push_str("\nThe old secret is still accepted for 24 hours.");
                out
            })
        }
        SourceCommand::Delete { org, source } => {
            let o = find_org(store, &org).await?;
            let s = find_source(store, &o, &source).await?;
            store.delete_source(o.id, s.id).await?;
            emit(json, &json!({"id": s.id, "deleted": true}), || {
                format!(
                    "deleted source {} (id {}): its deliveries are refused from now on; what it sent stays",
                    s.name, s.id
                )
            })
        }
    }
}

async fn find_source(store: &Store, org: &Org, source: &str) -> anyhow::Result<Source> {
    store
        .find_source(org.id, source)
        .await?
        .ok_or_else(|| anyhow!("no source '{source}' in organization '{}'", org.name))
}

/// Where the tool posts, below the server's address.
fn url(org: &Org, s: &Source) -> String {
    format!("/api/v1/orgs/{}/sources/{}/webhook", org.name, s.id)
}

fn source_json(org: &Org, s: &Source) -> Value {
    json!({
        "id": s.id, "org_id": s.org_id, "kind": s.kind, "name": s.name, "url": url(org, s),
        "deploy_workflows": s.deploy_workflows, "has_secret": s.has_secret,
        "previous_secret_until": s.previous_secret_until, "created_at": s.created_at,
        "last_accepted_at": s.last_accepted_at, "last_refused_at": s.last_refused_at,
    })
}

fn new_json(org: &Org, made: &NewSource) -> Value {
    let mut value = source_json(org, &made.source);
    value["secret"] = json!(made.secret);
    value
}

fn created_text(org: &Org, made: &NewSource) -> String {
    let s = &made.source;
    let mut out = format!(
        "source {} (id {}, {}) of {}\n  URL: <your Dorado address>{}",
        s.name,
        s.id,
        s.kind,
        org.name,
        url(org, s)
    );
    match (&made.secret, s.kind) {
        (Some(secret), _) => {
            out.push_str(&format!(
                "\n  secret: {secret}\n  (shown this once: keep it)"
            ));
        }
        (None, SourceKind::Pagerduty) => out.push_str(
            "\n  no secret yet: create the webhook subscription in PagerDuty, then give its \
             signing secret with `dorado source rotate --secret-stdin`",
        ),
        (None, _) => out.push_str(&format!(
            "\n  senders authenticate with an ingest token: \
             dorado token create --org {} --name cdevents --scopes ingest",
            org.name
        )),
    }
    out
}

fn read_secret(kind: SourceKind) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("{kind} secret: ");
    }
    let mut line = String::new();
    stdin.lock().read_line(&mut line)?;
    let secret = line.trim().to_owned();
    if secret.is_empty() {
        bail!("the secret (read from stdin) is empty");
    }
    Ok(secret)
}
