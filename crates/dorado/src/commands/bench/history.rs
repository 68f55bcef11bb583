//! `dorado bench history`: a synthetic organization with a long history,
//! loaded with the real `dorado import`, then asked for its figures through
//! the real server.
//!
//! The history is generated from the seed alone (each service from its own
//! stream), ending at a fixed instant, so a seed names one file on any day.
//! Per service and day: a dozen commits on the main line of its repository
//! (some on short branches merged back), about three deployments of the head
//! (some to staging, some failing), and now and then an incident that starts
//! after a deployment, names it half of the time, is resolved hours later
//! and is followed by a rollback or a hotfix. One service in five deploys two
//! repositories. The file lists the history service by service, as an export
//! of each repository would.

use super::{local_database, remove_sqlite, serve};
use crate::cli::BenchHistoryArgs;
use anyhow::{Context, anyhow, bail};
use dorado_core::{OrgName, ServiceName, Timestamp, TokenScopes};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const END: &str = "2025-01-01T00:00:00Z";
const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;
/// Calls per question after the first; the median is reported.
const WARM: usize = 5;

pub async fn run(args: BenchHistoryArgs) -> anyhow::Result<()> {
    let end = Timestamp::parse(END).map_err(|e| anyhow!("{e}"))?;
    println!(
        "bench history: {} services, {} days ending {END}, seed {}",
        args.services, args.days, args.seed
    );

    let (file, keep) = match &args.keep {
        Some(path) => (path.clone(), true),
        None => (
            std::env::temp_dir().join(format!("dorado-history-{}.jsonl", std::process::id())),
            false,
        ),
    };
    let t = Instant::now();
    let counts = {
        let (path, services, days, seed) = (file.clone(), args.services, args.days, args.seed);
        tokio::task::spawn_blocking(move || generate(&path, services, days, seed, end)).await??
    };
    let bytes = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
    println!(
        "  generated {} events ({} deployments, {} commits, {} incidents), {:.0} MB, in {:.1} s{}",
        counts.events(),
        counts.deployments,
        counts.commits,
        counts.incidents,
        bytes as f64 / 1e6,
        t.elapsed().as_secs_f64(),
        if keep {
            format!(": {}", file.display())
        } else {
            String::new()
        }
    );

    let result = load_and_ask(&args, &file, counts.events(), end).await;
    if !keep {
        let _ = std::fs::remove_file(&file);
    }
    result
}

async fn load_and_ask(
    args: &BenchHistoryArgs,
    file: &Path,
    events: u64,
    end: Timestamp,
) -> anyhow::Result<()> {
    let (url, db_file) = local_database(args.target_database.as_deref(), "history");
    let described = args
        .target_database
        .as_deref()
        .map(crate::commands::redact)
        .unwrap_or_else(|| format!("a fresh SQLite file ({url})"));
    let outcome = async {
        let token = prepare(&url, args.services).await?;
        import(&url, file, events, &described)?;
        ask(&url, &token, end).await
    }
    .await;
    if let Some(f) = db_file {
        remove_sqlite(&f);
    }
    outcome
}

/// The organization `bench`, its services and a token to read with.
async fn prepare(url: &str, services: u32) -> anyhow::Result<String> {
    let store = crate::commands::connect(url).await?;
    let org = store
        .create_org(&OrgName::parse("bench").map_err(|e| anyhow!(e))?)
        .await
        .context("the benchmark needs an empty database")?;
    for s in 0..services {
        let name = ServiceName::parse(&service_name(s)).map_err(|e| anyhow!(e))?;
        store.create_service(org.id, &name).await?;
    }
    let token = store
        .create_token(org.id, "bench", TokenScopes::DEFAULT, None, None)
        .await?;
    store.close().await;
    Ok(token.secret)
}

/// Runs the real `dorado import`, as a user would.
fn import(url: &str, file: &Path, events: u64, described: &str) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("finding the dorado binary")?;
    let t = Instant::now();
    let out = std::process::Command::new(exe)
        .arg("--database")
        .arg(url)
        .args(["--json", "import", "--org", "bench"])
        .arg(file)
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("running dorado import")?;
    let elapsed = t.elapsed().as_secs_f64();
    if !out.status.success() {
        bail!("dorado import failed");
    }
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).with_context(|| {
        format!(
            "dorado import printed {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })?;
    let imported = answer["imported"].as_u64().unwrap_or(0);
    println!(
        "  dorado import into {described}: {imported} imported, {} rejected, in {elapsed:.1} s: {:.0} events/s",
        answer["rejected"],
        imported as f64 / elapsed
    );
    if imported != events {
        bail!("{events} events were generated but {imported} imported");
    }
    Ok(())
}

/// Starts the server on the loaded database and times `GET /dora`.
async fn ask(url: &str, token: &str, end: Timestamp) -> anyhow::Result<()> {
    let store = crate::commands::connect(url).await?;
    let (base, server) = serve(store, None).await?;
    let result = time_questions(&base, token, end).await;
    server.stop().await;
    result
}

async fn time_questions(base: &str, token: &str, end: Timestamp) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let t = Instant::now();
    wait_until_ready(&client, base).await?;
    println!(
        "  server ready (every service's history loaded and derived) {:.1} s after it started",
        t.elapsed().as_secs_f64()
    );
    let day = |n: i64| {
        end.plus_millis(-n * DAY)
            .ok_or_else(|| anyhow!("out of range"))
    };
    let questions = [
        ("organization, last 30 days", day(30)?, None),
        ("organization, last 90 days", day(90)?, None),
        ("organization, last 365 days", day(365)?, None),
        (
            "one service, last 365 days",
            day(365)?,
            Some(service_name(0)),
        ),
    ];
    println!(
        "  GET /api/v1/orgs/bench/dora            first call   median of {WARM} more   first after a new deployment"
    );
    let mut written = 0u32;
    for (what, from, service) in questions {
        let mut q = format!("{base}/api/v1/orgs/bench/dora?from={from}&to={end}");
        if let Some(s) = &service {
            q.push_str(&format!("&service={s}"));
        }
        let (first, body) = get(&client, &q, token).await?;
        let mut warm = Vec::with_capacity(WARM);
        for _ in 0..WARM {
            let (took, again) = get(&client, &q, token).await?;
            if again != body {
                bail!("{what}: a second call answered differently");
            }
            warm.push(took);
        }
        warm.sort_unstable();
        // A deployment of the service asked about (or of the first one),
        // in the window: the next answer must count it.
        written += 1;
        deploy(&client, base, token, service.as_deref(), end, written).await?;
        let (fresh, after) = get(&client, &q, token).await?;
        let counted = |b: &serde_json::Value| b["deployment_frequency"]["deployments"].as_u64();
        if counted(&after) != counted(&body).map(|n| n + 1) {
            bail!("{what}: the new deployment is not counted: {after}");
        }
        println!(
            "    {what:<36} {:>9.1} ms {:>12.1} ms {:>14.1} ms   ({})",
            ms(first),
            ms(warm[WARM / 2]),
            ms(fresh),
            headline(&body)
        );
    }
    if let Some((rss, peak)) = memory() {
        println!(
            "  resident memory of this process (the server, history loaded): {} MiB, peak {} MiB",
            rss / 1024,
            peak / 1024
        );
    }
    println!(
        "  a new deployment reloads and derives only its service; the other services' figures are reused"
    );
    Ok(())
}

/// Polls `/readyz`: it answers 200 once the server has warmed up.
async fn wait_until_ready(client: &reqwest::Client, base: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(3600);
    loop {
        let answer = client.get(format!("{base}/readyz")).send().await?;
        if answer.status().is_success() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the server did not warm up within an hour");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Posts the `n`-th new production deployment of `service` (the first
/// service when `None`), finished one minute before the history ends.
async fn deploy(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    service: Option<&str>,
    end: Timestamp,
    n: u32,
) -> anyhow::Result<()> {
    let service = service.map_or_else(|| service_name(0), str::to_owned);
    let finished = end
        .plus_millis(-60_000)
        .ok_or_else(|| anyhow!("out of range"))?;
    let body = serde_json::json!({
        "service": service,
        "id": format!("bench-after-{n}"),
        "finished_at": finished.to_string(),
        "repo": format!("github.com/bench/{service}"),
        "commit_sha": format!("{n:040x}"),
    });
    let answer = client
        .post(format!("{base}/api/v1/orgs/bench/deployments"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await?;
    let status = answer.status();
    if !status.is_success() {
        bail!(
            "POST /deployments answered {status}: {}",
            answer.text().await?
        );
    }
    Ok(())
}

async fn get(
    client: &reqwest::Client,
    url: &str,
    token: &str,
) -> anyhow::Result<(Duration, serde_json::Value)> {
    let t = Instant::now();
    let answer = client.get(url).bearer_auth(token).send().await?;
    let status = answer.status();
    let body: serde_json::Value = answer.json().await?;
    let took = t.elapsed();
    if !status.is_success() {
        bail!("GET {url} answered {status}: {body}");
    }
    Ok((took, body))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A few figures of an answer, to show it is about the loaded history.
fn headline(body: &serde_json::Value) -> String {
    format!(
        "{} deployments, {} lead times, {} failed, {} incidents",
        body["deployment_frequency"]["deployments"],
        body["lead_time_for_changes"]["changes"],
        body["change_failure_rate"]["failed_deployments"],
        body["time_to_restore_service"]["incidents"],
    )
}

/// `VmRSS` and `VmHWM` of this process, in KiB (Linux).
fn memory() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

// --- the generator --------------------------------------------------------

fn service_name(s: u32) -> String {
    format!("svc-{s:04}")
}

#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    deployments: u64,
    commits: u64,
    incidents: u64,
    /// Incident events: a start and a resolve each.
    incident_events: u64,
}

impl Counts {
    fn events(&self) -> u64 {
        self.deployments + self.commits + self.incident_events
    }
}

fn generate(
    path: &PathBuf,
    services: u32,
    days: u32,
    seed: u64,
    end: Timestamp,
) -> anyhow::Result<Counts> {
    let file =
        std::fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let start = end.millis() - i64::from(days) * DAY;
    let mut counts = Counts::default();
    for s in 0..services {
        // One stream per service: a service's history does not depend on
        // how many services come before it.
        let mut rng = fastrand::Rng::with_seed(
            seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ u64::from(s).wrapping_add(1),
        );
        Service::new(s).write(&mut out, &mut rng, start, days, &mut counts)?;
    }
    out.flush()?;
    Ok(counts)
}

struct Repo {
    url: String,
    head: Option<String>,
    /// What production runs now and ran before, for rollbacks.
    live: Option<String>,
    before: Option<String>,
}

struct Service {
    name: String,
    repos: Vec<Repo>,
    deployments: u64,
    incidents: u64,
}

/// What follows an incident: the next deployment rolls back or fixes.
#[derive(Clone, Copy, PartialEq)]
enum Next {
    Normal,
    Rollback,
    Hotfix,
}

impl Service {
    fn new(s: u32) -> Self {
        let name = service_name(s);
        let mut repos = vec![repo(format!("github.com/bench/{name}"))];
        if s % 5 == 4 {
            repos.push(repo(format!("github.com/bench/{name}-web")));
        }
        Service {
            name,
            repos,
            deployments: 0,
            incidents: 0,
        }
    }

    fn write(
        &mut self,
        out: &mut impl Write,
        rng: &mut fastrand::Rng,
        start: i64,
        days: u32,
        counts: &mut Counts,
    ) -> anyhow::Result<()> {
        let mut next = Next::Normal;
        for day in 0..i64::from(days) {
            let day_start = start + day * DAY;
            // Work happens from 07:00 to 19:00, deployments from 09:00 to 22:00.
            let mut events: Vec<(i64, bool)> = Vec::new();
            for _ in 0..rng.usize(7..=17) {
                events.push((day_start + rng.i64(7 * HOUR..19 * HOUR) / 1000 * 1000, true));
            }
            for _ in 0..rng.usize(1..=5) {
                events.push((
                    day_start + rng.i64(9 * HOUR..22 * HOUR) / 1000 * 1000,
                    false,
                ));
            }
            events.sort_unstable();
            for (at, is_commit) in events {
                let r = if self.repos.len() > 1 && rng.u8(0..10) < 3 {
                    1
                } else {
                    0
                };
                if is_commit {
                    self.commit(out, rng, r, at, counts)?;
                } else {
                    next = self.deploy(out, rng, r, at, next, counts)?;
                }
            }
        }
        Ok(())
    }

    /// A commit on the main line, or now and then a short branch of two
    /// commits and the merge that brings it in.
    fn commit(
        &mut self,
        out: &mut impl Write,
        rng: &mut fastrand::Rng,
        r: usize,
        at: i64,
        counts: &mut Counts,
    ) -> anyhow::Result<()> {
        let repo = &mut self.repos[r];
        let head = repo.head.clone();
        if head.is_some() && rng.u8(0..100) < 8 {
            let b1 = sha(rng);
            let b2 = sha(rng);
            let merge = sha(rng);
            change(out, &repo.url, &b1, &[head.as_deref()], at - 2 * HOUR)?;
            change(out, &repo.url, &b2, &[Some(&b1)], at - HOUR)?;
            change(out, &repo.url, &merge, &[head.as_deref(), Some(&b2)], at)?;
            repo.head = Some(merge);
            counts.commits += 3;
        } else {
            let c = sha(rng);
            change(out, &repo.url, &c, &[head.as_deref()], at)?;
            repo.head = Some(c);
            counts.commits += 1;
        }
        Ok(())
    }

    fn deploy(
        &mut self,
        out: &mut impl Write,
        rng: &mut fastrand::Rng,
        r: usize,
        at: i64,
        next: Next,
        counts: &mut Counts,
    ) -> anyhow::Result<Next> {
        self.deployments += 1;
        counts.deployments += 1;
        let id = format!("{}-d{}", self.name, self.deployments);
        let staging = rng.u8(0..100) < 10;
        let failed = rng.u8(0..100) < 5;
        let repo = &mut self.repos[r];
        let (kind, sha) = match next {
            Next::Rollback if !staging && repo.before.is_some() => {
                ("rollback", repo.before.clone())
            }
            Next::Hotfix if !staging => ("hotfix", repo.head.clone()),
            _ => ("", repo.head.clone()),
        };
        write!(
            out,
            r#"{{"type":"deploy","service":"{}","id":"{id}","time":"{}","environment":"{}","result":"{}""#,
            self.name,
            time(at),
            if staging { "staging" } else { "production" },
            if failed { "failure" } else { "success" },
        )?;
        if let Some(sha) = &sha {
            write!(out, r#","repo":"{}","commit_sha":"{sha}""#, repo.url)?;
        }
        if !kind.is_empty() {
            write!(out, r#","kind":"{kind}""#)?;
        }
        out.write_all(b"}\n")?;
        if staging || failed {
            return Ok(next);
        }
        if sha.is_some() && sha != repo.live {
            repo.before = repo.live.take();
            repo.live = sha;
        }
        // About fifty incidents a year per service.
        if rng.u16(0..10_000) >= 534 {
            return Ok(if kind.is_empty() { next } else { Next::Normal });
        }
        self.incidents += 1;
        counts.incidents += 1;
        counts.incident_events += 2;
        let key = format!("{}-INC-{}", self.name, self.incidents);
        let started = at + rng.i64(5..120) * 60_000;
        let resolved = started + rng.i64(30..48 * 60) * 60_000;
        write!(
            out,
            r#"{{"type":"incident_started","service":"{}","id":"{key}","time":"{}","title":"{} is failing""#,
            self.name,
            time(started),
            self.name
        )?;
        if rng.bool() {
            write!(out, r#","deployment_id":"{id}""#)?;
        }
        out.write_all(b"}\n")?;
        writeln!(
            out,
            r#"{{"type":"incident_resolved","service":"{}","id":"{key}","time":"{}"}}"#,
            self.name,
            time(resolved)
        )?;
        Ok(match rng.u8(0..10) {
            0..=2 => Next::Rollback,
            3..=5 => Next::Hotfix,
            _ => Next::Normal,
        })
    }
}

fn repo(url: String) -> Repo {
    Repo {
        url,
        head: None,
        live: None,
        before: None,
    }
}

fn change(
    out: &mut impl Write,
    repo: &str,
    sha: &str,
    parents: &[Option<&str>],
    at: i64,
) -> anyhow::Result<()> {
    write!(
        out,
        r#"{{"type":"change","repo":"{repo}","sha":"{sha}","parents":["#
    )?;
    for (i, p) in parents.iter().flatten().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        write!(out, r#""{p}""#)?;
    }
    writeln!(out, r#"],"committed_at":"{}"}}"#, time(at))?;
    Ok(())
}

/// A random 40-hex-digit sha, like git's.
fn sha(rng: &mut fastrand::Rng) -> String {
    format!(
        "{:016x}{:016x}{:08x}",
        rng.u64(..),
        rng.u64(..),
        rng.u32(..)
    )
}

fn time(ms: i64) -> String {
    Timestamp::from_millis(ms).map_or_else(String::new, |t| t.to_string())
}
