//! Writes: upserts of every command kind, idempotency, group commit.

mod common;

use common::{
    all, change, changes, commit, delivery, deploy, fixtures, incident, ingest, resolve, t,
};
use dorado_core::{
    Command, DeployResult, DeploymentKind, Environment, ExternalId, IncidentCause, OrgName,
    RepoKey, ServiceName, Sha, ShippedCommit,
};
use dorado_store::{StoreError, Written};

#[tokio::test]
async fn deployments_upsert_by_external_id() {
    for f in fixtures().await {
        let (s, name) = (&f.store, f.name());
        let first = ingest(
            s,
            f.org,
            vec![Command::Deployment(deploy(
                f.service,
                Some("d1"),
                "2024-03-04T12:00:00Z",
            ))],
        )
        .await;
        let Written::Deployment {
            id, created: true, ..
        } = first.outcome.written[0].clone()
        else {
            panic!("{name}: {first:?}");
        };

        let mut w = deploy(f.service, Some("d1"), "2024-03-05T12:00:00Z");
        w.name = None;
        w.environment = Environment::parse("Staging").unwrap();
        w.result = DeployResult::Failure;
        w.started_at = Some(t("2024-03-05T11:00:00Z"));
        w.commits = vec![
            commit("github.com/acme/a", "b1"),
            commit("github.com/acme/b", "c1"),
        ];
        w.shipped = Some(vec![ShippedCommit {
            repo: "github.com/acme/a".into(),
            repo_key: RepoKey::parse("github.com/acme/a").unwrap(),
            sha: Sha::parse("b0").unwrap(),
            committed_at: Some(t("2024-03-01T00:00:00Z")),
        }]);
        w.kind = DeploymentKind::Hotfix;
        w.rework = true;
        w.lead_time_seconds = Some(60);
        w.source = "devlake".into();
        w.attributes = serde_json::json!({"ref": "main"});
        let second = ingest(s, f.org, vec![Command::Deployment(w.clone())]).await;
        assert_eq!(
            second.outcome.written,
            vec![Written::Deployment {
                id,
                service_id: f.service,
                external_id: Some(ExternalId::parse("d1").unwrap()),
                created: false
            }],
            "{name}"
        );
        // Without an external id, always a new one.
        ingest(
            s,
            f.org,
            vec![Command::Deployment(deploy(
                f.service,
                None,
                "2024-03-01T00:00:00Z",
            ))],
        )
        .await;
        ingest(
            s,
            f.org,
            vec![Command::Deployment(deploy(
                f.service,
                None,
                "2024-03-01T00:00:00Z",
            ))],
        )
        .await;

        let page = s.list_deployments(f.org, &all(0)).await.unwrap();
        assert_eq!(page.items.len(), 3, "{name}");
        let d = &page.items[0];
        assert_eq!(d.id, id);
        assert_eq!(d.name, None);
        assert_eq!(d.environment.as_str(), "staging");
        assert_eq!(d.result, DeployResult::Failure);
        assert_eq!((d.started_at, d.finished_at), (w.started_at, w.finished_at));
        assert_eq!(d.commits, w.commits, "{name}: commits are replaced");
        assert_eq!(d.shipped, w.shipped);
        assert_eq!(
            (d.kind, d.rework, d.lead_time_seconds),
            (DeploymentKind::Hotfix, true, Some(60))
        );
        assert_eq!(
            (d.source.as_str(), &d.attributes),
            ("devlake", &w.attributes)
        );
        assert_eq!(d.delivery_id, second.delivery_id);
        assert!(
            page.items[1..]
                .iter()
                .all(|d| d.external_id.is_none() && d.shipped.is_none())
        );

        // A service of another organization does not exist for this one.
        let globex = s
            .create_org(&OrgName::parse("globex").unwrap())
            .await
            .unwrap();
        let cmd = vec![Command::Deployment(deploy(
            f.service,
            Some("x"),
            "2024-03-01T00:00:00Z",
        ))];
        let err = s.ingest(delivery(globex.id, &cmd), cmd).await.unwrap_err();
        assert!(matches!(err, StoreError::NotFound(_)), "{name}: {err}");
        s.close().await;
    }
}

#[tokio::test]
async fn changes_fill_in_and_gain_parents() {
    for f in fixtures().await {
        let (s, name) = (&f.store, f.name());
        let repo = "https://github.com/Acme/Shop.git";
        let mut c = change("aaa", &["p1"], Some("2024-01-01T00:00:00Z"));
        c.author = Some("ann".into());
        let out = ingest(
            s,
            f.org,
            vec![changes(repo, vec![c, change("p1", &[], None)])],
        )
        .await;
        assert_eq!(
            out.outcome.written,
            vec![Written::Changes {
                repo_key: RepoKey::parse(repo).unwrap(),
                commits: 2
            }]
        );
        let mut again = change("AAA", &["p2", "p1"], None);
        again.authored_at = Some(t("2023-12-31T00:00:00Z"));
        again.message = Some("fix".into());
        let second = ingest(s, f.org, vec![changes("github.com/acme/shop", vec![again])]).await;

        let page = s.list_changes(f.org, &all(0)).await.unwrap();
        assert_eq!(page.items.len(), 2, "{name}");
        let a = page.items.iter().find(|c| c.sha.as_str() == "aaa").unwrap();
        assert_eq!(
            a.committed_at,
            Some(t("2024-01-01T00:00:00Z")),
            "{name}: kept"
        );
        assert_eq!(
            a.authored_at,
            Some(t("2023-12-31T00:00:00Z")),
            "{name}: filled in"
        );
        assert_eq!(
            (a.author.as_deref(), a.message.as_deref()),
            (Some("ann"), Some("fix"))
        );
        assert_eq!(a.repo, "github.com/acme/shop");
        let parents: Vec<&str> = a.parents.iter().map(Sha::as_str).collect();
        assert_eq!(parents, ["p1", "p2"], "{name}");
        assert_eq!(a.delivery_id, second.delivery_id);
        s.close().await;
    }
}

#[tokio::test]
async fn incidents_keep_what_a_later_write_leaves_out() {
    for f in fixtures().await {
        let (s, name) = (&f.store, f.name());
        let mut start = incident(Some(f.service), "INC-1");
        start.title = Some("checkout down".into());
        start.started_at = Some(t("2024-03-04T13:00:00Z"));
        start.cause = Some(IncidentCause::Deployment(ExternalId::parse("d1").unwrap()));
        start.attributes = serde_json::json!({"severity": 1});
        let first = ingest(s, f.org, vec![Command::Incident(start)]).await;
        let mut end = incident(Some(f.service), "INC-1");
        end.resolved_at = Some(t("2024-03-04T14:00:00Z"));
        end.fixed_by = Some(ExternalId::parse("d2").unwrap());
        end.attributes = serde_json::json!({"resolver": "bob"});
        let second = ingest(s, f.org, vec![Command::Incident(end)]).await;
        let (
            Written::Incident {
                id: a,
                created: true,
                ..
            },
            Written::Incident {
                id: b,
                created: false,
                ..
            },
        ) = (&first.outcome.written[0], &second.outcome.written[0])
        else {
            panic!("{name}");
        };
        assert_eq!(a, b);

        let page = s.list_incidents(f.org, &all(0)).await.unwrap();
        let i = &page.items[0];
        assert_eq!(i.title.as_deref(), Some("checkout down"), "{name}");
        assert_eq!(i.started_at, Some(t("2024-03-04T13:00:00Z")));
        assert_eq!(i.resolved_at, Some(t("2024-03-04T14:00:00Z")));
        assert_eq!(
            i.cause,
            Some(IncidentCause::Deployment(ExternalId::parse("d1").unwrap()))
        );
        assert_eq!(i.fixed_by, Some(ExternalId::parse("d2").unwrap()));
        assert_eq!(
            i.attributes,
            serde_json::json!({"severity": 1, "resolver": "bob"})
        );
        assert!(i.is_incident);

        // An organization-wide incident with the same key is another incident.
        let out = ingest(s, f.org, vec![Command::Incident(incident(None, "INC-1"))]).await;
        assert!(matches!(
            out.outcome.written[0],
            Written::Incident {
                created: true,
                service_id: None,
                ..
            }
        ));
        s.close().await;
    }
}

#[tokio::test]
async fn a_resolve_may_come_before_its_start() {
    for f in fixtures().await {
        let (s, name) = (&f.store, f.name());
        let missing = vec![Command::ResolveIncident(resolve(
            Some(f.service),
            "INC-7",
            "2024-03-04T14:00:00Z",
        ))];
        let err = s
            .ingest(delivery(f.org, &missing), missing)
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::NotFound(ref m) if m.contains("INC-7")),
            "{name}: {err}"
        );

        let mut r = resolve(Some(f.service), "INC-7", "2024-03-04T14:00:00Z");
        r.create_missing = true;
        let out = ingest(s, f.org, vec![Command::ResolveIncident(r)]).await;
        assert!(
            matches!(
                out.outcome.written[0],
                Written::Incident { created: true, .. }
            ),
            "{name}"
        );
        let mut start = incident(Some(f.service), "INC-7");
        start.started_at = Some(t("2024-03-04T13:00:00Z"));
        ingest(s, f.org, vec![Command::Incident(start)]).await;
        let i = s
            .list_incidents(f.org, &all(0))
            .await
            .unwrap()
            .items
            .remove(0);
        assert_eq!(i.started_at, Some(t("2024-03-04T13:00:00Z")), "{name}");
        assert_eq!(
            i.resolved_at,
            Some(t("2024-03-04T14:00:00Z")),
            "{name}: still resolved"
        );

        // keep_existing does not move a resolution; a plain resolve does.
        let mut close = resolve(None, "INC-7", "2024-03-05T00:00:00Z");
        close.keep_existing = true;
        ingest(s, f.org, vec![Command::ResolveIncident(close)]).await;
        let i = s
            .list_incidents(f.org, &all(0))
            .await
            .unwrap()
            .items
            .remove(0);
        assert_eq!(i.resolved_at, Some(t("2024-03-04T14:00:00Z")), "{name}");
        ingest(
            s,
            f.org,
            vec![Command::ResolveIncident(resolve(
                None,
                "INC-7",
                "2024-03-05T00:00:00Z",
            ))],
        )
        .await;
        let i = s
            .list_incidents(f.org, &all(0))
            .await
            .unwrap()
            .items
            .remove(0);
        assert_eq!(i.resolved_at, Some(t("2024-03-05T00:00:00Z")), "{name}");

        // The key alone is ambiguous once two services use it.
        let cart = s
            .create_service(f.org, &ServiceName::parse("cart").unwrap())
            .await
            .unwrap();
        ingest(
            s,
            f.org,
            vec![Command::Incident(incident(Some(cart.id), "INC-7"))],
        )
        .await;
        let ambiguous = vec![Command::ResolveIncident(resolve(
            None,
            "INC-7",
            "2024-03-06T00:00:00Z",
        ))];
        match s.ingest(delivery(f.org, &ambiguous), ambiguous).await {
            Err(StoreError::Invalid(e)) => assert_eq!(e.errors[0].pointer, "/service", "{name}"),
            other => panic!("{name}: {other:?}"),
        }
        s.close().await;
    }
}

#[tokio::test]
async fn idempotency_replays_or_conflicts() {
    for f in fixtures().await {
        let (s, name) = (&f.store, f.name());
        let cmds = vec![Command::Deployment(deploy(
            f.service,
            None,
            "2024-03-04T12:00:00Z",
        ))];
        let mut d = delivery(f.org, &cmds);
        d.idempotency_key = Some("k1".into());
        let first = s.ingest(d.clone(), cmds.clone()).await.unwrap();
        assert!(!first.replayed);
        let again = s.ingest(d.clone(), cmds.clone()).await.unwrap();
        assert!(again.replayed, "{name}");
        assert_eq!(
            (again.delivery_id, &again.outcome),
            (first.delivery_id, &first.outcome)
        );

        let mut other = d.clone();
        other.body.push(' ');
        let err = s.ingest(other, cmds.clone()).await.unwrap_err();
        assert!(
            matches!(err, StoreError::Conflict(ref m) if m.contains("k1")),
            "{name}: {err}"
        );
        assert_eq!(
            s.list_deliveries(f.org, &all(0)).await.unwrap().items.len(),
            1,
            "{name}"
        );
        assert_eq!(
            s.list_deployments(f.org, &all(0))
                .await
                .unwrap()
                .items
                .len(),
            1,
            "{name}"
        );

        // A refused request is logged but does not take the key.
        let mut refused = d.clone();
        refused.idempotency_key = Some("k2".into());
        s.record_refused(refused.clone(), 400, "/commit_sha: is not a sha")
            .await
            .unwrap();
        let taken = s.ingest(refused, cmds.clone()).await.unwrap();
        assert!(!taken.replayed, "{name}");
        let log = s.list_deliveries(f.org, &all(0)).await.unwrap().items;
        assert_eq!(log.len(), 3);
        let r = log.iter().find(|r| !r.accepted).unwrap();
        assert_eq!(
            (r.status, r.error.as_deref()),
            (400, Some("/commit_sha: is not a sha"))
        );
        assert_eq!(r.body, d.body);
        s.close().await;
    }
}

#[tokio::test]
async fn a_refused_job_does_not_undo_its_batch() {
    for f in fixtures().await {
        let name = f.name();
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..40u32 {
            let (s, org, service) = (f.store.clone(), f.org, f.service);
            tasks.spawn(async move {
                let mut cmds = vec![Command::Deployment(deploy(
                    service,
                    Some(&format!("d{i}")),
                    "2024-03-04T12:00:00Z",
                ))];
                if i.is_multiple_of(4) {
                    // Fails after its deployment was written: all of it goes.
                    cmds.push(Command::ResolveIncident(resolve(
                        Some(service),
                        "nope",
                        "2024-03-04T12:00:00Z",
                    )));
                }
                (i, s.ingest(delivery(org, &cmds), cmds).await)
            });
        }
        while let Some(joined) = tasks.join_next().await {
            let (i, result) = joined.unwrap();
            assert_eq!(
                result.is_ok(),
                !i.is_multiple_of(4),
                "{name}: job {i}: {result:?}"
            );
        }
        let page = f.store.list_deployments(f.org, &all(500)).await.unwrap();
        assert_eq!(page.items.len(), 30, "{name}");
        assert!(page.items.iter().all(|d| {
            let n: usize = d.external_id.as_ref().unwrap().as_str()[1..]
                .parse()
                .unwrap();
            !n.is_multiple_of(4)
        }));
        assert_eq!(
            f.store
                .list_deliveries(f.org, &all(500))
                .await
                .unwrap()
                .items
                .len(),
            30
        );
        f.store.close().await;
    }
}

#[tokio::test]
async fn two_hundred_concurrent_ingests_all_land() {
    for f in fixtures().await {
        let name = f.name();
        let started = std::time::Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..200 {
            let (s, org, service) = (f.store.clone(), f.org, f.service);
            tasks.spawn(async move {
                let cmds = vec![Command::Deployment(deploy(
                    service,
                    Some(&format!("d{i}")),
                    "2024-03-04T12:00:00Z",
                ))];
                s.ingest(delivery(org, &cmds), cmds).await
            });
        }
        while let Some(joined) = tasks.join_next().await {
            joined.unwrap().unwrap();
        }
        eprintln!("{name}: 200 concurrent ingests in {:?}", started.elapsed());
        let page = f.store.list_deployments(f.org, &all(500)).await.unwrap();
        assert_eq!(page.items.len(), 200, "{name}");
        f.store.close().await;
    }
}
