//! Organizations, services, tokens and users.

mod common;

use common::{fixtures, t};
use dorado_core::{Email, OrgName, ServiceName, Timestamp, TokenId, TokenScope, TokenScopes};
use dorado_store::testing::TestDatabase;
use dorado_store::{Backend, Store, StoreError};
use sqlx::Row;

#[tokio::test]
async fn organizations_and_services() {
    for f in fixtures().await {
        let (s, name) = (&f.store, f.name());
        let acme = OrgName::parse("acme").unwrap();
        assert!(
            matches!(s.create_org(&acme).await, Err(StoreError::Conflict(_))),
            "{name}"
        );
        let globex = s
            .create_org(&OrgName::parse("globex").unwrap())
            .await
            .unwrap();
        assert_eq!(globex.incident_link_window_seconds, None);
        let orgs = s.list_orgs().await.unwrap();
        assert_eq!(
            orgs.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(),
            ["acme", "globex"]
        );
        assert_eq!(
            s.find_org("globex").await.unwrap(),
            Some(globex.clone()),
            "{name}"
        );
        assert_eq!(
            s.find_org(&globex.id.to_string()).await.unwrap(),
            Some(globex.clone())
        );
        assert_eq!(s.find_org("nope").await.unwrap(), None);
        assert_eq!(s.find_org("99999999999999999999").await.unwrap(), None);

        let org = s
            .set_incident_link_window(globex.id, Some(86_400))
            .await
            .unwrap();
        assert_eq!(org.incident_link_window_seconds, Some(86_400));
        let org = s.set_incident_link_window(globex.id, None).await.unwrap();
        assert_eq!(org.incident_link_window_seconds, None);
        assert!(matches!(
            s.set_incident_link_window(dorado_core::OrgId(9999), Some(1))
                .await,
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(
            s.set_incident_link_window(globex.id, Some(-1)).await,
            Err(StoreError::Invalid(_))
        ));

        let checkout = ServiceName::parse("checkout").unwrap();
        assert!(matches!(
            s.create_service(f.org, &checkout).await,
            Err(StoreError::Conflict(_))
        ));
        // The same name in another organization is another service.
        let other = s.create_service(globex.id, &checkout).await.unwrap();
        assert_ne!(other.id, f.service);
        assert!(matches!(
            s.create_service(dorado_core::OrgId(9999), &checkout).await,
            Err(StoreError::NotFound(_))
        ));
        let services = s.list_services(f.org).await.unwrap();
        assert_eq!(services.len(), 1);
        assert_eq!(
            s.service_by_id(other.id).await.unwrap(),
            Some(other.clone())
        );
        assert_eq!(
            s.service_by_id(dorado_core::ServiceId(9999)).await.unwrap(),
            None
        );
        let dir = s.service_directory(globex.id).await.unwrap();
        assert_eq!(dir.name(other.id), Some(&checkout));
        assert_eq!(
            dir.name(f.service),
            None,
            "{name}: directories stay in their organization"
        );
        s.ping().await.unwrap();
        s.close().await;
    }
}

#[tokio::test]
async fn tokens_store_only_a_hash_and_expire() {
    for f in fixtures().await {
        let (s, name) = (&f.store, f.name());
        let new = s
            .create_token(f.org, "ci", TokenScopes::DEFAULT, None, None)
            .await
            .unwrap();
        assert!(
            new.secret.starts_with("dorado_") && new.secret.len() >= 39,
            "{name}"
        );
        assert_eq!(new.info.scopes, TokenScopes::DEFAULT);

        let now = Timestamp::now();
        let p = s
            .authenticate_token(&new.secret, now)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (p.org_id, p.token_id, p.user_id),
            (f.org, Some(new.info.id), None)
        );
        assert!(!p.admin && p.scopes.contains(TokenScope::Ingest));
        assert_eq!(
            s.authenticate_token("dorado_wrong", now).await.unwrap(),
            None
        );

        // Only the SHA-256 of the secret is stored, nowhere the secret.
        let pool = sqlx::AnyPool::connect(&f.db.url).await.unwrap();
        let rows =
            sqlx::query("SELECT name || '|' || secret_hash || '|' || scopes AS t FROM tokens")
                .fetch_all(&pool)
                .await
                .unwrap();
        for row in &rows {
            let text: String = row.try_get("t").unwrap();
            assert!(!text.contains(&new.secret), "{name}: {text}");
            assert!(!text.contains(&new.secret["dorado_".len()..]), "{name}");
        }
        let hash: String = sqlx::query_scalar("SELECT secret_hash FROM tokens WHERE id = $1")
            .bind(new.info.id.0)
            .fetch_one(&pool)
            .await
            .unwrap();
        use sha2::Digest;
        assert_eq!(
            hash,
            hex::encode(sha2::Sha256::digest(new.secret.as_bytes()))
        );
        pool.close().await;

        // Expiry: refused from the instant it expires.
        let expires = t("2030-01-01T00:00:00Z");
        let admin = TokenScopes::parse("admin").unwrap();
        let exp = s
            .create_token(f.org, "short", admin, Some(expires), Some(f.service))
            .await
            .unwrap();
        let before = expires.plus_millis(-1).unwrap();
        let p = s
            .authenticate_token(&exp.secret, before)
            .await
            .unwrap()
            .unwrap();
        assert!(p.admin && p.service_id == Some(f.service), "{name}");
        assert_eq!(
            s.authenticate_token(&exp.secret, expires).await.unwrap(),
            None
        );

        // Revocation, twice keeps the first time; other organizations' tokens are not found.
        let revoked = s.revoke_token(f.org, new.info.id).await.unwrap();
        assert!(revoked.revoked_at.is_some());
        assert_eq!(s.revoke_token(f.org, new.info.id).await.unwrap(), revoked);
        assert_eq!(s.authenticate_token(&new.secret, now).await.unwrap(), None);
        let globex = s
            .create_org(&OrgName::parse("globex").unwrap())
            .await
            .unwrap();
        assert!(matches!(
            s.revoke_token(globex.id, exp.info.id).await,
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(
            s.revoke_token(f.org, TokenId(9999)).await,
            Err(StoreError::NotFound(_))
        ));
        // A token limited to a service of another organization cannot exist.
        assert!(matches!(
            s.create_token(globex.id, "x", TokenScopes::DEFAULT, None, Some(f.service))
                .await,
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(
            s.create_token(f.org, " ", TokenScopes::DEFAULT, None, None)
                .await,
            Err(StoreError::Invalid(_))
        ));
        let listed = s.list_tokens(f.org).await.unwrap();
        assert_eq!(listed, vec![revoked, exp.info], "{name}");
        assert!(s.list_tokens(globex.id).await.unwrap().is_empty());
        s.close().await;
    }
}

#[tokio::test]
async fn users_sign_in_with_their_password() {
    for f in fixtures().await {
        let (s, name) = (&f.store, f.name());
        let email = Email::parse("Dev@Acme.io").unwrap();
        let user = s
            .create_user(f.org, &email, "correct horse", true)
            .await
            .unwrap();
        assert!(user.admin);
        assert!(
            matches!(
                s.create_user(f.org, &email, "other", false).await,
                Err(StoreError::Conflict(_))
            ),
            "{name}"
        );
        assert!(matches!(
            s.create_user(
                dorado_core::OrgId(9999),
                &Email::parse("x@y.z").unwrap(),
                "p",
                false
            )
            .await,
            Err(StoreError::NotFound(_))
        ));

        let (found, p) = s
            .authenticate_user("DEV@acme.io", "correct horse")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found, user);
        assert_eq!(p.scopes, TokenScopes::DEFAULT);
        assert!(
            p.admin && p.user_id == Some(user.id) && p.token_id.is_none(),
            "{name}"
        );
        assert_eq!(
            s.authenticate_user("dev@acme.io", "wrong").await.unwrap(),
            None
        );
        assert_eq!(
            s.authenticate_user("nobody@acme.io", "x").await.unwrap(),
            None
        );
        assert_eq!(
            s.authenticate_user("not an email", "x").await.unwrap(),
            None
        );

        let pool = sqlx::AnyPool::connect(&f.db.url).await.unwrap();
        let hash: String = sqlx::query_scalar("SELECT password_hash FROM users")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert!(
            hash.starts_with("$argon2id$") && !hash.contains("correct horse"),
            "{name}"
        );
        pool.close().await;
        s.close().await;
    }
}

#[tokio::test]
async fn urls_and_reconnects() {
    assert!(matches!(
        Store::connect("mysql://h/db").await,
        Err(StoreError::UnsupportedUrl(_))
    ));
    assert!(matches!(
        Store::connect("sqlite::memory:").await,
        Err(StoreError::UnsupportedUrl(_))
    ));
    for db in TestDatabase::all().await {
        let store = db.connect().await;
        store
            .create_org(&OrgName::parse("acme").unwrap())
            .await
            .unwrap();
        store.close().await;
        assert!(matches!(
            store
                .ingest(common::delivery(dorado_core::OrgId(1), &[]), vec![])
                .await,
            Err(StoreError::Closed)
        ));
        // Connecting again migrates nothing and finds the data.
        let again = db.connect().await;
        assert!(again.find_org("acme").await.unwrap().is_some());
        again.close().await;
    }
}

/// A write that waits out the busy timeout behind another process's lock
/// (a large import building its indexes) is told apart from a fault, so
/// the server answers 503 rather than 500.
#[tokio::test]
async fn a_write_behind_another_writers_lock_is_busy_not_a_fault() {
    use sqlx::Connection;
    let db = TestDatabase::sqlite();
    let store = db.connect().await;
    let mut other = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .unwrap();
    let refused = store
        .create_org(&OrgName::parse("initech").unwrap())
        .await
        .unwrap_err();
    assert!(refused.is_busy(), "{refused:?}");
    assert!(!StoreError::NotFound("x".into()).is_busy());
    sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();
    assert_eq!(store.find_org("initech").await.unwrap(), None);
}

/// Issue 3: a new SQLite database is made with 16 KiB pages (a bulk import
/// writes a quarter as many), and the sha indexes nothing reads are gone
/// from both backends.
#[tokio::test]
async fn a_new_database_has_large_pages_and_no_sha_indexes() {
    use sqlx::Connection;
    for db in TestDatabase::all().await {
        db.connect().await.close().await;
        let mut conn = sqlx::AnyConnection::connect(&db.url).await.unwrap();
        let indexes = if db.backend == Backend::Sqlite {
            let page_size: i64 = sqlx::query_scalar("PRAGMA page_size")
                .fetch_one(&mut conn)
                .await
                .unwrap();
            assert_eq!(page_size, 16_384);
            "SELECT name FROM sqlite_master WHERE type = 'index'"
        } else {
            "SELECT CAST(indexname AS TEXT) FROM pg_indexes WHERE schemaname = current_schema()"
        };
        let indexes: Vec<String> = sqlx::query_scalar(indexes)
            .fetch_all(&mut conn)
            .await
            .unwrap();
        assert!(
            indexes.iter().any(|n| n == "changes_org_time"),
            "{indexes:?}"
        );
        for gone in ["change_parents_sha", "deployment_commits_sha"] {
            assert!(!indexes.iter().any(|n| n == gone), "{gone}: {indexes:?}");
        }
        conn.close().await.unwrap();
    }
}
