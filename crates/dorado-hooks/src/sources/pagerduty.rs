//! PagerDuty webhooks v3 (semantics.md, "Sources of data"): an incident per
//! PagerDuty incident, started by `incident.triggered`, resolved by
//! `incident.resolved` and opened again by `incident.reopened`. Each event
//! reports one step, and PagerDuty retries for up to two days, so steps
//! arrive late and out of order: the writes use the lifecycle rule, and the
//! event id lets the server drop a delivery it has already stored.

use super::{Ignored, SourceDelivery, SourceOutcome, str_at};
use crate::Context;
use crate::json::{Attributes, Errors, MAX_SHORT, Obj, quote};
use dorado_core::{Command, IncidentKey, IncidentTimes, IncidentWrite};
use serde_json::Value;

const SOURCE: &str = "pagerduty";

/// The step of an incident's life an event reports.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Step {
    Triggered,
    Resolved,
    Reopened,
}

pub(crate) fn read(body: &Value, ctx: &Context, errs: &mut Errors) -> Option<SourceDelivery> {
    let root = Obj::new(body, String::new(), crate::native::OBJECT, errs)?;
    let event = root.field("event");
    if !event.is_present() && root.has("messages") {
        errs.add(
            "/event",
            "is required: this is a PagerDuty v2 webhook ({\"messages\": [...]}), and Dorado reads v3 webhook subscriptions",
        );
        return None;
    }
    let event = event.required().object(errs)?;
    let dedupe_key = str_at(body, "/event/id").map(str::to_owned).or_else(|| {
        body.pointer("/event/id")
            .filter(|v| v.is_u64() || v.is_i64())
            .map(Value::to_string)
    });
    let outcome = incident(&event, body, ctx, errs)?;
    Some(SourceDelivery {
        outcome,
        dedupe_key,
    })
}

fn incident(event: &Obj, body: &Value, ctx: &Context, errs: &mut Errors) -> Option<SourceOutcome> {
    let kind = event.field("event_type").required().text(MAX_SHORT, errs)?;
    let step = match kind.to_ascii_lowercase().as_str() {
        "incident.triggered" => Step::Triggered,
        "incident.resolved" => Step::Resolved,
        "incident.reopened" => Step::Reopened,
        _ => {
            return Some(SourceOutcome::ignored(format!(
                "PagerDuty event {} changes nothing: only incidents triggered, resolved and reopened are read",
                quote(&kind)
            )));
        }
    };
    let occurred_at = event.field("occurred_at").required().time(errs);
    let data = event.field("data").required().object(errs)?;
    let key = data
        .field("id")
        .required()
        .parse_key(errs, IncidentKey::parse);
    let created_at = data.field("created_at").time(errs);
    let title = data.field("title").clipped(MAX_SHORT, errs);
    let vendor = vendor_service(&data, errs);
    let mut attributes = Attributes::default();
    attributes.put("number", data.field("number").value(errs).cloned());
    attributes.put("html_url", str_at(body, "/event/data/html_url"));
    attributes.put("urgency", str_at(body, "/event/data/urgency"));
    attributes.put("incident_key", str_at(body, "/event/data/incident_key"));
    let (id, name) = vendor?;
    let Some(service) = ctx
        .services
        .for_vendor(&[&id, name.as_deref().unwrap_or("")])
    else {
        return Some(SourceOutcome::Ignored(Ignored::vendor_service(
            &id,
            name.as_deref(),
        )));
    };
    let occurred_at = occurred_at?;
    let at = |s: Step| (step == s).then_some(occurred_at);
    // The incident's own creation time rides along on every event, so a
    // resolve that overtakes its trigger still knows the start.
    let started_at = match (at(Step::Triggered), created_at) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    Some(SourceOutcome::Commands(vec![Command::Incident(
        IncidentWrite {
            service: Some(service),
            key: key?,
            title,
            started_at,
            resolved_at: at(Step::Resolved),
            cause: None,
            fixed_by: None,
            is_incident: true,
            source: SOURCE.into(),
            attributes: attributes.into_value(),
            times: IncidentTimes::Lifecycle,
            reopened_at: at(Step::Reopened),
        },
    )]))
}

/// PagerDuty's service of the incident: its id, and the name it shows.
fn vendor_service(data: &Obj, errs: &mut Errors) -> Option<(String, Option<String>)> {
    let service = data.field("service").required().object(errs)?;
    let id = service.field("id").required().key(MAX_SHORT, errs);
    let name = service.field("summary").clipped(MAX_SHORT, errs);
    Some((id?, name))
}
