//! Webhook dialects: the bytes of a request in, validated [`Command`]s out.
//!
//! Every endpoint that writes (the native API, the event API and the
//! drop-in webhooks of DevLake and Allstacks) goes through [`parse`]. It
//! does no I/O and reads the clock only through [`Context::received_at`], so
//! `dorado reindex` can read a stored body again and get the same commands.
//!
//! A body is first parsed as JSON, so that malformed input is answered with
//! serde_json's line and column; then each dialect reads its fields,
//! collecting every problem with a JSON pointer instead of stopping at the
//! first one. Unknown fields are ignored: vendors add fields over time.

mod allstacks;
mod devlake;
mod devlake_cicd;
mod endpoint;
mod events;
mod import;
mod json;
mod native;
pub mod sources;

pub use endpoint::{Endpoint, ParseEndpointError};
pub use import::{SOURCE as IMPORT_SOURCE, parse_line};

use dorado_core::{Command, ServiceDirectory, ServiceId, Timestamp, ValidationError};
use serde_json::Value;

/// What a dialect knows besides the body.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The organization's services (or only those the caller may name).
    pub services: &'a ServiceDirectory,
    /// DevLake's `{connectionId}`: the service every command belongs to.
    pub path_service: Option<ServiceId>,
    /// "Now": the default for absent times. Stored with the delivery, so a
    /// replay defaults to the same instants.
    pub received_at: Timestamp,
    /// The native source a delivery came through (its deploy workflows);
    /// `None` reads it with no deploy workflows.
    pub source: Option<&'a sources::SourceConfig>,
}

/// Why a body was refused. Nothing of a refused body is stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HookError {
    /// The body is not JSON (or not UTF-8, or empty where one is needed).
    #[error("malformed JSON at line {line}, column {column}: {message}")]
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    /// The body is JSON, but fields are missing or wrong; every one is listed.
    #[error("{0}")]
    Invalid(ValidationError),
}

impl From<ValidationError> for HookError {
    fn from(v: ValidationError) -> Self {
        Self::Invalid(v)
    }
}

/// Reads the body sent to `endpoint` into the commands it asks for.
pub fn parse(endpoint: &Endpoint, ctx: &Context, body: &[u8]) -> Result<Vec<Command>, HookError> {
    let mut errs = json::Errors::default();
    let commands = match endpoint {
        Endpoint::NativeDeployment => native::deployment(&read(body, OBJECT)?, ctx, &mut errs),
        Endpoint::NativeChanges => native::changes(&read(body, OBJECT)?, ctx, &mut errs),
        Endpoint::NativeIncident => native::incident(&read(body, OBJECT)?, ctx, &mut errs),
        Endpoint::NativeResolve { key } => {
            let body = read_optional(body)?.filter(|v| !v.is_null());
            native::resolve(key, body.as_ref(), ctx, &mut errs)
        }
        Endpoint::Events => events::events(&read(body, EVENTS)?, ctx, &mut errs),
        Endpoint::DevlakeDeployment => devlake::deployment(&read(body, OBJECT)?, ctx, &mut errs),
        Endpoint::DevlakeIssue => devlake::issue(&read(body, OBJECT)?, ctx, &mut errs),
        // DevLake documents this body as empty and never reads it, so
        // neither do we: a script that sends `-d ''` or junk keeps working.
        Endpoint::DevlakeClose { key } => devlake::close(key, ctx, &mut errs),
        Endpoint::DevlakeTask => devlake_cicd::task(&read(body, OBJECT)?, ctx, &mut errs),
        // As with close, the finish request's body is never read.
        Endpoint::DevlakeFinish { pipeline } => devlake_cicd::finish(pipeline, ctx, &mut errs),
        Endpoint::AllstacksJob => allstacks::job(&read(body, OBJECT)?, ctx, &mut errs),
        // Each line is read alone, with its own line number.
        Endpoint::Import => return import::lines(ctx, body),
        Endpoint::Source { kind, event, .. } => return sources::commands(*kind, event, ctx, body),
    };
    Ok(errs.finish(commands)?)
}

const OBJECT: &str = "the body is empty; expected a JSON object";
const EVENTS: &str = "the body is empty; expected an event object or an array of events";

/// A UTF-8 byte order mark, as editors on Windows save JSON files that are
/// then posted with `curl -d @file`.
const BOM: &[u8] = b"\xEF\xBB\xBF";

fn read(body: &[u8], empty: &str) -> Result<Value, HookError> {
    read_optional(body)?.ok_or_else(|| HookError::Syntax {
        line: 1,
        column: 0,
        message: empty.to_owned(),
    })
}

/// `None` for a body of only white space.
fn read_optional(body: &[u8]) -> Result<Option<Value>, HookError> {
    let body = body.strip_prefix(BOM).unwrap_or(body);
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(body)
        .map(Some)
        .map_err(|e| syntax(&e))
}

fn syntax(e: &serde_json::Error) -> HookError {
    let full = e.to_string();
    // The position is reported in its own fields, so the message drops it.
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let message = full.strip_suffix(&suffix).unwrap_or(&full).to_owned();
    HookError::Syntax {
        line: e.line(),
        column: e.column(),
        message,
    }
}
