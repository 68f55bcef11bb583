//! Issue 12: the writer plans a batch of requests together; whatever the
//! size of its batches, the rows, the ids and the answers are those the
//! requests give one by one.

mod common;

use common::{change, changes, commit, deploy, incident, resolve, t};
use dorado_core::{
    Command, DeployResult, IncidentKey, IncidentTimes, MergedRequest, OrgName, ServiceId,
    ServiceName, Sha, Timestamp,
};
use dorado_store::testing::TestDatabase;
use dorado_store::{Ingested, NewDelivery, Store, StoreError};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use sqlx::{AnyPool, Row};

/// A commit: its sha, its parents, when it was committed, when the
/// request it merged was opened.
type CommitOp = (u8, Vec<u8>, Option<u8>, Option<u8>);

#[derive(Debug, Clone)]
enum Op {
    Deploy {
        service: usize,
        external_id: Option<u8>,
        finished: Option<u8>,
        started: Option<u8>,
        result: u8,
        state_at: Option<u8>,
        shas: Vec<u8>,
    },
    Changes {
        repo: u8,
        commits: Vec<CommitOp>,
    },
    Incident {
        service: Option<usize>,
        key: u8,
        started: Option<u8>,
        resolved: Option<u8>,
        reopened: Option<u8>,
        times: u8,
        title: Option<u8>,
    },
    Resolve {
        service: Option<usize>,
        key: u8,
        at: u8,
        create_missing: bool,
        keep_existing: bool,
    },
}

#[derive(Debug, Clone)]
struct Request {
    ops: Vec<Op>,
    key: Option<u8>,
    /// Makes another body for the same ops, so a key can be reused with
    /// another body.
    variant: u8,
}

/// Index 2 is another organization's service: a refusal.
fn service() -> impl Strategy<Value = usize> {
    prop_oneof![8 => 0..2usize, 1 => Just(2usize)]
}

fn hour() -> impl Strategy<Value = u8> {
    0..6u8
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (
            service(),
            proptest::option::of(0..3u8),
            proptest::option::of(hour()),
            proptest::option::of(hour()),
            0..5u8,
            proptest::option::weighted(0.3, hour()),
            proptest::collection::vec(0..5u8, 0..3),
        )
            .prop_map(
                |(service, external_id, finished, started, result, state_at, shas)| Op::Deploy {
                    service,
                    external_id,
                    finished,
                    started,
                    result,
                    state_at,
                    shas,
                }
            ),
        (
            0..2u8,
            proptest::collection::vec(
                (
                    0..5u8,
                    proptest::collection::vec(0..5u8, 0..3),
                    proptest::option::of(hour()),
                    proptest::option::weighted(0.3, hour()),
                ),
                1..4
            )
        )
            .prop_map(|(repo, commits)| Op::Changes { repo, commits }),
        (
            proptest::option::weighted(0.8, 0..2usize),
            0..3u8,
            proptest::option::of(hour()),
            proptest::option::of(hour()),
            proptest::option::weighted(0.3, hour()),
            0..3u8,
            proptest::option::of(0..2u8),
        )
            .prop_map(
                |(service, key, started, resolved, reopened, times, title)| Op::Incident {
                    service,
                    key,
                    started,
                    resolved,
                    reopened,
                    times,
                    title,
                }
            ),
        (
            proptest::option::weighted(0.6, 0..2usize),
            0..3u8,
            hour(),
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(|(service, key, at, create_missing, keep_existing)| {
                Op::Resolve {
                    service,
                    key,
                    at,
                    create_missing,
                    keep_existing,
                }
            }),
    ]
}

fn request() -> impl Strategy<Value = Request> {
    (
        proptest::collection::vec(op(), 1..4),
        proptest::option::weighted(0.3, 0..3u8),
        0..2u8,
    )
        .prop_map(|(ops, key, variant)| Request { ops, key, variant })
}

fn at(hour: u8) -> Timestamp {
    t(&format!("2024-03-01T{hour:02}:00:00Z"))
}

fn commands(ops: &[Op], services: [ServiceId; 3]) -> Vec<Command> {
    ops.iter()
        .map(|op| match op {
            Op::Deploy {
                service,
                external_id,
                finished,
                started,
                result,
                state_at,
                shas,
            } => {
                let ext = external_id.map(|e| format!("d{e}"));
                let mut w = deploy(services[*service], ext.as_deref(), "2024-03-01T00:00:00Z");
                w.finished_at = finished.map(at);
                w.started_at = started.map(at);
                w.result = DeployResult::ALL[usize::from(*result) % 5];
                w.state_at = state_at.map(at);
                w.commits = shas
                    .iter()
                    .map(|s| commit("github.com/acme/shop", &format!("c{s}")))
                    .collect();
                Command::Deployment(w)
            }
            Op::Changes { repo, commits } => changes(
                &format!("github.com/acme/r{repo}"),
                commits
                    .iter()
                    .map(|(sha, parents, committed, opened)| {
                        let parents: Vec<String> =
                            parents.iter().map(|p| format!("c{p}")).collect();
                        let parents: Vec<&str> = parents.iter().map(String::as_str).collect();
                        let mut c = change(&format!("c{sha}"), &parents, None);
                        c.committed_at = committed.map(at);
                        c.author = committed.map(|h| format!("dev{}", h % 2));
                        c.request = opened.map(|o| MergedRequest {
                            opened_at: at(o),
                            head: Some(Sha::parse(&format!("c{sha}")).unwrap()),
                            base: None,
                            commits: Some(u32::from(o)),
                        });
                        c
                    })
                    .collect(),
            ),
            Op::Incident {
                service,
                key,
                started,
                resolved,
                reopened,
                times,
                title,
            } => {
                let mut w = incident(service.map(|s| services[s]), &format!("INC-{key}"));
                w.started_at = started.map(at);
                w.resolved_at = resolved.map(at);
                w.reopened_at = reopened.map(at);
                w.times = match times {
                    0 => IncidentTimes::Replace,
                    1 => IncidentTimes::ArrivalStart,
                    _ => IncidentTimes::Lifecycle,
                };
                w.title = title.map(|n| format!("title {n}"));
                if let Some(n) = title {
                    w.attributes = serde_json::json!({ format!("a{n}"): n });
                }
                Command::Incident(w)
            }
            Op::Resolve {
                service,
                key,
                at: when,
                create_missing,
                keep_existing,
            } => {
                let mut r = resolve(
                    service.map(|s| services[s]),
                    &format!("INC-{key}"),
                    "2024-03-01T00:00:00Z",
                );
                r.key = IncidentKey::parse(&format!("INC-{key}")).unwrap();
                r.resolved_at = at(*when);
                r.create_missing = *create_missing;
                r.keep_existing = *keep_existing;
                Command::ResolveIncident(r)
            }
        })
        .collect()
}

struct Side {
    store: Store,
    pool: AnyPool,
}

/// An organization with two services, and a third in another
/// organization, made the same way on both sides.
async fn organization(side: &Side, case: usize) -> (dorado_core::OrgId, [ServiceId; 3]) {
    let s = &side.store;
    let org = s
        .create_org(&OrgName::parse(&format!("case-{case}")).unwrap())
        .await
        .unwrap();
    let other = s
        .create_org(&OrgName::parse(&format!("other-{case}")).unwrap())
        .await
        .unwrap();
    let mut services = [ServiceId(0); 3];
    for (i, (o, name)) in [(org.id, "a"), (org.id, "b"), (other.id, "x")]
        .into_iter()
        .enumerate()
    {
        services[i] = s
            .create_service(o, &ServiceName::parse(name).unwrap())
            .await
            .unwrap()
            .id;
    }
    (org.id, services)
}

fn requests(
    org: dorado_core::OrgId,
    services: [ServiceId; 3],
    all: &[Request],
) -> Vec<(NewDelivery, Vec<Command>)> {
    all.iter()
        .enumerate()
        .map(|(i, r)| {
            let commands = commands(&r.ops, services);
            let mut d = common::delivery(org, &commands);
            d.body = format!("{}{}", d.body, " ".repeat(usize::from(r.variant)));
            d.idempotency_key = r.key.map(|k| format!("key-{k}"));
            d.received_at = Timestamp::from_millis(at(0).millis() + 1_000 * i as i64).unwrap();
            d.created_status = 201;
            (d, commands)
        })
        .collect()
}

/// What an answer says, comparable across stores.
fn answer(a: &Result<Ingested, StoreError>) -> String {
    match a {
        Ok(i) => format!(
            "{} {} {}",
            i.delivery_id.0,
            i.replayed,
            serde_json::to_string(&i.outcome).unwrap()
        ),
        Err(e) => format!("refused: {e}"),
    }
}

/// Every row of the organization, every column but the ids of commits
/// (a PostgreSQL upsert takes a sequence value for every row it tries,
/// so those ids depend on how often a commit was posted, and nothing
/// refers to them).
async fn rows(pool: &AnyPool, org: i64) -> Vec<Vec<Option<String>>> {
    let queries: [(&str, &str); 6] = [
        (
            "id, service_id, external_id, name, environment, result, kind, started_at,
             finished_at, occurred_at, rework, lead_time_seconds, source, attributes, shipped,
             delivery_id, created_at, updated_at, state_at",
            "FROM deployments WHERE org_id = $1 ORDER BY id",
        ),
        (
            "dc.deployment_id, dc.ord, dc.repo, dc.repo_key, dc.sha",
            "FROM deployment_commits dc JOIN deployments d ON d.id = dc.deployment_id
             WHERE d.org_id = $1 ORDER BY dc.deployment_id, dc.ord",
        ),
        (
            "repo, repo_key, sha, committed_at, authored_at, occurred_at, author, message,
             delivery_id, created_at, updated_at, request_opened_at, request_head, request_base,
             request_commits",
            "FROM changes WHERE org_id = $1 ORDER BY repo_key, sha",
        ),
        (
            "repo_key, sha, parent_sha, ord, delivery_id",
            "FROM change_parents WHERE org_id = $1 ORDER BY repo_key, sha, parent_sha",
        ),
        (
            "id, service_id, key, title, started_at, resolved_at, occurred_at, cause_kind,
             cause_value, fixed_by, is_incident, source, attributes, delivery_id, created_at,
             updated_at, last_resolved_at, reopened_at",
            "FROM incidents WHERE org_id = $1 ORDER BY id",
        ),
        (
            "id, idempotency_key, body_sha256, received_at, accepted, status, error, outcome",
            "FROM deliveries WHERE org_id = $1 ORDER BY id",
        ),
    ];
    let mut out = Vec::new();
    for (columns, rest) in queries {
        let columns: Vec<&str> = columns.split(',').map(str::trim).collect();
        let select: Vec<String> = columns
            .iter()
            .map(|c| format!("CAST({c} AS TEXT)"))
            .collect();
        let sql = format!("SELECT {} {rest}", select.join(", "));
        for row in sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org)
            .fetch_all(pool)
            .await
            .unwrap()
        {
            let mut values = vec![Some(rest.split_whitespace().nth(1).unwrap().to_owned())];
            for i in 0..columns.len() {
                values.push(row.try_get::<Option<String>, _>(i).unwrap());
            }
            out.push(values);
        }
    }
    out
}

async fn side(db: &TestDatabase) -> Side {
    sqlx::any::install_default_drivers();
    Side {
        store: Store::connect(&db.url).await.unwrap(),
        pool: AnyPool::connect(&db.url).await.unwrap(),
    }
}

#[test]
fn batches_of_any_size_give_the_rows_of_one_by_one() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let databases = rt.block_on(async {
        let mut sides = Vec::new();
        for db in TestDatabase::all().await {
            let second = match db.backend {
                dorado_store::Backend::Sqlite => TestDatabase::sqlite(),
                dorado_store::Backend::Postgres => TestDatabase::postgres().await.unwrap(),
            };
            let (one, batched) = (side(&db).await, side(&second).await);
            sides.push((db, second, one, batched));
        }
        sides
    });
    let mut runner = TestRunner::new(Config {
        cases: 40,
        ..Config::default()
    });
    let case = std::cell::Cell::new(0);
    let strategy = (
        proptest::collection::vec(request(), 1..14),
        proptest::collection::vec(1..6usize, 1..6),
    );
    runner
        .run(&strategy, |(all, sizes)| {
            case.set(case.get() + 1);
            let case = case.get();
            rt.block_on(async {
                for (db, _, one, batched) in &databases {
                    let (org, services) = organization(one, case).await;
                    let (org_b, services_b) = organization(batched, case).await;
                    assert_eq!((org, services), (org_b, services_b));
                    let requests = requests(org, services, &all);
                    let mut by_one = Vec::new();
                    for r in requests.clone() {
                        by_one.extend(one.store.ingest_batch(vec![r]).await);
                    }
                    let mut by_batch = Vec::new();
                    let mut rest = requests;
                    let mut size = sizes.iter().cycle();
                    while !rest.is_empty() {
                        let n = (*size.next().unwrap()).min(rest.len());
                        let after = rest.split_off(n);
                        by_batch.extend(batched.store.ingest_batch(rest).await);
                        rest = after;
                    }
                    let name = format!("{:?}, batches of {sizes:?}", db.backend);
                    let answers = |a: &[Result<Ingested, StoreError>]| {
                        a.iter().map(answer).collect::<Vec<_>>()
                    };
                    prop_assert_eq!(answers(&by_batch), answers(&by_one), "{}", name);
                    prop_assert_eq!(
                        rows(&batched.pool, org.0).await,
                        rows(&one.pool, org.0).await,
                        "{}",
                        name
                    );
                }
                Ok(())
            })
        })
        .unwrap();
}

/// Issue 12: a request the plan refuses is refused alone, with its
/// reason, and the others of its batch commit, numbered without a gap.
#[tokio::test]
async fn a_refused_request_leaves_the_rest_of_its_batch() {
    for f in common::fixtures().await {
        let name = f.name();
        let deployment =
            |ext: &str| Command::Deployment(deploy(f.service, Some(ext), "2024-03-04T12:00:00Z"));
        let batch: Vec<Vec<Command>> = vec![
            vec![deployment("a")],
            // Its deployment is planned before its resolve is refused.
            vec![
                deployment("r"),
                Command::ResolveIncident(resolve(Some(f.service), "nope", "2024-03-04T12:00:00Z")),
            ],
            vec![deployment("b")],
        ];
        let requests = batch
            .into_iter()
            .map(|c| (common::delivery(f.org, &c), c))
            .collect();
        let answers = f.store.ingest_batch(requests).await;
        let refusal = answers[1].as_ref().unwrap_err();
        assert!(
            matches!(refusal, StoreError::NotFound(what) if what == "incident 'nope'"),
            "{name}: {refusal:?}"
        );
        let (first, last) = (answers[0].as_ref().unwrap(), answers[2].as_ref().unwrap());
        assert_eq!(last.delivery_id.0, first.delivery_id.0 + 1, "{name}");
        let stored = f
            .store
            .list_deployments(f.org, &common::all(50))
            .await
            .unwrap();
        let mut ids: Vec<(i64, String)> = stored
            .items
            .iter()
            .map(|d| (d.id.0, d.external_id.as_ref().unwrap().as_str().to_owned()))
            .collect();
        ids.sort();
        let first_id = ids[0].0;
        assert_eq!(
            ids,
            vec![(first_id, "a".to_owned()), (first_id + 1, "b".to_owned())],
            "{name}"
        );
        let log = f
            .store
            .list_deliveries(f.org, &common::all(50))
            .await
            .unwrap();
        assert_eq!(log.items.len(), 2, "{name}");
        f.store.close().await;
    }
}

/// Issue 12: a token revoked after its request was authenticated (by an
/// instance whose cache had not heard of it yet) writes nothing.
#[tokio::test]
async fn a_write_whose_token_was_revoked_meanwhile_is_refused() {
    for f in common::fixtures().await {
        let name = f.name();
        let token = f
            .store
            .create_token(
                f.org,
                "ci",
                dorado_core::TokenScopes::parse("ingest").unwrap(),
                None,
                None,
            )
            .await
            .unwrap();
        let commands = vec![Command::Deployment(deploy(
            f.service,
            Some("d1"),
            "2024-03-04T12:00:00Z",
        ))];
        let mut d = common::delivery(f.org, &commands);
        d.token_id = Some(token.info.id);
        let first = f.store.ingest(d.clone(), commands.clone()).await;
        assert!(first.is_ok(), "{name}: {first:?}");
        f.store.revoke_token(f.org, token.info.id).await.unwrap();
        let mut again = d.clone();
        again.body.push(' ');
        let refused = f.store.ingest(again, commands.clone()).await;
        assert!(
            matches!(refused, Err(StoreError::Unauthorized)),
            "{name}: {refused:?}"
        );
        let log = f
            .store
            .list_deliveries(f.org, &common::all(50))
            .await
            .unwrap();
        assert_eq!(log.items.len(), 1, "{name}");
        f.store.close().await;
    }
}
