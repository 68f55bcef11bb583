//! The bulk import stores what the writer would store for the same lines,
//! applied one after the other: same ids, same values, same refusals.

mod common;

use common::{all, change, changes, commit, deploy, fixtures, incident, resolve, t};
use dorado_core::{
    Command, DeployResult, DeploymentKind, Environment, ExternalId, IncidentCause, OrgId, OrgName,
    ServiceDirectory, ServiceId, ServiceName, Sha, ShippedCommit, Timestamp,
};
use dorado_hooks::{Context, Endpoint};
use dorado_store::testing::TestDatabase;
use dorado_store::{ImportChunk, ImportLine, NewDelivery, Store};
use serde_json::{Value, json};

struct Org {
    store: Store,
    org: OrgId,
    checkout: ServiceId,
    cart: ServiceId,
    _db: TestDatabase,
}

/// Two databases of one backend, each with the same organization.
async fn pair(backend_of: &TestDatabase) -> (Org, Org) {
    let mut out = Vec::new();
    for _ in 0..2 {
        let db = match backend_of.backend {
            dorado_store::Backend::Sqlite => TestDatabase::sqlite(),
            dorado_store::Backend::Postgres => TestDatabase::postgres().await.unwrap(),
        };
        let store = db.connect().await;
        let org = store
            .create_org(&OrgName::parse("acme").unwrap())
            .await
            .unwrap();
        let mut ids = Vec::new();
        for name in ["checkout", "cart"] {
            let s = store
                .create_service(org.id, &ServiceName::parse(name).unwrap())
                .await
                .unwrap();
            ids.push(s.id);
        }
        out.push(Org {
            store,
            org: org.id,
            checkout: ids[0],
            cart: ids[1],
            _db: db,
        });
    }
    let b = out.pop().unwrap();
    let a = out.pop().unwrap();
    (a, b)
}

fn delivery(org: OrgId, endpoint: &Endpoint, body: &str, at: Timestamp) -> NewDelivery {
    NewDelivery {
        org_id: org,
        service_id: None,
        token_id: None,
        user_id: None,
        dialect: endpoint.dialect().into(),
        route: endpoint.to_string(),
        idempotency_key: None,
        body: body.into(),
        received_at: at,
        source_id: None,
        ignored: None,
        created_status: 200,
    }
}

/// The writer's way: one request per line; the error of a refused one.
async fn ingest_each(o: &Org, lines: &[(String, Command)], at: Timestamp) -> Vec<Option<String>> {
    let mut out = Vec::new();
    for (text, command) in lines {
        let d = delivery(o.org, &Endpoint::Events, text, at);
        let r = o.store.ingest(d, vec![command.clone()]).await;
        out.push(r.err().map(|e| e.to_string()));
    }
    out
}

/// The import's way, `size` lines a chunk; the error of each refused line.
async fn import(
    o: &Org,
    lines: &[(String, Command)],
    size: usize,
    at: Timestamp,
) -> Vec<Option<String>> {
    import_with(o, lines, size, at, false).await
}

/// As [`import`], the deferred indexes dropped during it when `defer`.
async fn import_with(
    o: &Org,
    lines: &[(String, Command)],
    size: usize,
    at: Timestamp,
    defer: bool,
) -> Vec<Option<String>> {
    let chunks = lines
        .chunks(size)
        .map(|part| {
            let mut chunk = ImportChunk {
                delivery: delivery(o.org, &Endpoint::Import, "", at),
                lines: part
                    .iter()
                    .map(|(text, command)| ImportLine {
                        text: text.clone(),
                        command: command.clone(),
                    })
                    .collect(),
                sealed: None,
            };
            // Sealed or not, the same body: a chunk with a refused line
            // leaves its seal unused.
            if part.len() % 2 == 0 {
                chunk.seal();
            }
            chunk
        })
        .collect();
    let mut importer = o.store.importer(o.org).await.unwrap();
    if defer {
        importer.defer_indexes().await.unwrap();
    }
    let done = importer.import(chunks).await.unwrap();
    importer.finish().await.unwrap();
    let mut out = vec![None; lines.len()];
    for (c, chunk) in done.iter().enumerate() {
        assert_eq!(
            chunk.imported + chunk.refused.len(),
            lines[c * size..].len().min(size)
        );
        assert_eq!(chunk.delivery_id.is_some(), chunk.imported > 0);
        for (i, why) in &chunk.refused {
            out[c * size + i] = Some(why.clone());
        }
    }
    out
}

/// Every stored row, as the API lists them, without the delivery that
/// wrote it (one request per line in one store, one per chunk in the other).
async fn rows(o: &Org, keep_delivery: bool) -> Value {
    let s = &o.store;
    let mut out = json!({
        "deployments": s.list_deployments(o.org, &all(500)).await.unwrap().items,
        "incidents": s.list_incidents(o.org, &all(500)).await.unwrap().items,
        "changes": s.list_changes(o.org, &all(500)).await.unwrap().items,
    });
    if !keep_delivery {
        for list in out.as_object_mut().unwrap().values_mut() {
            for item in list.as_array_mut().unwrap() {
                item.as_object_mut().unwrap().remove("delivery_id");
            }
        }
    }
    out
}

fn text(c: &Command) -> String {
    serde_json::to_string(c).unwrap()
}

/// Commands of every kind and every upsert rule, some given twice, some
/// against rows stored before the import.
fn commands(checkout: ServiceId, cart: ServiceId) -> (Vec<Command>, Vec<Command>) {
    let before = vec![
        Command::Deployment(deploy(checkout, Some("d0"), "2024-03-01T10:00:00Z")),
        Command::Incident({
            let mut i = incident(Some(checkout), "INC-0");
            i.started_at = Some(t("2024-03-01T11:00:00Z"));
            i.title = Some("before".into());
            i.attributes = json!({"a": 1, "b": 2});
            i
        }),
        changes(
            "https://github.com/acme/shop",
            vec![change("c0", &[], Some("2024-02-28T00:00:00Z"))],
        ),
        Command::Incident(incident(Some(cart), "DUP")),
    ];
    let mut d1 = deploy(checkout, Some("d1"), "2024-03-04T12:00:00Z");
    d1.commits = vec![commit("https://github.com/acme/shop", "c2")];
    let mut d1_again = deploy(checkout, Some("d1"), "2024-03-05T12:00:00Z");
    d1_again.environment = Environment::parse("staging").unwrap();
    d1_again.result = DeployResult::Failure;
    d1_again.started_at = Some(t("2024-03-05T11:00:00Z"));
    d1_again.commits = vec![
        commit("https://github.com/acme/shop", "c3"),
        commit("github.com/acme/lib", "l1"),
    ];
    let mut d0_again = deploy(checkout, Some("d0"), "2024-03-06T12:00:00Z");
    d0_again.finished_at = None;
    d0_again.result = DeployResult::InProgress;
    d0_again.kind = DeploymentKind::Rollback;
    d0_again.rework = true;
    d0_again.lead_time_seconds = Some(42);
    d0_again.attributes = json!({"job": "x"});
    d0_again.shipped = Some(vec![ShippedCommit {
        repo: "github.com/acme/shop".into(),
        repo_key: dorado_core::RepoKey::parse("github.com/acme/shop").unwrap(),
        sha: Sha::parse("c1").unwrap(),
        committed_at: Some(t("2024-03-02T00:00:00Z")),
    }]);
    let mut anonymous = deploy(cart, None, "2024-03-07T12:00:00Z");
    anonymous.commits = Vec::new();
    let mut started_late = incident(Some(checkout), "INC-1");
    started_late.started_at = Some(t("2024-03-04T13:00:00Z"));
    started_late.title = Some("late start".into());
    started_late.cause = Some(IncidentCause::Deployment(ExternalId::parse("d1").unwrap()));
    let mut inc0 = incident(Some(checkout), "INC-0");
    inc0.resolved_at = Some(t("2024-03-01T15:00:00Z"));
    inc0.attributes = json!({"b": 3, "c": 4});
    inc0.fixed_by = Some(ExternalId::parse("d1").unwrap());
    inc0.is_incident = false;
    let mut keep = resolve(Some(checkout), "INC-0", "2024-03-09T00:00:00Z");
    keep.keep_existing = true;
    let mut missing = resolve(Some(checkout), "INC-1", "2024-03-04T18:00:00Z");
    missing.create_missing = true;
    let mut orgwide = resolve(None, "ORG", "2024-03-08T00:00:00Z");
    orgwide.create_missing = true;
    let mut orgwide_start = incident(None, "ORG");
    orgwide_start.started_at = Some(t("2024-03-07T00:00:00Z"));
    let mut dup = incident(Some(checkout), "DUP");
    dup.cause = Some(IncidentCause::Commit(Sha::parse("c2").unwrap()));
    let mut authored = change("c2", &["c1", "c0"], None);
    authored.authored_at = Some(t("2024-03-03T00:00:00Z"));
    authored.author = Some("ada".into());
    let mut c2_again = change("c2", &["c9", "c1"], Some("2024-03-03T06:00:00Z"));
    c2_again.message = Some("fix".into());
    let lines = vec![
        Command::Deployment(d1),
        // The incident's resolve comes before its start.
        Command::ResolveIncident(missing),
        Command::Incident(started_late),
        changes(
            "https://github.com/Acme/Shop.git",
            vec![
                authored,
                change("c1", &["c0"], Some("2024-03-02T00:00:00Z")),
                change("c0", &["c-1"], None),
            ],
        ),
        Command::Deployment(d1_again),
        Command::Deployment(anonymous.clone()),
        Command::Deployment(d0_again),
        Command::Incident(inc0),
        Command::ResolveIncident(keep),
        Command::ResolveIncident(orgwide),
        Command::Incident(orgwide_start),
        Command::Incident(dup),
        // Two services have DUP now: refused.
        Command::ResolveIncident(resolve(None, "DUP", "2024-03-09T00:00:00Z")),
        // Unknown: refused.
        Command::ResolveIncident(resolve(Some(checkout), "NOPE", "2024-03-09T00:00:00Z")),
        // Not this organization's service: refused.
        Command::Deployment(deploy(ServiceId(9_999), Some("x"), "2024-03-09T00:00:00Z")),
        changes(
            "github.com/acme/shop",
            vec![c2_again, change("n1", &[], None)],
        ),
        Command::Deployment(anonymous),
        Command::ResolveIncident(resolve(None, "INC-0", "2024-03-10T00:00:00Z")),
    ];
    (before, lines)
}

#[tokio::test]
async fn import_stores_what_the_writer_stores() {
    for db in TestDatabase::all().await {
        for (size, defer) in [(1, false), (4, false), (4, true), (100, true)] {
            let (a, b) = pair(&db).await;
            let (before, lines) = commands(a.checkout, a.cart);
            let before: Vec<(String, Command)> =
                before.iter().map(|c| (text(c), c.clone())).collect();
            let lines: Vec<(String, Command)> =
                lines.iter().map(|c| (text(c), c.clone())).collect();
            let at0 = t("2024-06-01T00:00:00Z");
            let at = t("2024-06-02T00:00:00Z");
            for o in [&a, &b] {
                assert!(
                    ingest_each(o, &before, at0)
                        .await
                        .iter()
                        .all(Option::is_none)
                );
            }
            let by_writer = ingest_each(&a, &lines, at).await;
            let by_import = import_with(&b, &lines, size, at, defer).await;
            let name = format!("{:?}, chunks of {size}, defer {defer}", db.backend);
            assert_eq!(by_import, by_writer, "{name}");
            assert_eq!(
                by_writer.iter().filter(|r| r.is_some()).count(),
                3,
                "{name}: {by_writer:?}"
            );
            assert_eq!(rows(&b, false).await, rows(&a, false).await, "{name}");
            // Issue 12: and `dorado reindex` rebuilds the same rows from
            // either log, through the same planner.
            for o in [&a, &b] {
                let before = rows(o, true).await;
                let report = o.store.reindex(o.org, commands_of).await.unwrap();
                assert_eq!(report.skipped, 0, "{name}");
                assert_eq!(rows(o, true).await, before, "{name}: reindexed");
            }
        }
    }
}

/// The commands a delivery of these tests holds: one per line.
fn commands_of(
    d: &dorado_store::DeliveryRecord,
    _: &ServiceDirectory,
) -> Result<Vec<Command>, String> {
    d.body
        .lines()
        .map(|l| serde_json::from_str(l).map_err(|e| e.to_string()))
        .collect()
}

const SERVICE_LINES: &str = r#"{"type":"deploy","service":"checkout","id":"d1","time":"2024-05-01T10:00:00Z","repo":"github.com/acme/shop","commit_sha":"aaa1"}
{"type":"change","repo":"github.com/acme/shop","sha":"aaa1","parents":["aaa0"],"committed_at":"2024-05-01T08:00:00Z"}
{"type":"change","repo":"https://github.com/acme/shop","sha":"aaa0","time":"2024-04-30T08:00:00Z"}
{"type":"incident_resolved","service":"checkout","id":"INC-9","time":"2024-05-01T12:00:00Z"}
{"type":"incident_started","service":"checkout","id":"INC-9","time":"2024-05-01T11:00:00Z","title":"down"}
{"type":"incident_started","service":"checkout","id":"INC-9","title":"down, still"}
{"type":"deploy","service":"cart","time":"2024-05-02T10:00:00Z","result":"failure","environment":"staging"}
{"type":"deploy","service":"checkout","id":"d1","time":"2024-05-02T10:00:00Z","repo":"github.com/acme/shop","commit_sha":"aaa2","commits":[{"sha":"aaa2","committed_at":"2024-05-02T09:00:00Z"}],"kind":"hotfix"}
{"type":"incident_started","id":"ORG-1","time":"2024-05-03T10:00:00Z"}
{"type":"incident_resolved","id":"ORG-1"}
{"type":"change","repo":"github.com/acme/shop","sha":"aaa2","parents":["aaa1"],"committed_at":"2024-05-02T09:00:00Z"}"#;

#[tokio::test]
async fn imported_event_lines_survive_a_reindex() {
    for db in TestDatabase::all().await {
        let (a, b) = pair(&db).await;
        let dir = a.store.service_directory(a.org).await.unwrap();
        let at = t("2024-06-01T00:00:00Z");
        let read = |dir: &ServiceDirectory| -> Vec<(String, Command)> {
            let ctx = Context {
                services: dir,
                path_service: None,
                received_at: at,
                source: None,
            };
            SERVICE_LINES
                .lines()
                .map(|l| {
                    (
                        l.to_owned(),
                        dorado_hooks::parse_line(&ctx, l.as_bytes()).unwrap(),
                    )
                })
                .collect()
        };
        let lines = read(&dir);
        assert!(
            ingest_each(&a, &lines, at)
                .await
                .iter()
                .all(Option::is_none)
        );
        assert!(import(&b, &lines, 3, at).await.iter().all(Option::is_none));
        let imported = rows(&b, true).await;
        let by_writer = rows(&a, false).await;
        let mut without_delivery = imported.clone();
        for list in without_delivery.as_object_mut().unwrap().values_mut() {
            for item in list.as_array_mut().unwrap() {
                item.as_object_mut().unwrap().remove("delivery_id");
            }
        }
        assert_eq!(without_delivery, by_writer, "{:?}", db.backend);

        let log = b
            .store
            .list_deliveries(b.org, &all(500))
            .await
            .unwrap()
            .items;
        assert_eq!(log.len(), 4, "{:?}", db.backend);
        assert!(
            log.iter()
                .all(|d| d.dialect == "import" && d.route == "import")
        );
        let report = b
            .store
            .reindex(b.org, |d, services| {
                let ctx = Context {
                    services,
                    path_service: None,
                    received_at: d.received_at,
                    source: None,
                };
                let endpoint: Endpoint = d.route.parse().map_err(|e| format!("{e}"))?;
                dorado_hooks::parse(&endpoint, &ctx, d.body.as_bytes()).map_err(|e| e.to_string())
            })
            .await
            .unwrap();
        assert_eq!(
            (report.replayed, report.skipped),
            (4, 0),
            "{:?}",
            db.backend
        );
        assert_eq!(rows(&b, true).await, imported, "{:?}", db.backend);
        let version = b.store.data_version(b.org).await.unwrap();
        assert!(
            version >= 2,
            "an import and a reindex bump the data version"
        );
    }
}

#[tokio::test]
async fn a_chunk_refused_whole_stores_nothing() {
    for db in TestDatabase::all().await {
        let (_, b) = pair(&db).await;
        let version = b.store.data_version(b.org).await.unwrap();
        let refused =
            Command::ResolveIncident(resolve(Some(b.checkout), "NOPE", "2024-03-09T00:00:00Z"));
        let lines = vec![(text(&refused), refused)];
        let out = import(&b, &lines, 10, t("2024-06-01T00:00:00Z")).await;
        assert_eq!(out, vec![Some("incident 'NOPE' not found".to_owned())]);
        assert!(
            b.store
                .list_deliveries(b.org, &all(10))
                .await
                .unwrap()
                .items
                .is_empty()
        );
        assert_eq!(b.store.data_version(b.org).await.unwrap(), version);
    }
}

/// The SQL of every index of the SQLite file, as stored.
async fn index_sql(url: &str) -> Vec<(String, String)> {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
    let rows = sqlx::query_as(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    rows
}

#[tokio::test]
async fn deferred_indexes_come_back_as_the_migrations_made_them() {
    let db = TestDatabase::sqlite();
    let store = db.connect().await;
    let org = store
        .create_org(&OrgName::parse("acme").unwrap())
        .await
        .unwrap();
    let migrated = index_sql(&db.url).await;
    assert!(migrated.iter().any(|(n, _)| n == "changes_org_time"));

    let mut importer = store.importer(org.id).await.unwrap();
    importer.defer_indexes().await.unwrap();
    let during = index_sql(&db.url).await;
    assert_eq!(migrated.len() - during.len(), 4, "{during:?}");
    importer.finish().await.unwrap();
    drop(importer);
    assert_eq!(index_sql(&db.url).await, migrated, "after finish");

    // An import that never finishes: the next store to open builds them.
    let mut importer = store.importer(org.id).await.unwrap();
    importer.defer_indexes().await.unwrap();
    drop(importer);
    store.close().await;
    assert_ne!(index_sql(&db.url).await, migrated);
    let store = db.connect().await;
    assert_eq!(index_sql(&db.url).await, migrated, "after a new open");
    store.close().await;
}

#[tokio::test]
async fn a_small_import_keeps_its_indexes() {
    for f in fixtures().await {
        let mut importer = f.store.importer(f.org).await.unwrap();
        let sqlite = f.store.backend() == dorado_store::Backend::Sqlite;
        assert!(!importer.worth_deferring_indexes(1_000).await.unwrap());
        assert_eq!(
            importer.worth_deferring_indexes(5_000_000).await.unwrap(),
            sqlite
        );
    }
}
