//! What every dialect's tests share: an organization with two services, a
//! fixed "now", and short ways to say "parses" and "fails here, because".
#![allow(dead_code)]

use dorado_core::{
    Command, DeploymentWrite, IncidentResolve, IncidentWrite, ServiceDirectory, ServiceId,
    ServiceName, Timestamp,
};
use dorado_hooks::{Context, Endpoint, HookError, parse};
use serde_json::Value;

pub const SHA: &str = "a2e7da86cc392417b0d9f605b28038aae80b002f";

pub fn services() -> ServiceDirectory {
    ServiceDirectory::new([
        (ServiceId(2), ServiceName::parse("checkout").unwrap()),
        (ServiceId(3), ServiceName::parse("cart").unwrap()),
    ])
}

pub fn now() -> Timestamp {
    ts("2024-06-01T00:00:00Z")
}

pub fn ts(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

/// Parses with service 2 as DevLake's path service.
pub fn run(endpoint: &Endpoint, body: &str) -> Result<Vec<Command>, HookError> {
    let dir = services();
    let ctx = Context {
        services: &dir,
        path_service: Some(ServiceId(2)),
        received_at: now(),
        source: None,
    };
    parse(endpoint, &ctx, body.as_bytes())
}

pub fn ok(endpoint: &Endpoint, body: &str) -> Vec<Command> {
    match run(endpoint, body) {
        Ok(c) => c,
        Err(e) => panic!("{endpoint} refused {body}: {e}"),
    }
}

/// The only command of a body.
pub fn one(endpoint: &Endpoint, body: &str) -> Command {
    let mut c = ok(endpoint, body);
    assert_eq!(c.len(), 1, "{c:?}");
    c.remove(0)
}

pub fn deployment(endpoint: &Endpoint, body: &str) -> DeploymentWrite {
    match one(endpoint, body) {
        Command::Deployment(d) => d,
        other => panic!("not a deployment: {other:?}"),
    }
}

pub fn incident(endpoint: &Endpoint, body: &str) -> IncidentWrite {
    match one(endpoint, body) {
        Command::Incident(i) => i,
        other => panic!("not an incident: {other:?}"),
    }
}

pub fn resolve(endpoint: &Endpoint, body: &str) -> IncidentResolve {
    match one(endpoint, body) {
        Command::ResolveIncident(r) => r,
        other => panic!("not a resolve: {other:?}"),
    }
}

/// Every (pointer, detail) of a refused body.
pub fn errors(endpoint: &Endpoint, body: &str) -> Vec<(String, String)> {
    match run(endpoint, body) {
        Err(HookError::Invalid(v)) => v
            .errors
            .into_iter()
            .map(|e| (e.pointer, e.detail))
            .collect(),
        other => panic!("{endpoint} should refuse {body} field by field, got {other:?}"),
    }
}

/// Asserts that the body is refused with a problem at `pointer` whose
/// detail contains `detail`.
pub fn fails(endpoint: &Endpoint, body: &str, pointer: &str, detail: &str) {
    let errs = errors(endpoint, body);
    assert!(
        errs.iter().any(|(p, d)| p == pointer && d.contains(detail)),
        "expected {pointer}: ...{detail}... for {body}, got {errs:?}"
    );
}

pub fn syntax(endpoint: &Endpoint, body: &[u8]) -> (usize, usize, String) {
    let dir = services();
    let ctx = Context {
        services: &dir,
        path_service: Some(ServiceId(2)),
        received_at: now(),
        source: None,
    };
    match parse(endpoint, &ctx, body) {
        Err(HookError::Syntax {
            line,
            column,
            message,
        }) => (line, column, message),
        other => panic!("expected a syntax error, got {other:?}"),
    }
}

/// A JSON object with one field replaced (`None`: removed).
pub fn with(base: &serde_json::Value, key: &str, value: Option<serde_json::Value>) -> String {
    let mut v = base.clone();
    let map = v.as_object_mut().unwrap();
    match value {
        Some(x) => {
            map.insert(key.into(), x);
        }
        None => {
            map.remove(key);
        }
    }
    v.to_string()
}

/// Every pointer to a value inside `v`.
pub fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                out.push(p.clone());
                pointers(x, p, out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                let p = format!("{at}/{i}");
                out.push(p.clone());
                pointers(x, p, out);
            }
        }
        _ => {}
    }
}
