//! Where each dialect posts for one service, with a curl command that works
//! as pasted once `DORADO_TOKEN` is set: what DevLake's "Generate POST URL"
//! gives its users. One list serves `dorado service urls` and the service
//! set-up page. The token is never in a command: commands end up in CI logs.

use dorado_store::{Org, Service};
use serde_json::{Value, json};

const SHA: &str = "015e3d3b480e417aede5a1293bd61de9b0fd051d";

/// One endpoint of one dialect.
pub struct WebhookUrl {
    /// Dialect and endpoint, the key of `dorado service urls --json`.
    pub key: &'static str,
    pub title: &'static str,
    /// What a sender should know about it.
    pub note: &'static str,
    /// The URL, with `{...}` where the sender fills in a value.
    pub url: String,
    pub curl: String,
}

/// Every dialect's URL for `service`, under `base` (scheme and host).
pub fn webhook_urls(org: &Org, service: &Service, base: &str) -> Vec<WebhookUrl> {
    let (o, s, sid) = (&org.name, &service.name, service.id);
    let devlake = format!("{base}/api/rest/plugins/webhook/{sid}");
    // DevLake's own samples send basic auth with `-u`; a token is the
    // password (any user name).
    let devlake_auth = "-u \"dorado:$DORADO_TOKEN\"";
    let bearer = "-H \"Authorization: Bearer $DORADO_TOKEN\"";
    let post = |url: &str, auth: &str, body: &Value| {
        format!("curl \"{url}\" -X 'POST' {auth} -d '{body}'")
    };
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
    let task = json!({
        "pipeline_name": "pipeline-1", "name": "deploy", "result": "SUCCESS", "status": "DONE",
        "type": "DEPLOYMENT", "environment": "PRODUCTION",
        "started_date": "2024-05-01T10:00:00+00:00", "finished_date": "2024-05-01T10:05:00+00:00",
        "repo_id": format!("https://github.com/{o}/{s}"), "commit_sha": SHA,
    });
    let job = json!({
        "job_id": "deploy-1", "commit_sha": SHA, "service_id": sid.0, "repo_name": format!("{o}/{s}"),
        "job_start_time": 1714557600, "job_duration": 300, "status": "Succeeded",
    });
    let native_url = format!("{base}/api/v1/orgs/{o}/deployments");
    let events_url = format!("{base}/api/v1/orgs/{o}/events");
    let allstacks_url = format!("{base}/webhook/company/{o}/cicd_job");
    vec![
        WebhookUrl {
            key: "native/deployments",
            title: "Native deployments",
            note: "Your own id makes a repeat an update.",
            curl: post(&native_url, bearer, &native),
            url: native_url,
        },
        WebhookUrl {
            key: "events",
            title: "Event API",
            note: "GitDailies-style deploy, incident_started and incident_resolved events, \
                   one or an array.",
            curl: post(&events_url, bearer, &event),
            url: events_url,
        },
        WebhookUrl {
            key: "devlake/deployments",
            title: "DevLake deployments",
            note: "Apache DevLake's incoming webhook, drop-in.",
            url: format!("{devlake}/deployments"),
            curl: post(&format!("{devlake}/deployments"), devlake_auth, &deployment),
        },
        WebhookUrl {
            key: "devlake/issues",
            title: "DevLake issues",
            note: "Type INCIDENT counts as an incident; other types are kept and ignored.",
            url: format!("{devlake}/issues"),
            curl: post(&format!("{devlake}/issues"), devlake_auth, &issue),
        },
        WebhookUrl {
            key: "devlake/issue/close",
            title: "DevLake issue close",
            note: "Resolves the issue now, unless it has a resolution date.",
            url: format!("{devlake}/issue/{{issueKey}}/close"),
            curl: format!("curl \"{devlake}/issue/INC-1/close\" -X 'POST' {devlake_auth}"),
        },
        WebhookUrl {
            key: "devlake/cicd_tasks",
            title: "DevLake pipeline tasks",
            note: "Call when each task starts and ends; DEPLOYMENT tasks make the pipeline a deployment.",
            url: format!("{devlake}/cicd_tasks"),
            curl: post(&format!("{devlake}/cicd_tasks"), devlake_auth, &task),
        },
        WebhookUrl {
            key: "devlake/cicd_pipeline/finish",
            title: "DevLake pipeline finish",
            note: "Call when the pipeline is complete.",
            url: format!("{devlake}/cicd_pipeline/{{pipelineName}}/finish"),
            curl: format!(
                "curl \"{devlake}/cicd_pipeline/pipeline-1/finish\" -X 'POST' {devlake_auth} -d ''"
            ),
        },
        WebhookUrl {
            key: "allstacks/cicd_job",
            title: "Allstacks Custom CD job",
            note: "Allstacks' cicd_job, drop-in.",
            curl: post(&allstacks_url, bearer, &job),
            url: allstacks_url,
        },
    ]
}
