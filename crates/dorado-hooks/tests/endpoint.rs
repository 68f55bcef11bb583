//! The stored text form of an endpoint, which `dorado reindex` reads back.

use dorado_hooks::Endpoint;

#[test]
fn canonical_forms_round_trip() {
    let all = [
        (Endpoint::NativeDeployment, "native/deployments", "native"),
        (Endpoint::NativeChanges, "native/changes", "native"),
        (Endpoint::NativeIncident, "native/incidents", "native"),
        (
            Endpoint::NativeResolve {
                key: "INC-3".into(),
            },
            "native/incidents/INC-3/resolve",
            "native",
        ),
        (Endpoint::Events, "events", "events"),
        (
            Endpoint::DevlakeDeployment,
            "devlake/deployments",
            "devlake",
        ),
        (Endpoint::DevlakeIssue, "devlake/issues", "devlake"),
        (
            Endpoint::DevlakeClose {
                key: "DLK-1234".into(),
            },
            "devlake/issues/DLK-1234/close",
            "devlake",
        ),
        (Endpoint::DevlakeTask, "devlake/cicd_tasks", "devlake"),
        (
            Endpoint::DevlakeFinish {
                pipeline: "2024-05-01abc".into(),
            },
            "devlake/cicd_pipeline/2024-05-01abc/finish",
            "devlake",
        ),
        (Endpoint::AllstacksJob, "allstacks/cicd_job", "allstacks"),
    ];
    for (e, text, dialect) in all {
        assert_eq!(e.to_string(), text);
        assert_eq!(text.parse::<Endpoint>(), Ok(e.clone()));
        assert_eq!(e.dialect(), dialect);
    }
    let odd = Endpoint::DevlakeClose {
        key: "board/KEY 1%".into(),
    };
    assert_eq!(odd.to_string(), "devlake/issues/board%2FKEY%201%25/close");
    assert_eq!(odd.to_string().parse::<Endpoint>(), Ok(odd));
    assert!(
        "devlake/cicd_nope"
            .parse::<Endpoint>()
            .unwrap_err()
            .to_string()
            .contains("not an endpoint")
    );
}
