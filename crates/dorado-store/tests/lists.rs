//! Lists (filters, paging) and rebuilding from the delivery log.

mod common;

use common::{
    all, change, changes, commit, delivery, deploy, fixtures, incident, ingest, resolve, t,
};
use dorado_core::{Command, DeploymentId, ServiceName};
use dorado_store::{ListQuery, Page, StoreError};

/// Follows `next_cursor` to the end.
async fn every_page<T, F, Fut>(limit: u32, mut list: F) -> Vec<Vec<T>>
where
    F: FnMut(ListQuery) -> Fut,
    Fut: std::future::Future<Output = Result<Page<T>, StoreError>>,
{
    let mut pages = Vec::new();
    let mut q = all(limit);
    loop {
        let page = list(q.clone()).await.unwrap();
        pages.push(page.items);
        match page.next_cursor {
            Some(c) => q.cursor = Some(c),
            None => return pages,
        }
    }
}

#[tokio::test]
async fn deployments_list_newest_first_with_filters_and_cursors() {
    for f in fixtures().await {
        let (s, name, org) = (&f.store, f.name(), f.org);
        let cart = s
            .create_service(f.org, &ServiceName::parse("cart").unwrap())
            .await
            .unwrap();
        // Three share a time, so that the id must break ties across pages.
        let times = [
            "2024-01-01T00:00:00Z",
            "2024-01-02T00:00:00Z",
            "2024-01-02T00:00:00Z",
            "2024-01-02T00:00:00Z",
            "2024-01-03T00:00:00Z",
        ];
        for (i, time) in times.iter().enumerate() {
            let service = if i == 4 { cart.id } else { f.service };
            let mut w = deploy(service, None, time);
            w.commits = vec![
                commit("github.com/acme/shop", &format!("s{i}")),
                commit("github.com/acme/lib", "l"),
            ];
            ingest(s, f.org, vec![Command::Deployment(w)]).await;
        }
        // No finish: sorted by its start; neither: by when it arrived.
        let mut w = deploy(f.service, None, "2024-01-01T00:00:00Z");
        w.finished_at = None;
        w.started_at = Some(t("2024-01-04T00:00:00Z"));
        ingest(s, f.org, vec![Command::Deployment(w.clone())]).await;
        w.started_at = None;
        ingest(s, f.org, vec![Command::Deployment(w)]).await; // received 2024-06-01

        let full = s.list_deployments(f.org, &all(0)).await.unwrap();
        assert_eq!(full.next_cursor, None);
        let ids: Vec<i64> = full.items.iter().map(|d| d.id.0).collect();
        assert_eq!(ids, [7, 6, 5, 4, 3, 2, 1], "{name}");
        assert_eq!(
            full.items[2].commits.len(),
            2,
            "{name}: every row carries its commits"
        );
        assert_eq!(full.items[2].commits[0].sha.as_str(), "s4");

        let pages = every_page(2, |q| async move { s.list_deployments(org, &q).await }).await;
        let paged: Vec<Vec<i64>> = pages
            .iter()
            .map(|p| p.iter().map(|d| d.id.0).collect())
            .collect();
        assert_eq!(
            paged,
            [vec![7, 6], vec![5, 4], vec![3, 2], vec![1]],
            "{name}"
        );

        let q = ListQuery {
            from: Some(t("2024-01-02T00:00:00Z")),
            to: Some(t("2024-01-03T00:00:00Z")),
            ..all(0)
        };
        let window: Vec<i64> = s
            .list_deployments(f.org, &q)
            .await
            .unwrap()
            .items
            .iter()
            .map(|d| d.id.0)
            .collect();
        assert_eq!(window, [4, 3, 2], "{name}: from inclusive, to exclusive");
        let q = ListQuery {
            service_id: Some(cart.id),
            ..all(0)
        };
        let only: Vec<DeploymentId> = s
            .list_deployments(f.org, &q)
            .await
            .unwrap()
            .items
            .iter()
            .map(|d| d.id)
            .collect();
        assert_eq!(only, [DeploymentId(5)]);

        let bad = ListQuery {
            cursor: Some("garbage!".into()),
            ..all(0)
        };
        match s.list_deployments(f.org, &bad).await {
            Err(StoreError::Invalid(e)) => assert_eq!(e.errors[0].pointer, "cursor", "{name}"),
            other => panic!("{name}: {other:?}"),
        }
        s.close().await;
    }
}

#[tokio::test]
async fn incidents_changes_and_deliveries_list_too() {
    for f in fixtures().await {
        let (s, name, org) = (&f.store, f.name(), f.org);
        let cart = s
            .create_service(f.org, &ServiceName::parse("cart").unwrap())
            .await
            .unwrap();
        let mut a = incident(Some(f.service), "A");
        a.started_at = Some(t("2024-02-01T00:00:00Z"));
        let mut r = resolve(Some(cart.id), "B", "2024-02-03T00:00:00Z");
        r.create_missing = true;
        let mut c = incident(None, "C");
        c.started_at = Some(t("2024-02-02T00:00:00Z"));
        ingest(
            s,
            f.org,
            vec![
                Command::Incident(a),
                Command::ResolveIncident(r),
                Command::Incident(c),
            ],
        )
        .await;
        let keys = |p: Page<dorado_store::IncidentRecord>| {
            p.items
                .iter()
                .map(|i| i.key.to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            keys(s.list_incidents(f.org, &all(0)).await.unwrap()),
            ["B", "C", "A"],
            "{name}"
        );
        let q = ListQuery {
            service_id: Some(cart.id),
            ..all(0)
        };
        assert_eq!(keys(s.list_incidents(f.org, &q).await.unwrap()), ["B"]);
        let pages = every_page(1, |q| async move { s.list_incidents(org, &q).await }).await;
        assert_eq!(pages.len(), 3, "{name}");

        // A service's changes are those of the repositories it deployed.
        ingest(
            s,
            f.org,
            vec![
                changes(
                    "github.com/acme/shop",
                    vec![
                        change("s2", &["s1"], Some("2024-01-02T00:00:00Z")),
                        change("s1", &[], Some("2024-01-01T00:00:00Z")),
                    ],
                ),
                changes(
                    "github.com/acme/cart",
                    vec![change("c1", &[], Some("2024-01-03T00:00:00Z"))],
                ),
            ],
        )
        .await;
        let mut w = deploy(f.service, None, "2024-01-05T00:00:00Z");
        w.commits = vec![commit("https://github.com/acme/shop.git", "s2")];
        ingest(s, f.org, vec![Command::Deployment(w)]).await;
        let shas = |p: Page<dorado_store::ChangeRecord>| {
            p.items
                .iter()
                .map(|c| c.sha.to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            shas(s.list_changes(f.org, &all(0)).await.unwrap()),
            ["c1", "s2", "s1"],
            "{name}"
        );
        let q = ListQuery {
            service_id: Some(f.service),
            ..all(0)
        };
        let page = s.list_changes(f.org, &q).await.unwrap();
        assert_eq!(
            page.items[0]
                .parents
                .iter()
                .map(|p| p.as_str())
                .collect::<Vec<_>>(),
            ["s1"]
        );
        assert_eq!(shas(page), ["s2", "s1"], "{name}");
        let pages = every_page(2, |q| async move { s.list_changes(org, &q).await }).await;
        assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [2, 1]);

        let mut d = delivery(f.org, &[]);
        d.received_at = t("2024-07-01T00:00:00Z");
        d.service_id = Some(cart.id);
        s.ingest(d, vec![]).await.unwrap();
        let log = s.list_deliveries(f.org, &all(0)).await.unwrap();
        assert_eq!(log.items.len(), 4);
        assert_eq!(
            log.items[0].received_at,
            t("2024-07-01T00:00:00Z"),
            "{name}"
        );
        let q = ListQuery {
            service_id: Some(cart.id),
            ..all(0)
        };
        assert_eq!(s.list_deliveries(f.org, &q).await.unwrap().items.len(), 1);
        let q = ListQuery {
            to: Some(t("2024-07-01T00:00:00Z")),
            ..all(0)
        };
        assert_eq!(s.list_deliveries(f.org, &q).await.unwrap().items.len(), 3);
        s.close().await;
    }
}

#[tokio::test]
async fn reindex_rebuilds_the_same_rows() {
    for f in fixtures().await {
        let (s, name) = (&f.store, f.name());
        let cart = s
            .create_service(f.org, &ServiceName::parse("cart").unwrap())
            .await
            .unwrap();
        let shop = "github.com/acme/shop";
        ingest(
            s,
            f.org,
            vec![changes(
                shop,
                vec![change("s1", &[], Some("2024-01-01T00:00:00Z"))],
            )],
        )
        .await;
        ingest(
            s,
            f.org,
            vec![
                Command::Deployment(deploy(f.service, Some("d1"), "2024-01-02T00:00:00Z")),
                Command::Deployment(deploy(f.service, None, "2024-01-02T00:00:00Z")),
                Command::Deployment(deploy(cart.id, None, "2024-01-02T00:00:00Z")),
            ],
        )
        .await;
        ingest(
            s,
            f.org,
            vec![Command::Deployment(deploy(
                cart.id,
                Some("c1"),
                "2024-01-02T00:00:00Z",
            ))],
        )
        .await;
        let mut again = deploy(f.service, Some("d1"), "2024-01-03T00:00:00Z");
        again.commits = vec![commit(shop, "s2")];
        ingest(
            s,
            f.org,
            vec![
                Command::Deployment(again),
                changes(shop, vec![change("s2", &["s1"], None)]),
            ],
        )
        .await;
        let mut start = incident(Some(f.service), "INC-1");
        start.started_at = Some(t("2024-01-03T01:00:00Z"));
        ingest(s, f.org, vec![Command::Incident(start)]).await;
        ingest(
            s,
            f.org,
            vec![Command::ResolveIncident(resolve(
                None,
                "INC-1",
                "2024-01-03T02:00:00Z",
            ))],
        )
        .await;
        let mut lone = resolve(None, "INC-2", "2024-01-04T00:00:00Z");
        lone.create_missing = true;
        ingest(s, f.org, vec![Command::ResolveIncident(lone)]).await;
        // Another organization's rows stay as they are.
        let globex = s
            .create_org(&dorado_core::OrgName::parse("globex").unwrap())
            .await
            .unwrap();
        let gs = s
            .create_service(globex.id, &ServiceName::parse("web").unwrap())
            .await
            .unwrap();
        ingest(
            s,
            globex.id,
            vec![Command::Deployment(deploy(
                gs.id,
                None,
                "2024-01-01T00:00:00Z",
            ))],
        )
        .await;

        let snapshot = async || {
            (
                s.list_deployments(f.org, &all(500)).await.unwrap(),
                s.list_incidents(f.org, &all(500)).await.unwrap(),
                s.list_changes(f.org, &all(500)).await.unwrap(),
                s.list_deployments(globex.id, &all(500)).await.unwrap(),
            )
        };
        let before = snapshot().await;
        let report = s
            .reindex(f.org, |d, _dir| {
                serde_json::from_str::<Vec<Command>>(&d.body).map_err(|e| e.to_string())
            })
            .await
            .unwrap();
        assert_eq!(
            (report.deliveries, report.replayed, report.skipped),
            (7, 7, 0),
            "{name}"
        );
        let after = snapshot().await;
        assert_eq!(after, before, "{name}");

        // What the rules refuse now is skipped, and its rows are gone.
        let incident_only = |d: &dorado_store::DeliveryRecord,
                             _: &dorado_core::ServiceDirectory| {
            let cmds: Vec<Command> = serde_json::from_str(&d.body).map_err(|e| e.to_string())?;
            match cmds
                .iter()
                .all(|c| matches!(c, Command::Incident(_) | Command::ResolveIncident(_)))
            {
                true => Ok(cmds),
                false => Err("not an incident".to_owned()),
            }
        };
        let report = s.reindex(f.org, incident_only).await.unwrap();
        assert_eq!(
            (report.deliveries, report.replayed, report.skipped),
            (7, 3, 4),
            "{name}"
        );
        assert!(
            s.list_deployments(f.org, &all(0))
                .await
                .unwrap()
                .items
                .is_empty()
        );
        assert!(
            s.list_changes(f.org, &all(0))
                .await
                .unwrap()
                .items
                .is_empty()
        );
        assert_eq!(
            s.list_incidents(f.org, &all(0)).await.unwrap(),
            before.1,
            "{name}"
        );
        assert_eq!(
            s.list_deployments(globex.id, &all(0))
                .await
                .unwrap()
                .items
                .len(),
            1
        );
        s.close().await;
    }
}

/// Issue 3: parents are read by (repository, sha), their unique key, now
/// that no index by sha alone is kept: a sha that two repositories share
/// gets each its own parents, a merge's in the order given.
#[tokio::test]
async fn parents_are_found_by_repository_and_sha() {
    for f in fixtures().await {
        let (s, name) = (&f.store, f.name());
        ingest(
            s,
            f.org,
            vec![
                changes(
                    "github.com/acme/shop",
                    vec![change(
                        "ab12",
                        &["cd34", "0f56"],
                        Some("2024-01-02T00:00:00Z"),
                    )],
                ),
                changes(
                    "github.com/acme/fork",
                    vec![change("ab12", &["9e78"], Some("2024-01-01T00:00:00Z"))],
                ),
            ],
        )
        .await;
        let page = s.list_changes(f.org, &all(0)).await.unwrap();
        let got: Vec<(String, Vec<String>)> = page
            .items
            .iter()
            .map(|c| {
                let parents = c.parents.iter().map(|p| p.to_string()).collect();
                (c.repo_key.to_string(), parents)
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    "github.com/acme/shop".to_owned(),
                    vec!["cd34".to_owned(), "0f56".to_owned()]
                ),
                ("github.com/acme/fork".to_owned(), vec!["9e78".to_owned()]),
            ],
            "{name}"
        );
    }
}
