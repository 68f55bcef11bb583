//! `dorado bench ingest`: concurrent senders POST deployments to a server
//! and the command prints what they saw. Without `--url` it starts the real
//! server in this process on a fresh database, so the figures include the
//! durable group commit of the default SQLite configuration.

mod baseline;
mod history;

use crate::cli::{BenchCommand, BenchIngestArgs};
use anyhow::{Context, anyhow, bail};
use dorado_core::{OrgName, ServiceName, TokenScopes};
use dorado_server::{Application, ServerConfig};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub async fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Ingest(args) => ingest(args).await,
        BenchCommand::History(args) => history::run(args).await,
    }
}

#[derive(Clone)]
struct Target {
    base: String,
    org: String,
    service: String,
    token: String,
}

async fn ingest(args: BenchIngestArgs) -> anyhow::Result<()> {
    if args.concurrency == 0 || args.requests == 0 {
        bail!("--concurrency and --requests must be at least 1");
    }
    let Some(url) = &args.url else {
        return ingest_local(&args).await;
    };
    let target = Target {
        base: url.trim_end_matches('/').to_owned(),
        org: args
            .org
            .clone()
            .ok_or_else(|| anyhow!("--url needs --org"))?,
        service: args
            .service
            .clone()
            .ok_or_else(|| anyhow!("--url needs --service"))?,
        token: args
            .token
            .clone()
            .ok_or_else(|| anyhow!("--url needs --token (or DORADO_TOKEN)"))?,
    };
    let figures = drive(&target, args.concurrency, args.requests, "remote").await?;
    println!(
        "bench ingest: {} requests, {} concurrent senders, server {url}",
        args.requests, args.concurrency
    );
    println!("{figures}");
    if figures.failed > 0 {
        bail!("{} requests failed", figures.failed);
    }
    Ok(())
}

/// The real server in this process, beside the same-run baseline (bare
/// axum parsing the same body), at one sender and at `--concurrency`; the
/// ratio of their throughputs, and the stored rows against the 2xx answers.
async fn ingest_local(args: &BenchIngestArgs) -> anyhow::Result<()> {
    let (target, server, store, org) = start_local(args.target_database.as_deref()).await?;
    let (base, baseline_server) = baseline::serve(&target.service).await?;
    let baseline = Target {
        base,
        ..target.clone()
    };
    println!(
        "bench ingest: {} requests per run, in-process server on {}",
        args.requests,
        args.target_database
            .as_deref()
            .map(super::redact)
            .unwrap_or_else(|| "a fresh SQLite file (WAL, synchronous=FULL)".into())
    );
    let mut senders = vec![1];
    if args.concurrency > 1 {
        senders.push(args.concurrency);
    }
    let mut accepted = 0;
    let mut failed = 0;
    for n in senders {
        let bare = drive(&baseline, n, args.requests, &format!("bare{n}")).await?;
        let real = drive(&target, n, args.requests, &format!("real{n}")).await?;
        println!("{n} sender(s), baseline (bare axum, parse only):\n{bare}");
        println!("{n} sender(s), Dorado:\n{real}");
        println!(
            "  ratio {:.3} (Dorado's requests/s over the baseline's)",
            real.throughput() / bare.throughput()
        );
        accepted += real.ok;
        failed += real.failed + bare.failed;
    }
    let stored = store.count_deployments(org).await?;
    println!("stored deployments {stored} for {accepted} answers 2xx");
    baseline_server.stop().await;
    server.stop().await;
    if failed > 0 {
        bail!("{failed} requests failed");
    }
    if stored != accepted as i64 {
        bail!("{accepted} writes were answered 2xx but {stored} are stored");
    }
    Ok(())
}

pub struct LocalServer {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    file: Option<std::path::PathBuf>,
}

impl LocalServer {
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
        if let Some(f) = self.file {
            remove_sqlite(&f);
        }
    }
}

/// A SQLite file and its WAL companions.
pub fn remove_sqlite(file: &std::path::Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
    }
}

/// `database`, or a fresh SQLite file in the temporary directory (returned,
/// to be removed after).
pub fn local_database(database: Option<&str>, tag: &str) -> (String, Option<std::path::PathBuf>) {
    match database {
        Some(url) => (url.to_owned(), None),
        None => {
            let path = std::env::temp_dir().join(format!("dorado-{tag}-{}.db", std::process::id()));
            remove_sqlite(&path);
            (format!("sqlite://{}", path.display()), Some(path))
        }
    }
}

/// The real server on `store`, on a free port of 127.0.0.1; its base URL.
/// `file` is removed when the server stops.
pub async fn serve(
    store: dorado_store::Store,
    file: Option<std::path::PathBuf>,
) -> anyhow::Result<(String, LocalServer)> {
    let config = ServerConfig {
        listen: "127.0.0.1:0".into(),
        ..ServerConfig::default()
    };
    let app = Application::build(store, config).await?;
    let addr = app.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    Ok((format!("http://{addr}"), LocalServer { stop, task, file }))
}

async fn start_local(
    database: Option<&str>,
) -> anyhow::Result<(Target, LocalServer, dorado_store::Store, dorado_core::OrgId)> {
    let (url, file) = local_database(database, "bench");
    let store = super::connect(&url).await?;
    let org = store
        .create_org(&OrgName::parse("bench").map_err(|e| anyhow!(e))?)
        .await
        .context("the benchmark needs an empty database")?;
    let service = store
        .create_service(
            org.id,
            &ServiceName::parse("bench").map_err(|e| anyhow!(e))?,
        )
        .await?;
    let token = store
        .create_token(org.id, "bench", TokenScopes::DEFAULT, None, None)
        .await?;
    let (base, server) = serve(store.clone(), file).await?;
    let target = Target {
        base,
        org: org.name.to_string(),
        service: service.name.to_string(),
        token: token.secret,
    };
    Ok((target, server, store, org.id))
}

struct Figures {
    ok: usize,
    failed: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Figures {
    fn throughput(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }
}

impl std::fmt::Display for Figures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.latencies.len();
        // Nearest rank, as everywhere in Dorado.
        let pct = |p: f64| {
            let rank = ((p / 100.0) * n as f64).ceil().max(1.0) as usize;
            self.latencies[rank.min(n) - 1].as_secs_f64() * 1000.0
        };
        let rps = self.throughput();
        writeln!(
            f,
            "  ok {}  failed {}  elapsed {:.2} s  throughput {:.0} requests/s",
            self.ok,
            self.failed,
            self.elapsed.as_secs_f64(),
            rps
        )?;
        if n > 0 {
            write!(
                f,
                "  latency ms: p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}",
                pct(50.0),
                pct(90.0),
                pct(99.0),
                pct(100.0)
            )?;
        }
        Ok(())
    }
}

/// `requests` deployments from `concurrency` senders; `run` keeps their ids
/// apart from other runs' (each is a new deployment).
async fn drive(
    target: &Target,
    concurrency: usize,
    requests: usize,
    run: &str,
) -> anyhow::Result<Figures> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let url = format!("{}/api/v1/orgs/{}/deployments", target.base, target.org);
    let next = Arc::new(AtomicUsize::new(0));
    let run_id = format!("{}-{run}", std::process::id());
    let started = Instant::now();
    let mut senders = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let (client, url, next) = (client.clone(), url.clone(), next.clone());
        let (token, service) = (target.token.clone(), target.service.clone());
        let run_id = run_id.clone();
        senders.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut failed = 0usize;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= requests {
                    break;
                }
                let body = serde_json::json!({
                    "id": format!("bench-{run_id}-{i}"),
                    "service": service,
                    "environment": "production",
                    "result": "success",
                    "finished_at": "2024-05-01T10:00:00Z",
                    "repo": "github.com/acme/bench",
                    "commit_sha": format!("{:040x}", i),
                });
                let t = Instant::now();
                let answer = client
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .await;
                match answer {
                    Ok(r) if r.status().is_success() => latencies.push(t.elapsed()),
                    _ => failed += 1,
                }
            }
            (latencies, failed)
        }));
    }
    let mut figures = Figures {
        ok: 0,
        failed: 0,
        elapsed: Duration::ZERO,
        latencies: Vec::with_capacity(requests),
    };
    for s in senders {
        let (latencies, failed) = s.await?;
        figures.ok += latencies.len();
        figures.failed += failed;
        figures.latencies.extend(latencies);
    }
    figures.elapsed = started.elapsed();
    figures.latencies.sort_unstable();
    Ok(figures)
}
