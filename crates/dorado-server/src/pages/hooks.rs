//! Where each dialect posts for one service, with a curl command that works
//! as pasted once `DORADO_TOKEN` is set (the same list as `dorado service
//! urls`). The token is never in the command: commands end up in CI logs.

use axum::http::{HeaderMap, header};
use dorado_store::{Org, Service};
use serde_json::{Value, json};

const SHA: &str = "015e3d3b480e417aede5a1293bd61de9b0fd051d";

pub struct Hook {
    pub title: &'static str,
    pub note: &'static str,
    pub url: String,
    pub curl: String,
}

/// The base URL senders use: the configured public URL, else this
/// request's host (as the browser reached it).
pub fn base_url(public: Option<&str>, headers: &HeaderMap) -> String {
    if let Some(p) = public {
        return p.trim().trim_end_matches('/').to_owned();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            h.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c))
        })
        .unwrap_or("127.0.0.1:8080");
    let https = headers
        .get("x-forwarded-proto")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
    format!("{}://{host}", if https { "https" } else { "http" })
}

pub fn hooks(org: &Org, service: &Service, base: &str) -> Vec<Hook> {
    let (o, s, sid) = (&org.name, &service.name, service.id);
    let devlake = format!("{base}/api/rest/plugins/webhook/{sid}");
    // DevLake's own samples send basic auth with `-u`; a token is the
    // password (any user name).
    let devlake_auth = "-u \"dorado:$DORADO_TOKEN\"";
    let bearer = "-H \"Authorization: Bearer $DORADO_TOKEN\"";
    let post =
        |url: &str, auth: &str, body: &Value| format!("curl \"{url}\" -X POST {auth} -d '{body}'");
    let native = json!({
        "id": "d-1", "service": s.as_str(), "environment": "production", "result": "success",
        "started_at": "2024-05-01T10:00:00Z", "finished_at": "2024-05-01T10:05:00Z",
        "repo": format!("https://github.com/{o}/{s}"), "commit_sha": SHA,
    });
    let event = json!({
        "type": "deploy", "service": s.as_str(), "id": "e-1", "time": "2024-05-01T10:05:00Z",
        "repo": format!("github.com/{o}/{s}"), "commit_sha": SHA,
    });
    let deployment = json!({
        "commit_sha": SHA, "repo_url": format!("https://github.com/{o}/{s}"),
        "start_time": "2024-05-01T10:00:00+00:00", "end_time": "2024-05-01T10:05:00+00:00",
        "result": "SUCCESS", "environment": "PRODUCTION",
    });
    let issue = json!({
        "issue_key": "INC-1", "title": "Checkout fails", "type": "INCIDENT", "status": "TODO",
        "original_status": "open", "created_date": "2024-05-01T11:00:00+00:00",
    });
    let job = json!({
        "job_id": "deploy-1", "commit_sha": SHA, "service_id": sid.0, "repo_name": format!("{o}/{s}"),
        "job_start_time": 1714557600, "job_duration": 300, "status": "Succeeded",
    });
    let native_url = format!("{base}/api/v1/orgs/{o}/deployments");
    let events_url = format!("{base}/api/v1/orgs/{o}/events");
    let allstacks_url = format!("{base}/webhook/company/{o}/cicd_job");
    vec![
        Hook {
            title: "Native deployments",
            note: "Your own id makes a repeat an update.",
            curl: post(&native_url, bearer, &native),
            url: native_url,
        },
        Hook {
            title: "Event API",
            note: "GitDailies-style deploy, incident_started and incident_resolved events, \
                   one or an array.",
            curl: post(&events_url, bearer, &event),
            url: events_url,
        },
        Hook {
            title: "DevLake deployments",
            note: "Apache DevLake's incoming webhook, drop-in.",
            url: format!("{devlake}/deployments"),
            curl: post(&format!("{devlake}/deployments"), devlake_auth, &deployment),
        },
        Hook {
            title: "DevLake issues",
            note: "Type INCIDENT counts as an incident; other types are kept and ignored.",
            url: format!("{devlake}/issues"),
            curl: post(&format!("{devlake}/issues"), devlake_auth, &issue),
        },
        Hook {
            title: "DevLake issue close",
            note: "Resolves the issue now, unless it has a resolution date.",
            url: format!("{devlake}/issue/{{issueKey}}/close"),
            curl: format!("curl \"{devlake}/issue/INC-1/close\" -X POST {devlake_auth}"),
        },
        Hook {
            title: "Allstacks Custom CD job",
            note: "Allstacks' cicd_job, drop-in.",
            curl: post(&allstacks_url, bearer, &job),
            url: allstacks_url,
        },
    ]
}
