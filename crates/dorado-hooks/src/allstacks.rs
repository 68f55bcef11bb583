//! Allstacks' Custom CD webhook (seeds 000 and 001): one CI/CD job, which is
//! always a new deployment, since Allstacks says `job_id` may repeat.
//!
//! Everything of the job goes into the deployment's attributes, so the
//! server can answer the stored job as Allstacks would. Three optional
//! fields mean something to Dorado (semantics.md, "Sources of data"):
//! `environment` (a string), `rework` (true/false, yes/no or 1/0) and
//! `lead_time` (a duration).

use crate::Context;
use crate::json::{Attributes, Errors, Field, MAX_SHORT, Obj, quote};
use crate::native::{OBJECT, all};
use dorado_core::{
    Command, DeployResult, DeployedCommit, DeploymentKind, DeploymentWrite, Environment, RepoKey,
    Sha, Timestamp,
};
use serde_json::Value;

const SOURCE: &str = "allstacks";
const MAX_FIELDS: usize = 20;
const MAX_VALUES: usize = 20;
const MAX_KEY: usize = 255;

pub(crate) fn job(body: &Value, ctx: &Context, errs: &mut Errors) -> Option<Vec<Command>> {
    let obj = Obj::new(body, String::new(), OBJECT, errs)?;
    let job_id = obj.field("job_id").required().key(MAX_SHORT, errs);
    let sha = obj
        .field("commit_sha")
        .required()
        .parse(errs, Sha::parse_full_hex);
    let service = obj
        .field("service_id")
        .required()
        .service(ctx.services, errs);
    let start = obj.field("job_start_time").required();
    let start_secs = start.int(errs);
    let started_at = start_secs.and_then(|s| epoch(&start, s, errs));
    let duration_field = obj.field("job_duration").required();
    let duration = duration_field.int(errs).filter(|d| {
        *d >= 0 || {
            errs.add(duration_field.ptr(), "must not be negative");
            false
        }
    });
    let finished_at = match (started_at, duration) {
        (Some(s), Some(d)) => d
            .checked_mul(1000)
            .and_then(|ms| s.plus_millis(ms))
            .or_else(|| {
                errs.add(
                    duration_field.ptr(),
                    "makes the job end after the year 9999",
                );
                None
            }),
        _ => None,
    };
    let status_field = obj.field("status").required();
    let status = status_field.text(MAX_SHORT, errs);
    let result = status.as_deref().and_then(|s| match job_status(s) {
        Ok(r) => Some(r),
        Err(e) => {
            errs.add(status_field.ptr(), e);
            None
        }
    });
    let repo = job_repo(&obj, errs);
    let triggered_by = obj.field("triggered_by").text(MAX_SHORT, errs);
    let job_type = obj.field("job_type").text(MAX_SHORT, errs);
    let optional = optional(&obj.field("optional"), errs);
    let special = optional.as_deref().and_then(|o| special_fields(o, errs));

    let triggered_by = triggered_by.unwrap_or_else(|| "Custom CD Agent".into());
    let job_type = job_type.unwrap_or_else(|| "CUSTOM_CD_JOB".into());
    let kind = kind_of(&job_type);
    let (environment, rework, lead_time) = special?;
    let (repo, repo_key, repo_id, repo_name) = repo?;
    let optional = optional?;
    let sha = sha?;
    let service = service?;

    let mut attrs = Attributes::default();
    attrs.put("job_id", job_id);
    attrs.put("commit_sha", Some(sha.as_str()));
    attrs.put("service_id", Some(service.0));
    attrs.put("job_start_time", start_secs);
    attrs.put("job_duration", duration);
    attrs.put("status", status);
    attrs.put("repo_id", repo_id);
    attrs.put("repo_name", repo_name);
    attrs.put("triggered_by", Some(triggered_by));
    attrs.put("job_type", Some(job_type));
    let optional: Vec<Value> = optional.into_iter().map(|o| o.into_value()).collect();
    attrs.put("optional", Some(optional));

    Some(vec![Command::Deployment(DeploymentWrite {
        service,
        external_id: None,
        name: None,
        environment: environment.unwrap_or_else(Environment::production),
        result: result?,
        started_at: Some(started_at?),
        finished_at: Some(finished_at?),
        commits: vec![DeployedCommit {
            repo,
            repo_key,
            sha,
        }],
        shipped: None,
        kind,
        rework: rework || kind != DeploymentKind::Normal,
        lead_time_seconds: lead_time,
        source: SOURCE.into(),
        attributes: attrs.into_value(),
        state_at: None,
    })])
}

/// Seconds since the epoch, as `job_start_time` and `timestamp` fields hold.
fn epoch(f: &Field, secs: i64, errs: &mut Errors) -> Option<Timestamp> {
    Timestamp::from_seconds(secs).or_else(|| {
        let hint = if secs > 100_000_000_000 {
            "; it looks like milliseconds, but seconds since the epoch are expected"
        } else {
            ""
        };
        errs.add(f.ptr(), format!("is outside the years 1900 to 9999{hint}"));
        None
    })
}

/// The seed's three values, in any case: scripts written against the
/// documentation send them as written there, others upper-case them.
fn job_status(s: &str) -> Result<DeployResult, String> {
    if s.eq_ignore_ascii_case("Succeeded") {
        Ok(DeployResult::Success)
    } else if s.eq_ignore_ascii_case("Failed") {
        Ok(DeployResult::Failure)
    } else if s.eq_ignore_ascii_case("On Hold") {
        Ok(DeployResult::Pending)
    } else {
        Err(format!(
            "{} is not a status; expected Succeeded, Failed or On Hold",
            quote(s)
        ))
    }
}

fn kind_of(job_type: &str) -> DeploymentKind {
    let t = job_type.to_ascii_lowercase();
    if t.contains("rollback") {
        DeploymentKind::Rollback
    } else if t.contains("hotfix") {
        DeploymentKind::Hotfix
    } else {
        DeploymentKind::Normal
    }
}

type JobRepo = (String, RepoKey, Option<String>, Option<String>);

/// `repo_id` or `repo_name` (one is required); the name, when given, is
/// what the engine matches, as it is what the other sources send.
fn job_repo(obj: &Obj, errs: &mut Errors) -> Option<JobRepo> {
    let before = errs.len();
    let (id_field, name_field) = (obj.field("repo_id"), obj.field("repo_name"));
    let id = id_field.key(MAX_SHORT, errs);
    let name = name_field.text(MAX_SHORT, errs);
    let (repo, field) = match (&name, &id) {
        (Some(n), _) => (n.clone(), &name_field),
        (None, Some(i)) => (i.clone(), &id_field),
        (None, None) => {
            if errs.len() == before {
                errs.add(id_field.ptr(), "is required (or give repo_name)");
            }
            return None;
        }
    };
    let key = RepoKey::parse(&repo)
        .map_err(|e| errs.add(field.ptr(), e))
        .ok()?;
    Some((repo, key, id, name))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Type {
    String,
    Integer,
    Float,
    Duration,
    Timestamp,
}

impl Type {
    fn parse(s: &str) -> Result<Self, String> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "string" => Self::String,
            "integer" => Self::Integer,
            "float" => Self::Float,
            "duration" => Self::Duration,
            "timestamp" => Self::Timestamp,
            _ => {
                return Err(format!(
                    "{} is not a type; expected string, integer, float, duration or timestamp",
                    quote(s)
                ));
            }
        })
    }

    fn name(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Integer => "integer",
            Self::Float => "float",
            Self::Duration => "duration",
            Self::Timestamp => "timestamp",
        }
    }

    fn expected(self) -> &'static str {
        match self {
            Self::String => "a string",
            Self::Integer => "an integer",
            Self::Float => "a number",
            Self::Duration => "a whole number of seconds, 0 or more",
            Self::Timestamp => "an integer of seconds since the epoch (years 1900 to 9999)",
        }
    }
}

/// One entry of `optional`, checked against its declared type.
struct Optional {
    at: String,
    key: String,
    ty: Type,
    /// One value, or a list of them, as sent (strings trimmed).
    value: Value,
}

impl Optional {
    fn into_value(self) -> Value {
        serde_json::json!({"key": self.key, "value": self.value, "type": self.ty.name()})
    }

    /// The single value of a field that Dorado reads itself.
    fn single(&self, ty: &[Type], errs: &mut Errors) -> Option<&Value> {
        if !ty.contains(&self.ty) {
            let names: Vec<&str> = ty.iter().map(|t| t.name()).collect();
            errs.add(
                format!("{}/type", self.at),
                format!(
                    "must be {} for the field {}",
                    names.join(" or "),
                    quote(&self.key)
                ),
            );
            return None;
        }
        if self.value.is_array() {
            errs.add(
                format!("{}/value", self.at),
                "must be a single value, not a list",
            );
            return None;
        }
        Some(&self.value)
    }
}

fn optional(f: &Field, errs: &mut Errors) -> Option<Vec<Optional>> {
    if !f.is_present() {
        return Some(Vec::new());
    }
    let items = f.items(errs)?;
    let too_many = items.len() > MAX_FIELDS;
    if too_many {
        errs.add(
            f.ptr(),
            format!(
                "must hold at most {MAX_FIELDS} fields; it has {}",
                items.len()
            ),
        );
    }
    let read: Vec<Option<Optional>> = items.iter().map(|item| entry(item, errs)).collect();
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for o in read.iter().flatten() {
        if let Some((_, first)) = seen.iter().find(|(k, _)| *k == o.key) {
            errs.add(
                format!("{}/key", o.at),
                format!("repeats the key {} of {first}", quote(&o.key)),
            );
        } else {
            seen.push((&o.key, &o.at));
        }
    }
    if too_many {
        return None;
    }
    all(read)
}

fn entry(item: &Field, errs: &mut Errors) -> Option<Optional> {
    let o = item.object(errs)?;
    let key = o.field("key").required().text(MAX_KEY, errs);
    let ty = o.field("type").required().parse(errs, Type::parse);
    let value_field = o.field("value").required();
    let value = match ty {
        Some(ty) => values(&value_field, ty, errs),
        None => value_field.value(errs).cloned(),
    };
    Some(Optional {
        at: o.at().to_owned(),
        key: key?,
        ty: ty?,
        value: value?,
    })
}

fn values(f: &Field, ty: Type, errs: &mut Errors) -> Option<Value> {
    if !f.value(errs)?.is_array() {
        return value(f, ty, errs);
    }
    let items = f.items(errs)?;
    let too_many = items.len() > MAX_VALUES;
    if too_many {
        errs.add(
            f.ptr(),
            format!(
                "must hold at most {MAX_VALUES} values; it has {}",
                items.len()
            ),
        );
    }
    let read = all(items.iter().map(|i| value(i, ty, errs)).collect());
    if too_many {
        return None;
    }
    read.map(Value::Array)
}

fn value(f: &Field, ty: Type, errs: &mut Errors) -> Option<Value> {
    let v = f.value(errs)?;
    let ok = match (ty, v) {
        (Type::String, Value::String(s)) => {
            let s = s.trim();
            let n = s.chars().count();
            if n > MAX_SHORT {
                errs.add(
                    f.ptr(),
                    format!("must be at most {MAX_SHORT} characters; it has {n}"),
                );
                return None;
            }
            Some(Value::from(s))
        }
        (Type::Integer, Value::Number(n)) => n.as_i64().map(Value::from),
        (Type::Float, Value::Number(_)) => Some(v.clone()),
        (Type::Duration, Value::Number(n)) => n.as_i64().filter(|d| *d >= 0).map(Value::from),
        (Type::Timestamp, Value::Number(n)) => n
            .as_i64()
            .filter(|s| Timestamp::from_seconds(*s).is_some())
            .map(Value::from),
        _ => None,
    };
    ok.or_else(|| {
        let detail = format!(
            "must be {}, as the field's type is {}",
            ty.expected(),
            ty.name()
        );
        errs.add(f.ptr(), detail);
        None
    })
}

type Special = (Option<Environment>, bool, Option<i64>);

/// The optional fields Dorado reads: see the module's documentation.
fn special_fields(fields: &[Optional], errs: &mut Errors) -> Option<Special> {
    let before = errs.len();
    let mut special: Special = (None, false, None);
    for o in fields {
        let ptr = format!("{}/value", o.at);
        match o.key.as_str() {
            "environment" => {
                if let Some(Value::String(s)) = o.single(&[Type::String], errs) {
                    special.0 = Environment::parse(s).map_err(|e| errs.add(&ptr, e)).ok();
                }
            }
            "rework" => {
                if let Some(v) = o.single(&[Type::String, Type::Integer], errs) {
                    special.1 = match truth(v) {
                        Some(b) => b,
                        None => {
                            errs.add(&ptr, "must be true or false (or yes/no, 1/0)");
                            false
                        }
                    };
                }
            }
            "lead_time" => {
                special.2 = o.single(&[Type::Duration], errs).and_then(Value::as_i64);
            }
            _ => {}
        }
    }
    (errs.len() == before).then_some(special)
}

fn truth(v: &Value) -> Option<bool> {
    match v {
        Value::Number(n) => match n.as_i64() {
            Some(1) => Some(true),
            Some(0) => Some(false),
            _ => None,
        },
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => Some(true),
            "false" | "no" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}
