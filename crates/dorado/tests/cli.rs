//! The admin command line against the real binary, on both databases.

mod common;

use common::{Cli, databases};
use serde_json::json;

#[test]
fn json_outputs_are_exactly_those_of_the_spec() {
    for db in databases() {
        let cli = Cli {
            url: db.url.clone(),
        };
        assert_eq!(
            cli.json(&["org", "create", "acme"]),
            json!({"id": 1, "name": "acme"})
        );
        assert_eq!(
            cli.json(&["org", "list"]),
            json!([{"id": 1, "name": "acme"}])
        );
        let s = cli.json(&["service", "create", "--org", "acme", "checkout"]);
        assert_eq!(s, json!({"id": s["id"], "org_id": 1, "name": "checkout"}));
        assert!(s["id"].as_i64().is_some());
        assert_eq!(cli.json(&["service", "list", "--org", "1"]), json!([s]));

        let t = cli.json(&["token", "create", "--org", "acme", "--name", "ci"]);
        let secret = t["token"].as_str().unwrap();
        assert!(
            secret.starts_with("dorado_") && secret.len() >= 7 + 32,
            "{secret}"
        );
        assert!(secret[7..].chars().all(|c| c.is_ascii_alphanumeric()));
        assert_eq!(t["scopes"], json!(["ingest", "read"]));
        assert_eq!(t["expires_at"], json!(null));
        assert_eq!(t.as_object().unwrap().len(), 4, "{t}");

        let listed = cli.json(&["token", "list", "--org", "acme"]);
        assert_eq!(listed[0]["id"], t["id"]);
        assert!(
            !listed.to_string().contains(secret),
            "a listed token shows its secret"
        );

        let id = t["id"].to_string();
        assert_eq!(
            cli.json(&["token", "revoke", "--org", "acme", &id]),
            json!({"id": t["id"], "revoked": true})
        );

        let u = cli.json_with_stdin(
            &["user", "create", "--org", "acme", "--email", "Dev@Acme.io"],
            "correct horse battery\n",
        );
        assert_eq!(
            u,
            json!({"id": u["id"], "email": "dev@acme.io", "admin": false})
        );

        let o = cli.json(&["org", "update", "acme", "--incident-link-window", "24h"]);
        assert_eq!(o["incident_link_window"], json!("24h"));
        let o = cli.json(&["org", "update", "acme", "--incident-link-window", "none"]);
        assert_eq!(o["incident_link_window"], json!(null));
    }
}

#[test]
fn token_options_are_checked_and_stored() {
    for db in databases() {
        let cli = Cli {
            url: db.url.clone(),
        };
        cli.json(&["org", "create", "acme"]);
        let s = cli.json(&["service", "create", "--org", "acme", "checkout"]);
        let t = cli.json(&[
            "token",
            "create",
            "--org",
            "acme",
            "--name",
            "deployer",
            "--scopes",
            "ingest",
            "--expires-in",
            "90d",
            "--service",
            "checkout",
        ]);
        assert_eq!(t["scopes"], json!(["ingest"]));
        assert!(t["expires_at"].as_str().is_some());
        let listed = cli.json(&["token", "list", "--org", "acme"]);
        assert_eq!(listed[0]["service_id"], s["id"]);

        for bad in [
            vec![
                "token", "create", "--org", "acme", "--name", "x", "--scopes", "write",
            ],
            vec![
                "token",
                "create",
                "--org",
                "acme",
                "--name",
                "x",
                "--expires-in",
                "soon",
            ],
            vec![
                "token",
                "create",
                "--org",
                "acme",
                "--name",
                "x",
                "--service",
                "nope",
            ],
            vec!["token", "create", "--org", "nope", "--name", "x"],
        ] {
            let out = cli.run(&bad);
            assert!(!out.status.success(), "{bad:?} succeeded");
            assert!(!String::from_utf8_lossy(&out.stderr).is_empty());
        }
        assert_eq!(
            cli.json(&["token", "list", "--org", "acme"])
                .as_array()
                .unwrap()
                .len(),
            1
        );
    }
}

#[test]
fn names_and_duplicates_are_refused_with_a_reason() {
    for db in databases() {
        let cli = Cli {
            url: db.url.clone(),
        };
        cli.json(&["org", "create", "acme"]);
        for (args, says) in [
            (vec!["org", "create", "acme"], "acme"),
            (vec!["org", "create", "42"], "digits"),
            (vec!["org", "create", "a b"], "letters"),
            (
                vec!["service", "create", "--org", "acme", "bad name"],
                "letters",
            ),
        ] {
            let out = cli.run(&args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{args:?} succeeded");
            assert!(err.contains(says), "{args:?}: {err}");
        }
        cli.json(&["service", "create", "--org", "acme", "checkout"]);
        assert!(
            !cli.run(&["service", "create", "--org", "acme", "checkout"])
                .status
                .success()
        );
        let short = cli.run_with_stdin(
            &["user", "create", "--org", "acme", "--email", "a@b.c"],
            "short\n",
        );
        assert!(!short.status.success());
        assert_eq!(cli.json(&["org", "list"]).as_array().unwrap().len(), 1);
    }
}

/// Issue 17: `--listen` says what it expects, and a port in use says so.
#[test]
fn serve_explains_a_bad_listen_address() {
    let db = databases().remove(0);
    let cli = Cli {
        url: db.url.clone(),
    };
    for bad in [":8081", "localhost", "127.0.0.1:http"] {
        let out = cli.run(&["serve", "--listen", bad]);
        assert!(!out.status.success(), "{bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("HOST:PORT"), "{bad}: {err}");
    }
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let addr = taken.local_addr().expect("an address").to_string();
    let out = cli.run(&["serve", "--listen", &addr]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("in use") && err.contains("--listen"), "{err}");
}

/// Issue 17: `serve --help` names the environment it reads.
#[test]
fn serve_help_names_its_environment() {
    let cli = Cli {
        url: "sqlite://unused.db".into(),
    };
    let out = cli.run(&["serve", "--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for var in [
        "DORADO_LISTEN",
        "DORADO_LOG",
        "DORADO_SESSION_KEY",
        "DORADO_PUBLIC_URL",
        "DORADO_WRITE_QUEUE",
    ] {
        assert!(help.contains(var), "{var}: {help}");
    }
}
