//! Segments and journey stages: defaults, creation, changes, conflicts and who may manage
//! them.

use serde_json::{Value, json};
use tandem_tests::{TestApp, error_code, error_field, on_both_backends};

use crate::support::{CREATE_SEGMENT, audit_count};

const STAGES: &str = "{ journeyStages { totalCount nodes { id key name position } } }";
const SEGMENTS: &str = "{ segments { totalCount nodes { id key name description } } }";
const UPDATE_SEGMENT: &str = r#"
mutation($input: UpdateSegmentInput!) {
  updateSegment(input: $input) { segment { id key name description } }
}"#;
const CREATE_STAGE: &str = r#"
mutation($input: CreateJourneyStageInput!) {
  createJourneyStage(input: $input) { journeyStage { id key name position } }
}"#;
const UPDATE_STAGE: &str = r#"
mutation($input: UpdateJourneyStageInput!) {
  updateJourneyStage(input: $input) { journeyStage { id key name position } }
}"#;

fn keys(nodes: &Value) -> Vec<String> {
    nodes
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["key"].as_str().unwrap().to_owned())
        .collect()
}

on_both_backends!(
    new_organization_has_the_default_journey_stages_in_order,
    |app: TestApp| async move {
        let data = app.ok("member", STAGES, json!({})).await;
        let stages = &data["journeyStages"];
        assert_eq!(stages["totalCount"], 4);
        let got: Vec<(String, String, i64)> = stages["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| {
                (
                    n["key"].as_str().unwrap().to_owned(),
                    n["name"].as_str().unwrap().to_owned(),
                    n["position"].as_i64().unwrap(),
                )
            })
            .collect();
        let expected: Vec<(String, String, i64)> = [
            ("acquisition", "Acquisition", 1),
            ("adoption", "Adoption", 2),
            ("retention", "Retention", 3),
            ("expansion", "Expansion", 4),
        ]
        .iter()
        .map(|(k, n, p)| ((*k).to_owned(), (*n).to_owned(), *p))
        .collect();
        assert_eq!(got, expected);

        // Each organization gets its own copy.
        let other = app.create_org("Other").await;
        let token = app.token_for(other, "someone", &["member"]);
        let body = app.gql_with(Some(&token), STAGES, json!({})).await;
        assert_eq!(
            keys(&body["data"]["journeyStages"]["nodes"]),
            ["acquisition", "adoption", "retention", "expansion"]
        );
        let other_ids: Vec<&Value> = body["data"]["journeyStages"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| &n["id"])
            .collect();
        for n in stages["nodes"].as_array().unwrap() {
            assert!(
                !other_ids.contains(&&n["id"]),
                "stage ids shared across orgs"
            );
        }
    }
);

on_both_backends!(
    segments_are_created_listed_by_key_and_updated,
    |app: TestApp| async move {
        let data = app
        .ok(
            "revops",
            CREATE_SEGMENT,
            json!({ "input": { "key": "smb", "name": "  SMB ", "description": "Fewer than 100 seats" } }),
        )
        .await;
        let smb = &data["createSegment"]["segment"];
        assert_eq!(smb["key"], "smb");
        assert_eq!(smb["name"], "SMB", "names are trimmed");
        assert_eq!(smb["description"], "Fewer than 100 seats");
        let id = smb["id"].as_str().unwrap().to_owned();
        for (key, name) in [("enterprise", "Enterprise"), ("mid-market", "Mid-market")] {
            app.ok(
                "admin",
                CREATE_SEGMENT,
                json!({ "input": { "key": key, "name": name } }),
            )
            .await;
        }
        let list = app.ok("bi", SEGMENTS, json!({})).await;
        assert_eq!(list["segments"]["totalCount"], 3);
        assert_eq!(
            keys(&list["segments"]["nodes"]),
            ["enterprise", "mid-market", "smb"]
        );

        // Rename keeps the description; an omitted field stays as it is.
        let data = app
            .ok(
                "revops",
                UPDATE_SEGMENT,
                json!({ "input": { "id": id, "name": "Small business" } }),
            )
            .await;
        assert_eq!(
            data["updateSegment"]["segment"],
            json!({ "id": id, "key": "smb", "name": "Small business", "description": "Fewer than 100 seats" })
        );
        // null clears the description.
        let data = app
            .ok(
                "revops",
                UPDATE_SEGMENT,
                json!({ "input": { "id": id, "description": null } }),
            )
            .await;
        assert_eq!(data["updateSegment"]["segment"]["name"], "Small business");
        assert!(data["updateSegment"]["segment"]["description"].is_null());
        // The change is stored, not only echoed.
        let stored = app
            .ok(
                "member",
                "query($id: ID!) { node(id: $id) { ... on Segment { name description } } }",
                json!({ "id": id }),
            )
            .await;
        assert_eq!(
            stored["node"],
            json!({ "name": "Small business", "description": null })
        );

        // Unknown segment id: NOT_FOUND; an id of another kind: BAD_USER_INPUT.
        let metric_like =
            app.ok("member", "{ organization { id } }", json!({})).await["organization"]["id"]
                .clone();
        let body = app
            .gql(
                "revops",
                UPDATE_SEGMENT,
                json!({ "input": { "id": metric_like, "name": "X" } }),
            )
            .await;
        assert_eq!(
            error_code(&body).as_deref(),
            Some("BAD_USER_INPUT"),
            "{body:#}"
        );
        assert_eq!(error_field(&body).as_deref(), Some("input.id"));
    }
);

on_both_backends!(
    duplicate_segment_key_is_a_conflict,
    |app: TestApp| async move {
        app.ok(
            "revops",
            CREATE_SEGMENT,
            json!({ "input": { "key": "smb", "name": "SMB" } }),
        )
        .await;
        let audits = audit_count(&app).await;
        let body = app
            .gql(
                "revops",
                CREATE_SEGMENT,
                json!({ "input": { "key": "smb", "name": "Another SMB" } }),
            )
            .await;
        assert_eq!(error_code(&body).as_deref(), Some("CONFLICT"), "{body:#}");
        let list = app.ok("bi", SEGMENTS, json!({})).await;
        assert_eq!(list["segments"]["totalCount"], 1);
        assert_eq!(list["segments"]["nodes"][0]["name"], "SMB");
        assert_eq!(audit_count(&app).await, audits);

        // Stage keys are unique too, including the defaults.
        let body = app
            .gql(
                "revops",
                CREATE_STAGE,
                json!({ "input": { "key": "adoption", "name": "Adoption again" } }),
            )
            .await;
        assert_eq!(error_code(&body).as_deref(), Some("CONFLICT"), "{body:#}");
        let stages = app.ok("bi", STAGES, json!({})).await;
        assert_eq!(stages["journeyStages"]["totalCount"], 4);
    }
);

on_both_backends!(
    bad_dimension_input_names_the_field,
    |app: TestApp| async move {
        for bad_key in ["Enterprise", "1st", "mid market", ""] {
            let body = app
                .gql(
                    "revops",
                    CREATE_SEGMENT,
                    json!({ "input": { "key": bad_key, "name": "X" } }),
                )
                .await;
            assert_eq!(
                error_code(&body).as_deref(),
                Some("BAD_USER_INPUT"),
                "{bad_key}: {body:#}"
            );
            assert_eq!(
                error_field(&body).as_deref(),
                Some("input.key"),
                "{bad_key}"
            );
            let body = app
                .gql(
                    "revops",
                    CREATE_STAGE,
                    json!({ "input": { "key": bad_key, "name": "X" } }),
                )
                .await;
            assert_eq!(
                error_field(&body).as_deref(),
                Some("input.key"),
                "{bad_key}"
            );
        }
        let body = app
            .gql(
                "revops",
                CREATE_SEGMENT,
                json!({ "input": { "key": "smb", "name": "   " } }),
            )
            .await;
        assert_eq!(
            error_field(&body).as_deref(),
            Some("input.name"),
            "{body:#}"
        );
        let body = app
            .gql(
                "revops",
                CREATE_STAGE,
                json!({ "input": { "key": "renewal", "name": "Renewal", "position": 0 } }),
            )
            .await;
        assert_eq!(
            error_field(&body).as_deref(),
            Some("input.position"),
            "{body:#}"
        );

        let segments = app.ok("bi", SEGMENTS, json!({})).await;
        assert_eq!(segments["segments"]["totalCount"], 0);
        let stages = app.ok("bi", STAGES, json!({})).await;
        assert_eq!(stages["journeyStages"]["totalCount"], 4);
    }
);

on_both_backends!(
    journey_stages_are_appended_and_updated,
    |app: TestApp| async move {
        let data = app
            .ok(
                "revops",
                CREATE_STAGE,
                json!({ "input": { "key": "advocacy", "name": "Advocacy" } }),
            )
            .await;
        let stage = &data["createJourneyStage"]["journeyStage"];
        assert_eq!(stage["position"], 5);
        assert_eq!(stage["key"], "advocacy");
        let id = stage["id"].as_str().unwrap().to_owned();
        let data = app
            .ok(
                "admin",
                CREATE_STAGE,
                json!({ "input": { "key": "renewal", "name": "Renewal" } }),
            )
            .await;
        assert_eq!(data["createJourneyStage"]["journeyStage"]["position"], 6);

        let list = app.ok("member", STAGES, json!({})).await;
        assert_eq!(
            keys(&list["journeyStages"]["nodes"]),
            [
                "acquisition",
                "adoption",
                "retention",
                "expansion",
                "advocacy",
                "renewal"
            ]
        );

        let data = app
            .ok(
                "revops",
                UPDATE_STAGE,
                json!({ "input": { "id": id, "name": "Advocacy & referrals", "position": 7 } }),
            )
            .await;
        assert_eq!(
            data["updateJourneyStage"]["journeyStage"],
            json!({ "id": id, "key": "advocacy", "name": "Advocacy & referrals", "position": 7 })
        );
        let list = app.ok("member", STAGES, json!({})).await;
        assert_eq!(
            keys(&list["journeyStages"]["nodes"]),
            [
                "acquisition",
                "adoption",
                "retention",
                "expansion",
                "renewal",
                "advocacy"
            ]
        );

        // Unknown stage: NOT_FOUND.
        let other = app.create_org("Other").await;
        let foreign = app.token_for(other, "x", &["member"]);
        let foreign_id =
            app.gql_with(Some(&foreign), STAGES, json!({})).await["data"]["journeyStages"]["nodes"]
                [0]["id"]
                .clone();
        let body = app
            .gql(
                "revops",
                UPDATE_STAGE,
                json!({ "input": { "id": foreign_id, "name": "Stolen" } }),
            )
            .await;
        assert_eq!(error_code(&body).as_deref(), Some("NOT_FOUND"), "{body:#}");
    }
);

on_both_backends!(
    only_revops_and_admin_manage_dimensions,
    |app: TestApp| async move {
        let stage_id =
            app.ok("member", STAGES, json!({})).await["journeyStages"]["nodes"][0]["id"].clone();
        let segment_id = app
            .ok(
                "revops",
                CREATE_SEGMENT,
                json!({ "input": { "key": "seed", "name": "Seed" } }),
            )
            .await["createSegment"]["segment"]["id"]
            .clone();
        for role in [
            "executive",
            "finance",
            "member",
            "bi",
            "hr",
            "manager",
            "hr_sync",
        ] {
            let attempts = [
                (
                    CREATE_SEGMENT,
                    json!({ "input": { "key": "smb", "name": "SMB" } }),
                ),
                (
                    UPDATE_SEGMENT,
                    json!({ "input": { "id": segment_id, "name": "Renamed" } }),
                ),
                (
                    CREATE_STAGE,
                    json!({ "input": { "key": "advocacy", "name": "Advocacy" } }),
                ),
                (
                    UPDATE_STAGE,
                    json!({ "input": { "id": stage_id, "name": "Renamed" } }),
                ),
            ];
            for (mutation, variables) in attempts {
                let body = app.gql(role, mutation, variables).await;
                assert_eq!(
                    error_code(&body).as_deref(),
                    Some("FORBIDDEN"),
                    "{role}: {body:#}"
                );
            }
        }
        let segments = app.ok("bi", SEGMENTS, json!({})).await;
        assert_eq!(keys(&segments["segments"]["nodes"]), ["seed"]);
        assert_eq!(segments["segments"]["nodes"][0]["name"], "Seed");
        let stages = app.ok("bi", STAGES, json!({})).await;
        assert_eq!(stages["journeyStages"]["totalCount"], 4);
        assert_eq!(stages["journeyStages"]["nodes"][0]["name"], "Acquisition");

        for (i, role) in ["revops", "admin"].iter().enumerate() {
            app.ok(
                role,
                CREATE_SEGMENT,
                json!({ "input": { "key": format!("seg{i}"), "name": "S" } }),
            )
            .await;
            app.ok(
                role,
                UPDATE_SEGMENT,
                json!({ "input": { "id": segment_id, "name": format!("By {role}") } }),
            )
            .await;
            app.ok(
                role,
                CREATE_STAGE,
                json!({ "input": { "key": format!("stage{i}"), "name": "S" } }),
            )
            .await;
            app.ok(
                role,
                UPDATE_STAGE,
                json!({ "input": { "id": stage_id, "name": format!("By {role}") } }),
            )
            .await;
        }
        let stages = app.ok("bi", STAGES, json!({})).await;
        assert_eq!(stages["journeyStages"]["totalCount"], 6);
        assert_eq!(stages["journeyStages"]["nodes"][0]["name"], "By admin");
    }
);
