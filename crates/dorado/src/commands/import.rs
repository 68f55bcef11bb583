//! `dorado import` (api.md): JSON lines of the event API, in bulk.
//!
//! A reader thread parses the lines, each alone so that a bad one is refused
//! without its neighbours, while the store writes the chunks read before:
//! parsing and writing overlap on two cores. The chunks are committed
//! together in large transactions, so a slow disk pays fewer syncs and an
//! index page that chunk after chunk rewrites is written out once.

use super::find_org;
use crate::cli::ImportArgs;
use crate::output::count;
use anyhow::{Context as _, anyhow};
use dorado_core::{OrgId, ServiceDirectory, Timestamp};
use dorado_hooks::{Context, Endpoint, HookError, parse_line};
use dorado_store::{ImportChunk, ImportLine, Importer, NewDelivery, Store};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use std::io::{BufRead, BufReader, IsTerminal, Read};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Refused lines kept for the `--json` answer; the count covers them all,
/// and standard error names every one.
const KEPT: usize = 10_000;
/// Chunks read ahead of the store.
const AHEAD: usize = 5;
/// Lines committed in one transaction at most: each commit writes every
/// index page its rows touched, and commit shas touch pages all over their
/// indexes, so fewer, larger commits write less.
const PER_COMMIT: usize = 800_000;
/// A server sharing the database waits for the write lock meanwhile: a
/// transaction is committed after this long even when it is smaller, well
/// within the 10 s a SQLite connection of Dorado waits for the lock.
const COMMIT_AFTER: Duration = Duration::from_secs(6);

/// An estimate of a file's lines from its size, on the low side (the
/// event lines of a history average about 200 bytes), for choosing whether
/// to defer indexes.
const BYTES_PER_LINE: u64 = 256;

/// What an import that fails says beside the store's error.
const STOPPED: &str = "the import stopped; the chunks committed before are kept";

/// One chunk as the reader hands it over.
struct Batch {
    chunk: ImportChunk,
    /// The file's line number of each line of the chunk.
    numbers: Vec<usize>,
    /// Lines refused by the reader: line number and why.
    refused: Vec<(usize, String)>,
    /// Bytes of the input read so far.
    read: u64,
}

#[derive(Default)]
struct Summary {
    imported: usize,
    rejected: usize,
    kept: Vec<(usize, String)>,
    /// Bytes of the input behind the chunks written.
    read: u64,
}

impl Summary {
    /// Names each refused line on standard error as soon as it is known
    /// (a long import tells its problems while it runs).
    fn refuse(&mut self, progress: &ProgressBar, mut refused: Vec<(usize, String)>) {
        refused.sort_by_key(|r| r.0);
        self.rejected += refused.len();
        for (line, why) in &refused {
            progress.suspend(|| eprintln!("line {line}: {why}"));
        }
        let room = KEPT.saturating_sub(self.kept.len());
        self.kept.extend(refused.into_iter().take(room));
    }
}

pub async fn run(store: &Store, json: bool, args: ImportArgs) -> anyhow::Result<()> {
    let org = find_org(store, &args.org).await?;
    let services = store.service_directory(org.id).await?;
    let (input, size): (Box<dyn Read + Send>, Option<u64>) = if args.file == "-" {
        (Box::new(std::io::stdin()), None)
    } else {
        let file = std::fs::File::open(&args.file)
            .with_context(|| format!("cannot read {}", args.file))?;
        let size = file.metadata().ok().map(|m| m.len());
        (Box::new(file), size)
    };
    let progress = progress_bar(size, !json && std::io::stderr().is_terminal())?;

    let started = Instant::now();
    let (sender, mut batches) = mpsc::channel(AHEAD);
    let chunk = args.chunk as usize;
    let reader = std::thread::spawn(move || read(input, &services, org.id, chunk, &sender));
    let mut summary = Summary::default();
    let mut importer = store.importer(org.id).await?;
    if let Some(size) = size
        && importer
            .worth_deferring_indexes(size / BYTES_PER_LINE)
            .await?
    {
        importer.defer_indexes().await?;
    }
    let mut result = Ok(());
    // Lines written since the last commit, and when the transaction began.
    let mut pending = (0usize, Instant::now());
    while let Some(first) = batches.recv().await {
        if pending.0 == 0 {
            pending.1 = Instant::now();
        }
        let mut group = vec![first];
        while let Ok(next) = batches.try_recv() {
            group.push(next);
        }
        pending.0 += group.iter().map(|b| b.chunk.lines.len()).sum::<usize>();
        if let Err(e) = write(&mut importer, group, &mut summary, &progress).await {
            result = Err(e);
            break;
        }
        if pending.0 >= PER_COMMIT || pending.1.elapsed() >= COMMIT_AFTER {
            if let Err(e) = commit(&mut importer).await {
                result = Err(e);
                break;
            }
            pending.0 = 0;
        }
        progress.set_position(summary.read);
        progress.set_message(format!(
            "{}, {} refused",
            count(summary.imported as u64, "event"),
            summary.rejected
        ));
    }
    // Dropping the receiver stops a reader still at work.
    drop(batches);
    // Commits, and builds the indexes deferred, on every way out.
    progress.set_message("building indexes");
    let finished = importer.finish().await.context(STOPPED);
    if result.is_ok() {
        result = finished;
    }
    let read = reader
        .join()
        .map_err(|_| anyhow!("the reader thread failed"))?;
    result?;
    read?;
    if summary.imported > 0 {
        store.refresh_statistics().await?;
    }
    progress.finish_and_clear();
    let elapsed = started.elapsed();

    if json {
        let refused: Vec<_> = summary
            .kept
            .iter()
            .map(|(line, why)| json!({"line": line, "reason": why}))
            .collect();
        println!(
            "{}",
            json!({
                "imported": summary.imported,
                "rejected": summary.rejected,
                "refused": refused,
            })
        );
    } else {
        println!(
            "imported {} into {} in {:.1} s ({:.0} events/s); {} refused",
            count(summary.imported as u64, "event"),
            org.name,
            elapsed.as_secs_f64(),
            summary.imported as f64 / elapsed.as_secs_f64().max(1e-9),
            summary.rejected
        );
    }
    if summary.rejected > 0 && !args.allow_rejects {
        // A script must not take a partial import for a whole one.
        return Err(anyhow!(
            "{} refused (named above); the other lines were imported. Fix those \
             lines and import them again, or pass --allow-rejects to accept an \
             import with refused lines",
            count(summary.rejected as u64, "line")
        ));
    }
    Ok(())
}

async fn commit(importer: &mut Importer) -> anyhow::Result<()> {
    importer.commit().await.context(STOPPED)
}

async fn write(
    importer: &mut Importer,
    group: Vec<Batch>,
    summary: &mut Summary,
    progress: &ProgressBar,
) -> anyhow::Result<()> {
    let mut chunks = Vec::with_capacity(group.len());
    let mut numbers = Vec::with_capacity(group.len());
    let mut read = 0;
    for batch in group {
        summary.refuse(progress, batch.refused);
        chunks.push(batch.chunk);
        numbers.push(batch.numbers);
        read = batch.read;
    }
    let done = importer.write(chunks).await.context(STOPPED)?;
    for (chunk, numbers) in done.into_iter().zip(numbers) {
        summary.imported += chunk.imported;
        summary.refuse(
            progress,
            chunk
                .refused
                .into_iter()
                .map(|(i, why)| (numbers[i], why))
                .collect(),
        );
    }
    summary.read = read;
    Ok(())
}

/// Reads and parses the input, a chunk at a time; every line of a chunk
/// defaults its times to the chunk's `received_at`, as the delivery says,
/// so that a reindex reads them the same way.
fn read(
    input: Box<dyn Read + Send>,
    services: &ServiceDirectory,
    org: OrgId,
    chunk: usize,
    sender: &mpsc::Sender<Batch>,
) -> anyhow::Result<()> {
    let mut input = BufReader::with_capacity(1 << 20, input);
    let (mut number, mut read) = (0usize, 0u64);
    let mut buf = Vec::new();
    let mut done = false;
    while !done {
        let received_at = Timestamp::now();
        let ctx = Context {
            services,
            path_service: None,
            received_at,
            source: None,
        };
        let mut batch = Batch {
            chunk: ImportChunk {
                delivery: NewDelivery {
                    org_id: org,
                    service_id: None,
                    token_id: None,
                    user_id: None,
                    dialect: Endpoint::Import.dialect().to_owned(),
                    route: Endpoint::Import.to_string(),
                    idempotency_key: None,
                    body: String::new(),
                    received_at,
                    source_id: None,
                    ignored: None,
                    created_status: 200,
                },
                lines: Vec::with_capacity(chunk),
                sealed: None,
            },
            numbers: Vec::with_capacity(chunk),
            refused: Vec::new(),
            read,
        };
        while batch.chunk.lines.len() < chunk {
            buf.clear();
            let n = input
                .read_until(b'\n', &mut buf)
                .context("reading the input")?;
            if n == 0 {
                done = true;
                break;
            }
            number += 1;
            read += n as u64;
            let line = buf.strip_suffix(b"\n").unwrap_or(&buf);
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let Ok(text) = std::str::from_utf8(line) else {
                batch.refused.push((number, "the line is not UTF-8".into()));
                continue;
            };
            match parse_line(&ctx, line) {
                Ok(command) => {
                    batch.chunk.lines.push(ImportLine {
                        text: text.to_owned(),
                        command,
                    });
                    batch.numbers.push(number);
                }
                Err(e) => batch.refused.push((number, reason(e))),
            }
        }
        batch.read = read;
        batch.chunk.seal();
        if sender.blocking_send(batch).is_err() {
            // The writer stopped; it reports why.
            break;
        }
    }
    Ok(())
}

/// Why a line is refused, without HookError's line number (always 1 here:
/// the summary gives the file's).
fn reason(e: HookError) -> String {
    match e {
        HookError::Syntax {
            column, message, ..
        } => format!("malformed JSON at column {column}: {message}"),
        HookError::Invalid(v) => v.to_string(),
    }
}

fn progress_bar(size: Option<u64>, show: bool) -> anyhow::Result<ProgressBar> {
    if !show {
        return Ok(ProgressBar::hidden());
    }
    let bar = match size {
        Some(size) => ProgressBar::new(size).with_style(ProgressStyle::with_template(
            "{elapsed_precise} {wide_bar} {bytes}/{total_bytes} {msg}",
        )?),
        None => ProgressBar::new_spinner().with_style(ProgressStyle::with_template(
            "{spinner} {elapsed_precise} {bytes} read, {msg}",
        )?),
    };
    bar.enable_steady_tick(Duration::from_millis(200));
    Ok(bar)
}
