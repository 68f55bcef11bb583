//! The store's in-memory cache of tokens, organizations and service
//! directories: what changes in this process is seen at once, what
//! another process changes within about 100 ms (a second store on the same
//! database plays the other process).

mod common;

use common::fixtures;
use dorado_core::{ServiceName, ServiceRef, Timestamp, TokenScopes};
use dorado_store::Store;
use std::future::Future;
use std::time::{Duration, Instant};

/// Polls `check` until it holds, for at most a second.
async fn within_a_second<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        if check().await {
            return;
        }
        assert!(Instant::now() < deadline, "not within a second: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn resolves(dir: &dorado_core::ServiceDirectory, name: &str) -> bool {
    dir.resolve(&ServiceRef::Name(ServiceName::parse(name).unwrap()))
        .is_some()
}

#[tokio::test]
async fn a_token_is_read_once_and_its_revocation_here_is_seen_at_once() {
    for f in fixtures().await {
        let (s, name) = (&f.store, f.name());
        let t = s
            .create_token(f.org, "ci", TokenScopes::DEFAULT, None, None)
            .await
            .unwrap();
        let now = Timestamp::now();
        assert_eq!(s.cached().0, 0, "{name}: nothing read yet");
        let p = s.authenticate_token(&t.secret, now).await.unwrap();
        assert_eq!(p.unwrap().token_id, Some(t.info.id), "{name}");
        assert_eq!(s.cached().0, 1, "{name}: the token is cached");
        // Cached by the hash: the same secret with blanks around is the
        // same token, as it was before.
        let padded = format!(" {} ", t.secret);
        assert!(s.authenticate_token(&padded, now).await.unwrap().is_some());
        // Unknown secrets are not cached (nothing could bound them).
        assert!(
            s.authenticate_token("dorado_nope", now)
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(s.cached().0, 1, "{name}");

        s.revoke_token(f.org, t.info.id).await.unwrap();
        assert!(
            s.authenticate_token(&t.secret, now)
                .await
                .unwrap()
                .is_none(),
            "{name}: revoked here, refused at once"
        );
        // A revoked token is cached as revoked, and stays refused.
        assert!(
            s.authenticate_token(&t.secret, now)
                .await
                .unwrap()
                .is_none()
        );
    }
}

#[tokio::test]
async fn expiry_is_checked_on_every_use_of_a_cached_token() {
    for f in fixtures().await {
        let (s, name) = (&f.store, f.name());
        let expires = Timestamp::from_millis(Timestamp::now().millis() + 60_000).unwrap();
        let t = s
            .create_token(f.org, "brief", TokenScopes::DEFAULT, Some(expires), None)
            .await
            .unwrap();
        let before = Timestamp::from_millis(expires.millis() - 1).unwrap();
        assert!(
            s.authenticate_token(&t.secret, before)
                .await
                .unwrap()
                .is_some()
        );
        assert_eq!(s.cached().0, 1, "{name}");
        // No write in between: only the cached expiry says no.
        assert!(
            s.authenticate_token(&t.secret, expires)
                .await
                .unwrap()
                .is_none(),
            "{name}: expired at its instant"
        );
        assert_eq!(s.cached().0, 1, "{name}: still cached");
        assert!(
            s.authenticate_token(&t.secret, before)
                .await
                .unwrap()
                .is_some()
        );
    }
}

#[tokio::test]
async fn another_process_revoking_a_token_is_seen_within_100_ms() {
    for f in fixtures().await {
        let (s, name) = (&f.store, f.name());
        let other = Store::connect(&f.db.url).await.unwrap();
        let t = s
            .create_token(f.org, "ci", TokenScopes::DEFAULT, None, None)
            .await
            .unwrap();
        let now = Timestamp::now();
        assert!(
            s.authenticate_token(&t.secret, now)
                .await
                .unwrap()
                .is_some()
        );
        let revoked = Instant::now();
        other.revoke_token(f.org, t.info.id).await.unwrap();
        within_a_second(&name, || async {
            s.authenticate_token(&t.secret, now)
                .await
                .unwrap()
                .is_none()
        })
        .await;
        // The watch reads every 100 ms; allow for a loaded machine.
        assert!(
            revoked.elapsed() < Duration::from_millis(600),
            "{name}: {:?}",
            revoked.elapsed()
        );
        other.close().await;
    }
}

#[tokio::test]
async fn organizations_are_cached_by_id_and_name_and_follow_other_processes() {
    for f in fixtures().await {
        let (s, name) = (&f.store, f.name());
        let other = Store::connect(&f.db.url).await.unwrap();
        let by_name = s.find_org("acme").await.unwrap().unwrap();
        let by_id = s.find_org(&f.org.to_string()).await.unwrap().unwrap();
        assert_eq!(by_name, by_id, "{name}");
        assert_eq!(s.cached().1, 1, "{name}: one organization, both keys");
        // Unknown keys go to the database each time and are not kept.
        assert_eq!(s.find_org("globex").await.unwrap(), None);
        assert_eq!(s.find_org("99999999999999999999").await.unwrap(), None);
        assert_eq!(s.cached().1, 1, "{name}");

        // Created elsewhere: found at once, since misses are not cached.
        other
            .create_org(&dorado_core::OrgName::parse("globex").unwrap())
            .await
            .unwrap();
        assert!(s.find_org("globex").await.unwrap().is_some(), "{name}");

        // Changed elsewhere: seen within the watch's period.
        other
            .set_incident_link_window(f.org, Some(3600))
            .await
            .unwrap();
        within_a_second(&name, || async {
            s.find_org("acme")
                .await
                .unwrap()
                .unwrap()
                .incident_link_window_seconds
                == Some(3600)
        })
        .await;
        // Changed here: at once.
        s.set_incident_link_window(f.org, Some(60)).await.unwrap();
        let org = s.find_org(&f.org.to_string()).await.unwrap().unwrap();
        assert_eq!(org.incident_link_window_seconds, Some(60), "{name}");
        other.close().await;
    }
}

#[tokio::test]
async fn service_directories_follow_services_and_aliases_from_anywhere() {
    for f in fixtures().await {
        let (s, name) = (&f.store, f.name());
        let other = Store::connect(&f.db.url).await.unwrap();
        let dir = s.service_directory(f.org).await.unwrap();
        assert!(resolves(&dir, "checkout") && !resolves(&dir, "cart"));
        assert_eq!(s.cached().2, 1, "{name}");

        // Here: at once.
        s.create_service(f.org, &ServiceName::parse("cart").unwrap())
            .await
            .unwrap();
        assert!(resolves(&s.service_directory(f.org).await.unwrap(), "cart"));

        // Elsewhere: within the watch's period, or at once when asked.
        other
            .create_service(f.org, &ServiceName::parse("billing").unwrap())
            .await
            .unwrap();
        assert!(
            resolves(&s.fresh_service_directory(f.org).await.unwrap(), "billing"),
            "{name}: a fresh directory reads the epoch first"
        );
        assert!(resolves(
            &s.service_directory(f.org).await.unwrap(),
            "billing"
        ));
        other
            .create_service(f.org, &ServiceName::parse("search").unwrap())
            .await
            .unwrap();
        within_a_second(&name, || async {
            resolves(&s.service_directory(f.org).await.unwrap(), "search")
        })
        .await;

        let repo = dorado_core::RepoKey::parse("github.com/acme/legacy-app").unwrap();
        assert_eq!(
            s.service_directory(f.org).await.unwrap().for_repo(&repo),
            None
        );
        other
            .update_aliases(
                f.org,
                f.service,
                &["github.com/acme/legacy-app".into()],
                &[],
            )
            .await
            .unwrap();
        within_a_second(&name, || async {
            s.service_directory(f.org).await.unwrap().for_repo(&repo) == Some(f.service)
        })
        .await;
        s.update_aliases(
            f.org,
            f.service,
            &[],
            &["github.com/acme/legacy-app".into()],
        )
        .await
        .unwrap();
        assert_eq!(
            s.service_directory(f.org).await.unwrap().for_repo(&repo),
            None,
            "{name}: removed here, gone at once"
        );
        other.close().await;
    }
}

#[tokio::test]
async fn a_refused_change_leaves_the_epoch_and_closing_stops_the_watch() {
    for f in fixtures().await {
        let (s, name) = (&f.store, f.name());
        let other = Store::connect(&f.db.url).await.unwrap();
        let t = s
            .create_token(f.org, "ci", TokenScopes::DEFAULT, None, None)
            .await
            .unwrap();
        // Caught up with the token's creation, then caching it.
        other.fresh_service_directory(f.org).await.unwrap();
        let now = Timestamp::now();
        assert!(
            other
                .authenticate_token(&t.secret, now)
                .await
                .unwrap()
                .is_some()
        );
        assert_eq!(other.cached().0, 1, "{name}");
        let taken = s
            .create_service(f.org, &ServiceName::parse("checkout").unwrap())
            .await;
        assert!(taken.is_err(), "{name}");
        other.fresh_service_directory(f.org).await.unwrap();
        assert_eq!(
            other.cached().0,
            1,
            "{name}: nothing committed, nothing cleared"
        );
        s.create_service(f.org, &ServiceName::parse("cart").unwrap())
            .await
            .unwrap();
        other.fresh_service_directory(f.org).await.unwrap();
        assert_eq!(other.cached().0, 0, "{name}: a change clears everything");
        // Close returns (the watch stops with the store) and the store
        // then refuses work instead of hanging.
        tokio::time::timeout(Duration::from_secs(5), other.close())
            .await
            .expect("closing stops the watch");
        s.close().await;
    }
}
