//! No input may panic a dialect: random bytes, random JSON, mutated seed
//! samples, and every field of a valid body replaced by odd values.

mod common;

use common::*;
use dorado_hooks::{Endpoint, HookError};
use proptest::prelude::*;
use serde_json::{Value, json};

fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::NativeDeployment,
        Endpoint::NativeChanges,
        Endpoint::NativeIncident,
        Endpoint::NativeResolve {
            key: "INC-1".into(),
        },
        Endpoint::Events,
        Endpoint::DevlakeDeployment,
        Endpoint::DevlakeIssue,
        Endpoint::DevlakeClose { key: "K".into() },
        Endpoint::AllstacksJob,
    ]
}

/// Valid bodies, one or more per endpoint.
fn samples() -> Vec<(Endpoint, String)> {
    let events = format!(
        r#"[{{"type":"deploy","service":"checkout","repo":"r","commit_sha":"{SHA}","commits":[{{"sha":"a","committed_at":"2024-01-01"}}]}},
           {{"type":"incident_started","id":"I","service":2,"deployment_id":"d"}},{{"type":"incident_resolved","id":"I"}},
           {{"type":"change","repo":"r","sha":"a","parents":["b"]}}]"#
    );
    vec![
        (Endpoint::NativeDeployment, json!({"service": 2, "id": "d", "commits": [{"repo": "r", "sha": "a"}],
            "shipped": [{"repo": "r", "sha": "b", "committed_at": "2024-01-01T00:00:00Z"}], "kind": "hotfix",
            "started_at": "2024-01-01", "finished_at": "2024-01-02"}).to_string()),
        (Endpoint::NativeChanges, json!({"repo": "r", "commits": [{"sha": "a", "parents": ["b"], "message": "m",
            "author": "x", "committed_at": "2024-01-01", "authored_at": "2024-01-01"}]}).to_string()),
        (Endpoint::NativeIncident, json!({"id": "I", "service": "cart", "title": "t", "commit_sha": "c",
            "started_at": "2024-01-01", "resolved_at": "2024-01-02", "fixed_by": "d"}).to_string()),
        (Endpoint::NativeResolve { key: "I".into() }, json!({"resolved_at": "2024-01-01", "service": 3}).to_string()),
        (Endpoint::Events, events),
        (Endpoint::DevlakeDeployment, include_str!("samples/devlake_002_single.json").into()),
        (Endpoint::DevlakeDeployment, include_str!("samples/devlake_002_multi.json").into()),
        (Endpoint::DevlakeDeployment, include_str!("samples/devlake_002_circleci.json").into()),
        (Endpoint::DevlakeDeployment, include_str!("samples/devlake_10_deployment.json").into()),
        (Endpoint::DevlakeIssue, include_str!("samples/devlake_002_issue.json").into()),
        (Endpoint::DevlakeIssue, include_str!("samples/devlake_003_issue.json").into()),
        (Endpoint::AllstacksJob, include_str!("samples/allstacks_001_corrected.json").into()),
    ]
}

/// Parses, and checks what any answer must satisfy.
fn check(endpoint: &Endpoint, body: &[u8]) {
    let first = std::panic::catch_unwind(|| {
        let dir = services();
        let ctx = dorado_hooks::Context {
            services: &dir,
            path_service: Some(dorado_core::ServiceId(2)),
            received_at: now(),
            source: None,
        };
        dorado_hooks::parse(endpoint, &ctx, body)
    });
    let Ok(result) = first else {
        panic!("{endpoint} panicked on {:?}", String::from_utf8_lossy(body));
    };
    match &result {
        Ok(commands) => assert!(!commands.is_empty(), "{endpoint}: no command and no error"),
        Err(HookError::Invalid(v)) => assert!(!v.errors.is_empty()),
        Err(HookError::Syntax { line, .. }) => assert!(*line >= 1),
    }
}

#[test]
fn every_sample_parses() {
    for (e, body) in samples() {
        ok(&e, &body);
    }
}

/// Values that have tripped parsers before: huge, negative, fractional,
/// exotic text, wrong shapes.
fn odd_values() -> Vec<Value> {
    vec![
        Value::Null,
        json!(true),
        json!(0),
        json!(-1),
        json!(i64::MIN),
        json!(i64::MAX),
        json!(u64::MAX),
        json!(1e308),
        json!(-0.5),
        json!(""),
        json!(" "),
        json!("é"),
        json!("\u{0}"),
        json!("😀".repeat(300)),
        json!("x".repeat(20_000)),
        json!("2024-01-01T00:00:00+99:99"),
        json!("9999-12-31T23:59:59-23:59"),
        json!("1900-01-01T00:00:00+23:59"),
        json!("2024-01-01 "),
        json!("2024-01-01Té"),
        json!("aaaaaaaaaé bbbbbbbbb"),
        json!("0123456789+"),
        json!([]),
        json!([null]),
        json!([1, "a", {}]),
        json!(vec![
            json!({"key": "k", "type": "string", "value": "v"});
            25
        ]),
        json!({}),
        json!({"a": {"b": [1]}}),
    ]
}

#[test]
fn every_field_replaced_by_odd_values_never_panics() {
    for (e, body) in samples() {
        let v: Value = serde_json::from_str(&body).unwrap();
        let mut ptrs = Vec::new();
        pointers(&v, String::new(), &mut ptrs);
        for p in &ptrs {
            for odd in odd_values() {
                let mut m = v.clone();
                *m.pointer_mut(p).unwrap() = odd;
                check(&e, m.to_string().as_bytes());
            }
        }
        for odd in odd_values() {
            check(&e, odd.to_string().as_bytes());
        }
    }
}

#[test]
fn mutated_samples_never_panic() {
    // A fixed xorshift, so a failure can be replayed.
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let seeds_as_written = [
        include_str!("samples/allstacks_001_sample.txt"),
        include_str!("samples/allstacks_000_example.txt"),
        include_str!("samples/devlake_002_auth.json"),
    ];
    let mut bodies: Vec<(Endpoint, Vec<u8>)> = samples()
        .into_iter()
        .map(|(e, b)| (e, b.into_bytes()))
        .collect();
    for s in seeds_as_written {
        for e in endpoints() {
            bodies.push((e, s.as_bytes().to_vec()));
        }
    }
    for (e, body) in &bodies {
        for _ in 0..300 {
            let mut b = body.clone();
            for _ in 0..(1 + next() % 4) {
                let len = b.len().max(1) as u64;
                let at = (next() % len) as usize;
                match next() % 4 {
                    0 if !b.is_empty() => {
                        b.remove(at.min(b.len() - 1));
                    }
                    1 => b.insert(at.min(b.len()), (next() % 256) as u8),
                    2 if !b.is_empty() => {
                        let i = at.min(b.len() - 1);
                        const JSONISH: &[u8] = b"{}[]\",:0-.eE \\/\x00\xff";
                        b[i] = JSONISH[(next() % JSONISH.len() as u64) as usize];
                    }
                    _ => b.truncate(at),
                }
            }
            check(e, &b);
        }
    }
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "[a-zA-Z0-9 _:+./-]{0,30}".prop_map(Value::from),
        any::<String>().prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        let keys = prop_oneof![
            Just("type".to_string()),
            Just("service".to_string()),
            Just("id".to_string()),
            Just("commits".to_string()),
            Just("commit_sha".to_string()),
            Just("repo".to_string()),
            Just("optional".to_string()),
            Just("value".to_string()),
            Just("key".to_string()),
            Just("time".to_string()),
            Just("deploymentCommits".to_string()),
            Just("repo_url".to_string()),
            Just("start_time".to_string()),
            Just("issue_key".to_string()),
            Just("job_start_time".to_string()),
            "[a-z_]{1,12}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(keys, inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..256)) {
        for e in endpoints() {
            check(&e, &body);
        }
    }

    #[test]
    fn random_json_never_panics(v in json_value()) {
        let body = v.to_string();
        for e in endpoints() {
            check(&e, body.as_bytes());
        }
    }

    #[test]
    fn any_key_round_trips(key in any::<String>()) {
        for e in [Endpoint::NativeResolve { key: key.clone() }, Endpoint::DevlakeClose { key: key.clone() }] {
            prop_assert_eq!(e.to_string().parse::<Endpoint>(), Ok(e));
        }
    }

    #[test]
    fn replays_give_the_same_commands(i in 0usize..12) {
        let (e, body) = samples().swap_remove(i);
        prop_assert_eq!(run(&e, &body), run(&e, &body));
    }
}
