//! pagerduty: stub, filled in by the dialect's author.

use super::SourceDelivery;
use crate::Context;
use crate::json::Errors;
use serde_json::Value;

pub(crate) fn read(body: &Value, ctx: &Context, errs: &mut Errors) -> Option<SourceDelivery> {
    let _ = (body, ctx, errs);
    Some(SourceDelivery {
        outcome: super::SourceOutcome::ignored("not read yet"),
        dedupe_key: None,
    })
}
