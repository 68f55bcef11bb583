//! `dorado import` (api.md): JSON lines, one event of the event API per
//! line. The import parses each line alone with [`parse_line`], so that a bad
//! line is refused without its neighbours, and stores the lines it accepted
//! as one delivery per chunk with [`Endpoint::Import`](crate::Endpoint),
//! which [`crate::parse`] reads back line by line for `dorado reindex`.

use crate::json::Errors;
use crate::{Context, HookError};
use dorado_core::{Command, ValidationError};

/// The `source` of what an import writes, as the dialect of its deliveries.
pub const SOURCE: &str = "import";

/// Reads one line: one event object, exactly as `POST /events` takes it.
pub fn parse_line(ctx: &Context, line: &[u8]) -> Result<Command, HookError> {
    let value = crate::read(line, "the line is empty; expected an event object")?;
    if value.is_array() {
        return Err(ValidationError::single(
            "",
            "must be one event object: put each event of an array on its own line",
        )
        .into());
    }
    let mut errs = Errors::default();
    let read = crate::events::events(&value, ctx, &mut errs);
    let mut command = errs.finish(read.and_then(|c| c.into_iter().next()))?;
    set_source(&mut command);
    Ok(command)
}

/// The body of an import delivery: every line that is not blank, in order.
/// A problem is reported with the body's line number (malformed JSON) or
/// under `/{n}`, `n` counting the body's lines from 0 as an array's items.
pub(crate) fn lines(ctx: &Context, body: &[u8]) -> Result<Vec<Command>, HookError> {
    let mut commands = Vec::new();
    for (n, line) in body.split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match parse_line(ctx, line) {
            Ok(c) => commands.push(c),
            Err(HookError::Syntax {
                column, message, ..
            }) => {
                return Err(HookError::Syntax {
                    line: n + 1,
                    column,
                    message,
                });
            }
            Err(HookError::Invalid(v)) => return Err(v.under(&format!("/{n}")).into()),
        }
    }
    if commands.is_empty() {
        return Err(ValidationError::single("", "holds no event").into());
    }
    Ok(commands)
}

/// The event API's readers name their own dialect; an imported row says
/// where it came from instead.
fn set_source(command: &mut Command) {
    match command {
        Command::Deployment(w) => w.source = SOURCE.into(),
        Command::Incident(w) => w.source = SOURCE.into(),
        Command::ResolveIncident(r) => r.source = SOURCE.into(),
        // Changes and DevLake pipelines carry no source.
        Command::Changes(_) | Command::PipelineTask(_) | Command::FinishPipeline(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Endpoint, parse};
    use dorado_core::{ServiceDirectory, ServiceId, ServiceName, Timestamp};

    fn with_ctx<T>(f: impl FnOnce(&Context) -> T) -> T {
        let dir = ServiceDirectory::new([(ServiceId(2), ServiceName::parse("checkout").unwrap())]);
        let ctx = Context {
            services: &dir,
            path_service: None,
            received_at: Timestamp::parse("2024-06-01T00:00:00Z").unwrap(),
            source: None,
        };
        f(&ctx)
    }

    #[test]
    fn a_line_is_one_event_with_the_import_source() {
        with_ctx(|ctx| {
            let c = parse_line(
                ctx,
                br#"{"type":"deploy","service":"checkout","id":"d1","time":"2024-05-01T10:00:00Z"}"#,
            )
            .unwrap();
            let Command::Deployment(w) = c else {
                panic!("{c:?}")
            };
            assert_eq!((w.source.as_str(), w.service), ("import", ServiceId(2)));
            let array = parse_line(ctx, br#"[{"type":"deploy","service":"checkout"}]"#);
            assert!(array.unwrap_err().to_string().contains("own line"));
            assert!(matches!(
                parse_line(ctx, b"{\"type\":"),
                Err(HookError::Syntax { line: 1, .. })
            ));
        });
    }

    #[test]
    fn a_body_reads_every_line_and_names_the_bad_one() {
        with_ctx(|ctx| {
            let body = "{\"type\":\"incident_started\",\"service\":\"checkout\",\"id\":\"I\"}\n\n\
                        {\"type\":\"incident_resolved\",\"id\":\"I\"}\r\n";
            let commands = parse(&Endpoint::Import, ctx, body.as_bytes()).unwrap();
            assert_eq!(commands.len(), 2);
            let bad = format!("{body}{{\"type\":\"deploy\"}}\n");
            let Err(HookError::Invalid(v)) = parse(&Endpoint::Import, ctx, bad.as_bytes()) else {
                panic!("a deploy without a service is refused")
            };
            assert_eq!(v.errors[0].pointer, "/3/service");
            let broken = format!("{body}{{\n");
            assert!(matches!(
                parse(&Endpoint::Import, ctx, broken.as_bytes()),
                Err(HookError::Syntax { line: 4, .. })
            ));
            assert!(parse(&Endpoint::Import, ctx, b"\n \n").is_err());
        });
    }
}
