//! gitlab: stub, filled in by the dialect's author.

use super::{SourceConfig, SourceDelivery};
use crate::Context;
use crate::json::Errors;
use serde_json::Value;

pub(crate) fn read(
    event: &str,
    body: &Value,
    config: &SourceConfig,
    ctx: &Context,
    errs: &mut Errors,
) -> Option<SourceDelivery> {
    let _ = (event, body, config, ctx, errs);
    Some(SourceDelivery {
        outcome: super::SourceOutcome::ignored("not read yet"),
        dedupe_key: None,
    })
}
