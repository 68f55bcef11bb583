mod admin;
mod bench;
mod import;
mod report;
mod serve;
mod sources;
mod urls;

use crate::cli::{Cli, Command};
use anyhow::{Context, anyhow};
use dorado_core::ServiceRef;
use dorado_store::{Org, Service, Store};

pub async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve::run(&cli.database, args).await,
        Command::Bench(b) => bench::run(b).await,
        Command::Import(args) => {
            let store = connect(&cli.database).await?;
            let result = import::run(&store, cli.json, args).await;
            store.close().await;
            result
        }
        Command::Report(args) => {
            let store = connect(&cli.database).await?;
            let result = report::run(&store, cli.json, args).await;
            store.close().await;
            result
        }
        other => {
            let store = connect(&cli.database).await?;
            let result = admin::run(&store, cli.json, other).await;
            store.close().await;
            result
        }
    }
}

pub async fn connect(url: &str) -> anyhow::Result<Store> {
    Store::connect(url)
        .await
        .with_context(|| format!("cannot open the database {}", redact(url)))
}

/// A database URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

pub async fn find_org(store: &Store, org: &str) -> anyhow::Result<Org> {
    store
        .find_org(org)
        .await?
        .ok_or_else(|| anyhow!("no organization '{org}'"))
}

pub async fn find_service(store: &Store, org: &Org, service: &str) -> anyhow::Result<Service> {
    let r = ServiceRef::parse(service).map_err(|e| anyhow!("service: {e}"))?;
    let dir = store.service_directory(org.id).await?;
    let id = dir
        .resolve(&r)
        .ok_or_else(|| anyhow!("no service '{service}' in organization '{}'", org.name))?;
    store
        .service_by_id(id)
        .await?
        .ok_or_else(|| anyhow!("no service '{service}'"))
}
