//! The HR sync end to end: roster, roles and role KPIs in one call.

use serde_json::{Value, json};
use tandem_tests::{TestApp, error_code, on_both_backends};

pub const SYNC: &str = r#"
mutation Sync($input: HrSyncInput!) {
  syncHr(input: $input) {
    dryRun changed
    teams { created updated unchanged deactivated }
    roles { created updated unchanged deactivated }
    people { created updated unchanged deactivated }
    assignments { created updated unchanged deactivated }
    changes { entity key action }
  }
}"#;

pub async fn define_metric(app: &TestApp, key: &str, perspective: &str, direction: &str) {
    app.ok(
        "admin",
        r#"mutation($input: DefineMetricInput!) { defineMetric(input: $input) { metric { id } } }"#,
        json!({ "input": {
            "key": key, "name": key, "definition": "d", "unit": "COUNT", "direction": direction,
            "perspective": perspective, "kind": "OUTPUT", "aggregation": "SUM"
        } }),
    )
    .await;
}

pub fn roster() -> Value {
    json!({
        "teams": [
            { "externalId": "T-SALES", "name": "Sales" },
            { "externalId": "T-EMEA", "name": "Sales EMEA", "parentExternalId": "T-SALES" }
        ],
        "roles": [
            { "key": "account_executive", "name": "Account Executive" },
            { "key": "csm", "name": "Customer Success Manager" }
        ],
        "people": [
            { "externalId": "E3", "name": "Cleo", "email": "cleo@acme.test", "managerExternalId": "E2", "teamExternalId": "T-EMEA", "roleKeys": ["account_executive"] },
            { "externalId": "E1", "name": "Ana", "email": "ana@acme.test", "subject": "ana", "teamExternalId": "T-SALES" },
            { "externalId": "E2", "name": "Bo", "email": "bo@acme.test", "subject": "bo", "managerExternalId": "E1", "teamExternalId": "T-EMEA", "roleKeys": ["csm"] }
        ],
        "assignments": [
            { "roleKey": "account_executive", "items": [
                { "metricKey": "new_arr", "weight": "0.6", "target": "100000", "green": "100000", "amber": "80000" },
                { "metricKey": "time_to_value", "weight": "0.4", "target": "14", "green": "14", "amber": "21" }
            ] }
        ]
    })
}

on_both_backends!(
    the_same_sync_twice_changes_nothing_the_second_time,
    |app: TestApp| async move {
        define_metric(&app, "new_arr", "FINANCIAL", "HIGHER_IS_BETTER").await;
        define_metric(&app, "time_to_value", "CUSTOMER", "LOWER_IS_BETTER").await;
        let first = app.ok("hr_sync", SYNC, json!({ "input": roster() })).await;
        let r = &first["syncHr"];
        assert_eq!(r["changed"], true);
        assert_eq!(r["teams"]["created"], 2);
        assert_eq!(r["roles"]["created"], 2);
        assert_eq!(r["people"]["created"], 3);
        assert_eq!(r["assignments"]["created"], 1);

        let second = app.ok("hr_sync", SYNC, json!({ "input": roster() })).await;
        let r = &second["syncHr"];
        assert_eq!(r["changed"], false, "{r:#}");
        assert_eq!(r["people"]["unchanged"], 3);
        assert_eq!(r["teams"]["unchanged"], 2);
        assert_eq!(r["assignments"]["unchanged"], 1);
        assert!(r["changes"].as_array().unwrap().is_empty());

        let people = app
        .ok("hr", "{ people { totalCount nodes { externalId manager { externalId } team { name parent { name } } roles { nodes { key } } } } }", json!({}))
        .await;
        assert_eq!(people["people"]["totalCount"], 3);
        let cleo = people["people"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["externalId"] == "E3")
            .unwrap()
            .clone();
        assert_eq!(cleo["manager"]["externalId"], "E2");
        assert_eq!(cleo["team"]["parent"]["name"], "Sales");
        assert_eq!(cleo["roles"]["nodes"][0]["key"], "account_executive");
    }
);

on_both_backends!(
    a_sync_with_one_bad_row_writes_nothing_and_lists_every_problem,
    |app: TestApp| async move {
        define_metric(&app, "new_arr", "FINANCIAL", "HIGHER_IS_BETTER").await;
        let mut bad = roster();
        bad["people"][0]["managerExternalId"] = json!("E404");
        bad["people"][1]["externalId"] = json!("E2");
        bad["assignments"][0]["items"][0]["weight"] = json!("-1");
        let body = app.gql("hr_sync", SYNC, json!({ "input": bad })).await;
        assert_eq!(
            error_code(&body).as_deref(),
            Some("BAD_USER_INPUT"),
            "{body:#}"
        );
        let fields: Vec<String> = body["errors"][0]["extensions"]["problems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["field"].as_str().unwrap().to_owned())
            .collect();
        assert!(
            fields.contains(&"input.assignments[0].items[0].weight".to_owned()),
            "{fields:?}"
        );
        let counts = app
            .ok(
                "hr",
                "{ people { totalCount } teams { totalCount } jobRoles { totalCount } }",
                json!({}),
            )
            .await;
        assert_eq!(counts["people"]["totalCount"], 0);
        assert_eq!(counts["teams"]["totalCount"], 0);
    }
);

on_both_backends!(
    sync_is_refused_to_roles_without_hr_rights,
    |app: TestApp| async move {
        for role in ["revops", "finance", "executive", "manager", "member", "bi"] {
            let body = app
                .gql(role, SYNC, json!({ "input": { "people": [] } }))
                .await;
            assert_eq!(error_code(&body).as_deref(), Some("FORBIDDEN"), "{role}");
        }
        for role in ["hr_sync", "hr", "admin"] {
            app.ok(role, SYNC, json!({ "input": { "people": [] } }))
                .await;
        }
    }
);

on_both_backends!(
    role_scorecards_evaluate_and_balance,
    |app: TestApp| async move {
        define_metric(&app, "new_arr", "FINANCIAL", "HIGHER_IS_BETTER").await;
        define_metric(&app, "time_to_value", "CUSTOMER", "LOWER_IS_BETTER").await;
        app.ok("hr_sync", SYNC, json!({ "input": roster() })).await;
        app.ok(
        "revops",
        "mutation($o: [ObservationInput!]!) { recordObservations(input: { observations: $o }) { created } }",
        json!({ "o": [
            { "metricKey": "new_arr", "periodStart": "2026-01-01", "granularity": "MONTH", "value": "90000" },
            { "metricKey": "time_to_value", "periodStart": "2026-01-01", "granularity": "MONTH", "value": "12" }
        ] }),
    )
    .await;
        let data = app
        .ok(
            "member",
            r#"{ person(externalId: "E3") { scorecards { nodes { name balance { balanced reasons }
                 evaluation(periodStart: "2026-01-01", granularity: MONTH) { score status itemsWithoutData
                   items { actual attainment score status effectiveWeight item { metric { key } } } } } } }
               roleBalance { roleCount balancedCount balancedShare unbalancedRoles { nodes { role { key } reasons } } } }"#,
            json!({}),
        )
        .await;
        let card = &data["person"]["scorecards"]["nodes"][0];
        assert_eq!(card["balance"]["balanced"], true);
        let eval = &card["evaluation"];
        // new_arr: 90000 / 100000 = 0.9 (AMBER); time_to_value: 1 - (12 - 14) / 14 = 1.142857 (GREEN)
        assert_eq!(eval["items"][0]["attainment"], "0.9");
        assert_eq!(eval["items"][0]["status"], "AMBER");
        assert_eq!(eval["items"][1]["attainment"], "1.142857");
        assert_eq!(eval["items"][1]["status"], "GREEN");
        // 0.6 * 0.9 + 0.4 * 1.142857 = 0.9971428
        assert_eq!(eval["score"], "0.997143");
        assert_eq!(eval["status"], "GREEN");
        let balance = &data["roleBalance"];
        assert_eq!(balance["roleCount"], 2);
        assert_eq!(balance["balancedCount"], 1);
        assert_eq!(balance["balancedShare"], "0.5");
        assert_eq!(balance["unbalancedRoles"]["nodes"][0]["role"]["key"], "csm");
    }
);
