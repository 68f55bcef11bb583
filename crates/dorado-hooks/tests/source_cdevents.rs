//! The CDEvents source: the cdevents/spec v0.5.1 conformance events in
//! binary, structured and batch mode, spec versions 0.3 to 0.5, each event
//! type Dorado reads, and bodies it refuses or ignores.

mod common;

use common::{SHA, now, pointers, ts};
use dorado_core::source::alias_key;
use dorado_core::{
    ChangeBatch, ChangeWrite, Command, DeployResult, DeployedCommit, DeploymentKind,
    DeploymentWrite, Environment, ExternalId, IncidentKey, IncidentTimes, IncidentWrite, RepoKey,
    ServiceDirectory, ServiceId, ServiceName, Sha, SourceKind,
};
use dorado_hooks::sources::{Ignored, SourceConfig, SourceDelivery, SourceOutcome, Unmapped};
use dorado_hooks::{Context, HookError};
use serde_json::{Value, json};

const DEPLOYED: &str = include_str!("samples/native/cdevents_service_deployed.json");
const DETECTED: &str = include_str!("samples/native/cdevents_incident_detected.json");
const MERGED: &str = include_str!("samples/native/cdevents_change_merged.json");
const PIPELINE: &str = include_str!("samples/native/cdevents_pipelinerun_finished.json");

const EVENT_ID: &str = "271069a8-fc18-44f1-b38f-9d70a1695819";
const EVENT_SOURCE: &str = "/event/source/123";

fn fixture(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

/// checkout (2) is known to CDEvents as `mySubject123`, cart (3) as `myApp`;
/// shop (4) deploys the `shop` repositories (by name) and
/// `my-git.example/an-org/a-repo` (by alias).
fn directory() -> ServiceDirectory {
    let mut dir = ServiceDirectory::new([
        (ServiceId(2), ServiceName::parse("checkout").unwrap()),
        (ServiceId(3), ServiceName::parse("cart").unwrap()),
        (ServiceId(4), ServiceName::parse("shop").unwrap()),
    ]);
    dir.add_alias(alias_key("mySubject123").unwrap(), ServiceId(2));
    dir.add_alias(alias_key("myApp").unwrap(), ServiceId(3));
    dir.add_alias(
        alias_key("my-git.example/an-org/a-repo").unwrap(),
        ServiceId(4),
    );
    dir
}

fn deliver(body: &[u8]) -> Result<SourceDelivery, HookError> {
    let dir = directory();
    let ctx = Context {
        services: &dir,
        path_service: None,
        received_at: now(),
        source: None,
    };
    dorado_hooks::sources::read(
        SourceKind::Cdevents,
        "",
        &SourceConfig::default(),
        &ctx,
        body,
    )
}

fn read(body: &Value) -> SourceDelivery {
    match deliver(body.to_string().as_bytes()) {
        Ok(d) => d,
        Err(e) => panic!("refused {body}: {e}"),
    }
}

fn commands(body: &Value) -> Vec<Command> {
    match read(body).outcome {
        SourceOutcome::Commands(c) => c,
        SourceOutcome::Ignored(i) => panic!("ignored {body}: {}", i.reason),
    }
}

fn one(body: &Value) -> Command {
    let mut c = commands(body);
    assert_eq!(c.len(), 1, "{c:?}");
    c.remove(0)
}

fn ignored(body: &Value) -> Ignored {
    match read(body).outcome {
        SourceOutcome::Ignored(i) => i,
        SourceOutcome::Commands(c) => panic!("read {body} as {c:?}"),
    }
}

fn errors(body: &[u8]) -> Vec<(String, String)> {
    match deliver(body) {
        Err(HookError::Invalid(v)) => v
            .errors
            .into_iter()
            .map(|e| (e.pointer, e.detail))
            .collect(),
        other => panic!(
            "should refuse {} field by field, got {other:?}",
            String::from_utf8_lossy(body)
        ),
    }
}

fn fails(body: &Value, pointer: &str, detail: &str) {
    let errs = errors(body.to_string().as_bytes());
    assert!(
        errs.iter().any(|(p, d)| p == pointer && d.contains(detail)),
        "expected {pointer}: ...{detail}... for {body}, got {errs:?}"
    );
}

/// A CDEvent in a structured CloudEvent, as the binding says: the
/// CloudEvent's attributes repeat the CDEvent's context.
fn structured(cdevent: &Value) -> Value {
    json!({
        "specversion": "1.0",
        "id": cdevent["context"]["id"],
        "source": cdevent["context"]["source"],
        "type": cdevent["context"]["type"],
        "time": cdevent["context"]["timestamp"],
        "subject": cdevent["subject"]["id"],
        "datacontenttype": "application/json",
        "data": cdevent,
    })
}

fn batch(cdevents: &[Value]) -> Value {
    Value::Array(cdevents.iter().map(structured).collect())
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Binary,
    Structured,
    Batch,
}

const MODES: [Mode; 3] = [Mode::Binary, Mode::Structured, Mode::Batch];

fn in_mode(mode: Mode, cdevent: &Value) -> Value {
    match mode {
        Mode::Binary => cdevent.clone(),
        Mode::Structured => structured(cdevent),
        Mode::Batch => batch(std::slice::from_ref(cdevent)),
    }
}

/// The dedupe key a mode gives: a batch has none.
fn key(mode: Mode, source: &str, id: &str) -> Option<String> {
    (mode != Mode::Batch).then(|| format!("{source} {id}"))
}

/// A CDEvent of the given type, subject and content.
fn event(ty: &str, subject: &str, content: Value) -> Value {
    json!({
        "context": {
            "specversion": "0.5.0",
            "id": "e-1",
            "source": "https://ci.example.com/argo",
            "type": ty,
            "timestamp": "2024-05-02T10:00:00Z",
        },
        "subject": {"id": subject, "source": "https://ci.example.com/argo", "content": content},
    })
}

/// Replaces or adds the value at `pointer`.
fn set(v: &mut Value, pointer: &str, value: Value) {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    v.pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .unwrap_or_else(|| panic!("no object at {parent}"))
        .insert(key.to_owned(), value);
}

fn remove(v: &mut Value, pointer: &str) {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    v.pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .unwrap()
        .remove(key);
}

fn expected_deployment() -> DeploymentWrite {
    DeploymentWrite {
        service: ServiceId(2),
        external_id: Some(
            ExternalId::parse(&format!("cdevents:{EVENT_SOURCE}#{EVENT_ID}")).unwrap(),
        ),
        name: None,
        environment: Environment::parse("test123").unwrap(),
        result: DeployResult::Success,
        started_at: None,
        finished_at: Some(ts("2023-03-20T14:27:05.315384Z")),
        commits: Vec::new(),
        shipped: None,
        kind: DeploymentKind::Normal,
        rework: false,
        lead_time_seconds: None,
        source: "cdevents".into(),
        attributes: json!({
            "artifactId": "pkg:oci/myapp@sha256%3A0b31b1c02ff458ad9b7b81cbdf8f028bd54699fa151f221d1e8de6817db93427",
            "environment": "test123",
            "source": EVENT_SOURCE,
            "event_id": EVENT_ID,
        }),
        state_at: None,
    }
}

fn expected_detection() -> IncidentWrite {
    IncidentWrite {
        service: Some(ServiceId(3)),
        key: IncidentKey::parse("incident-123").unwrap(),
        title: Some("Response time above threshold of 100ms".into()),
        started_at: Some(ts("2022-11-11T13:52:20.079Z")),
        resolved_at: None,
        cause: None,
        fixed_by: None,
        is_incident: true,
        source: "cdevents".into(),
        attributes: json!({
            "environment": "prod1",
            "artifactId": "pkg:oci/myapp@sha256%3A0b31b1c02ff458ad9b7b81cbdf8f028bd54699fa151f221d1e8de6817db93427",
            "source": "/monitoring/prod1",
            "detected_event_id": "F4BD2B55-B6F6-4F44-AF72-BD2D0E7A8708",
        }),
        times: IncidentTimes::Lifecycle,
        reopened_at: None,
    }
}

#[test]
fn service_deployed_fixture_in_every_mode() {
    for mode in MODES {
        let d = read(&in_mode(mode, &fixture(DEPLOYED)));
        assert_eq!(
            d,
            SourceDelivery {
                outcome: SourceOutcome::Commands(vec![Command::Deployment(expected_deployment())]),
                dedupe_key: key(mode, EVENT_SOURCE, EVENT_ID),
            },
            "{mode:?}"
        );
    }
}

#[test]
fn incident_detected_fixture_in_every_mode() {
    for mode in MODES {
        let d = read(&in_mode(mode, &fixture(DETECTED)));
        assert_eq!(
            d,
            SourceDelivery {
                outcome: SourceOutcome::Commands(vec![Command::Incident(expected_detection())]),
                dedupe_key: key(
                    mode,
                    "/monitoring/prod1",
                    "F4BD2B55-B6F6-4F44-AF72-BD2D0E7A8708"
                ),
            },
            "{mode:?}"
        );
    }
}

#[test]
fn change_merged_fixture_names_no_commit_in_every_mode() {
    for mode in MODES {
        let d = read(&in_mode(mode, &fixture(MERGED)));
        assert_eq!(d.dedupe_key, key(mode, EVENT_SOURCE, EVENT_ID), "{mode:?}");
        let SourceOutcome::Ignored(i) = d.outcome else {
            panic!("{mode:?}: {:?}", d.outcome)
        };
        assert!(
            i.reason.contains("'mySubject123' names no commit"),
            "{}",
            i.reason
        );
        assert_eq!(i.unmapped, None);
    }
}

#[test]
fn pipelinerun_finished_fixture_is_ignored_by_name_in_every_mode() {
    for mode in MODES {
        let d = read(&in_mode(mode, &fixture(PIPELINE)));
        assert_eq!(d.dedupe_key, key(mode, EVENT_SOURCE, EVENT_ID), "{mode:?}");
        let SourceOutcome::Ignored(i) = d.outcome else {
            panic!("{mode:?}: {:?}", d.outcome)
        };
        assert!(
            i.reason
                .contains("dev.cdevents.pipelinerun.finished.0.3.0 is not one Dorado reads"),
            "{}",
            i.reason
        );
    }
}

/// The fixture as a producer of an older spec writes it: 0.3 names the
/// spec version `version`, 0.4 renamed it `specversion`, and each release
/// versions the event schemas anew.
fn as_spec(mut v: Value, spec: &str, schema: &str) -> Value {
    let ctx = v["context"].as_object_mut().unwrap();
    ctx.remove("specversion");
    if spec.starts_with("0.3") {
        // 0.3 had neither chain ids nor links.
        ctx.remove("chainId");
        ctx.remove("links");
        ctx.remove("schemaUri");
        ctx.insert("version".into(), json!(spec));
    } else {
        ctx.insert("specversion".into(), json!(spec));
    }
    let ty = ctx["type"].as_str().unwrap().to_owned();
    let base = ty.rsplitn(4, '.').nth(3).unwrap().to_owned();
    ctx.insert("type".into(), json!(format!("{base}.{schema}")));
    v
}

#[test]
fn spec_versions_from_0_3_to_0_5() {
    let versions = [
        ("0.3.0", "0.1.1", "0.1.0"),
        ("0.4.0", "0.2.0", "0.2.0"),
        ("0.4.1", "0.2.0", "0.2.0"),
        ("0.5.0", "0.3.0", "0.3.0"),
    ];
    for (spec, service_schema, incident_schema) in versions {
        for mode in MODES {
            let deployed = as_spec(fixture(DEPLOYED), spec, service_schema);
            assert_eq!(
                one(&in_mode(mode, &deployed)),
                Command::Deployment(expected_deployment()),
                "{spec} {mode:?}"
            );
            let detected = as_spec(fixture(DETECTED), spec, incident_schema);
            assert_eq!(
                one(&in_mode(mode, &detected)),
                Command::Incident(expected_detection()),
                "{spec} {mode:?}"
            );
        }
    }
}

#[test]
fn a_spec_version_without_a_version_field_or_a_draft_is_read() {
    let mut v = fixture(DEPLOYED);
    remove(&mut v, "/context/specversion");
    assert_eq!(one(&v), Command::Deployment(expected_deployment()));
    set(&mut v, "/context/specversion", json!("draft"));
    assert_eq!(one(&v), Command::Deployment(expected_deployment()));
}

#[test]
fn a_spec_version_beyond_0_x_is_ignored() {
    let mut v = fixture(DEPLOYED);
    set(&mut v, "/context/specversion", json!("1.0.0"));
    for mode in MODES {
        let i = ignored(&in_mode(mode, &v));
        assert!(
            i.reason.contains("version '1.0.0' is not read"),
            "{}",
            i.reason
        );
    }
}

#[test]
fn upgraded_is_a_deployment_and_rolled_back_is_rework() {
    let content = json!({"environment": {"id": "PROD", "source": "/k8s"}, "artifactId": "pkg:oci/checkout@v2"});
    let upgraded = one(&event(
        "dev.cdevents.service.upgraded.0.2.0",
        "service/checkout",
        content.clone(),
    ));
    let expected = DeploymentWrite {
        service: ServiceId(2),
        external_id: Some(ExternalId::parse("cdevents:https://ci.example.com/argo#e-1").unwrap()),
        name: None,
        environment: Environment::production(),
        result: DeployResult::Success,
        started_at: None,
        finished_at: Some(ts("2024-05-02T10:00:00Z")),
        commits: Vec::new(),
        shipped: None,
        kind: DeploymentKind::Normal,
        rework: false,
        lead_time_seconds: None,
        source: "cdevents".into(),
        attributes: json!({"artifactId": "pkg:oci/checkout@v2", "environment": "PROD",
                           "source": "https://ci.example.com/argo", "event_id": "e-1"}),
        state_at: None,
    };
    assert_eq!(upgraded, Command::Deployment(expected.clone()));

    let rolled_back = one(&event(
        "dev.cdevents.service.rolledback.0.3.0",
        "service/checkout",
        content,
    ));
    assert_eq!(
        rolled_back,
        Command::Deployment(DeploymentWrite {
            kind: DeploymentKind::Rollback,
            rework: true,
            ..expected
        })
    );
}

#[test]
fn environments_map_like_other_vendors_and_default_to_production() {
    let env_of = |content: Value| match one(&event(
        "dev.cdevents.service.deployed.0.3.0",
        "checkout",
        content,
    )) {
        Command::Deployment(d) => d.environment,
        other => panic!("{other:?}"),
    };
    assert_eq!(env_of(json!({})), Environment::production());
    assert_eq!(
        env_of(json!({"artifactId": "a"})),
        Environment::production()
    );
    assert_eq!(
        env_of(json!({"environment": {"id": "live"}})),
        Environment::production()
    );
    assert_eq!(
        env_of(json!({"environment": {"id": "Staging"}})).as_str(),
        "staging"
    );
    assert_eq!(env_of(json!({"environment": "qa"})).as_str(), "qa");
    // Without content at all.
    let mut bare = event("dev.cdevents.service.deployed.0.3.0", "checkout", json!({}));
    remove(&mut bare, "/subject/content");
    assert!(matches!(one(&bare), Command::Deployment(d) if d.environment.is_production()));

    let long = event(
        "dev.cdevents.service.deployed.0.3.0",
        "checkout",
        json!({"environment": {"id": "e".repeat(65)}}),
    );
    fails(&long, "/subject/content/environment", "must be at most 64");
    let nameless = event(
        "dev.cdevents.service.deployed.0.3.0",
        "checkout",
        json!({"environment": {"source": "/k8s"}}),
    );
    fails(&nameless, "/subject/content/environment/id", "is required");
    let named = event(
        "dev.cdevents.service.deployed.0.3.0",
        "checkout",
        json!({"environment": {"name": "prd"}}),
    );
    assert!(matches!(one(&named), Command::Deployment(d) if d.environment.is_production()));
}

#[test]
fn services_are_found_by_alias_name_or_last_segment() {
    let service_of = |subject: &str| match one(&event(
        "dev.cdevents.service.deployed.0.3.0",
        subject,
        json!({}),
    )) {
        Command::Deployment(d) => d.service,
        other => panic!("{other:?}"),
    };
    assert_eq!(service_of("mySubject123"), ServiceId(2));
    assert_eq!(service_of("Cart"), ServiceId(3));
    assert_eq!(service_of("service/checkout"), ServiceId(2));
    assert_eq!(service_of("deployment/ns/cart/"), ServiceId(3));
    assert_eq!(service_of("cluster-1/myApp"), ServiceId(3));
}

#[test]
fn an_unmapped_service_is_ignored_so_that_it_can_be_mapped() {
    let i = ignored(&event(
        "dev.cdevents.service.deployed.0.3.0",
        "service/billing",
        json!({}),
    ));
    assert_eq!(
        i.unmapped,
        Some(Unmapped::Service {
            id: "service/billing".into(),
            name: Some("billing".into()),
        })
    );
    assert!(
        i.reason
            .contains("billing (service/billing) maps to no service"),
        "{}",
        i.reason
    );

    let plain = ignored(&event(
        "dev.cdevents.service.deployed.0.3.0",
        "billing",
        json!({}),
    ));
    assert_eq!(
        plain.unmapped,
        Some(Unmapped::Service {
            id: "billing".into(),
            name: None
        })
    );

    let mut detected = fixture(DETECTED);
    set(
        &mut detected,
        "/subject/content/service/id",
        json!("billing"),
    );
    let i = ignored(&detected);
    assert_eq!(
        i.unmapped,
        Some(Unmapped::Service {
            id: "billing".into(),
            name: None
        })
    );
}

#[test]
fn deployed_commits_by_the_custom_data_convention() {
    let mut v = event(
        "dev.cdevents.service.deployed.0.3.0",
        "checkout",
        json!({"environment": {"id": "prod"}}),
    );
    set(
        &mut v,
        "/customData",
        json!({"repo": "https://github.com/acme/checkout.git", "commit": SHA}),
    );
    let Command::Deployment(d) = one(&v) else {
        panic!()
    };
    assert_eq!(
        d.commits,
        vec![DeployedCommit {
            repo: "https://github.com/acme/checkout.git".into(),
            repo_key: RepoKey::parse("github.com/acme/checkout").unwrap(),
            sha: Sha::parse(SHA).unwrap(),
        }]
    );

    set(
        &mut v,
        "/customData",
        json!({"commits": [{"repo": "acme/a", "sha": "aaa"}, {"repo": "acme/b", "sha": "bbb"}]}),
    );
    let Command::Deployment(d) = one(&v) else {
        panic!()
    };
    assert_eq!(d.commits.len(), 2);
    assert_eq!(d.commits[1].sha.as_str(), "bbb");

    // Custom data of the emitter's own is left alone.
    set(&mut v, "/customData", json!({"metric": "x"}));
    assert!(matches!(one(&v), Command::Deployment(d) if d.commits.is_empty()));
    set(&mut v, "/customData", json!("aGVsbG8="));
    assert!(matches!(one(&v), Command::Deployment(d) if d.commits.is_empty()));

    set(&mut v, "/customData", json!({"commit": SHA}));
    fails(&v, "/customData/repo", "is required");
}

#[test]
fn incident_resolved_resolves_and_keeps_the_title() {
    let mut v = fixture(DETECTED);
    set(
        &mut v,
        "/context/type",
        json!("dev.cdevents.incident.resolved.0.3.0"),
    );
    set(&mut v, "/context/id", json!("r-1"));
    set(
        &mut v,
        "/context/timestamp",
        json!("2022-11-11T14:30:00+01:00"),
    );
    set(&mut v, "/subject/content/description", json!("Scaled up"));
    assert_eq!(
        one(&v),
        Command::Incident(IncidentWrite {
            service: Some(ServiceId(3)),
            key: IncidentKey::parse("incident-123").unwrap(),
            title: None,
            started_at: None,
            resolved_at: Some(ts("2022-11-11T13:30:00Z")),
            cause: None,
            fixed_by: None,
            is_incident: true,
            source: "cdevents".into(),
            attributes: json!({
                "environment": "prod1",
                "artifactId": "pkg:oci/myapp@sha256%3A0b31b1c02ff458ad9b7b81cbdf8f028bd54699fa151f221d1e8de6817db93427",
                "source": "/monitoring/prod1",
                "resolved_event_id": "r-1",
                "resolution": "Scaled up",
            }),
            times: IncidentTimes::Lifecycle,
            reopened_at: None,
        })
    );
}

#[test]
fn an_incident_without_a_service_is_the_organizations() {
    let mut v = fixture(DETECTED);
    remove(&mut v, "/subject/content/service");
    let Command::Incident(i) = one(&v) else {
        panic!()
    };
    assert_eq!(i.service, None);
    assert_eq!(i.key.as_str(), "incident-123");

    set(
        &mut v,
        "/subject/content/service",
        json!({"source": "/k8s"}),
    );
    fails(&v, "/subject/content/service/id", "is required");

    // A service given by id alone.
    set(
        &mut v,
        "/subject/content/service",
        json!("service/checkout"),
    );
    assert!(matches!(one(&v), Command::Incident(i) if i.service == Some(ServiceId(2))));
}

#[test]
fn a_long_incident_description_is_cut_not_refused() {
    let mut v = fixture(DETECTED);
    set(
        &mut v,
        "/subject/content/description",
        json!("é".repeat(5_000)),
    );
    let Command::Incident(i) = one(&v) else {
        panic!()
    };
    assert_eq!(i.title.unwrap().chars().count(), 1_000);
}

#[test]
fn incident_reported_and_other_predicates_are_ignored() {
    for ty in [
        "dev.cdevents.incident.reported.0.3.0",
        "dev.cdevents.service.removed.0.3.0",
        "dev.cdevents.service.published.0.3.0",
        "dev.cdevents.artifact.published.0.2.0",
        "dev.cdevents.taskrun.finished.0.2.0",
    ] {
        let i = ignored(&event(ty, "checkout", json!({})));
        assert!(i.reason.contains(ty), "{}", i.reason);
    }
    for ty in [
        "dev.cdeventsx.acme.thing.0.1.0",
        "com.example.build",
        "dev.cdevents.",
    ] {
        let i = ignored(&event(ty, "checkout", json!({})));
        assert!(i.reason.contains("is not a CDEvents type"), "{}", i.reason);
    }
}

fn merged(subject: &str, repository: Value) -> Value {
    event(
        "dev.cdevents.change.merged.0.3.0",
        subject,
        json!({"repository": repository}),
    )
}

fn change(repo: &str, key: &str, sha: &str) -> Command {
    Command::Changes(ChangeBatch {
        repo: repo.into(),
        repo_key: RepoKey::parse(key).unwrap(),
        commits: vec![ChangeWrite {
            sha: Sha::parse(sha).unwrap(),
            parents: Vec::new(),
            committed_at: Some(ts("2024-05-02T10:00:00Z")),
            authored_at: None,
            author: None,
            message: None,
            request: None,
        }],
    })
}

#[test]
fn change_merged_with_a_sha_is_a_commit() {
    let upper = SHA.to_uppercase();
    assert_eq!(
        one(&merged(
            &upper,
            json!({"id": "acme/checkout", "source": "https://github.com"})
        )),
        change(
            "https://github.com/acme/checkout",
            "github.com/acme/checkout",
            SHA
        )
    );
    assert_eq!(
        one(&merged(
            SHA,
            json!({"url": "git://my-git.example/an-org/a-repo", "id": "x"})
        )),
        change(
            "git://my-git.example/an-org/a-repo",
            "my-git.example/an-org/a-repo",
            SHA
        )
    );
    assert_eq!(
        one(&merged(
            SHA,
            json!({"owner": "acme", "name": "shop", "source": "github.com/"})
        )),
        change("github.com/acme/shop", "github.com/acme/shop", SHA)
    );
    // A source that is the emitter's own path names no host.
    assert_eq!(
        one(&merged(
            SHA,
            json!({"id": "acme/shop", "source": "/event/source/123"})
        )),
        change("acme/shop", "acme/shop", SHA)
    );
    assert_eq!(
        one(&merged(SHA, json!({"name": "shop"}))),
        change("shop", "shop", SHA)
    );
    assert_eq!(
        one(&merged(SHA, json!("https://gitlab.com/acme/shop"))),
        change("https://gitlab.com/acme/shop", "gitlab.com/acme/shop", SHA)
    );
    let sha256 = "b".repeat(64);
    assert_eq!(
        one(&merged(&sha256, json!({"id": "acme/shop"}))),
        change("acme/shop", "acme/shop", &sha256)
    );
}

#[test]
fn change_merged_by_the_custom_data_convention() {
    let mut v = merged("1234", json!({"id": "acme/shop", "source": "github.com"}));
    set(&mut v, "/customData", json!({"commit": SHA}));
    assert_eq!(
        one(&v),
        change("github.com/acme/shop", "github.com/acme/shop", SHA)
    );

    let mut v = event("dev.cdevents.change.merged.0.3.0", SHA, json!({}));
    set(
        &mut v,
        "/customData",
        json!({"repo": "github.com/acme/shop"}),
    );
    assert_eq!(
        one(&v),
        change("github.com/acme/shop", "github.com/acme/shop", SHA)
    );
}

#[test]
fn change_merged_of_an_unmapped_repository_is_ignored() {
    let i = ignored(&merged(SHA, json!("https://github.com/acme/unknown")));
    assert!(i.reason.contains("github.com/acme/unknown"), "{}", i.reason);
    assert_eq!(
        i.unmapped,
        Some(dorado_hooks::sources::Unmapped::Repository(
            "github.com/acme/unknown".into()
        ))
    );
}

#[test]
fn change_merged_without_a_sha_or_a_repository_is_ignored() {
    let i = ignored(&merged("1234", json!({"id": "acme/shop"})));
    assert!(i.reason.contains("'1234' names no commit"), "{}", i.reason);
    let short = ignored(&merged("a2e7da8", json!({"id": "acme/shop"})));
    assert!(short.reason.contains("names no commit"), "{}", short.reason);
    let i = ignored(&event("dev.cdevents.change.merged.0.3.0", SHA, json!({})));
    assert!(i.reason.contains("names no repository"), "{}", i.reason);

    fails(
        &merged(SHA, json!({"source": "github.com"})),
        "/subject/content/repository",
        "names no repository",
    );
    fails(
        &merged(SHA, json!([42])),
        "/subject/content/repository",
        "must be a string",
    );
}

#[test]
fn a_batch_reads_its_items_in_order_and_skips_ignored_ones() {
    let body = batch(&[
        fixture(DEPLOYED),
        fixture(PIPELINE),
        fixture(MERGED),
        fixture(DETECTED),
    ]);
    let d = read(&body);
    assert_eq!(d.dedupe_key, None);
    assert_eq!(
        d.outcome,
        SourceOutcome::Commands(vec![
            Command::Deployment(expected_deployment()),
            Command::Incident(expected_detection()),
        ])
    );

    // Bare CDEvents in an array are read as well.
    let bare = json!([fixture(DETECTED), structured(&fixture(DEPLOYED))]);
    assert_eq!(
        commands(&bare),
        vec![
            Command::Incident(expected_detection()),
            Command::Deployment(expected_deployment())
        ]
    );
}

#[test]
fn a_batch_of_ignored_items_is_ignored_with_a_summary() {
    let mut unmapped = fixture(DEPLOYED);
    set(&mut unmapped, "/subject/id", json!("service/billing"));
    let body = batch(&[
        fixture(PIPELINE),
        fixture(PIPELINE),
        unmapped,
        fixture(MERGED),
    ]);
    let d = read(&body);
    assert_eq!(d.dedupe_key, None);
    let SourceOutcome::Ignored(i) = d.outcome else {
        panic!("{:?}", d.outcome)
    };
    assert!(
        i.reason
            .starts_with("all 4 events of the batch are ignored: "),
        "{}",
        i.reason
    );
    assert!(i.reason.contains("is not one Dorado reads (it reads service deployed, upgraded and rolledback, incident detected and resolved, and change merged) (2 events)"), "{}", i.reason);
    assert!(
        i.reason
            .contains("billing (service/billing) maps to no service"),
        "{}",
        i.reason
    );
    assert!(i.reason.contains("names no commit"), "{}", i.reason);
    assert_eq!(
        i.unmapped,
        Some(Unmapped::Service {
            id: "service/billing".into(),
            name: Some("billing".into())
        })
    );

    let many: Vec<Value> = (0..20)
        .map(|n| event(&format!("dev.cdevents.thing{n}.done.0.1.0"), "x", json!({})))
        .collect();
    let i = ignored(&batch(&many));
    assert!(i.reason.ends_with("and 15 other reasons"), "{}", i.reason);

    let empty = ignored(&json!([]));
    assert_eq!(empty.reason, "the batch holds no events");
    let single = ignored(&batch(&[fixture(PIPELINE)]));
    assert!(
        single
            .reason
            .starts_with("the batch's only event is ignored: "),
        "{}",
        single.reason
    );
}

#[test]
fn a_malformed_item_refuses_the_whole_batch() {
    let mut bad = fixture(DETECTED);
    set(&mut bad, "/context/timestamp", json!("yesterday"));
    let mut items = vec![
        structured(&fixture(DEPLOYED)),
        structured(&fixture(PIPELINE)),
        structured(&fixture(DETECTED)),
        bad.clone(),
    ];
    fails(
        &Value::Array(items.clone()),
        "/3/context/timestamp",
        "yesterday",
    );
    items[3] = structured(&bad);
    fails(
        &Value::Array(items.clone()),
        "/3/data/context/timestamp",
        "yesterday",
    );
    // A malformed item that would be ignored refuses it too.
    let mut no_id = fixture(PIPELINE);
    remove(&mut no_id, "/context/id");
    items[1] = structured(&no_id);
    let errs = errors(Value::Array(items.clone()).to_string().as_bytes());
    assert!(
        errs.contains(&("/1/data/context/id".into(), "is required".into())),
        "{errs:?}"
    );
    assert!(
        errs.iter().any(|(p, _)| p == "/3/data/context/timestamp"),
        "{errs:?}"
    );

    items[1] = json!("an event");
    fails(&Value::Array(items.clone()), "/1", "must be a CloudEvent");
    items[1] = json!({"id": "x"});
    fails(&Value::Array(items), "/1", "must be a CloudEvent");
}

#[test]
fn the_context_is_required() {
    let mut v = fixture(DEPLOYED);
    remove(&mut v, "/context/source");
    set(&mut v, "/context/id", json!(""));
    remove(&mut v, "/context/type");
    set(&mut v, "/context/timestamp", json!(1_700_000_000));
    for (pointer, detail) in [
        ("/context/source", "is required"),
        ("/context/id", "must not be empty"),
        ("/context/type", "is required"),
        ("/context/timestamp", "must be a time string"),
    ] {
        fails(&v, pointer, detail);
        fails(&structured(&v), &format!("/data{pointer}"), detail);
    }
    let mut no_subject = fixture(DEPLOYED);
    remove(&mut no_subject, "/subject");
    fails(&no_subject, "/subject", "is required");
    let mut no_subject_id = fixture(DEPLOYED);
    remove(&mut no_subject_id, "/subject/id");
    fails(&no_subject_id, "/subject/id", "is required");
    fails(
        &json!({"context": [], "subject": {}}),
        "/context",
        "must be an object",
    );
}

#[test]
fn structured_data_as_text_or_base64() {
    use base64::Engine;
    let cdevent = fixture(DEPLOYED);
    let expected = Command::Deployment(expected_deployment());

    let mut text = structured(&cdevent);
    text["data"] = json!(cdevent.to_string());
    assert_eq!(one(&text), expected);

    let encoded = base64::engine::general_purpose::STANDARD.encode(cdevent.to_string());
    let mut b64 = structured(&cdevent);
    b64.as_object_mut().unwrap().remove("data");
    b64["data_base64"] = json!(encoded);
    assert_eq!(
        read(&b64).dedupe_key,
        Some(format!("{EVENT_SOURCE} {EVENT_ID}"))
    );
    assert_eq!(one(&b64), expected);
    // Wrapped lines, no padding.
    let wrapped: String = encoded
        .trim_end_matches('=')
        .as_bytes()
        .chunks(76)
        .map(|c| format!("{}\n", String::from_utf8_lossy(c)))
        .collect();
    b64["data_base64"] = json!(wrapped);
    assert_eq!(one(&b64), expected);

    // CloudEvents 0.3.
    let mut v03 = structured(&cdevent);
    v03["specversion"] = json!("0.3");
    v03["datacontentencoding"] = json!("base64");
    v03["data"] = json!(encoded);
    assert_eq!(one(&v03), expected);

    let mut both = b64.clone();
    both["data"] = cdevent.clone();
    fails(&both, "/data_base64", "not both");
    let mut neither = b64.clone();
    neither.as_object_mut().unwrap().remove("data_base64");
    fails(&neither, "/data", "is required");
    let mut bad_b64 = b64.clone();
    bad_b64["data_base64"] = json!("!!!");
    fails(&bad_b64, "/data_base64", "is not base64");
    let mut not_json = structured(&cdevent);
    not_json["data"] = json!("{\"context\": ");
    fails(&not_json, "/data", "must hold a CDEvent as JSON");
    let mut inner = structured(&cdevent);
    let mut bad = cdevent.clone();
    set(&mut bad, "/context/timestamp", json!("soon"));
    inner["data"] = json!(bad.to_string());
    fails(&inner, "/data/context/timestamp", "soon");
    let mut not_cdevent = structured(&cdevent);
    not_cdevent["data"] = json!({"hello": "world"});
    fails(&not_cdevent, "/data/context", "is required");
}

#[test]
fn a_cloudevent_that_is_no_cdevent_is_ignored() {
    let ce = json!({"specversion": "1.0", "id": "1", "source": "/github", "type": "com.github.push",
                    "data": {"ref": "main"}});
    let d = read(&ce);
    assert_eq!(d.dedupe_key, Some("/github 1".into()));
    let SourceOutcome::Ignored(i) = d.outcome else {
        panic!()
    };
    assert!(
        i.reason.contains("'com.github.push' is not a CDEvent"),
        "{}",
        i.reason
    );
}

#[test]
fn external_ids_are_unique_per_source_and_id_and_fit() {
    let id_of = |source: &str, id: &str| {
        let mut v = fixture(DEPLOYED);
        set(&mut v, "/context/source", json!(source));
        set(&mut v, "/context/id", json!(id));
        match one(&v) {
            Command::Deployment(d) => d.external_id.unwrap(),
            other => panic!("{other:?}"),
        }
    };
    assert_ne!(id_of("a#b", "c"), id_of("a", "b#c"));
    assert_eq!(id_of("a#b", "c").as_str(), "cdevents:a%23b#c");
    assert_ne!(id_of("a%23b", "c"), id_of("a#b", "c"));
    let long = id_of(&"s".repeat(300), "1");
    assert!(long.as_str().starts_with("cdevents:sha256:"), "{long}");
    assert!(ExternalId::parse(long.as_str()).is_ok());
    assert_eq!(long, id_of(&"s".repeat(300), "1"));
    assert_ne!(long, id_of(&"s".repeat(300), "2"));
    assert_ne!(long, id_of(&"s".repeat(299), "s1"));
}

#[test]
fn bodies_that_are_no_cdevents_are_refused() {
    for body in [
        json!({}),
        json!({"subject": {}}),
        json!(42),
        json!("x"),
        json!(null),
        json!(true),
    ] {
        let errs = errors(body.to_string().as_bytes());
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].0, "", "{errs:?}");
    }
    assert!(matches!(deliver(b""), Err(HookError::Syntax { .. })));
    assert!(matches!(deliver(b"  \n"), Err(HookError::Syntax { .. })));
    assert!(matches!(
        deliver(b"{\"context\":"),
        Err(HookError::Syntax { .. })
    ));
}

/// Odd values in every field of every fixture, in every mode, and mangled
/// bytes: an answer, never a panic.
#[test]
fn garbage_never_panics() {
    let odd = [
        Value::Null,
        json!(true),
        json!(-1),
        json!(u64::MAX),
        json!(1e308),
        json!(""),
        json!(" "),
        json!("\u{0}"),
        json!("é".repeat(300)),
        json!("x".repeat(3_000)),
        json!("dev.cdevents."),
        json!("dev.cdevents.service"),
        json!("dev.cdevents.service.deployed"),
        json!("dev.cdevents.service.rolledback.9"),
        json!("dev.cdevents.incident.resolved.0.1.0"),
        json!("dev.cdevents.change.merged.0.1.0"),
        json!("dev.cdevents.é.é"),
        json!("1.0.0"),
        json!("service/"),
        json!("/"),
        json!("=="),
        json!(SHA),
        json!("2024-01-01T00:00:00+99:99"),
        json!([]),
        json!([null, 1]),
        json!({}),
        json!({"id": {"id": []}}),
    ];
    let mut bodies = Vec::new();
    for text in [DEPLOYED, DETECTED, MERGED, PIPELINE] {
        let base = fixture(text);
        let mut with_custom = base.clone();
        with_custom["customData"] =
            json!({"repo": "r", "commit": "c", "commits": [{"repo": "r", "sha": "s"}]});
        for v in [base, with_custom] {
            for mode in MODES {
                let body = in_mode(mode, &v);
                let mut ptrs = Vec::new();
                pointers(&body, String::new(), &mut ptrs);
                for p in &ptrs {
                    for o in &odd {
                        let mut m = body.clone();
                        *m.pointer_mut(p).unwrap() = o.clone();
                        bodies.push(m.to_string().into_bytes());
                    }
                }
            }
        }
    }
    for o in &odd {
        bodies.push(o.to_string().into_bytes());
        bodies.push(json!([o]).to_string().into_bytes());
    }
    let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let seeds: Vec<Vec<u8>> = [DEPLOYED, DETECTED, MERGED]
        .iter()
        .flat_map(|t| {
            let v = fixture(t);
            MODES.map(|m| in_mode(m, &v).to_string().into_bytes())
        })
        .collect();
    for s in &seeds {
        for _ in 0..200 {
            let mut b = s.clone();
            for _ in 0..(1 + next() % 4) {
                let at = (next() % b.len().max(1) as u64) as usize;
                const BYTES: &[u8] = b"{}[]\",:0-.eE \\/\x00\xff#%";
                match next() % 3 {
                    0 if !b.is_empty() => {
                        b.remove(at.min(b.len() - 1));
                    }
                    1 => b.insert(
                        at.min(b.len()),
                        BYTES[(next() % BYTES.len() as u64) as usize],
                    ),
                    _ if !b.is_empty() => {
                        let i = at.min(b.len() - 1);
                        b[i] = (next() % 256) as u8;
                    }
                    _ => {}
                }
            }
            bodies.push(b);
        }
    }
    for body in &bodies {
        let answer = std::panic::catch_unwind(|| deliver(body));
        match answer {
            Err(_) => panic!("panicked on {}", String::from_utf8_lossy(body)),
            Ok(Ok(d)) => {
                if let SourceOutcome::Commands(c) = &d.outcome {
                    assert!(!c.is_empty(), "no command and no reason");
                }
            }
            Ok(Err(HookError::Invalid(v))) => assert!(!v.errors.is_empty()),
            Ok(Err(HookError::Syntax { line, .. })) => assert!(line >= 1),
        }
    }
}
