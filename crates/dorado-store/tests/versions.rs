//! What each write tells readers it touched, and the facts of one part:
//! the figures stay exact only if every write that changes a part's facts
//! stamps that part.

mod common;

use common::{change, changes, commit, deploy, fixtures, incident, ingest, resolve};
use dorado_core::{Command, RepoKey, ServiceName};
use dorado_store::{FactScope, Touched};

fn repo(s: &str) -> RepoKey {
    RepoKey::parse(s).unwrap()
}

#[tokio::test]
async fn every_write_stamps_what_it_touched() {
    for f in fixtures().await {
        let (s, name) = (&f.store, f.name());
        let cart = s
            .create_service(f.org, &ServiceName::parse("cart").unwrap())
            .await
            .unwrap()
            .id;
        let v0 = s.data_version(f.org).await.unwrap();
        assert_eq!(
            s.touched_since(f.org, v0).await.unwrap(),
            Touched::default()
        );

        ingest(
            s,
            f.org,
            vec![Command::Deployment(deploy(
                f.service,
                Some("d1"),
                "2024-05-01T10:00:00Z",
            ))],
        )
        .await;
        let v1 = s.data_version(f.org).await.unwrap();
        assert_eq!(v1, v0 + 1, "{name}");
        let t1 = s.touched_since(f.org, v0).await.unwrap();
        assert_eq!(
            t1.services.iter().copied().collect::<Vec<_>>(),
            [f.service],
            "{name}"
        );
        assert!(
            t1.repos.is_empty() && !t1.org_incidents && !t1.all,
            "{name}"
        );

        ingest(
            s,
            f.org,
            vec![
                changes(
                    "https://github.com/acme/shop.git",
                    vec![change("aaa", &[], Some("2024-05-01T09:00:00Z"))],
                ),
                Command::Incident(incident(None, "ORG-1")),
                Command::Incident(incident(Some(cart), "INC-1")),
            ],
        )
        .await;
        let t2 = s.touched_since(f.org, v1).await.unwrap();
        assert_eq!(
            t2.services.iter().copied().collect::<Vec<_>>(),
            [cart],
            "{name}"
        );
        assert_eq!(
            t2.repos.iter().cloned().collect::<Vec<_>>(),
            [repo("github.com/acme/shop")]
        );
        assert!(t2.org_incidents && !t2.all, "{name}");
        // Since v0, the union; a scope carries its latest version only.
        let both = s.touched_since(f.org, v0).await.unwrap();
        assert_eq!(both.services.len(), 2, "{name}");

        // An incident resolved by its key alone stamps the service it had.
        let v2 = s.data_version(f.org).await.unwrap();
        ingest(
            s,
            f.org,
            vec![Command::ResolveIncident(resolve(
                None,
                "INC-1",
                "2024-05-02T10:00:00Z",
            ))],
        )
        .await;
        let t3 = s.touched_since(f.org, v2).await.unwrap();
        assert_eq!(
            t3.services.iter().copied().collect::<Vec<_>>(),
            [cart],
            "{name}"
        );
        assert!(!t3.org_incidents, "{name}");

        let v3 = s.data_version(f.org).await.unwrap();
        s.set_incident_link_window(f.org, Some(3600)).await.unwrap();
        assert!(s.touched_since(f.org, v3).await.unwrap().all, "{name}");
        assert_eq!(s.data_version(f.org).await.unwrap(), v3 + 1, "{name}");
    }
}

#[tokio::test]
async fn a_part_holds_its_service_and_the_repositories_it_deployed() {
    for f in fixtures().await {
        let (s, name) = (&f.store, f.name());
        let cart = s
            .create_service(f.org, &ServiceName::parse("cart").unwrap())
            .await
            .unwrap()
            .id;
        let mut d = deploy(f.service, Some("d1"), "2024-05-01T10:00:00Z");
        d.commits = vec![
            commit("https://github.com/acme/shop", "bbb"),
            commit("github.com/acme/lib", "ccc"),
        ];
        let mut other = deploy(cart, Some("c1"), "2024-05-01T11:00:00Z");
        other.commits = vec![commit("github.com/acme/cart", "ddd")];
        ingest(
            s,
            f.org,
            vec![
                Command::Deployment(d),
                Command::Deployment(other),
                changes(
                    "github.com/acme/shop",
                    vec![
                        change("aaa", &[], Some("2024-05-01T08:00:00Z")),
                        change("bbb", &["aaa"], Some("2024-05-01T09:00:00Z")),
                    ],
                ),
                changes("github.com/acme/lib", vec![change("ccc", &[], None)]),
                changes("github.com/acme/cart", vec![change("ddd", &[], None)]),
                changes("github.com/acme/unused", vec![change("eee", &[], None)]),
                Command::Incident(incident(None, "ORG-1")),
                Command::Incident(incident(Some(f.service), "INC-1")),
                Command::Incident(incident(Some(cart), "INC-2")),
            ],
        )
        .await;

        let (mut part, version) = s
            .load_facts_of(f.org, FactScope::Service(f.service))
            .await
            .unwrap();
        assert!(part.changes.is_empty(), "{name}");
        for repo in part.deployed_repos() {
            part.changes
                .extend(s.load_changes_of(f.org, &repo).await.unwrap());
        }
        assert_eq!(version, s.data_version(f.org).await.unwrap(), "{name}");
        assert_eq!(part.deployments.len(), 1, "{name}");
        assert_eq!(part.deployments[0].commits.len(), 2, "{name}");
        let mut shas: Vec<(String, String, Vec<String>)> = part
            .changes
            .iter()
            .map(|c| {
                (
                    c.repo_key.to_string(),
                    c.sha.to_string(),
                    c.parents.iter().map(|p| p.to_string()).collect(),
                )
            })
            .collect();
        shas.sort();
        assert_eq!(
            shas,
            [
                ("github.com/acme/lib".into(), "ccc".into(), vec![]),
                ("github.com/acme/shop".into(), "aaa".into(), vec![]),
                (
                    "github.com/acme/shop".into(),
                    "bbb".into(),
                    vec!["aaa".to_owned()]
                ),
            ],
            "{name}"
        );
        assert_eq!(
            part.incidents
                .iter()
                .map(|i| i.key.to_string())
                .collect::<Vec<_>>(),
            ["INC-1"]
        );
        let (org_part, _) = s
            .load_facts_of(f.org, FactScope::OrgIncidents)
            .await
            .unwrap();
        assert!(
            org_part.deployments.is_empty() && org_part.changes.is_empty(),
            "{name}"
        );
        assert_eq!(
            org_part
                .incidents
                .iter()
                .map(|i| i.key.to_string())
                .collect::<Vec<_>>(),
            ["ORG-1"]
        );

        // The whole, split, is the parts loaded one by one.
        let (whole, _) = s.load_facts(f.org).await.unwrap();
        let split = whole.split_by_service();
        assert_eq!(split.len(), 3, "{name}");
        for (key, mut facts) in split {
            let scope = key.map_or(FactScope::OrgIncidents, FactScope::Service);
            let (mut alone, _) = s.load_facts_of(f.org, scope).await.unwrap();
            for repo in alone.deployed_repos() {
                alone
                    .changes
                    .extend(s.load_changes_of(f.org, &repo).await.unwrap());
            }
            for f in [&mut facts, &mut alone] {
                f.changes
                    .sort_by(|a, b| (&a.repo_key, &a.sha).cmp(&(&b.repo_key, &b.sha)));
            }
            assert_eq!(alone, facts, "{name} {key:?}");
        }
    }
}
