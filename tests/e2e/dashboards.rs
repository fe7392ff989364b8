//! Saved dashboards: saving and versioned updates, private and shared visibility, panel checks
//! that name the panel and field, every panel's data in one query with exact values, deletion,
//! who may do what, tenant isolation, and a statement count that does not grow with panels.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::{Value, json};
use tandem_tests::{TestApp, error_code, error_field, on_both_backends};

use crate::support::{audit_count, create_segment, define_metric, obs, obs_dim, record};

const SAVE: &str = r#"
mutation($input: SaveDashboardInput!) {
  saveDashboard(input: $input) {
    dashboard {
      id name description visibility ownerSubject version
      panels { title metricKey metric { key } formula bySegment byStage from to lastPeriods granularity chart }
    }
  }
}"#;

const DELETE: &str = r#"
mutation($id: ID!) { deleteDashboard(input: { id: $id }) { deletedId } }"#;

const GET: &str = r#"
query($id: ID!) { dashboard(id: $id) { id name visibility ownerSubject version } }"#;

const LIST: &str = "{ dashboards(first: 100) { totalCount nodes { name } } }";

const DATA: &str = r#"
query($id: ID!, $asOf: Date) {
  dashboard(id: $id) {
    name
    data(asOf: $asOf) {
      index title from to granularity chart
      points { periodStart periodEnd value reason segment { key } stage { key } }
    }
  }
}"#;

/// `a / b` exactly as rust_decimal computes and prints it.
fn div(a: &str, b: &str) -> String {
    (Decimal::from_str(a).unwrap() / Decimal::from_str(b).unwrap())
        .normalize()
        .to_string()
}

fn metric_panel(title: &str, key: &str, from: &str, to: &str, granularity: &str) -> Value {
    json!({ "title": title, "metricKey": key, "from": from, "to": to, "granularity": granularity })
}

fn formula_panel(title: &str, formula: &str, last: i32, granularity: &str) -> Value {
    json!({ "title": title, "formula": formula, "lastPeriods": last, "granularity": granularity })
}

fn dashboard(name: &str, visibility: &str, panels: Vec<Value>) -> Value {
    json!({ "name": name, "visibility": visibility, "panels": panels })
}

/// Saves as `token`'s caller; returns the response body.
async fn save_with(app: &TestApp, token: &str, input: Value) -> Value {
    app.gql_with(Some(token), SAVE, json!({ "input": input }))
        .await
}

async fn save(app: &TestApp, role: &str, input: Value) -> Value {
    app.ok(role, SAVE, json!({ "input": input })).await["saveDashboard"]["dashboard"].clone()
}

async fn get_with(app: &TestApp, token: &str, id: &Value) -> Value {
    let body = app.gql_with(Some(token), GET, json!({ "id": id })).await;
    assert!(body.get("errors").is_none(), "{body:#}");
    body["data"]["dashboard"].clone()
}

async fn list_with(app: &TestApp, token: &str) -> Vec<String> {
    let body = app.gql_with(Some(token), LIST, json!({})).await;
    assert!(body.get("errors").is_none(), "{body:#}");
    body["data"]["dashboards"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap().to_owned())
        .collect()
}

fn assert_code(body: &Value, code: &str) {
    assert_eq!(error_code(body).as_deref(), Some(code), "{body:#}");
}

/// Revenue by segment and costs in total, monthly, January to June 2026; `margin` is the
/// glossary formula `(revenue - costs) / revenue`.
///
/// | month | revenue enterprise | revenue smb | revenue total | costs | margin       |
/// |-------|--------------------|-------------|---------------|-------|--------------|
/// | Jan   | 100                | 50          | 150           | 75    | 0.5          |
/// | Feb   | 110                | 40          | 150           | 75    | 0.5          |
/// | Mar   | 120                | 30          | 150           | 75    | 0.5          |
/// | Apr   | 130                | 20          | 150           | 135   | 0.1          |
/// | May   | 140                | 10          | 150           | 150   | 0            |
/// | Jun   | 150                | 0           | 150           | 200   | -50/150      |
///
/// Q1: revenue 450, costs 225 -> margin 0.5. Q2 by segment: revenue 420 and 30, costs only
/// in total, so `revenue / costs` by segment has no value for `costs`.
async fn seed(app: &TestApp) {
    create_segment(app, "enterprise").await;
    create_segment(app, "smb").await;
    define_metric(app, "revenue", "FINANCIAL", "SUM").await;
    define_metric(app, "costs", "FINANCIAL", "SUM").await;
    let mut input = crate::support::metric_input("margin", "FINANCIAL", "SUM");
    input["formula"] = json!("(revenue - costs) / revenue");
    app.ok(
        "revops",
        crate::support::DEFINE_METRIC,
        json!({ "input": input }),
    )
    .await;
    let mut rows = Vec::new();
    for (m, ent, smb, costs) in [
        (1, "100", "50", "75"),
        (2, "110", "40", "75"),
        (3, "120", "30", "75"),
        (4, "130", "20", "135"),
        (5, "140", "10", "150"),
        (6, "150", "0", "200"),
    ] {
        let start = format!("2026-{m:02}-01");
        rows.push(obs_dim(
            "revenue",
            &start,
            "MONTH",
            Some("enterprise"),
            None,
            ent,
        ));
        rows.push(obs_dim("revenue", &start, "MONTH", Some("smb"), None, smb));
        rows.push(obs("costs", &start, "MONTH", costs));
    }
    record(app, rows).await;
}

/// Four panels: a metric by segment, an ad-hoc formula, a glossary formula over a relative
/// range, and a formula by segment whose input is only recorded in total.
fn four_panels() -> Vec<Value> {
    let mut by_segment = metric_panel(
        "Revenue by segment",
        "revenue",
        "2026-01-01",
        "2026-03-31",
        "MONTH",
    );
    by_segment["bySegment"] = json!(true);
    by_segment["chart"] = json!("STACKED_BAR");
    let mut ad_hoc = json!({ "title": "Q1 margin", "formula": "(revenue - costs) / revenue",
        "from": "2026-01-01", "to": "2026-03-31", "granularity": "QUARTER" });
    ad_hoc["chart"] = json!("NUMBER");
    let relative = json!({ "title": "Margin, last 3 months", "metricKey": "margin",
        "lastPeriods": 3, "granularity": "MONTH" });
    let mut per_cost = formula_panel("Revenue per cost", "revenue / costs", 1, "QUARTER");
    per_cost["bySegment"] = json!(true);
    per_cost["chart"] = json!("TABLE");
    vec![by_segment, ad_hoc, relative, per_cost]
}

on_both_backends!(saving_updating_and_versions, |app: TestApp| async move {
    seed(&app).await;
    let saved = save(
        &app,
        "revops",
        json!({ "name": "Revenue x margin", "description": "Monthly review",
                    "panels": four_panels() }),
    )
    .await;
    assert_eq!(saved["version"], 1);
    assert_eq!(saved["visibility"], "PRIVATE");
    assert_eq!(saved["ownerSubject"], "revops-user");
    assert_eq!(saved["description"], "Monthly review");
    assert_eq!(
        saved["panels"],
        json!([
            { "title": "Revenue by segment", "metricKey": "revenue", "metric": { "key": "revenue" },
              "formula": null, "bySegment": true, "byStage": false, "from": "2026-01-01",
              "to": "2026-03-31", "lastPeriods": null, "granularity": "MONTH", "chart": "STACKED_BAR" },
            { "title": "Q1 margin", "metricKey": null, "metric": null,
              "formula": "(revenue - costs) / revenue", "bySegment": false, "byStage": false,
              "from": "2026-01-01", "to": "2026-03-31", "lastPeriods": null, "granularity": "QUARTER",
              "chart": "NUMBER" },
            { "title": "Margin, last 3 months", "metricKey": "margin", "metric": { "key": "margin" },
              "formula": null, "bySegment": false, "byStage": false, "from": null, "to": null,
              "lastPeriods": 3, "granularity": "MONTH", "chart": "LINE" },
            { "title": "Revenue per cost", "metricKey": null, "metric": null, "formula": "revenue / costs",
              "bySegment": true, "byStage": false, "from": null, "to": null, "lastPeriods": 1,
              "granularity": "QUARTER", "chart": "TABLE" },
        ])
    );
    let id = saved["id"].clone();

    // An update at the version read.
    let mut change = json!({ "id": id, "name": "Revenue x margin (FY26)",
            "panels": four_panels(), "expectedVersion": 1 });
    let updated = save(&app, "revops", change.clone()).await;
    assert_eq!(updated["version"], 2);
    assert_eq!(updated["name"], "Revenue x margin (FY26)");
    assert!(
        updated["description"].is_null(),
        "the description was cleared"
    );
    // A second writer still holding version 1 is refused, and nothing changes.
    change["name"] = json!("Stale");
    let body = app.gql("revops", SAVE, json!({ "input": change })).await;
    assert_code(&body, "CONFLICT");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("version 2"),
        "{body:#}"
    );
    let token = app.token(&["revops"]);
    assert_eq!(
        get_with(&app, &token, &id).await["name"],
        "Revenue x margin (FY26)"
    );
    // Saving the same content again is not a change.
    let audits = audit_count(&app).await;
    let same = save(
        &app,
        "revops",
        json!({ "id": id, "name": "Revenue x margin (FY26)", "panels": four_panels(),
                    "expectedVersion": 2 }),
    )
    .await;
    assert_eq!(same["version"], 2);
    assert_eq!(audit_count(&app).await, audits);
    // Without an expected version the save goes through; panels are replaced.
    let fewer = save(
        &app,
        "revops",
        json!({ "id": id, "name": "Revenue", "panels": [four_panels()[0].clone()] }),
    )
    .await;
    assert_eq!(fewer["version"], 3);
    assert_eq!(fewer["panels"].as_array().unwrap().len(), 1);
    // An unknown id and an id of another type.
    let body = app
        .gql(
            "revops",
            SAVE,
            json!({ "input": { "id": "not-an-id", "name": "x", "panels": [] } }),
        )
        .await;
    assert_eq!(error_field(&body).as_deref(), Some("input.id"), "{body:#}");
});

on_both_backends!(
    private_dashboards_are_their_owners_and_shared_ones_everyones,
    |app: TestApp| async move {
        seed(&app).await;
        let owner = app.token_for(app.org_id, "rita", &["revops"]);
        let colleague = app.token_for(app.org_id, "carl", &["revops"]);
        let member = app.token_for(app.org_id, "mia", &["member"]);
        let admin = app.token_for(app.org_id, "ada", &["admin"]);
        let panels = vec![four_panels()[0].clone()];
        let body = save_with(
            &app,
            &owner,
            dashboard("Rita's draft", "PRIVATE", panels.clone()),
        )
        .await;
        let private = body["data"]["saveDashboard"]["dashboard"].clone();
        let private_id = private["id"].clone();
        let body = save_with(
            &app,
            &owner,
            dashboard("Board pack", "ORGANIZATION", panels.clone()),
        )
        .await;
        let shared_id = body["data"]["saveDashboard"]["dashboard"]["id"].clone();

        // The owner sees both; a colleague and a member only the shared one; the admin both.
        assert_eq!(
            list_with(&app, &owner).await,
            ["Board pack", "Rita's draft"]
        );
        assert_eq!(list_with(&app, &colleague).await, ["Board pack"]);
        assert_eq!(list_with(&app, &member).await, ["Board pack"]);
        assert_eq!(
            list_with(&app, &admin).await,
            ["Board pack", "Rita's draft"]
        );
        assert!(get_with(&app, &colleague, &private_id).await.is_null());
        assert!(get_with(&app, &member, &private_id).await.is_null());
        assert_eq!(
            get_with(&app, &admin, &private_id).await["name"],
            "Rita's draft"
        );
        let node = app
            .gql_with(
                Some(&colleague),
                "query($id: ID!) { node(id: $id) { id } }",
                json!({ "id": private_id }),
            )
            .await;
        assert!(node["data"]["node"].is_null(), "{node:#}");
        // A member reads the shared dashboard's data.
        let body = app
            .gql_with(
                Some(&member),
                DATA,
                json!({ "id": shared_id, "asOf": "2026-06-15" }),
            )
            .await;
        assert!(body.get("errors").is_none(), "{body:#}");
        assert_eq!(
            body["data"]["dashboard"]["data"][0]["points"]
                .as_array()
                .unwrap()
                .len(),
            6
        );

        // A colleague may neither change nor delete the owner's dashboards: a private one is
        // not found (its existence is not revealed), a shared one is forbidden.
        for (id, code) in [(&private_id, "NOT_FOUND"), (&shared_id, "FORBIDDEN")] {
            let body = save_with(
                &app,
                &colleague,
                json!({ "id": id, "name": "Mine now", "visibility": "ORGANIZATION", "panels": panels }),
            )
            .await;
            assert_code(&body, code);
            let body = app
                .gql_with(Some(&colleague), DELETE, json!({ "id": id }))
                .await;
            assert_code(&body, code);
        }
        assert_eq!(
            get_with(&app, &owner, &private_id).await["name"],
            "Rita's draft"
        );
        assert_eq!(get_with(&app, &owner, &private_id).await["version"], 1);

        // The administrator may change anyone's; ownership stays.
        let body = save_with(
            &app,
            &admin,
            json!({ "id": private_id, "name": "Rita's draft", "visibility": "ORGANIZATION",
                    "panels": panels, "expectedVersion": 1 }),
        )
        .await;
        let shared_now = &body["data"]["saveDashboard"]["dashboard"];
        assert_eq!(shared_now["version"], 2, "{body:#}");
        assert_eq!(shared_now["ownerSubject"], "rita");
        assert_eq!(shared_now["visibility"], "ORGANIZATION");
        assert_eq!(
            list_with(&app, &member).await,
            ["Board pack", "Rita's draft"]
        );
        // And back to private: the member loses it again.
        let body = save_with(
            &app,
            &owner,
            json!({ "id": private_id, "name": "Rita's draft", "visibility": "PRIVATE", "panels": panels }),
        )
        .await;
        assert_eq!(
            body["data"]["saveDashboard"]["dashboard"]["version"], 3,
            "{body:#}"
        );
        assert!(get_with(&app, &member, &private_id).await.is_null());
    }
);

on_both_backends!(
    panel_problems_name_the_panel_and_field,
    |app: TestApp| async move {
        seed(&app).await;
        let good = metric_panel("Revenue", "revenue", "2026-01-01", "2026-03-31", "MONTH");
        let mut both = good.clone();
        both["lastPeriods"] = json!(3);
        let mut neither = good.clone();
        neither.as_object_mut().unwrap().remove("metricKey");
        let mut key_and_formula = good.clone();
        key_and_formula["formula"] = json!("revenue * 2");
        let mut no_range = good.clone();
        no_range.as_object_mut().unwrap().remove("to");
        let mut inverted = good.clone();
        inverted["from"] = json!("2026-04-01");
        let panels = vec![
            good.clone(),                                                         // 0
            formula_panel("Broken", "revenue +", 3, "MONTH"),                     // 1
            neither,                                                              // 2
            both,                                                                 // 3
            metric_panel("Unknown", "nope", "2026-01-01", "2026-03-31", "MONTH"), // 4
            formula_panel("Unknown input", "revenue / nope", 3, "MONTH"),         // 5
            formula_panel("Zero periods", "revenue", 0, "MONTH"),                 // 6
            metric_panel("", "revenue", "2026-01-01", "2026-03-31", "MONTH"),     // 7
            key_and_formula,                                                      // 8
            no_range,                                                             // 9
            inverted,                                                             // 10
            formula_panel("Too many years", "revenue", 51, "YEAR"),               // 11
        ];
        let body = app
            .gql(
                "revops",
                SAVE,
                json!({ "input": { "name": " ", "panels": panels } }),
            )
            .await;
        assert_code(&body, "BAD_USER_INPUT");
        let mut fields: Vec<String> = body["errors"][0]["extensions"]["problems"]
            .as_array()
            .unwrap_or_else(|| panic!("{body:#}"))
            .iter()
            .map(|p| p["field"].as_str().unwrap().to_owned())
            .collect();
        fields.sort();
        let mut want = vec![
            "input.name",
            "input.panels.1.formula",
            "input.panels.2.metricKey",
            "input.panels.3.lastPeriods",
            "input.panels.4.metricKey",
            "input.panels.5.formula",
            "input.panels.6.lastPeriods",
            "input.panels.7.title",
            "input.panels.8.metricKey",
            "input.panels.9.lastPeriods",
            "input.panels.10.to",
            "input.panels.11.lastPeriods",
        ];
        want.sort();
        assert_eq!(fields, want, "{body:#}");
        let problems = body["errors"][0]["extensions"]["problems"]
            .as_array()
            .unwrap();
        let message_of = |field: &str| {
            problems
                .iter()
                .find(|p| p["field"] == field)
                .and_then(|p| p["message"].as_str())
                .unwrap()
                .to_owned()
        };
        assert!(message_of("input.panels.1.formula").contains("position 10"));
        assert!(message_of("input.panels.4.metricKey").contains("nope"));
        assert!(message_of("input.panels.5.formula").contains("nope"));
        assert_eq!(list_with(&app, &app.token(&["admin"])).await.len(), 0);

        // Too many panels.
        let many: Vec<Value> = (0..25).map(|_| good.clone()).collect();
        let body = app
            .gql(
                "revops",
                SAVE,
                json!({ "input": { "name": "Wall", "panels": many } }),
            )
            .await;
        assert_code(&body, "BAD_USER_INPUT");
        assert_eq!(
            error_field(&body).as_deref(),
            Some("input.panels"),
            "{body:#}"
        );
    }
);

on_both_backends!(
    data_returns_every_panels_points_exactly,
    |app: TestApp| async move {
        seed(&app).await;
        let saved = save(
            &app,
            "revops",
            dashboard("Revenue x margin", "ORGANIZATION", four_panels()),
        )
        .await;
        let body = app
            .gql(
                "bi",
                DATA,
                json!({ "id": saved["id"], "asOf": "2026-06-15" }),
            )
            .await;
        assert!(body.get("errors").is_none(), "{body:#}");
        let data = body["data"]["dashboard"]["data"]
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(data.len(), 4);
        let head = |p: &Value| {
            json!([
                p["index"],
                p["title"],
                p["from"],
                p["to"],
                p["granularity"],
                p["chart"]
            ])
        };
        assert_eq!(
            data.iter().map(head).collect::<Vec<_>>(),
            vec![
                json!([
                    0,
                    "Revenue by segment",
                    "2026-01-01",
                    "2026-03-31",
                    "MONTH",
                    "STACKED_BAR"
                ]),
                json!([
                    1,
                    "Q1 margin",
                    "2026-01-01",
                    "2026-03-31",
                    "QUARTER",
                    "NUMBER"
                ]),
                json!([
                    2,
                    "Margin, last 3 months",
                    "2026-04-01",
                    "2026-06-30",
                    "MONTH",
                    "LINE"
                ]),
                json!([
                    3,
                    "Revenue per cost",
                    "2026-04-01",
                    "2026-06-30",
                    "QUARTER",
                    "TABLE"
                ]),
            ]
        );
        let rows = |panel: &Value| -> Vec<(String, String, String)> {
            let mut rows: Vec<(String, String, String)> = panel["points"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    (
                        p["periodStart"].as_str().unwrap().to_owned(),
                        p["segment"]["key"].as_str().unwrap_or("*").to_owned(),
                        match p["value"].as_str() {
                            Some(v) => v.to_owned(),
                            None => format!("({})", p["reason"].as_str().unwrap()),
                        },
                    )
                })
                .collect();
            rows.sort();
            rows
        };
        let r = |a: &str, b: &str, c: &str| (a.to_owned(), b.to_owned(), c.to_owned());
        assert_eq!(
            rows(&data[0]),
            vec![
                r("2026-01-01", "enterprise", "100"),
                r("2026-01-01", "smb", "50"),
                r("2026-02-01", "enterprise", "110"),
                r("2026-02-01", "smb", "40"),
                r("2026-03-01", "enterprise", "120"),
                r("2026-03-01", "smb", "30"),
            ]
        );
        assert_eq!(rows(&data[1]), vec![r("2026-01-01", "*", "0.5")]);
        assert_eq!(data[1]["points"][0]["periodEnd"], "2026-03-31");
        assert_eq!(
            rows(&data[2]),
            vec![
                r("2026-04-01", "*", "0.1"),
                r("2026-05-01", "*", "0"),
                r("2026-06-01", "*", &div("-50", "150")),
            ]
        );
        assert_eq!(
            rows(&data[3]),
            vec![
                r("2026-04-01", "enterprise", "(no value for `costs`)"),
                r("2026-04-01", "smb", "(no value for `costs`)"),
            ]
        );

        // Relative panels move with asOf; fixed ones do not.
        let march = app
            .ok(
                "bi",
                DATA,
                json!({ "id": saved["id"], "asOf": "2026-03-31" }),
            )
            .await["dashboard"]["data"]
            .clone();
        assert_eq!(march[0], data[0]);
        assert_eq!(march[2]["from"], "2026-01-01");
        assert_eq!(
            rows(&march[2]),
            vec![
                r("2026-01-01", "*", "0.5"),
                r("2026-02-01", "*", "0.5"),
                r("2026-03-01", "*", "0.5"),
            ]
        );
        // Without asOf, relative ranges end with today's period.
        let today = chrono::Utc::now().date_naive();
        let now =
            app.ok("bi", DATA, json!({ "id": saved["id"] })).await["dashboard"]["data"].clone();
        let to = chrono::NaiveDate::from_str(now[2]["to"].as_str().unwrap()).unwrap();
        assert!(to >= today && (to - today).num_days() < 31, "{now:#}");
    }
);

on_both_backends!(
    deleting_roles_and_other_organizations,
    |app: TestApp| async move {
        seed(&app).await;
        let panels = vec![four_panels()[0].clone()];
        // Only admin and revops save and delete.
        let mut own = Vec::new();
        for role in ["admin", "revops"] {
            own.push(
                save(&app, role, dashboard(role, "ORGANIZATION", panels.clone())).await["id"]
                    .clone(),
            );
        }
        let shared = save(
            &app,
            "revops",
            dashboard("Shared", "ORGANIZATION", panels.clone()),
        )
        .await;
        let id = shared["id"].clone();
        for role in [
            "finance",
            "executive",
            "hr",
            "manager",
            "member",
            "bi",
            "hr_sync",
        ] {
            let body = app
                .gql(
                    role,
                    SAVE,
                    json!({ "input": dashboard("x", "PRIVATE", panels.clone()) }),
                )
                .await;
            assert_code(&body, "FORBIDDEN");
            let body = app.gql(role, DELETE, json!({ "id": id })).await;
            assert_code(&body, "FORBIDDEN");
        }
        for role in ["executive", "finance", "hr", "manager", "member", "bi"] {
            let got = get_with(&app, &app.token(&[role]), &id).await;
            assert_eq!(got["name"], "Shared", "{role}");
        }
        let body = app.gql("hr_sync", GET, json!({ "id": id })).await;
        assert_code(&body, "FORBIDDEN");

        // Another organization sees nothing and cannot touch it.
        let other = app.create_org("Globex").await;
        let globex = app.token_for(other, "ada-globex", &["admin"]);
        assert!(get_with(&app, &globex, &id).await.is_null());
        assert!(list_with(&app, &globex).await.is_empty());
        let body = app
            .gql_with(
                Some(&globex),
                "query($id: ID!) { node(id: $id) { id } }",
                json!({ "id": id }),
            )
            .await;
        assert!(body["data"]["node"].is_null(), "{body:#}");
        let body = save_with(
            &app,
            &globex,
            json!({ "id": id, "name": "Hijack", "panels": [] }),
        )
        .await;
        assert_code(&body, "NOT_FOUND");
        let body = app
            .gql_with(Some(&globex), DELETE, json!({ "id": id }))
            .await;
        assert_code(&body, "NOT_FOUND");
        // Its panels may not read this organization's metrics either.
        let body = save_with(
            &app,
            &globex,
            dashboard("Theirs", "PRIVATE", panels.clone()),
        )
        .await;
        assert_code(&body, "BAD_USER_INPUT");
        assert_eq!(
            error_field(&body).as_deref(),
            Some("input.panels.0.metricKey")
        );

        // The owner deletes it; it is gone, and a second delete finds nothing.
        let data = app.ok("revops", DELETE, json!({ "id": id })).await;
        assert_eq!(data["deleteDashboard"]["deletedId"], id);
        assert!(get_with(&app, &app.token(&["admin"]), &id).await.is_null());
        let body = app.gql("revops", DELETE, json!({ "id": id })).await;
        assert_code(&body, "NOT_FOUND");
        assert_eq!(
            list_with(&app, &app.token(&["admin"])).await,
            ["admin", "revops"]
        );
        // An administrator deletes anyone's.
        let data = app.ok("admin", DELETE, json!({ "id": own[1] })).await;
        assert_eq!(data["deleteDashboard"]["deletedId"], own[1]);
        assert_eq!(list_with(&app, &app.token(&["revops"])).await, ["admin"]);
    }
);

/// Statements run to read a dashboard's data, after a warm-up request.
async fn statements_for_data(app: &TestApp, id: &Value) -> (u64, usize) {
    app.ok("bi", "{ viewer { subject } }", json!({})).await;
    let before = app.statements();
    let data = app
        .ok("bi", DATA, json!({ "id": id, "asOf": "2026-06-15" }))
        .await;
    let points: usize = data["dashboard"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["points"].as_array().unwrap().len())
        .sum();
    (app.statements() - before, points)
}

on_both_backends!(
    reading_data_costs_the_same_statements_for_3_or_12_panels,
    |app: TestApp| async move {
        seed(&app).await;
        let three: Vec<Value> = four_panels().into_iter().take(3).collect();
        let twelve: Vec<Value> = (0..4).flat_map(|_| three.clone()).collect();
        let small = save(&app, "revops", dashboard("Three", "ORGANIZATION", three)).await;
        let big = save(&app, "revops", dashboard("Twelve", "ORGANIZATION", twelve)).await;
        let (few, few_points) = statements_for_data(&app, &small["id"]).await;
        let (many, many_points) = statements_for_data(&app, &big["id"]).await;
        assert_eq!(few_points, 10);
        assert_eq!(many_points, 40);
        assert_eq!(
            few, many,
            "statements grew with panels: {few} for 3 panels, {many} for 12"
        );
        // The caller's standing (organization and subject, once per request), the dashboard,
        // the glossary (every panel's metrics at once; the formula's inputs are already among
        // them), the values, and the segments.
        assert_eq!(many, 5, "{many} statements");
    }
);

on_both_backends!(
    reads_without_stage_values_hidden_by_totals_roll_up_the_same,
    |app: TestApp| async move {
        use chrono::{Days, NaiveDate};
        use tandem_domain::metrics::Aggregation;
        use tandem_domain::periods::{DateRange, Granularity};
        use tandem_domain::rollup::{Breakdown, roll_up};

        create_segment(&app, "enterprise").await;
        create_segment(&app, "smb").await;
        let mut ids = Vec::new();
        for (key, aggregation) in [("s", "SUM"), ("l", "LAST"), ("a", "AVERAGE"), ("x", "MAX")] {
            ids.push((
                define_metric(&app, key, "CUSTOMER", aggregation).await,
                aggregation,
            ));
        }
        // Pseudo-random days: some record segment totals beside stage values, some only stage
        // values, some an organization total, some nothing; a few months are also recorded
        // monthly.
        let mut seed: u64 = 11;
        let mut next = |n: u64| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) % n
        };
        let base = NaiveDate::from_ymd_opt(2026, 1, 1).expect("date");
        let stages = ["acquisition", "adoption", "retention"];
        let mut rows = Vec::new();
        for key in ["s", "l", "a", "x"] {
            for d in 0..120u64 {
                let day = (base + Days::new(d)).to_string();
                let mut push =
                    |segment: Option<&str>, stage: Option<&str>, granularity: &str, day: &str| {
                        rows.push(json!({
                            "metricKey": key, "periodStart": day, "granularity": granularity,
                            "segmentKey": segment, "stageKey": stage,
                            "value": format!("{}.{}", (rows.len() * 37) % 900, rows.len() % 10),
                        }));
                    };
                match next(5) {
                    0 => continue,
                    1 => push(None, None, "DAY", &day),
                    _ => {}
                }
                for segment in ["enterprise", "smb"] {
                    if next(2) == 0 {
                        push(Some(segment), None, "DAY", &day);
                    }
                    for stage in stages {
                        if next(3) > 0 {
                            push(Some(segment), Some(stage), "DAY", &day);
                        }
                    }
                }
                if next(4) == 0 {
                    push(None, Some("adoption"), "DAY", &day);
                }
            }
            for month in ["2026-02-01", "2026-03-01"] {
                rows.push(
                    json!({ "metricKey": key, "periodStart": month, "granularity": "MONTH",
                    "segmentKey": "smb", "stageKey": null, "value": "7" }),
                );
                rows.push(
                    json!({ "metricKey": key, "periodStart": month, "granularity": "MONTH",
                    "segmentKey": "smb", "stageKey": "retention", "value": "3" }),
                );
            }
        }
        // Three interleaved batches: totals arrive before, with and after the stage values
        // they hide.
        let mut batches = vec![Vec::new(), Vec::new(), Vec::new()];
        for (i, row) in rows.into_iter().enumerate() {
            batches[i % 3].push(row);
        }
        for batch in batches {
            record(&app, batch).await;
        }

        let tenant = app.store.tenant(app.org_id);
        let range = DateRange::new(base, base + Days::new(150)).expect("range");
        let keys: Vec<tandem_domain::metrics::MetricKey> = ["s", "l", "a", "x"]
            .iter()
            .map(|k| tandem_domain::metrics::MetricKey::parse(k).expect("key"))
            .collect();
        let found = tenant.metrics_by_keys(&keys).await.expect("metrics");
        let metric_ids: Vec<uuid::Uuid> = keys.iter().map(|k| found[k].id).collect();
        let all = tenant
            .observation_facts_for(&metric_ids, range)
            .await
            .expect("all facts");
        let fewer = tenant
            .observation_facts_with_totals(&[], &metric_ids, range)
            .await
            .expect("facts without hidden stage values");
        let count = |m: &std::collections::HashMap<uuid::Uuid, Vec<_>>| {
            m.values().map(Vec::len).sum::<usize>()
        };
        assert!(
            count(&fewer) < count(&all) * 3 / 4,
            "hidden stage values are left out: {} of {}",
            count(&fewer),
            count(&all)
        );
        for ((id, aggregation), metric) in ids.iter().zip(&metric_ids) {
            let aggregation: Aggregation = aggregation.parse().expect("aggregation");
            for granularity in [Granularity::Week, Granularity::Month, Granularity::Quarter] {
                for by_segment in [false, true] {
                    let breakdown = Breakdown {
                        by_segment,
                        by_stage: false,
                    };
                    let full = roll_up(&all[metric], aggregation, granularity, breakdown)
                        .expect("roll-up");
                    let pruned = roll_up(&fewer[metric], aggregation, granularity, breakdown)
                        .expect("roll-up");
                    assert!(!full.points.is_empty());
                    assert_eq!(
                        pruned, full,
                        "{id} {aggregation:?} {granularity:?} by segment {by_segment}"
                    );
                }
            }
        }
    }
);
