//! Ingest throughput with 1 and 64 concurrent senders; ignored by default:
//! `cargo test -p dorado-store --test throughput -- --ignored --nocapture`.

mod common;

use common::{delivery, deploy, fixtures};
use dorado_core::Command;
use std::time::{Duration, Instant};

const RUN: Duration = Duration::from_secs(3);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check"]
async fn ingest_throughput() {
    for f in fixtures().await {
        for senders in [1usize, 64] {
            let started = Instant::now();
            let mut tasks = tokio::task::JoinSet::new();
            for sender in 0..senders {
                let (s, org, service) = (f.store.clone(), f.org, f.service);
                tasks.spawn(async move {
                    let mut n = 0u64;
                    while started.elapsed() < RUN {
                        let ext = format!("s{senders}-{sender}-{n}");
                        let cmds = vec![Command::Deployment(deploy(
                            service,
                            Some(&ext),
                            "2024-03-04T12:00:00Z",
                        ))];
                        s.ingest(delivery(org, &cmds), cmds).await.unwrap();
                        n += 1;
                    }
                    n
                });
            }
            let mut total = 0;
            while let Some(n) = tasks.join_next().await {
                total += n.unwrap();
            }
            let secs = started.elapsed().as_secs_f64();
            eprintln!(
                "{}: {senders:>2} sender(s): {total} ingests in {secs:.1} s = {:.0}/s",
                f.name(),
                total as f64 / secs
            );
        }
        f.store.close().await;
    }
}
