//! Defining, changing, approving and retiring metrics.

use serde_json::json;
use tandem_tests::{TestApp, error_code, error_field, on_both_backends};

pub const DEFINE: &str = r#"
mutation Define($input: DefineMetricInput!) {
  defineMetric(input: $input) { metric { id key name unit currency status version perspective } }
}"#;

pub fn arr_input() -> serde_json::Value {
    json!({
        "key": "arr", "name": "ARR", "definition": "Annual recurring revenue",
        "unit": "CURRENCY", "currency": "EUR", "direction": "HIGHER_IS_BETTER",
        "perspective": "FINANCIAL", "kind": "OUTPUT", "aggregation": "LAST"
    })
}

on_both_backends!(
    metric_life_cycle_keeps_every_version,
    |app: TestApp| async move {
        let data = app
            .ok("revops", DEFINE, json!({ "input": arr_input() }))
            .await;
        let metric = &data["defineMetric"]["metric"];
        assert_eq!(metric["status"], "DRAFT");
        assert_eq!(metric["version"], 1);
        assert_eq!(metric["currency"], "EUR");
        let id = metric["id"].as_str().unwrap().to_owned();

        let update = r#"mutation($input: UpdateMetricInput!) { updateMetric(input: $input) { metric { name version ownerTeam } } }"#;
        let data = app
        .ok("revops", update, json!({ "input": { "id": id, "name": "Annual recurring revenue", "ownerTeam": "RevOps", "expectedVersion": 1 } }))
        .await;
        assert_eq!(data["updateMetric"]["metric"]["version"], 2);
        assert_eq!(data["updateMetric"]["metric"]["ownerTeam"], "RevOps");

        let stale = app
            .gql(
                "revops",
                update,
                json!({ "input": { "id": id, "name": "X", "expectedVersion": 1 } }),
            )
            .await;
        assert_eq!(error_code(&stale).as_deref(), Some("CONFLICT"));

        let approve = r#"mutation($id: ID!) { approveMetric(input: { id: $id }) { metric { status version } } }"#;
        let data = app.ok("admin", approve, json!({ "id": id })).await;
        assert_eq!(data["approveMetric"]["metric"]["status"], "APPROVED");
        let again = app.gql("admin", approve, json!({ "id": id })).await;
        assert_eq!(error_code(&again).as_deref(), Some("CONFLICT"));

        let retire = r#"mutation($id: ID!) { retireMetric(input: { id: $id }) { metric { status version } } }"#;
        let data = app.ok("revops", retire, json!({ "id": id })).await;
        assert_eq!(data["retireMetric"]["metric"]["status"], "RETIRED");
        assert_eq!(data["retireMetric"]["metric"]["version"], 4);

        let versions = app
        .ok(
            "member",
            r#"query($key: String!) { metric(key: $key) { versions { totalCount nodes { version change changedBy before after } } } }"#,
            json!({ "key": "arr" }),
        )
        .await;
        let nodes = versions["metric"]["versions"]["nodes"].as_array().unwrap();
        let changes: Vec<_> = nodes
            .iter()
            .map(|v| v["change"].as_str().unwrap())
            .collect();
        assert_eq!(changes, ["DEFINED", "UPDATED", "APPROVED", "RETIRED"]);
        assert_eq!(nodes[1]["before"]["name"], "ARR");
        assert_eq!(nodes[1]["after"]["name"], "Annual recurring revenue");
        assert_eq!(nodes[1]["changedBy"], "revops-user");
        assert!(nodes[0]["before"].is_null());
    }
);

on_both_backends!(
    duplicate_metric_key_is_conflict_and_writes_nothing,
    |app: TestApp| async move {
        app.ok("revops", DEFINE, json!({ "input": arr_input() }))
            .await;
        let dup = app
            .gql("revops", DEFINE, json!({ "input": arr_input() }))
            .await;
        assert_eq!(error_code(&dup).as_deref(), Some("CONFLICT"), "{dup}");
        let count = app
            .ok(
                "admin",
                "{ metrics { totalCount } auditEvents { totalCount } }",
                json!({}),
            )
            .await;
        assert_eq!(count["metrics"]["totalCount"], 1);
        // createOrganization + the one successful defineMetric.
        assert_eq!(count["auditEvents"]["totalCount"], 2);
    }
);

on_both_backends!(
    invalid_metric_input_names_the_field,
    |app: TestApp| async move {
        let mut bad_key = arr_input();
        bad_key["key"] = json!("Net Revenue");
        let body = app.gql("revops", DEFINE, json!({ "input": bad_key })).await;
        assert_eq!(error_code(&body).as_deref(), Some("BAD_USER_INPUT"));
        assert_eq!(error_field(&body).as_deref(), Some("input.key"));

        let mut bad_currency = arr_input();
        bad_currency["currency"] = json!("XYZ");
        let body = app
            .gql("revops", DEFINE, json!({ "input": bad_currency }))
            .await;
        assert_eq!(error_field(&body).as_deref(), Some("input.currency"));

        let count = app
            .ok("admin", "{ metrics { totalCount } }", json!({}))
            .await;
        assert_eq!(count["metrics"]["totalCount"], 0);
    }
);

on_both_backends!(
    only_admin_and_revops_manage_the_glossary,
    |app: TestApp| async move {
        for role in [
            "executive",
            "finance",
            "hr",
            "manager",
            "member",
            "bi",
            "hr_sync",
        ] {
            let body = app.gql(role, DEFINE, json!({ "input": arr_input() })).await;
            assert_eq!(
                error_code(&body).as_deref(),
                Some("FORBIDDEN"),
                "{role}: {body}"
            );
        }
        for (i, role) in ["admin", "revops"].iter().enumerate() {
            let mut input = arr_input();
            input["key"] = json!(format!("arr_{i}"));
            app.ok(role, DEFINE, json!({ "input": input })).await;
        }
    }
);
