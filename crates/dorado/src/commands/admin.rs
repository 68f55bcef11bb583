//! The admin commands: organizations, services, tokens, users, reindex.

use super::{find_org, find_service};
use crate::cli::{Command, OrgCommand, ServiceCommand, TokenCommand, UserCommand};
use crate::duration;
use crate::output::{emit, or_dash};
use anyhow::{anyhow, bail};
use dorado_core::{Email, OrgName, ServiceName, Timestamp, TokenId, TokenScopes};
use dorado_hooks::sources::SourceConfig;
use dorado_hooks::{Context, Endpoint};
use dorado_store::{Org, Service, Store, TokenInfo};
use serde_json::{Value, json};
use std::io::{BufRead, IsTerminal};

pub async fn run(store: &Store, json: bool, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Org(c) => org(store, json, c).await,
        Command::Service(c) => service(store, json, c).await,
        Command::Token(c) => token(store, json, c).await,
        Command::Source(c) => super::sources::run(store, json, c).await,
        Command::User(c) => user(store, json, c).await,
        Command::Reindex { org } => reindex(store, json, org).await,
        Command::Serve(_) | Command::Bench(_) | Command::Report(_) | Command::Import(_) => {
            unreachable!("dispatched before")
        }
    }
}

fn org_json(o: &Org) -> Value {
    json!({"id": o.id, "name": o.name})
}

/// api.md's shape; a service that native sources know by other names
/// lists them too (`service update` always does).
fn service_json(s: &Service) -> Value {
    let mut v = json!({"id": s.id, "org_id": s.org_id, "name": s.name});
    if !s.aliases.is_empty() {
        v["aliases"] = json!(s.aliases);
    }
    v
}

async fn org(store: &Store, json: bool, c: OrgCommand) -> anyhow::Result<()> {
    match c {
        OrgCommand::Create { name } => {
            let name = OrgName::parse(&name).map_err(|e| anyhow!("organization name: {e}"))?;
            let o = store.create_org(&name).await?;
            emit(json, &org_json(&o), || {
                format!("created organization {} (id {})", o.name, o.id)
            })
        }
        OrgCommand::List => {
            let orgs = store.list_orgs().await?;
            let value: Vec<Value> = orgs.iter().map(org_json).collect();
            emit(json, &value, || {
                let mut out = format!("{:>6}  NAME", "ID");
                for o in &orgs {
                    out.push_str(&format!("\n{:>6}  {}", o.id, o.name));
                }
                out
            })
        }
        OrgCommand::Update {
            org,
            incident_link_window,
        } => {
            let o = find_org(store, &org).await?;
            let o = match incident_link_window.as_deref().map(str::trim) {
                None => o,
                Some("none") => store.set_incident_link_window(o.id, None).await?,
                Some(text) => {
                    let secs = duration::parse_seconds(text)
                        .map_err(|e| anyhow!("--incident-link-window: {e}"))?;
                    store.set_incident_link_window(o.id, Some(secs)).await?
                }
            };
            let window = o.incident_link_window_seconds.map(duration::format_seconds);
            let value = json!({"id": o.id, "name": o.name, "incident_link_window": window});
            emit(json, &value, || {
                format!(
                    "organization {} (id {}): incident link window {}",
                    o.name,
                    o.id,
                    window.clone().unwrap_or_else(|| "none".into())
                )
            })
        }
    }
}

async fn service(store: &Store, json: bool, c: ServiceCommand) -> anyhow::Result<()> {
    match c {
        ServiceCommand::Create { org, name } => {
            let o = find_org(store, &org).await?;
            let name = ServiceName::parse(&name).map_err(|e| anyhow!("service name: {e}"))?;
            let s = store.create_service(o.id, &name).await?;
            emit(json, &service_json(&s), || {
                format!("created service {} (id {}) in {}", s.name, s.id, o.name)
            })
        }
        ServiceCommand::List { org } => {
            let o = find_org(store, &org).await?;
            let services = store.list_services(o.id).await?;
            let value: Vec<Value> = services.iter().map(service_json).collect();
            emit(json, &value, || {
                let mut out = format!("{:>6}  NAME", "ID");
                for s in &services {
                    out.push_str(&format!("\n{:>6}  {}", s.id, s.name));
                }
                out
            })
        }
        ServiceCommand::Update {
            org,
            service,
            aliases,
            remove_aliases,
        } => {
            let o = find_org(store, &org).await?;
            let s = find_service(store, &o, &service).await?;
            let s = store
                .update_aliases(o.id, s.id, &aliases, &remove_aliases)
                .await?;
            let mut value = service_json(&s);
            value["aliases"] = json!(s.aliases);
            emit(json, &value, || {
                let aliases = if s.aliases.is_empty() {
                    "no aliases".to_owned()
                } else {
                    format!("aliases {}", s.aliases.join(", "))
                };
                format!("service {} (id {}): {aliases}", s.name, s.id)
            })
        }
        ServiceCommand::Urls {
            org,
            service,
            base_url,
        } => {
            let o = find_org(store, &org).await?;
            let s = find_service(store, &o, &service).await?;
            super::urls::print(json, &o, &s, &base_url)
        }
    }
}

fn token_json(t: &TokenInfo) -> Value {
    json!({
        "id": t.id, "name": t.name, "scopes": t.scopes, "service_id": t.service_id,
        "expires_at": t.expires_at, "revoked": t.revoked_at.is_some(),
        "revoked_at": t.revoked_at, "created_at": t.created_at,
    })
}

async fn token(store: &Store, json: bool, c: TokenCommand) -> anyhow::Result<()> {
    match c {
        TokenCommand::Create {
            org,
            name,
            scopes,
            expires_in,
            service,
        } => {
            let o = find_org(store, &org).await?;
            let name = name.trim();
            if name.is_empty() || name.chars().count() > 100 {
                bail!("--name must be 1 to 100 characters");
            }
            let scopes = TokenScopes::parse(&scopes).map_err(|e| anyhow!("--scopes: {e}"))?;
            let expires_at = match expires_in {
                None => None,
                Some(text) => {
                    let secs =
                        duration::parse_seconds(&text).map_err(|e| anyhow!("--expires-in: {e}"))?;
                    Some(
                        Timestamp::now()
                            .plus_millis(secs * 1000)
                            .ok_or_else(|| anyhow!("--expires-in is too far away"))?,
                    )
                }
            };
            let service_id = match service {
                None => None,
                Some(s) => Some(find_service(store, &o, &s).await?.id),
            };
            let t = store
                .create_token(o.id, name, scopes, expires_at, service_id)
                .await?;
            let value = json!({
                "id": t.info.id, "token": t.secret, "scopes": t.info.scopes,
                "expires_at": t.info.expires_at,
            });
            emit(json, &value, || {
                format!(
                    "created token {} ({}), scopes {}, expires {}\n\n    {}\n\nThis is the only time the token is shown: keep it in your CI's secrets.",
                    t.info.id,
                    t.info.name,
                    t.info.scopes,
                    or_dash(t.info.expires_at),
                    t.secret
                )
            })
        }
        TokenCommand::List { org } => {
            let o = find_org(store, &org).await?;
            let tokens = store.list_tokens(o.id).await?;
            let value: Vec<Value> = tokens.iter().map(token_json).collect();
            emit(json, &value, || {
                let mut out = format!(
                    "{:>6}  {:<20}  {:<18}  {:<8}  {:<24}  STATE",
                    "ID", "NAME", "SCOPES", "SERVICE", "EXPIRES"
                );
                for t in &tokens {
                    let state = if t.revoked_at.is_some() {
                        "revoked"
                    } else {
                        "active"
                    };
                    out.push_str(&format!(
                        "\n{:>6}  {:<20}  {:<18}  {:<8}  {:<24}  {state}",
                        t.id,
                        t.name,
                        t.scopes.to_string(),
                        or_dash(t.service_id),
                        or_dash(t.expires_at),
                    ));
                }
                out
            })
        }
        TokenCommand::Revoke { org, id } => {
            let o = find_org(store, &org).await?;
            let t = store.revoke_token(o.id, TokenId(id)).await?;
            emit(json, &json!({"id": t.id, "revoked": true}), || {
                format!("revoked token {} ({})", t.id, t.name)
            })
        }
    }
}

const MIN_PASSWORD: usize = 8;

fn read_password() -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("password (at least {MIN_PASSWORD} characters): ");
    }
    let mut line = String::new();
    stdin.lock().read_line(&mut line)?;
    let password = line.trim_end_matches(['\n', '\r']).to_owned();
    if password.chars().count() < MIN_PASSWORD {
        bail!("the password (read from stdin) must be at least {MIN_PASSWORD} characters");
    }
    Ok(password)
}

async fn user(store: &Store, json: bool, c: UserCommand) -> anyhow::Result<()> {
    match c {
        UserCommand::Create { org, email, admin } => {
            let o = find_org(store, &org).await?;
            let email = Email::parse(&email).map_err(|e| anyhow!("--email: {e}"))?;
            let password = read_password()?;
            let u = store.create_user(o.id, &email, &password, admin).await?;
            emit(
                json,
                &json!({"id": u.id, "email": u.email, "admin": u.admin}),
                || {
                    format!(
                        "created {}user {} (id {}) in {}",
                        if u.admin { "admin " } else { "" },
                        u.email,
                        u.id,
                        o.name
                    )
                },
            )
        }
    }
}

async fn reindex(store: &Store, json: bool, org: Option<String>) -> anyhow::Result<()> {
    let orgs = match org {
        Some(o) => vec![find_org(store, &o).await?],
        None => store.list_orgs().await?,
    };
    let mut reports = Vec::new();
    for o in &orgs {
        // A source's deliveries are read again with its deploy workflows.
        let configs: std::collections::HashMap<i64, SourceConfig> = store
            .source_configs(o.id)
            .await?
            .into_iter()
            .map(|(id, deploy_workflows)| (id.0, SourceConfig { deploy_workflows }))
            .collect();
        let report = store
            .reindex(o.id, |delivery, services| {
                let endpoint: Endpoint = delivery
                    .route
                    .parse()
                    .map_err(|e| format!("unknown route '{}': {e}", delivery.route))?;
                let path_service = if endpoint.dialect() == "devlake" {
                    delivery.service_id
                } else {
                    None
                };
                let source = match &endpoint {
                    Endpoint::Source { source, .. } => configs.get(source),
                    _ => None,
                };
                let ctx = Context {
                    services,
                    path_service,
                    received_at: delivery.received_at,
                    source,
                };
                dorado_hooks::parse(&endpoint, &ctx, delivery.body.as_bytes())
                    .map_err(|e| e.to_string())
            })
            .await?;
        reports.push((o.clone(), report));
    }
    let value: Vec<Value> = reports
        .iter()
        .map(|(o, r)| json!({"org_id": o.id, "deliveries": r.deliveries, "replayed": r.replayed, "skipped": r.skipped}))
        .collect();
    emit(json, &value, || {
        reports
            .iter()
            .map(|(o, r)| {
                format!(
                    "{}: {} deliveries, {} replayed, {} refused by the current rules",
                    o.name, r.deliveries, r.replayed, r.skipped
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    })
}
