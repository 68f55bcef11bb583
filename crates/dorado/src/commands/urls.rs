//! `dorado service urls`: where each dialect posts for one service, and a
//! curl command that works as pasted once `DORADO_TOKEN` is set. The token
//! itself is never printed: the commands end up in CI scripts and logs.

use crate::output::emit;
use dorado_store::{Org, Service};
use serde_json::{Map, Value, json};

const SHA: &str = "015e3d3b480e417aede5a1293bd61de9b0fd051d";

/// One endpoint of one dialect.
struct Entry {
    /// The key in `--json`: dialect and endpoint.
    key: &'static str,
    title: &'static str,
    /// The URL, with `{...}` where the sender fills in a value.
    url: String,
    curl: String,
}

fn entries(org: &Org, service: &Service, base: &str) -> Vec<Entry> {
    let (o, s, sid) = (&org.name, &service.name, service.id);
    let devlake = format!("{base}/api/rest/plugins/webhook/{sid}");
    // DevLake's own samples send basic auth with `-u`; the token is the
    // password (any user name).
    let devlake_auth = "-u \"dorado:$DORADO_TOKEN\"";
    let bearer = "-H \"Authorization: Bearer $DORADO_TOKEN\"";
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
    let event = json!({
        "type": "deploy", "service": s.as_str(), "id": "e-1", "time": "2024-05-01T10:05:00Z",
        "repo": format!("github.com/{o}/{s}"), "commit_sha": SHA,
    });
    let native = json!({
        "id": "d-1", "service": s.as_str(), "environment": "production", "result": "success",
        "started_at": "2024-05-01T10:00:00Z", "finished_at": "2024-05-01T10:05:00Z",
        "repo": format!("https://github.com/{o}/{s}"), "commit_sha": SHA,
    });
    let post = |url: &str, auth: &str, body: &Value| {
        format!("curl \"{url}\" -X 'POST' {auth} -d '{body}'")
    };
    let close_url = format!("{devlake}/issue/INC-1/close");
    vec![
        Entry {
            key: "devlake/deployments",
            title: "DevLake deployments",
            url: format!("{devlake}/deployments"),
            curl: post(&format!("{devlake}/deployments"), devlake_auth, &deployment),
        },
        Entry {
            key: "devlake/issues",
            title: "DevLake issues (type INCIDENT for incidents)",
            url: format!("{devlake}/issues"),
            curl: post(&format!("{devlake}/issues"), devlake_auth, &issue),
        },
        Entry {
            key: "devlake/issue/close",
            title: "DevLake issue close",
            url: format!("{devlake}/issue/{{issueKey}}/close"),
            curl: format!("curl \"{close_url}\" -X 'POST' {devlake_auth}"),
        },
        Entry {
            key: "allstacks/cicd_job",
            title: "Allstacks Custom CD job",
            url: format!("{base}/webhook/company/{o}/cicd_job"),
            curl: post(
                &format!("{base}/webhook/company/{o}/cicd_job"),
                bearer,
                &job,
            ),
        },
        Entry {
            key: "events",
            title: "Event API (GitDailies-style: deploy, incident_started, incident_resolved)",
            url: format!("{base}/api/v1/orgs/{o}/events"),
            curl: post(&format!("{base}/api/v1/orgs/{o}/events"), bearer, &event),
        },
        Entry {
            key: "native/deployments",
            title: "Native deployments",
            url: format!("{base}/api/v1/orgs/{o}/deployments"),
            curl: post(
                &format!("{base}/api/v1/orgs/{o}/deployments"),
                bearer,
                &native,
            ),
        },
    ]
}

pub fn print(json: bool, org: &Org, service: &Service, base_url: &str) -> anyhow::Result<()> {
    let base = base_url.trim().trim_end_matches('/');
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        anyhow::bail!("--base-url must start with http:// or https://, not '{base}'");
    }
    let entries = entries(org, service, base);
    let value: Map<String, Value> = entries
        .iter()
        .map(|e| (e.key.to_owned(), json!({"url": e.url, "curl": e.curl})))
        .collect();
    emit(json, &value, || {
        let mut out = format!(
            "Webhooks of service {} (id {}) in {}, at {base}.\n\
             Set DORADO_TOKEN to a token with the ingest scope \
             (dorado token create --org {} --name ci); replace the sample values.",
            service.name, service.id, org.name, org.name
        );
        for e in &entries {
            out.push_str(&format!("\n\n{}\n  POST {}\n  {}", e.title, e.url, e.curl));
        }
        out
    })
}
