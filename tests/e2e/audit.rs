//! The audit trail: every successful mutation leaves one event with who, what, which object,
//! and the state before and after; failed mutations leave none.

use std::time::Duration;

use serde_json::{Value, json};
use tandem_tests::{TestApp, error_code, error_field, on_both_backends};

use crate::support::{
    CREATE_SEGMENT, DEFINE_METRIC, RECORD, audit_count, define_metric, metric_input, obs,
};

const EVENTS: &str = r#"
query($f: AuditFilterInput) {
  auditEvents(filter: $f, first: 100) {
    totalCount
    nodes { id actor operation entityType entityId before after at }
  }
}"#;

/// The audit events matching `filter`, newest first.
async fn events(app: &TestApp, filter: Value) -> Value {
    app.ok("admin", EVENTS, json!({ "f": filter })).await["auditEvents"].clone()
}

/// The newest event about `entity_id`.
async fn latest_for(app: &TestApp, entity_id: &str) -> Value {
    let list = events(app, json!({ "entityId": entity_id })).await;
    list["nodes"][0].clone()
}

/// Runs a query as a named subject with `roles`; fails on errors.
async fn as_subject(
    app: &TestApp,
    sub: &str,
    roles: &[&str],
    query: &str,
    variables: Value,
) -> Value {
    let token = app.token_for(app.org_id, sub, roles);
    let body = app.gql_with(Some(&token), query, variables).await;
    assert!(body.get("errors").is_none(), "unexpected errors: {body:#}");
    body["data"].clone()
}

fn assert_event(event: &Value, actor: &str, operation: &str, entity_type: &str, entity_id: &str) {
    assert_eq!(event["actor"], actor, "{event:#}");
    assert_eq!(event["operation"], operation, "{event:#}");
    assert_eq!(event["entityType"], entity_type, "{event:#}");
    assert_eq!(event["entityId"], entity_id, "{event:#}");
    assert!(event["after"].is_object(), "{event:#}");
}

const ANA: &str = "ana@acme.example";
const BEN: &str = "ben@acme.example";

on_both_backends!(
    every_mutation_writes_one_audit_event,
    |app: TestApp| async move {
        let start = audit_count(&app).await;

        // defineMetric
        let data = as_subject(
            &app,
            ANA,
            &["revops"],
            DEFINE_METRIC,
            json!({ "input": metric_input("arr", "FINANCIAL", "LAST") }),
        )
        .await;
        let metric_id = data["defineMetric"]["metric"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let e = latest_for(&app, &metric_id).await;
        assert_event(&e, ANA, "defineMetric", "Metric", &metric_id);
        assert!(e["before"].is_null(), "{e:#}");
        assert_eq!(e["after"]["key"], "arr");
        assert_eq!(e["after"]["status"], "DRAFT");
        assert_eq!(audit_count(&app).await, start + 1);

        // updateMetric
        as_subject(
        &app,
        ANA,
        &["revops"],
        r#"mutation($id: ID!) { updateMetric(input: { id: $id, name: "Annual recurring revenue" }) { metric { id } } }"#,
        json!({ "id": metric_id }),
    )
    .await;
        let e = latest_for(&app, &metric_id).await;
        assert_event(&e, ANA, "updateMetric", "Metric", &metric_id);
        assert_eq!(e["before"]["name"], "arr");
        assert_eq!(e["after"]["name"], "Annual recurring revenue");
        assert_eq!(audit_count(&app).await, start + 2);

        // approveMetric, by another person
        as_subject(
            &app,
            BEN,
            &["admin"],
            "mutation($id: ID!) { approveMetric(input: { id: $id }) { metric { id } } }",
            json!({ "id": metric_id }),
        )
        .await;
        let e = latest_for(&app, &metric_id).await;
        assert_event(&e, BEN, "approveMetric", "Metric", &metric_id);
        assert_eq!(e["before"]["status"], "DRAFT");
        assert_eq!(e["after"]["status"], "APPROVED");

        // createSegment / updateSegment
        let data = as_subject(
            &app,
            ANA,
            &["revops"],
            CREATE_SEGMENT,
            json!({ "input": { "key": "smb", "name": "SMB" } }),
        )
        .await;
        let segment_id = data["createSegment"]["segment"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let e = latest_for(&app, &segment_id).await;
        assert_event(&e, ANA, "createSegment", "Segment", &segment_id);
        assert!(e["before"].is_null());
        assert_eq!(e["after"]["key"], "smb");
        as_subject(
        &app,
        ANA,
        &["revops"],
        r#"mutation($id: ID!) { updateSegment(input: { id: $id, name: "Small business" }) { segment { id } } }"#,
        json!({ "id": segment_id }),
    )
    .await;
        let e = latest_for(&app, &segment_id).await;
        assert_event(&e, ANA, "updateSegment", "Segment", &segment_id);
        assert_eq!(e["before"]["name"], "SMB");
        assert_eq!(e["after"]["name"], "Small business");

        // createJourneyStage / updateJourneyStage
        let data = as_subject(
        &app,
        ANA,
        &["revops"],
        r#"mutation { createJourneyStage(input: { key: "advocacy", name: "Advocacy" }) { journeyStage { id } } }"#,
        json!({}),
    )
    .await;
        let stage_id = data["createJourneyStage"]["journeyStage"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let e = latest_for(&app, &stage_id).await;
        assert_event(&e, ANA, "createJourneyStage", "JourneyStage", &stage_id);
        assert!(e["before"].is_null());
        assert_eq!(e["after"]["position"], 5);
        as_subject(
        &app,
        ANA,
        &["revops"],
        r#"mutation($id: ID!) { updateJourneyStage(input: { id: $id, name: "Referral" }) { journeyStage { id } } }"#,
        json!({ "id": stage_id }),
    )
    .await;
        let e = latest_for(&app, &stage_id).await;
        assert_event(&e, ANA, "updateJourneyStage", "JourneyStage", &stage_id);
        assert_eq!(e["before"]["name"], "Advocacy");
        assert_eq!(e["after"]["name"], "Referral");

        // recordObservations: one event per written value.
        let before_record = audit_count(&app).await;
        as_subject(
        &app,
        BEN,
        &["finance"],
        RECORD,
        json!({ "o": [obs("arr", "2026-01-01", "MONTH", "100"), obs("arr", "2026-02-01", "MONTH", "110")] }),
    )
    .await;
        assert_eq!(audit_count(&app).await, before_record + 2);
        let observations = app
            .ok(
                "admin",
                "{ observations { nodes { id periodStart } } }",
                json!({}),
            )
            .await;
        let jan_id = observations["observations"]["nodes"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let e = latest_for(&app, &jan_id).await;
        assert_event(&e, BEN, "recordObservations", "Observation", &jan_id);
        assert!(e["before"].is_null(), "{e:#}");
        assert_eq!(e["after"]["value"], "100");
        assert_eq!(e["after"]["metricKey"], "arr");
        // An update records the previous value; an unchanged value records nothing.
        as_subject(
        &app,
        BEN,
        &["finance"],
        RECORD,
        json!({ "o": [obs("arr", "2026-01-01", "MONTH", "105"), obs("arr", "2026-02-01", "MONTH", "110")] }),
    )
    .await;
        assert_eq!(audit_count(&app).await, before_record + 3);
        let e = latest_for(&app, &jan_id).await;
        assert_event(&e, BEN, "recordObservations", "Observation", &jan_id);
        assert_eq!(e["before"]["value"], "100");
        assert_eq!(e["after"]["value"], "105");
        let jan_events = events(&app, json!({ "entityId": jan_id })).await;
        assert_eq!(jan_events["totalCount"], 2);

        // retireMetric
        as_subject(
            &app,
            ANA,
            &["revops"],
            "mutation($id: ID!) { retireMetric(input: { id: $id }) { metric { id } } }",
            json!({ "id": metric_id }),
        )
        .await;
        let e = latest_for(&app, &metric_id).await;
        assert_event(&e, ANA, "retireMetric", "Metric", &metric_id);
        assert_eq!(e["before"]["status"], "APPROVED");
        assert_eq!(e["after"]["status"], "RETIRED");

        // The metric's whole history, newest first.
        let history = events(&app, json!({ "entityId": metric_id })).await;
        let ops: Vec<&str> = history["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["operation"].as_str().unwrap())
            .collect();
        assert_eq!(
            ops,
            [
                "retireMetric",
                "approveMetric",
                "updateMetric",
                "defineMetric"
            ]
        );
        // The event is itself a node.
        let node = app
            .ok(
                "admin",
                "query($id: ID!) { node(id: $id) { ... on AuditEvent { operation entityId } } }",
                json!({ "id": history["nodes"][0]["id"] }),
            )
            .await;
        assert_eq!(
            node["node"],
            json!({ "operation": "retireMetric", "entityId": metric_id })
        );
    }
);

on_both_backends!(
    failed_mutations_write_no_audit_event,
    |app: TestApp| async move {
        let metric_id = define_metric(&app, "arr", "FINANCIAL", "SUM").await;
        app.ok(
            "revops",
            CREATE_SEGMENT,
            json!({ "input": { "key": "smb", "name": "SMB" } }),
        )
        .await;
        let start = audit_count(&app).await;

        let failures: Vec<(&str, &str, Value, &str)> = vec![
            (
                "revops",
                DEFINE_METRIC,
                json!({ "input": metric_input("arr", "FINANCIAL", "SUM") }),
                "CONFLICT",
            ),
            (
                "revops",
                CREATE_SEGMENT,
                json!({ "input": { "key": "smb", "name": "Again" } }),
                "CONFLICT",
            ),
            (
                "revops",
                RECORD,
                json!({ "o": [obs("arr", "2026-01-01", "MONTH", "1"), obs("nope", "2026-01-01", "MONTH", "1")] }),
                "BAD_USER_INPUT",
            ),
            (
                "member",
                RECORD,
                json!({ "o": [obs("arr", "2026-01-01", "MONTH", "1")] }),
                "FORBIDDEN",
            ),
            (
                "revops",
                r#"mutation($id: ID!) { updateMetric(input: { id: $id, name: "X", expectedVersion: 7 }) { metric { id } } }"#,
                json!({ "id": metric_id }),
                "CONFLICT",
            ),
            (
                "member",
                r#"mutation($id: ID!) { approveMetric(input: { id: $id }) { metric { id } } }"#,
                json!({ "id": metric_id }),
                "FORBIDDEN",
            ),
        ];
        for (role, query, variables, code) in failures {
            let body = app.gql(role, query, variables).await;
            assert_eq!(error_code(&body).as_deref(), Some(code), "{body:#}");
            assert_eq!(
                audit_count(&app).await,
                start,
                "a failed mutation was audited: {body:#}"
            );
        }
        // A second approval of an approved metric fails and is not audited either.
        app.ok(
            "admin",
            "mutation($id: ID!) { approveMetric(input: { id: $id }) { metric { id } } }",
            json!({ "id": metric_id }),
        )
        .await;
        let body = app
            .gql(
                "admin",
                "mutation($id: ID!) { approveMetric(input: { id: $id }) { metric { id } } }",
                json!({ "id": metric_id }),
            )
            .await;
        assert_eq!(error_code(&body).as_deref(), Some("CONFLICT"), "{body:#}");
        assert_eq!(audit_count(&app).await, start + 1);
    }
);

on_both_backends!(
    audit_events_filter_by_entity_actor_and_time,
    |app: TestApp| async move {
        let token_ana = app.token_for(app.org_id, ANA, &["revops"]);
        let token_ben = app.token_for(app.org_id, BEN, &["revops"]);
        let define = |token: String, key: &'static str| {
            let app = &app;
            async move {
                let body = app
                    .gql_with(
                        Some(&token),
                        DEFINE_METRIC,
                        json!({ "input": metric_input(key, "CUSTOMER", "SUM") }),
                    )
                    .await;
                assert!(body.get("errors").is_none(), "{body:#}");
                body["data"]["defineMetric"]["metric"]["id"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            }
        };
        let a = define(token_ana.clone(), "alpha").await;
        tokio::time::sleep(Duration::from_millis(30)).await;
        let b = define(token_ben.clone(), "beta").await;
        tokio::time::sleep(Duration::from_millis(30)).await;
        let c = define(token_ana.clone(), "gamma").await;

        let all = events(&app, json!({})).await;
        // createOrganization + three definitions, newest first.
        assert_eq!(all["totalCount"], 4);
        let ids: Vec<&str> = all["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["entityId"].as_str().unwrap())
            .collect();
        assert_eq!(ids[..3], [c.as_str(), b.as_str(), a.as_str()]);
        assert_eq!(all["nodes"][3]["operation"], "createOrganization");

        let by_entity = events(&app, json!({ "entityId": b })).await;
        assert_eq!(by_entity["totalCount"], 1);
        assert_eq!(by_entity["nodes"][0]["actor"], BEN);

        let by_actor = events(&app, json!({ "actor": ANA })).await;
        assert_eq!(by_actor["totalCount"], 2);
        let ana_ids: Vec<&str> = by_actor["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["entityId"].as_str().unwrap())
            .collect();
        assert_eq!(ana_ids, [c.as_str(), a.as_str()]);
        let nobody = events(&app, json!({ "actor": "nobody" })).await;
        assert_eq!(nobody["totalCount"], 0);

        // `from` is inclusive, `to` exclusive, using the times the trail reports.
        let at_b = all["nodes"][1]["at"].as_str().unwrap().to_owned();
        let at_c = all["nodes"][0]["at"].as_str().unwrap().to_owned();
        let since_b = events(&app, json!({ "from": at_b })).await;
        let since_ids: Vec<&str> = since_b["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["entityId"].as_str().unwrap())
            .collect();
        assert_eq!(since_ids, [c.as_str(), b.as_str()], "{since_b:#}");
        let before_b = events(&app, json!({ "to": at_b })).await;
        assert_eq!(before_b["totalCount"], 2, "{before_b:#}");
        assert_eq!(before_b["nodes"][0]["entityId"], a.as_str());
        let only_b = events(&app, json!({ "from": at_b, "to": at_c })).await;
        assert_eq!(only_b["totalCount"], 1, "{only_b:#}");
        assert_eq!(only_b["nodes"][0]["entityId"], b.as_str());
        let combined = events(&app, json!({ "from": at_b, "actor": ANA })).await;
        assert_eq!(combined["totalCount"], 1, "{combined:#}");
        assert_eq!(combined["nodes"][0]["entityId"], c.as_str());
        let future = events(&app, json!({ "from": "2999-01-01T00:00:00Z" })).await;
        assert_eq!(future["totalCount"], 0);

        let body = app
            .gql("admin", EVENTS, json!({ "f": { "entityId": "!!!" } }))
            .await;
        assert_eq!(
            error_code(&body).as_deref(),
            Some("BAD_USER_INPUT"),
            "{body:#}"
        );
        assert_eq!(error_field(&body).as_deref(), Some("filter.entityId"));
    }
);

on_both_backends!(
    only_admin_reads_the_audit_trail,
    |app: TestApp| async move {
        define_metric(&app, "arr", "FINANCIAL", "SUM").await;
        for role in [
            "revops",
            "executive",
            "finance",
            "member",
            "bi",
            "hr",
            "manager",
            "hr_sync",
        ] {
            let body = app.gql(role, EVENTS, json!({ "f": null })).await;
            assert_eq!(
                error_code(&body).as_deref(),
                Some("FORBIDDEN"),
                "{role}: {body:#}"
            );
            assert!(body["data"].is_null(), "{role}: {body:#}");
        }
        let all = events(&app, json!(null)).await;
        assert_eq!(all["totalCount"], 2);
    }
);
