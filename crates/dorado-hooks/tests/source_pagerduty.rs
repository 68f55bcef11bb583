//! PagerDuty webhooks v3 as a native source: incidents triggered, resolved
//! and reopened, each event on its own and in any order.

mod common;

use common::pointers;

use dorado_core::source::alias_key;
use dorado_core::{
    Command, IncidentKey, IncidentTimes, IncidentWrite, ServiceDirectory, ServiceId, ServiceName,
    SourceKind, Timestamp,
};
use dorado_hooks::sources::{Ignored, SourceConfig, SourceDelivery, SourceOutcome, Unmapped};
use dorado_hooks::{Context, HookError};
use serde_json::{Value, json};

const DOCS: &str = include_str!("samples/native/pagerduty_incident_priority_updated_docs.json");
const VECTOR: &str = include_str!("samples/native/pagerduty_signature_vector_body.json");

const API: ServiceId = ServiceId(20);
const BILLING: ServiceId = ServiceId(21);

/// `api` answers to the fixtures' PagerDuty service id; `billing` only to
/// its own name.
fn directory() -> ServiceDirectory {
    let mut dir = ServiceDirectory::new([
        (API, ServiceName::parse("api").unwrap()),
        (BILLING, ServiceName::parse("Billing").unwrap()),
    ]);
    dir.add_alias(alias_key("PF9KMXH").unwrap(), API);
    dir
}

fn now() -> Timestamp {
    ts("2024-06-01T00:00:00Z")
}

fn ts(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

fn read_bytes(body: &[u8]) -> Result<SourceDelivery, HookError> {
    let dir = directory();
    let config = SourceConfig::default();
    let ctx = Context {
        services: &dir,
        path_service: None,
        received_at: now(),
        source: None,
    };
    dorado_hooks::sources::read(SourceKind::Pagerduty, "", &config, &ctx, body)
}

fn read(body: &str) -> Result<SourceDelivery, HookError> {
    read_bytes(body.as_bytes())
}

fn incident(body: &str) -> IncidentWrite {
    match read(body) {
        Ok(SourceDelivery {
            outcome: SourceOutcome::Commands(mut c),
            ..
        }) if c.len() == 1 => match c.remove(0) {
            Command::Incident(i) => i,
            other => panic!("not an incident: {other:?}"),
        },
        other => panic!("expected one incident for {body}, got {other:?}"),
    }
}

fn ignored(body: &str) -> (Ignored, Option<String>) {
    match read(body) {
        Ok(SourceDelivery {
            outcome: SourceOutcome::Ignored(i),
            dedupe_key,
        }) => (i, dedupe_key),
        other => panic!("expected {body} to be ignored, got {other:?}"),
    }
}

fn errors(body: &str) -> Vec<(String, String)> {
    match read(body) {
        Err(HookError::Invalid(v)) => v
            .errors
            .into_iter()
            .map(|e| (e.pointer, e.detail))
            .collect(),
        other => panic!("expected {body} to be refused field by field, got {other:?}"),
    }
}

fn fails(body: &str, pointer: &str, detail: &str) {
    let errs = errors(body);
    assert!(
        errs.iter().any(|(p, d)| p == pointer && d.contains(detail)),
        "expected {pointer}: ...{detail}... for {body}, got {errs:?}"
    );
}

/// The documentation's event, as another event type at another time.
fn event(kind: &str, occurred_at: &str) -> Value {
    let mut v: Value = serde_json::from_str(DOCS).unwrap();
    v["event"]["event_type"] = json!(kind);
    v["event"]["occurred_at"] = json!(occurred_at);
    v
}

fn expected(
    started_at: Option<&str>,
    resolved_at: Option<&str>,
    reopened_at: Option<&str>,
) -> IncidentWrite {
    IncidentWrite {
        service: Some(API),
        key: IncidentKey::parse("PGR0VU2").unwrap(),
        title: Some("A little bump in the road".into()),
        started_at: started_at.map(ts),
        resolved_at: resolved_at.map(ts),
        cause: None,
        fixed_by: None,
        is_incident: true,
        source: "pagerduty".into(),
        attributes: json!({
            "number": 2,
            "html_url": "https://acme.pagerduty.com/incidents/PGR0VU2",
            "urgency": "high",
            "incident_key": "d3640fbd41094207a1c11e58e46b1662",
        }),
        times: IncidentTimes::Lifecycle,
        reopened_at: reopened_at.map(ts),
    }
}

#[test]
fn the_documentation_sample_changes_nothing_but_is_deduplicated() {
    let (i, key) = ignored(DOCS);
    assert_eq!(
        i.reason,
        "PagerDuty event 'incident.priority_updated' changes nothing: only incidents triggered, resolved and reopened are read"
    );
    assert_eq!(i.unmapped, None);
    assert_eq!(key.as_deref(), Some("5ac64822-4adc-4fda-ade0-410becf0de4f"));
}

#[test]
fn the_signature_vector_body_is_a_priority_update_too() {
    // go-pagerduty's signed body is also an `incident.priority_updated`
    // event (with a numeric conference number): read, ignored, deduplicated.
    let (i, key) = ignored(VECTOR);
    assert!(
        i.reason
            .contains("'incident.priority_updated' changes nothing")
    );
    assert_eq!(key.as_deref(), Some("01BWDWL3NYY7LUFPZCC28QUCMK"));
}

#[test]
fn a_triggered_incident_starts_at_its_creation_or_the_event() {
    // The incident was created before the event: the earlier start wins.
    let body = event("incident.triggered", "2020-10-02T18:45:22.169Z").to_string();
    match read(&body).unwrap() {
        SourceDelivery {
            outcome: SourceOutcome::Commands(c),
            dedupe_key,
        } => {
            assert_eq!(
                c,
                vec![Command::Incident(expected(
                    Some("2020-04-09T15:16:27Z"),
                    None,
                    None
                ))]
            );
            assert_eq!(
                dedupe_key.as_deref(),
                Some("5ac64822-4adc-4fda-ade0-410becf0de4f")
            );
        }
        other => panic!("{other:?}"),
    }
    let mut v = event("incident.triggered", "2020-10-02T18:45:22.169Z");
    v["event"]["data"]
        .as_object_mut()
        .unwrap()
        .remove("created_at");
    assert_eq!(
        incident(&v.to_string()).started_at,
        Some(ts("2020-10-02T18:45:22.169Z"))
    );
}

#[test]
fn a_resolve_resolves_at_the_event_and_still_knows_the_start() {
    let body = event("incident.resolved", "2020-10-02T19:00:00Z").to_string();
    assert_eq!(
        incident(&body),
        expected(
            Some("2020-04-09T15:16:27Z"),
            Some("2020-10-02T19:00:00Z"),
            None
        )
    );
    // Without created_at a resolve starts nothing: the trigger does.
    let mut v = event("incident.resolved", "2020-10-02T19:00:00Z");
    v["event"]["data"]["created_at"] = Value::Null;
    let i = incident(&v.to_string());
    assert_eq!(
        (i.started_at, i.resolved_at),
        (None, Some(ts("2020-10-02T19:00:00Z")))
    );
}

#[test]
fn a_reopen_opens_it_again_at_the_event() {
    let body = event("incident.reopened", "2020-10-02T20:00:00Z").to_string();
    assert_eq!(
        incident(&body),
        expected(
            Some("2020-04-09T15:16:27Z"),
            None,
            Some("2020-10-02T20:00:00Z")
        )
    );
}

#[test]
fn events_out_of_order_are_each_one_step() {
    // A resolve arriving before its trigger, then a reopen and a second
    // resolve: each write carries only its own step; the store combines.
    let steps = [
        ("incident.resolved", "2020-10-02T19:00:00Z"),
        ("incident.triggered", "2020-10-02T18:45:00Z"),
        ("incident.reopened", "2020-10-02T20:00:00Z"),
        ("incident.resolved", "2020-10-02T21:00:00Z"),
    ];
    let writes: Vec<IncidentWrite> = steps
        .iter()
        .map(|(k, at)| incident(&event(k, at).to_string()))
        .collect();
    assert!(writes.iter().all(|w| w.times == IncidentTimes::Lifecycle));
    assert!(writes.iter().all(|w| w.key.as_str() == "PGR0VU2"));
    let times: Vec<_> = writes
        .iter()
        .map(|w| (w.resolved_at, w.reopened_at))
        .collect();
    assert_eq!(
        times,
        vec![
            (Some(ts("2020-10-02T19:00:00Z")), None),
            (None, None),
            (None, Some(ts("2020-10-02T20:00:00Z"))),
            (Some(ts("2020-10-02T21:00:00Z")), None),
        ]
    );
}

#[test]
fn other_event_types_change_nothing() {
    for kind in [
        "incident.acknowledged",
        "incident.unacknowledged",
        "incident.annotated",
        "incident.delegated",
        "incident.escalated",
        "incident.reassigned",
        "incident.priority_updated",
        "incident.responder.added",
        "incident.responder.replied",
        "incident.status_update_published",
        "service.updated",
    ] {
        let (i, key) = ignored(&event(kind, "2020-10-02T19:00:00Z").to_string());
        assert!(i.reason.contains("changes nothing"), "{kind}: {i:?}");
        assert!(key.is_some());
    }
    let ping = json!({"event": {"id": "01BWDWL3NYY7LUFPZCC28QUCMK", "event_type": "pagey.ping",
        "resource_type": "pagey", "occurred_at": "2021-12-08T22:38:11.096Z", "agent": null, "client": null,
        "data": {"message": "Hello from your friend Pagey!", "type": "ping"}}});
    let (i, key) = ignored(&ping.to_string());
    assert!(i.reason.contains("'pagey.ping' changes nothing"));
    assert_eq!(key.as_deref(), Some("01BWDWL3NYY7LUFPZCC28QUCMK"));
}

#[test]
fn services_map_by_alias_or_name_else_are_named_back() {
    // By name, when no alias matches the id.
    let mut v = event("incident.triggered", "2020-10-02T18:45:22Z");
    v["event"]["data"]["service"]["id"] = json!("PBILL01");
    v["event"]["data"]["service"]["summary"] = json!("billing");
    assert_eq!(incident(&v.to_string()).service, Some(BILLING));

    v["event"]["data"]["service"]["summary"] = json!("Payments Gateway");
    let (i, key) = ignored(&v.to_string());
    assert_eq!(
        i.unmapped,
        Some(Unmapped::Service {
            id: "PBILL01".into(),
            name: Some("Payments Gateway".into())
        })
    );
    assert!(i.reason.contains("--alias PBILL01"), "{i:?}");
    assert!(key.is_some());

    v["event"]["data"]["service"]
        .as_object_mut()
        .unwrap()
        .remove("summary");
    assert_eq!(
        ignored(&v.to_string()).0.unmapped,
        Some(Unmapped::Service {
            id: "PBILL01".into(),
            name: None
        })
    );
}

#[test]
fn an_event_without_an_id_has_no_dedupe_key() {
    let mut v = event("incident.triggered", "2020-10-02T18:45:22Z");
    v["event"].as_object_mut().unwrap().remove("id");
    match read(&v.to_string()).unwrap() {
        SourceDelivery {
            outcome: SourceOutcome::Commands(_),
            dedupe_key,
        } => assert_eq!(dedupe_key, None),
        other => panic!("{other:?}"),
    }
}

#[test]
fn malformed_events_are_refused_with_pointers() {
    fails("{}", "/event", "is required");
    fails(r#"{"event": []}"#, "/event", "must be an object");
    fails(
        r#"{"messages": [{"event": "incident.trigger"}]}"#,
        "/event",
        "v2 webhook",
    );
    fails(
        r#"{"event": {"id": "E1"}}"#,
        "/event/event_type",
        "is required",
    );

    let mut no_id = event("incident.resolved", "2020-10-02T19:00:00Z");
    no_id["event"]["data"].as_object_mut().unwrap().remove("id");
    fails(&no_id.to_string(), "/event/data/id", "is required");

    let bad_time = event("incident.triggered", "the second of October");
    fails(
        &bad_time.to_string(),
        "/event/occurred_at",
        "'the second of October' is not a time",
    );
    let mut no_time = event("incident.triggered", "x");
    no_time["event"]
        .as_object_mut()
        .unwrap()
        .remove("occurred_at");
    fails(&no_time.to_string(), "/event/occurred_at", "is required");

    let mut several = event("incident.triggered", "2020-10-02T19:00:00Z");
    several["event"]["data"]["created_at"] = json!(12);
    several["event"]["data"]["title"] = json!({"text": "t"});
    several["event"]["data"]
        .as_object_mut()
        .unwrap()
        .remove("service");
    let errs = errors(&several.to_string());
    for p in [
        "/event/data/created_at",
        "/event/data/title",
        "/event/data/service",
    ] {
        assert!(errs.iter().any(|(ep, _)| ep == p), "{p}: {errs:?}");
    }

    let mut no_data = event("incident.triggered", "2020-10-02T19:00:00Z");
    no_data["event"].as_object_mut().unwrap().remove("data");
    fails(&no_data.to_string(), "/event/data", "is required");

    for body in ["[]", "1", "\"event\""] {
        fails(body, "", "must be a JSON object");
    }
    assert!(matches!(read(""), Err(HookError::Syntax { .. })));
}

#[test]
fn a_long_title_is_cut_not_refused() {
    let mut v = event("incident.triggered", "2020-10-02T19:00:00Z");
    v["event"]["data"]["title"] = json!("t".repeat(1_024));
    assert_eq!(
        incident(&v.to_string()).title.unwrap().chars().count(),
        1_000
    );
}

// ---- robustness ----

fn check(body: &[u8]) {
    let Ok(result) = std::panic::catch_unwind(|| read_bytes(body)) else {
        panic!("panicked on {:?}", String::from_utf8_lossy(body));
    };
    match result {
        Ok(SourceDelivery {
            outcome: SourceOutcome::Commands(c),
            ..
        }) => assert!(!c.is_empty()),
        Ok(SourceDelivery {
            outcome: SourceOutcome::Ignored(i),
            ..
        }) => assert!(!i.reason.is_empty()),
        Err(HookError::Invalid(v)) => assert!(!v.errors.is_empty()),
        Err(HookError::Syntax { line, .. }) => assert!(line >= 1),
    }
}

fn samples() -> Vec<String> {
    vec![
        DOCS.to_owned(),
        VECTOR.to_owned(),
        event("incident.triggered", "2020-10-02T18:45:22Z").to_string(),
        event("incident.resolved", "2020-10-02T19:00:00Z").to_string(),
        event("incident.reopened", "2020-10-02T20:00:00Z").to_string(),
    ]
}

#[test]
fn every_field_replaced_by_odd_values_never_panics() {
    let odd = [
        Value::Null,
        json!(false),
        json!(-1),
        json!(u64::MAX),
        json!(1.5),
        json!(""),
        json!("é"),
        json!("\u{0}"),
        json!("x".repeat(20_000)),
        json!("2024-01-01T00:00:00+99:99"),
        json!("incident.resolved"),
        json!([]),
        json!({}),
    ];
    for body in samples() {
        let v: Value = serde_json::from_str(&body).unwrap();
        let mut ptrs = Vec::new();
        pointers(&v, String::new(), &mut ptrs);
        for p in &ptrs {
            for o in &odd {
                let mut m = v.clone();
                *m.pointer_mut(p).unwrap() = o.clone();
                check(m.to_string().as_bytes());
            }
        }
    }
}

#[test]
fn truncated_and_garbled_bodies_never_panic() {
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for body in samples() {
        let bytes = body.as_bytes();
        for end in 0..bytes.len() {
            check(&bytes[..end]);
        }
        for _ in 0..200 {
            let mut b = bytes.to_vec();
            for _ in 0..(1 + next() % 4) {
                let at = (next() % b.len() as u64) as usize;
                const JSONISH: &[u8] = b"{}[]\",:0-.eE \\/\x00\xff";
                b[at] = JSONISH[(next() % JSONISH.len() as u64) as usize];
            }
            check(&b);
        }
    }
}
