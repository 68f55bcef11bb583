//! Values that are hard to carry as text: PostgreSQL's writes send each
//! column of a statement as the text of an array literal (see
//! `plan/pg.rs`), SQLite's bind one value per placeholder. Both must store
//! exactly what was given, through the writer's batches and the import.

mod common;

use common::{all, change, changes, commit, deploy, incident, t};
use dorado_core::{
    Command, ExternalId, IncidentCause, MergedRequest, OrgName, RepoKey, ServiceName, Sha,
    ShippedCommit,
};
use dorado_store::testing::TestDatabase;
use dorado_store::{ImportChunk, ImportLine, ListQuery, NewDelivery, Store};
use serde_json::{Value, json};

/// Text that an array literal, JSON or a COPY line would each have to
/// escape somewhere.
fn tricky() -> Vec<String> {
    let long: String = "a\"b\\c,{d} e\n\u{e9}\u{1f980}NULL"
        .chars()
        .cycle()
        .take(200_000)
        .collect();
    vec![
        "plain".into(),
        String::new(),
        "NULL".into(),
        "null".into(),
        "\"quoted\" and 'single'".into(),
        "back\\slash \\\\ \\\" \\n".into(),
        "new\nline\r\ncarriage\ttab".into(),
        "{braces},commas,\"{\"}".into(),
        "  spaces around  ".into(),
        "unicode \u{e9}\u{e8} \u{6f22}\u{5b57} \u{1f980} \u{200b}".into(),
        "$1 ? :x %s".into(),
        long,
    ]
}

fn commands(service: dorado_core::ServiceId) -> Vec<Command> {
    let texts = tricky();
    let mut out = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        let mut d = deploy(service, Some(&format!("d-{i}")), "2024-05-01T00:00:00Z");
        d.name = Some(text.clone());
        d.source = text.clone();
        d.attributes = json!({ "text": text, "n": i64::MIN, "m": i64::MAX });
        d.lead_time_seconds = Some(if i % 2 == 0 { i64::MAX } else { i64::MIN });
        d.rework = i % 2 == 0;
        d.commits = vec![commit(
            &format!("https://github.com/acme/r\u{e9}po-{i}"),
            &format!("{i:040x}"),
        )];
        d.shipped = Some(vec![ShippedCommit {
            repo: format!("https://github.com/acme/r\u{e9}po-{i}"),
            repo_key: RepoKey::parse(&format!("https://github.com/acme/r\u{e9}po-{i}")).unwrap(),
            sha: Sha::parse(&format!("{i:040x}")).unwrap(),
            committed_at: Some(t("2024-04-30T00:00:00Z")),
        }]);
        out.push(Command::Deployment(d));

        let mut c = change(&format!("{:040x}", 1000 + i), &[&format!("{i:040x}")], None);
        c.author = Some(text.clone());
        c.message = (i % 3 != 0).then(|| text.clone());
        c.request = Some(MergedRequest {
            opened_at: t("2024-04-29T00:00:00Z"),
            head: None,
            base: Some(Sha::parse(&format!("{i:040x}")).unwrap()),
            commits: Some(i32::MAX as u32),
        });
        out.push(changes(
            &format!("https://github.com/acme/r\u{e9}po-{i}"),
            vec![c],
        ));

        let mut w = incident(Some(service), &format!("INC-{i}"));
        w.title = Some(text.clone());
        w.started_at = Some(t("2024-05-01T01:00:00Z"));
        w.attributes = json!({ "text": text });
        w.cause = Some(IncidentCause::Deployment(
            ExternalId::parse(&format!("d-{i}")).unwrap(),
        ));
        out.push(Command::Incident(w));
    }
    // A deployment without any optional value: NULL in every column that
    // takes one.
    let mut bare = deploy(service, None, "2024-05-02T00:00:00Z");
    bare.name = None;
    bare.commits = Vec::new();
    out.push(Command::Deployment(bare));
    out
}

fn delivery(org: dorado_core::OrgId, body: &str) -> NewDelivery {
    NewDelivery {
        org_id: org,
        service_id: None,
        token_id: None,
        user_id: None,
        dialect: "native".into(),
        route: "/te\"st\\".into(),
        idempotency_key: None,
        body: body.into(),
        received_at: t("2024-06-01T00:00:00Z"),
        source_id: None,
        ignored: None,
        created_status: 200,
    }
}

/// Every stored row of the organization, as the API lists them.
async fn rows(store: &Store, org: dorado_core::OrgId) -> Value {
    let q = all(500);
    json!({
        "deployments": store.list_deployments(org, &q).await.unwrap().items,
        "incidents": store.list_incidents(org, &q).await.unwrap().items,
        "changes": store.list_changes(org, &q).await.unwrap().items,
        "deliveries": store.list_deliveries(org, &ListQuery { limit: 500, ..q }).await.unwrap().items,
    })
}

/// The writer (one batch of every command) and the import (one chunk),
/// on one database: what each stored.
async fn store_both_ways(db: &TestDatabase) -> (Value, Value) {
    let store = db.connect().await;
    let mut out = Vec::new();
    for (name, import) in [("written", false), ("imported", true)] {
        let org = store
            .create_org(&OrgName::parse(name).unwrap())
            .await
            .unwrap();
        let service = store
            .create_service(org.id, &ServiceName::parse("checkout").unwrap())
            .await
            .unwrap();
        let commands = commands(service.id);
        let texts: Vec<String> = tricky().into_iter().cycle().take(commands.len()).collect();
        if import {
            let lines = commands
                .iter()
                .zip(&texts)
                .map(|(c, text)| ImportLine {
                    text: text.clone(),
                    command: c.clone(),
                })
                .collect();
            let chunk = ImportChunk {
                delivery: delivery(org.id, ""),
                lines,
                sealed: None,
            };
            let mut importer = store.importer(org.id).await.unwrap();
            let done = importer.import(vec![chunk]).await.unwrap();
            importer.finish().await.unwrap();
            assert_eq!(done[0].refused, Vec::new(), "{name}");
        } else {
            let batch = commands
                .iter()
                .zip(&texts)
                .map(|(c, text)| (delivery(org.id, text), vec![c.clone()]))
                .collect();
            for answer in store.ingest_batch(batch).await {
                answer.unwrap();
            }
        }
        out.push(rows(&store, org.id).await);
    }
    store.close().await;
    let imported = out.pop().unwrap();
    (out.pop().unwrap(), imported)
}

#[tokio::test]
async fn tricky_values_are_stored_as_given_on_every_database() {
    let mut stored = Vec::new();
    for db in TestDatabase::all().await {
        let (written, imported) = store_both_ways(&db).await;
        // What was given comes back.
        let names: Vec<&Value> = written["deployments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| &d["name"])
            .collect();
        for text in tricky() {
            assert!(names.contains(&&Value::String(text)), "{:?}", db.backend);
        }
        assert!(names.contains(&&Value::Null));
        let bodies: Vec<&Value> = written["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| &d["body"])
            .collect();
        for text in tricky() {
            assert!(bodies.contains(&&Value::String(text)), "{:?}", db.backend);
        }
        stored.push((db.backend, written, imported));
    }
    // And every database stores the same rows.
    for pair in stored.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        assert!(a.1 == b.1, "the writer's rows differ: {:?} {:?}", a.0, b.0);
        assert!(a.2 == b.2, "the import's rows differ: {:?} {:?}", a.0, b.0);
    }
}
