//! Balanced scorecards end to end: who may define and change company, team and role
//! scorecards, item validation, evaluation for a period with hand-worked numbers, balance and
//! the organization's share of roles with balanced KPIs, and a person's scorecards.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use tandem_tests::{TestApp, error_code, error_field, on_both_backends};

use crate::hr_sync::SYNC;
use crate::people::{UPSERT_PERSON, UPSERT_ROLE, UPSERT_TEAM, as_sub, counts, problem_fields};
use crate::support::{DEFINE_METRIC, create_segment, obs, obs_dim, record};

const CARD: &str = r#"
    id name ownerKind greenScore amberScore createdAt updatedAt
    role { key } team { externalId }
    items { totalCount nodes { metric { key } segment { key } weight target green amber position } }
"#;

fn define_q() -> String {
    format!(
        "mutation($input: DefineScorecardInput!) {{ defineScorecard(input: $input) {{ scorecard {{ {CARD} }} }} }}"
    )
}

fn update_q() -> String {
    format!(
        "mutation($input: UpdateScorecardInput!) {{ updateScorecard(input: $input) {{ scorecard {{ {CARD} }} }} }}"
    )
}

fn assign_q() -> String {
    format!(
        "mutation($input: RoleKpiAssignmentInput!) {{ assignRoleKpis(input: $input) {{ changed scorecard {{ {CARD} }} }} }}"
    )
}

const EVALUATE: &str = r#"
query($id: ID!, $p: Date!, $g: Granularity!) {
  node(id: $id) {
    ... on Scorecard {
      evaluation(periodStart: $p, granularity: $g) {
        periodStart periodEnd granularity score status itemsWithoutData
        items {
          hasData actual attainment score status effectiveWeight
          item { metric { key } segment { key } }
        }
      }
    }
  }
}"#;

const BALANCE: &str = r#"
query($id: ID!) {
  node(id: $id) {
    ... on Scorecard {
      balance { balanced reasons maxPerspectiveShare perspectiveShares { perspective share } }
    }
  }
}"#;

const ROLE_BALANCE: &str = r#"{
  roleBalance {
    roleCount balancedCount balancedShare
    unbalancedRoles { totalCount nodes { role { key } reasons } }
  }
}"#;

const SETTINGS: &str = r#"
mutation($share: Decimal!) {
  updateOrganizationSettings(input: { maxPerspectiveShare: $share }) { settings { maxPerspectiveShare } }
}"#;

/// Defines a `COUNT` metric as admin.
async fn metric(app: &TestApp, key: &str, perspective: &str, direction: &str, aggregation: &str) {
    app.ok(
        "admin",
        DEFINE_METRIC,
        json!({ "input": {
            "key": key, "name": key, "definition": format!("Test metric {key}"), "unit": "COUNT",
            "direction": direction, "perspective": perspective, "kind": "OUTPUT",
            "aggregation": aggregation
        } }),
    )
    .await;
}

/// One KPI item.
fn item(metric: &str, weight: &str, target: &str, green: &str, amber: &str) -> Value {
    json!({ "metricKey": metric, "weight": weight, "target": target, "green": green, "amber": amber })
}

/// One KPI item scoped to a segment.
fn seg_item(
    metric: &str,
    segment: &str,
    weight: &str,
    target: &str,
    green: &str,
    amber: &str,
) -> Value {
    let mut i = item(metric, weight, target, green, amber);
    i["segmentKey"] = json!(segment);
    i
}

/// A company scorecard input.
fn company(name: &str, items: Vec<Value>) -> Value {
    json!({ "name": name, "ownerKind": "COMPANY", "items": items })
}

/// Defines a scorecard as `role`, failing on errors; returns it.
async fn define(app: &TestApp, role: &str, input: Value) -> Value {
    app.ok(role, &define_q(), json!({ "input": input })).await["defineScorecard"]["scorecard"]
        .clone()
}

/// Defines a scorecard as `role`; returns the raw body.
async fn try_define(app: &TestApp, role: &str, input: Value) -> Value {
    app.gql(role, &define_q(), json!({ "input": input })).await
}

fn id_of(card: &Value) -> String {
    card["id"].as_str().expect("scorecard id").to_owned()
}

async fn evaluate(app: &TestApp, id: &str, period: &str, granularity: &str) -> Value {
    app.ok(
        "member",
        EVALUATE,
        json!({ "id": id, "p": period, "g": granularity }),
    )
    .await["node"]["evaluation"]
        .clone()
}

async fn balance(app: &TestApp, id: &str) -> Value {
    app.ok("bi", BALANCE, json!({ "id": id })).await["node"]["balance"].clone()
}

fn metric_keys(card: &Value) -> Vec<String> {
    card["items"]["nodes"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["metric"]["key"].as_str().unwrap().to_owned())
        .collect()
}

fn assert_code(body: &Value, code: &str, what: &str) {
    assert_eq!(error_code(body).as_deref(), Some(code), "{what}: {body:#}");
}

fn assert_bad_input(body: &Value, field: &str, what: &str) {
    assert_code(body, "BAD_USER_INPUT", what);
    assert_eq!(
        error_field(body).as_deref(),
        Some(field),
        "{what}: {body:#}"
    );
}

/// The metrics and segments the evaluation tests use, and March 2026's observations:
///
/// | metric         | perspective      | direction | aggregation | recorded                             |
/// |----------------|------------------|-----------|-------------|--------------------------------------|
/// | revenue        | FINANCIAL        | higher    | SUM         | days 03-01: 40 (enterprise 15, smb 25), 03-15: 50 (enterprise 20, smb 30) |
/// | arr            | FINANCIAL        | higher    | LAST        | days 03-01: 1000, 03-31: 1200        |
/// | churn          | CUSTOMER         | lower     | AVERAGE     | days 03-01: 3, 03-31: 5              |
/// | training_hours | LEARNING_GROWTH  | higher    | SUM         | nothing                              |
/// | incidents      | INTERNAL_PROCESS | lower     | SUM         | day 03-05: 2                         |
/// | escalations    | CUSTOMER         | lower     | SUM         | day 03-05: 0                         |
/// | cash_flow      | FINANCIAL        | higher    | LAST        | month 03: -50                        |
/// | nps            | CUSTOMER         | higher    | LAST        | month 03: 60                         |
async fn seed_march(app: &TestApp) {
    for (key, perspective, direction, aggregation) in [
        ("revenue", "FINANCIAL", "HIGHER_IS_BETTER", "SUM"),
        ("arr", "FINANCIAL", "HIGHER_IS_BETTER", "LAST"),
        ("churn", "CUSTOMER", "LOWER_IS_BETTER", "AVERAGE"),
        (
            "training_hours",
            "LEARNING_GROWTH",
            "HIGHER_IS_BETTER",
            "SUM",
        ),
        ("incidents", "INTERNAL_PROCESS", "LOWER_IS_BETTER", "SUM"),
        ("escalations", "CUSTOMER", "LOWER_IS_BETTER", "SUM"),
        ("cash_flow", "FINANCIAL", "HIGHER_IS_BETTER", "LAST"),
        ("nps", "CUSTOMER", "HIGHER_IS_BETTER", "LAST"),
    ] {
        metric(app, key, perspective, direction, aggregation).await;
    }
    create_segment(app, "enterprise").await;
    create_segment(app, "smb").await;
    record(
        app,
        vec![
            obs("revenue", "2026-03-01", "DAY", "40"),
            obs_dim(
                "revenue",
                "2026-03-01",
                "DAY",
                Some("enterprise"),
                None,
                "15",
            ),
            obs_dim("revenue", "2026-03-01", "DAY", Some("smb"), None, "25"),
            obs("revenue", "2026-03-15", "DAY", "50"),
            obs_dim(
                "revenue",
                "2026-03-15",
                "DAY",
                Some("enterprise"),
                None,
                "20",
            ),
            obs_dim("revenue", "2026-03-15", "DAY", Some("smb"), None, "30"),
            obs("arr", "2026-03-01", "DAY", "1000"),
            obs("arr", "2026-03-31", "DAY", "1200"),
            obs("churn", "2026-03-01", "DAY", "3"),
            obs("churn", "2026-03-31", "DAY", "5"),
            obs("incidents", "2026-03-05", "DAY", "2"),
            obs("escalations", "2026-03-05", "DAY", "0"),
            obs("cash_flow", "2026-03-01", "MONTH", "-50"),
            obs("nps", "2026-03-01", "MONTH", "60"),
        ],
    )
    .await;
}

// --- Who may define and change scorecards --------------------------------------------------

on_both_backends!(
    company_and_team_scorecards_are_defined_by_executives_and_admins_only,
    |app: TestApp| async move {
        metric(&app, "new_arr", "FINANCIAL", "HIGHER_IS_BETTER", "SUM").await;
        metric(&app, "nps", "CUSTOMER", "HIGHER_IS_BETTER", "LAST").await;
        app.ok(
            "hr",
            UPSERT_TEAM,
            json!({ "input": { "externalId": "T-SALES", "name": "Sales" } }),
        )
        .await;
        let items = || {
            vec![
                item("new_arr", "0.6", "100", "100", "80"),
                item("nps", "0.4", "40", "40", "30"),
            ]
        };
        let team_input = |name: &str| json!({ "name": name, "ownerKind": "TEAM", "teamExternalId": "T-SALES", "items": items() });
        for role in [
            "hr", "revops", "finance", "manager", "member", "bi", "hr_sync",
        ] {
            let body = try_define(&app, role, company("Company", items())).await;
            assert_code(&body, "FORBIDDEN", role);
            let body = try_define(&app, role, team_input("Sales")).await;
            assert_code(&body, "FORBIDDEN", role);
        }
        assert_eq!(counts(&app).await["scorecards"]["totalCount"], 0);

        let co = define(&app, "executive", company("Company 2026", items())).await;
        assert_eq!(co["name"], "Company 2026");
        assert_eq!(co["ownerKind"], "COMPANY");
        assert!(co["role"].is_null() && co["team"].is_null(), "{co:#}");
        assert_eq!(co["greenScore"], "0.95", "default thresholds");
        assert_eq!(co["amberScore"], "0.8");
        assert_eq!(co["items"]["totalCount"], 2);
        assert_eq!(
            co["items"]["nodes"][0],
            json!({ "metric": { "key": "new_arr" }, "segment": null, "weight": "0.6",
                    "target": "100", "green": "100", "amber": "80", "position": 1 })
        );
        assert_eq!(co["items"]["nodes"][1]["position"], 2);

        let mut input = team_input("Sales scorecard");
        input["greenScore"] = json!("0.9");
        input["amberScore"] = json!("0.7");
        let team = define(&app, "admin", input).await;
        assert_eq!(team["ownerKind"], "TEAM");
        assert_eq!(team["team"]["externalId"], "T-SALES");
        assert!(team["role"].is_null());
        assert_eq!(team["greenScore"], "0.9");
        assert_eq!(team["amberScore"], "0.7");

        let by_kind = app
            .ok(
                "member",
                r#"{ company: scorecards(ownerKind: COMPANY) { totalCount nodes { name } }
                     team: scorecards(ownerKind: TEAM) { totalCount nodes { name } }
                     role: scorecards(ownerKind: ROLE) { totalCount }
                     all: scorecards { totalCount } }"#,
                json!({}),
            )
            .await;
        assert_eq!(
            by_kind["company"]["nodes"],
            json!([{ "name": "Company 2026" }])
        );
        assert_eq!(
            by_kind["team"]["nodes"],
            json!([{ "name": "Sales scorecard" }])
        );
        assert_eq!(by_kind["role"]["totalCount"], 0);
        assert_eq!(by_kind["all"]["totalCount"], 2);

        // A team scorecard needs a team that exists.
        let mut no_team = team_input("X");
        no_team.as_object_mut().unwrap().remove("teamExternalId");
        assert_bad_input(
            &try_define(&app, "executive", no_team).await,
            "input.teamExternalId",
            "no team",
        );
        let mut unknown = team_input("X");
        unknown["teamExternalId"] = json!("T-404");
        assert_bad_input(
            &try_define(&app, "executive", unknown).await,
            "input.teamExternalId",
            "unknown team",
        );
        assert_eq!(counts(&app).await["scorecards"]["totalCount"], 2);
    }
);

on_both_backends!(
    role_scorecards_are_defined_by_hr_and_admins_only,
    |app: TestApp| async move {
        metric(&app, "new_arr", "FINANCIAL", "HIGHER_IS_BETTER", "SUM").await;
        metric(&app, "nps", "CUSTOMER", "HIGHER_IS_BETTER", "LAST").await;
        for (key, name) in [("csm", "CSM"), ("account_executive", "AE")] {
            app.ok(
                "hr",
                UPSERT_ROLE,
                json!({ "input": { "key": key, "name": name } }),
            )
            .await;
        }
        let role_input = |key: &str| {
            json!({ "name": format!("{key} card"), "ownerKind": "ROLE", "roleKey": key,
                    "items": [item("new_arr", "1", "100", "100", "80"), item("nps", "1", "40", "40", "30")] })
        };
        for role in [
            "executive",
            "revops",
            "finance",
            "manager",
            "member",
            "bi",
            "hr_sync",
        ] {
            let body = try_define(&app, role, role_input("csm")).await;
            assert_code(&body, "FORBIDDEN", role);
        }
        let csm = define(&app, "hr", role_input("csm")).await;
        assert_eq!(csm["ownerKind"], "ROLE");
        assert_eq!(csm["role"]["key"], "csm");
        assert!(csm["team"].is_null());
        let ae = define(&app, "admin", role_input("account_executive")).await;
        assert_eq!(ae["role"]["key"], "account_executive");

        let mut no_role = role_input("csm");
        no_role.as_object_mut().unwrap().remove("roleKey");
        assert_bad_input(
            &try_define(&app, "hr", no_role).await,
            "input.roleKey",
            "no role",
        );
        assert_bad_input(
            &try_define(&app, "hr", role_input("ghost")).await,
            "input.roleKey",
            "unknown role",
        );

        let roles = app
            .ok(
                "member",
                "{ jobRoles { nodes { key scorecard { id name } } } }",
                json!({}),
            )
            .await;
        assert_eq!(roles["jobRoles"]["nodes"][0]["scorecard"]["id"], ae["id"]);
        assert_eq!(roles["jobRoles"]["nodes"][1]["scorecard"]["id"], csm["id"]);
        assert_eq!(counts(&app).await["scorecards"]["totalCount"], 2);
    }
);

on_both_backends!(
    assign_role_kpis_sets_and_replaces_a_roles_items,
    |app: TestApp| async move {
        metric(&app, "new_arr", "FINANCIAL", "HIGHER_IS_BETTER", "SUM").await;
        metric(&app, "nps", "CUSTOMER", "HIGHER_IS_BETTER", "LAST").await;
        app.ok(
            "hr",
            UPSERT_ROLE,
            json!({ "input": { "key": "csm", "name": "Customer Success Manager" } }),
        )
        .await;
        let both = json!({ "roleKey": "csm", "items": [
            item("nps", "0.5", "40", "40", "30"),
            item("new_arr", "0.5", "100", "100", "80"),
        ] });
        for role in ["executive", "revops", "finance", "manager", "member", "bi"] {
            let body = app.gql(role, &assign_q(), json!({ "input": both })).await;
            assert_code(&body, "FORBIDDEN", role);
        }
        assert_eq!(counts(&app).await["scorecards"]["totalCount"], 0);

        let first =
            app.ok("hr", &assign_q(), json!({ "input": both })).await["assignRoleKpis"].clone();
        assert_eq!(first["changed"], true);
        let card = &first["scorecard"];
        assert_eq!(card["name"], "Customer Success Manager KPIs");
        assert_eq!(card["ownerKind"], "ROLE");
        assert_eq!(card["role"]["key"], "csm");
        assert_eq!(metric_keys(card), vec!["nps", "new_arr"]);

        let again =
            app.ok("hr", &assign_q(), json!({ "input": both })).await["assignRoleKpis"].clone();
        assert_eq!(again["changed"], false, "{again:#}");
        assert_eq!(again["scorecard"]["id"], card["id"]);

        let one = json!({ "roleKey": "csm", "items": [item("new_arr", "2", "120", "120", "90")] });
        let replaced =
            app.ok("admin", &assign_q(), json!({ "input": one })).await["assignRoleKpis"].clone();
        assert_eq!(replaced["changed"], true);
        assert_eq!(replaced["scorecard"]["id"], card["id"], "same scorecard");
        assert_eq!(replaced["scorecard"]["items"]["totalCount"], 1);
        assert_eq!(
            replaced["scorecard"]["items"]["nodes"][0],
            json!({ "metric": { "key": "new_arr" }, "segment": null, "weight": "2",
                    "target": "120", "green": "120", "amber": "90", "position": 1 })
        );
        assert_eq!(counts(&app).await["scorecards"]["totalCount"], 1);

        let unknown_role = app
            .gql(
                "hr",
                &assign_q(),
                json!({ "input": { "roleKey": "ghost", "items": [] } }),
            )
            .await;
        assert_bad_input(&unknown_role, "input.roleKey", "unknown role");
        let unknown_metric = app
            .gql(
                "hr",
                &assign_q(),
                json!({ "input": { "roleKey": "csm", "items": [item("nope", "1", "1", "1", "1")] } }),
            )
            .await;
        assert_bad_input(
            &unknown_metric,
            "input.items[0].metricKey",
            "unknown metric",
        );
        let card = app
            .ok(
                "hr",
                r#"{ jobRoles { nodes { scorecard { items { totalCount } } } } }"#,
                json!({}),
            )
            .await;
        assert_eq!(
            card["jobRoles"]["nodes"][0]["scorecard"]["items"]["totalCount"], 1,
            "a refused assignment leaves the items alone"
        );
    }
);

on_both_backends!(
    update_scorecard_replaces_items_renames_and_changes_score_thresholds,
    |app: TestApp| async move {
        metric(&app, "new_arr", "FINANCIAL", "HIGHER_IS_BETTER", "SUM").await;
        metric(&app, "nps", "CUSTOMER", "HIGHER_IS_BETTER", "LAST").await;
        let co = define(
            &app,
            "executive",
            company(
                "Company",
                vec![
                    item("new_arr", "0.6", "100", "100", "80"),
                    item("nps", "0.4", "40", "40", "30"),
                ],
            ),
        )
        .await;
        let id = id_of(&co);
        let update = |role: &'static str, patch: Value| {
            let app = &app;
            let mut input = patch;
            input["id"] = json!(id.clone());
            async move { app.gql(role, &update_q(), json!({ "input": input })).await }
        };

        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let renamed = update("executive", json!({ "name": "Company 2026" })).await;
        let renamed = &renamed["data"]["updateScorecard"]["scorecard"];
        assert_eq!(renamed["name"], "Company 2026");
        assert_eq!(renamed["items"], co["items"], "items stay when omitted");
        assert_eq!(renamed["greenScore"], "0.95");
        assert_eq!(renamed["createdAt"], co["createdAt"]);
        assert!(renamed["updatedAt"].as_str() > co["updatedAt"].as_str());

        let body = update("admin", json!({ "greenScore": "0.9", "amberScore": "0.6" })).await;
        let card = &body["data"]["updateScorecard"]["scorecard"];
        assert_eq!(card["greenScore"], "0.9", "{body:#}");
        assert_eq!(card["amberScore"], "0.6");
        assert_eq!(card["name"], "Company 2026");

        let body = update(
            "executive",
            json!({ "items": [item("nps", "1", "50", "50", "45")] }),
        )
        .await;
        let card = &body["data"]["updateScorecard"]["scorecard"];
        assert_eq!(card["items"]["totalCount"], 1, "{body:#}");
        assert_eq!(
            card["items"]["nodes"][0],
            json!({ "metric": { "key": "nps" }, "segment": null, "weight": "1",
                    "target": "50", "green": "50", "amber": "45", "position": 1 })
        );
        let after_items = card.clone();

        // A green score below the current amber score is refused.
        let body = update("executive", json!({ "greenScore": "0.5" })).await;
        assert_bad_input(&body, "input.greenScore", "green below amber");
        let body = update("executive", json!({ "amberScore": "-0.1" })).await;
        assert_code(&body, "BAD_USER_INPUT", "negative amber");
        // Bad items leave the old ones in place.
        let body = update(
            "executive",
            json!({ "name": "Renamed", "items": [item("nope", "1", "1", "1", "1")] }),
        )
        .await;
        assert_bad_input(&body, "input.items[0].metricKey", "unknown metric");
        for role in ["hr", "member", "bi", "manager", "revops", "finance"] {
            assert_code(
                &update(role, json!({ "name": "Mine" })).await,
                "FORBIDDEN",
                role,
            );
        }
        let now = app
            .ok(
                "member",
                &format!("query($id: ID!) {{ node(id: $id) {{ ... on Scorecard {{ {CARD} }} }} }}"),
                json!({ "id": id }),
            )
            .await["node"]
            .clone();
        assert_eq!(now, after_items, "refused updates changed nothing");

        // Role scorecards are hr's, not the executive's.
        app.ok(
            "hr",
            UPSERT_ROLE,
            json!({ "input": { "key": "csm", "name": "CSM" } }),
        )
        .await;
        let role_card = app
            .ok(
                "hr",
                &assign_q(),
                json!({ "input": { "roleKey": "csm", "items": [item("nps", "1", "40", "40", "30")] } }),
            )
            .await["assignRoleKpis"]["scorecard"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let patch = json!({ "input": { "id": role_card, "name": "CSM scorecard" } });
        assert_code(
            &app.gql("executive", &update_q(), patch.clone()).await,
            "FORBIDDEN",
            "executive on a role card",
        );
        let ok = app.ok("hr", &update_q(), patch).await;
        assert_eq!(ok["updateScorecard"]["scorecard"]["name"], "CSM scorecard");

        // Ids that are not scorecards of this organization.
        let person = app
            .ok(
                "hr",
                UPSERT_PERSON,
                json!({ "input": { "externalId": "P1", "name": "Ana" } }),
            )
            .await["upsertPerson"]["person"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let body = app
            .gql(
                "admin",
                &update_q(),
                json!({ "input": { "id": person, "name": "X" } }),
            )
            .await;
        assert_bad_input(&body, "input.id", "a person's id");
        let missing = URL_SAFE_NO_PAD.encode(format!("Scorecard:{}", uuid::Uuid::nil()));
        let body = app
            .gql(
                "admin",
                &update_q(),
                json!({ "input": { "id": missing, "name": "X" } }),
            )
            .await;
        assert_code(&body, "NOT_FOUND", "no such scorecard");
    }
);

// --- Validation ----------------------------------------------------------------------------

on_both_backends!(
    scorecard_items_are_validated_by_path_and_nothing_is_written,
    |app: TestApp| async move {
        metric(&app, "new_arr", "FINANCIAL", "HIGHER_IS_BETTER", "SUM").await;
        metric(&app, "ttv", "CUSTOMER", "LOWER_IS_BETTER", "AVERAGE").await;
        metric(&app, "old", "FINANCIAL", "HIGHER_IS_BETTER", "SUM").await;
        create_segment(&app, "enterprise").await;
        let old = app
            .ok("admin", r#"{ metric(key: "old") { id } }"#, json!({}))
            .await["metric"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        for op in ["approveMetric", "retireMetric"] {
            app.ok(
                "revops",
                &format!(
                    "mutation($id: ID!) {{ {op}(input: {{ id: $id }}) {{ metric {{ status }} }} }}"
                ),
                json!({ "id": old }),
            )
            .await;
        }
        let ok_item = || item("new_arr", "1", "100", "100", "80");
        let too_many: Vec<Value> = (0..101).map(|_| ok_item()).collect();
        let cases: Vec<(&str, Value, &str)> = vec![
            (
                "unknown metric",
                company("X", vec![item("nope", "1", "1", "1", "1")]),
                "input.items[0].metricKey",
            ),
            (
                "retired metric",
                company("X", vec![item("old", "1", "1", "1", "1")]),
                "input.items[0].metricKey",
            ),
            (
                "unknown segment",
                company(
                    "X",
                    vec![seg_item("new_arr", "mid-market", "1", "100", "100", "80")],
                ),
                "input.items[0].segmentKey",
            ),
            (
                "the same metric and segment twice",
                company(
                    "X",
                    vec![
                        seg_item("new_arr", "enterprise", "1", "100", "100", "80"),
                        seg_item("new_arr", "enterprise", "1", "50", "50", "40"),
                    ],
                ),
                "input.items[1]",
            ),
            (
                "the same metric twice without a segment",
                company(
                    "X",
                    vec![ok_item(), item("ttv", "1", "14", "14", "21"), ok_item()],
                ),
                "input.items[2]",
            ),
            (
                "negative weight",
                company("X", vec![item("new_arr", "-0.1", "100", "100", "80")]),
                "input.items[0].weight",
            ),
            (
                "weight that is not a number",
                company("X", vec![item("new_arr", "heavy", "100", "100", "80")]),
                "input.items[0].weight",
            ),
            (
                "green below amber when higher is better",
                company("X", vec![item("new_arr", "1", "100", "80", "100")]),
                "input.items[0].green",
            ),
            (
                "green above amber when lower is better",
                company("X", vec![item("ttv", "1", "14", "21", "14")]),
                "input.items[0].green",
            ),
            (
                "green score below amber score",
                json!({ "name": "X", "ownerKind": "COMPANY", "greenScore": "0.7", "amberScore": "0.8", "items": [ok_item()] }),
                "input.greenScore",
            ),
            ("more than 100 items", company("X", too_many), "input.items"),
            ("an empty name", company(" ", vec![ok_item()]), "input.name"),
        ];
        let before = counts(&app).await;
        for (what, input, field) in cases {
            let body = try_define(&app, "admin", input).await;
            assert_bad_input(&body, field, what);
        }
        assert_eq!(
            counts(&app).await,
            before,
            "a refused definition wrote something"
        );

        // Every item problem is listed, not just the first.
        let body = try_define(
            &app,
            "admin",
            company(
                "X",
                vec![
                    item("nope", "1", "1", "1", "1"),
                    item("ttv", "1", "14", "21", "14"),
                ],
            ),
        )
        .await;
        assert_eq!(
            problem_fields(&body),
            vec!["input.items[0].metricKey", "input.items[1].green"]
        );

        // The same metric for the total and for a segment are two items; equal thresholds are
        // allowed in either direction; a zero weight is allowed.
        let card = define(
            &app,
            "admin",
            company(
                "Y",
                vec![
                    ok_item(),
                    seg_item("new_arr", "enterprise", "0", "50", "50", "40"),
                    item("ttv", "1", "14", "14", "14"),
                ],
            ),
        )
        .await;
        assert_eq!(card["items"]["totalCount"], 3);
        assert_eq!(card["items"]["nodes"][1]["segment"]["key"], "enterprise");
    }
);

on_both_backends!(
    a_role_or_a_team_holds_at_most_one_scorecard,
    |app: TestApp| async move {
        metric(&app, "new_arr", "FINANCIAL", "HIGHER_IS_BETTER", "SUM").await;
        app.ok(
            "hr",
            UPSERT_ROLE,
            json!({ "input": { "key": "csm", "name": "CSM" } }),
        )
        .await;
        app.ok(
            "hr",
            UPSERT_TEAM,
            json!({ "input": { "externalId": "T-1", "name": "One" } }),
        )
        .await;
        let items = || vec![item("new_arr", "1", "100", "100", "80")];
        app.ok(
            "hr",
            &assign_q(),
            json!({ "input": { "roleKey": "csm", "items": items() } }),
        )
        .await;
        define(
            &app,
            "executive",
            json!({ "name": "Team one", "ownerKind": "TEAM", "teamExternalId": "T-1", "items": items() }),
        )
        .await;
        let before = counts(&app).await;
        let body = try_define(
            &app,
            "hr",
            json!({ "name": "Another", "ownerKind": "ROLE", "roleKey": "csm", "items": items() }),
        )
        .await;
        assert_code(&body, "CONFLICT", "second role scorecard");
        let body = try_define(
            &app,
            "admin",
            json!({ "name": "Another", "ownerKind": "TEAM", "teamExternalId": "T-1", "items": items() }),
        )
        .await;
        assert_code(&body, "CONFLICT", "second team scorecard");
        assert_eq!(counts(&app).await, before);
    }
);

// --- Evaluation ----------------------------------------------------------------------------

on_both_backends!(
    evaluation_is_direction_aware_aggregates_by_the_metric_and_normalises_weights,
    |app: TestApp| async move {
        seed_march(&app).await;
        // Worked by hand for March 2026 (default thresholds: GREEN from 0.95, AMBER from 0.8):
        //
        // | item           | weight | actual                    | target | attainment            | status |
        // |----------------|--------|---------------------------|--------|-----------------------|--------|
        // | revenue        | 2      | SUM of days: 40 + 50 = 90 | 100    | 1 + (90-100)/100 = 0.9 | AMBER (80 <= 90 < 100) |
        // | arr            | 1      | LAST day: 1200 (not 2200) | 1000   | 1 + 200/1000 = 1.2    | GREEN  |
        // | churn (lower)  | 1      | AVERAGE: (3 + 5)/2 = 4    | 5      | 1 - (4-5)/5 = 1.2     | GREEN (4 <= 5) |
        // | training_hours | 4      | none                      | 10     | -                     | -      |
        //
        // The weights (2 + 1 + 1 + 4 = 8) do not sum to 1, and training_hours has no data, so
        // they are normalised over the items with data: 2/4 = 0.5, 1/4 = 0.25, 0.25, 0.
        // Score = 0.5 * 0.9 + 0.25 * 1.2 + 0.25 * 1.2 = 0.45 + 0.3 + 0.3 = 1.05 -> GREEN.
        // The segment rows recorded next to revenue's totals are not added in.
        let card = define(
            &app,
            "executive",
            company(
                "Direction and aggregation",
                vec![
                    item("revenue", "2", "100", "100", "80"),
                    item("arr", "1", "1000", "1000", "900"),
                    item("churn", "1", "5", "5", "6"),
                    item("training_hours", "4", "10", "10", "5"),
                ],
            ),
        )
        .await;
        let id = id_of(&card);
        let e = evaluate(&app, &id, "2026-03-01", "MONTH").await;
        assert_eq!(e["periodStart"], "2026-03-01");
        assert_eq!(e["periodEnd"], "2026-03-31");
        assert_eq!(e["granularity"], "MONTH");
        assert_eq!(e["score"], "1.05", "{e:#}");
        assert_eq!(e["status"], "GREEN");
        assert_eq!(e["itemsWithoutData"], 1);
        let expected = json!([
            { "hasData": true, "actual": "90", "attainment": "0.9", "score": "0.9", "status": "AMBER",
              "effectiveWeight": "0.5", "item": { "metric": { "key": "revenue" }, "segment": null } },
            { "hasData": true, "actual": "1200", "attainment": "1.2", "score": "1.2", "status": "GREEN",
              "effectiveWeight": "0.25", "item": { "metric": { "key": "arr" }, "segment": null } },
            { "hasData": true, "actual": "4", "attainment": "1.2", "score": "1.2", "status": "GREEN",
              "effectiveWeight": "0.25", "item": { "metric": { "key": "churn" }, "segment": null } },
            { "hasData": false, "actual": null, "attainment": null, "score": null, "status": null,
              "effectiveWeight": "0", "item": { "metric": { "key": "training_hours" }, "segment": null } },
        ]);
        assert_eq!(e["items"], expected, "{e:#}");

        // The quarter holds only March's data, so Q1 comes out the same.
        let q = evaluate(&app, &id, "2026-01-01", "QUARTER").await;
        assert_eq!(q["periodEnd"], "2026-03-31");
        assert_eq!(q["score"], "1.05", "{q:#}");
        assert_eq!(q["items"], expected);

        // A period start that does not begin a period is refused.
        let body = app
            .gql(
                "member",
                EVALUATE,
                json!({ "id": id, "p": "2026-03-02", "g": "MONTH" }),
            )
            .await;
        assert_code(&body, "BAD_USER_INPUT", "mid-month start");
    }
);

on_both_backends!(
    evaluation_handles_zero_and_negative_targets_segment_scope_and_the_score_cap,
    |app: TestApp| async move {
        seed_march(&app).await;
        // Worked by hand for March 2026, every weight 1 (so 0.2 each once normalised):
        //
        // | item                   | actual                       | target | attainment                  | score | status |
        // |------------------------|------------------------------|--------|-----------------------------|-------|--------|
        // | incidents (lower)      | 2                            | 0      | zero target missed -> 0     | 0     | RED (2 > amber 1) |
        // | escalations (lower)    | 0                            | 0      | zero target met -> 1        | 1     | GREEN (0 <= 0) |
        // | cash_flow              | -50                          | -100   | 1 + (-50+100)/100 = 1.5     | 1.5   | GREEN (-50 >= -100) |
        // | nps                    | 60                           | 20     | 1 + (60-20)/20 = 3          | 1.5 (capped) | GREEN |
        // | revenue @ enterprise   | 15 + 20 = 35 (not 90 or 100) | 50     | 1 + (35-50)/50 = 0.7        | 0.7   | RED (35 < amber 40) |
        //
        // Score = (0 + 1 + 1.5 + 1.5 + 0.7) / 5 = 4.7 / 5 = 0.94 -> AMBER (0.8 <= 0.94 < 0.95).
        // Without the cap nps would add 3 and the score would be 1.24, GREEN.
        let card = define(
            &app,
            "admin",
            company(
                "Edges",
                vec![
                    item("incidents", "1", "0", "0", "1"),
                    item("escalations", "1", "0", "0", "1"),
                    item("cash_flow", "1", "-100", "-100", "-150"),
                    item("nps", "1", "20", "20", "10"),
                    seg_item("revenue", "enterprise", "1", "50", "50", "40"),
                ],
            ),
        )
        .await;
        let e = evaluate(&app, &id_of(&card), "2026-03-01", "MONTH").await;
        let row = |i: usize| {
            let r = &e["items"][i];
            (
                r["actual"].clone(),
                r["attainment"].clone(),
                r["score"].clone(),
                r["status"].clone(),
                r["effectiveWeight"].clone(),
            )
        };
        let v = |a: &str, b: &str, c: &str, d: &str| {
            (json!(a), json!(b), json!(c), json!(d), json!("0.2"))
        };
        assert_eq!(row(0), v("2", "0", "0", "RED"), "{e:#}");
        assert_eq!(row(1), v("0", "1", "1", "GREEN"), "{e:#}");
        assert_eq!(row(2), v("-50", "1.5", "1.5", "GREEN"), "{e:#}");
        assert_eq!(row(3), v("60", "3", "1.5", "GREEN"), "{e:#}");
        assert_eq!(row(4), v("35", "0.7", "0.7", "RED"), "{e:#}");
        assert_eq!(e["items"][4]["item"]["segment"]["key"], "enterprise");
        assert_eq!(e["itemsWithoutData"], 0);
        assert_eq!(e["score"], "0.94");
        assert_eq!(e["status"], "AMBER");

        // A segment with no rows for the period has no data, even though the total does.
        let smb_only = define(
            &app,
            "admin",
            company(
                "SMB",
                vec![
                    seg_item("nps", "smb", "1", "20", "20", "10"),
                    seg_item("revenue", "smb", "3", "50", "50", "40"),
                ],
            ),
        )
        .await;
        // revenue @ smb = 25 + 30 = 55 -> 1 + 5/50 = 1.1, the only item with data.
        let e = evaluate(&app, &id_of(&smb_only), "2026-03-01", "MONTH").await;
        assert_eq!(e["items"][0]["hasData"], false, "{e:#}");
        assert_eq!(e["items"][1]["actual"], "55");
        assert_eq!(e["items"][1]["effectiveWeight"], "1");
        assert_eq!(e["itemsWithoutData"], 1);
        assert_eq!(e["score"], "1.1");
    }
);

on_both_backends!(
    a_period_without_observations_has_no_score_and_no_status,
    |app: TestApp| async move {
        seed_march(&app).await;
        let card = define(
            &app,
            "admin",
            company(
                "Quiet",
                vec![
                    item("revenue", "1", "100", "100", "80"),
                    item("nps", "1", "20", "20", "10"),
                ],
            ),
        )
        .await;
        let e = evaluate(&app, &id_of(&card), "2026-02-01", "MONTH").await;
        assert!(e["score"].is_null(), "{e:#}");
        assert!(e["status"].is_null(), "{e:#}");
        assert_eq!(e["itemsWithoutData"], 2);
        for i in 0..2 {
            let r = &e["items"][i];
            assert_eq!(r["hasData"], false);
            assert!(r["actual"].is_null() && r["attainment"].is_null() && r["score"].is_null());
            assert!(r["status"].is_null());
            assert_eq!(r["effectiveWeight"], "0");
        }
        // A scorecard without items has nothing to score either.
        let empty = define(&app, "admin", company("Empty", vec![])).await;
        let e = evaluate(&app, &id_of(&empty), "2026-03-01", "MONTH").await;
        assert!(e["score"].is_null(), "{e:#}");
        assert_eq!(e["itemsWithoutData"], 0);
        assert_eq!(e["items"], json!([]));
    }
);

on_both_backends!(
    status_changes_exactly_at_the_thresholds,
    |app: TestApp| async move {
        metric(&app, "revenue", "FINANCIAL", "HIGHER_IS_BETTER", "SUM").await;
        metric(&app, "churn", "CUSTOMER", "LOWER_IS_BETTER", "AVERAGE").await;
        record(
            &app,
            vec![
                obs("revenue", "2026-04-01", "MONTH", "100"),
                obs("revenue", "2026-05-01", "MONTH", "90"),
                obs("revenue", "2026-06-01", "MONTH", "89.99"),
                obs("churn", "2026-04-01", "MONTH", "5"),
                obs("churn", "2026-05-01", "MONTH", "6"),
                obs("churn", "2026-06-01", "MONTH", "6.01"),
            ],
        )
        .await;
        // Revenue: target 100, GREEN from 100, AMBER from 90; scorecard GREEN from 1, AMBER
        // from 0.9. April 100 -> 1 (GREEN, GREEN); May 90 -> 0.9 (AMBER, AMBER);
        // June 89.99 -> 0.8999 (RED, RED).
        let mut input = company("Revenue", vec![item("revenue", "1", "100", "100", "90")]);
        input["greenScore"] = json!("1");
        input["amberScore"] = json!("0.9");
        let revenue = id_of(&define(&app, "admin", input).await);
        for (month, score, status) in [
            ("2026-04-01", "1", "GREEN"),
            ("2026-05-01", "0.9", "AMBER"),
            ("2026-06-01", "0.8999", "RED"),
        ] {
            let e = evaluate(&app, &revenue, month, "MONTH").await;
            assert_eq!(e["score"], score, "{month}: {e:#}");
            assert_eq!(e["status"], status, "{month}");
            assert_eq!(e["items"][0]["status"], status, "{month}");
        }

        // Churn (lower is better): target 5, GREEN up to 5, AMBER up to 6; default scorecard
        // thresholds 0.95 / 0.8. April 5 -> 1 (GREEN, GREEN); May 6 -> 1 - 1/5 = 0.8
        // (AMBER, AMBER exactly at 0.8); June 6.01 -> 1 - 1.01/5 = 0.798 (RED, RED).
        let churn = id_of(
            &define(
                &app,
                "admin",
                company("Churn", vec![item("churn", "1", "5", "5", "6")]),
            )
            .await,
        );
        for (month, score, item_status, status) in [
            ("2026-04-01", "1", "GREEN", "GREEN"),
            ("2026-05-01", "0.8", "AMBER", "AMBER"),
            ("2026-06-01", "0.798", "RED", "RED"),
        ] {
            let e = evaluate(&app, &churn, month, "MONTH").await;
            assert_eq!(e["score"], score, "{month}: {e:#}");
            assert_eq!(e["items"][0]["status"], item_status, "{month}");
            assert_eq!(e["status"], status, "{month}");
        }

        // Moving the scorecard's thresholds moves the verdict: May's 0.9 is GREEN from 0.9.
        app.ok(
            "executive",
            &update_q(),
            json!({ "input": { "id": revenue, "greenScore": "0.9", "amberScore": "0.85" } }),
        )
        .await;
        let e = evaluate(&app, &revenue, "2026-05-01", "MONTH").await;
        assert_eq!(e["status"], "GREEN", "{e:#}");
        assert_eq!(
            e["items"][0]["status"], "AMBER",
            "item thresholds are unchanged"
        );
        let e = evaluate(&app, &revenue, "2026-06-01", "MONTH").await;
        assert_eq!(e["status"], "AMBER", "{e:#}");
    }
);

// --- Balance -------------------------------------------------------------------------------

on_both_backends!(
    balance_needs_financial_and_customer_items_and_no_perspective_above_the_maximum,
    |app: TestApp| async move {
        seed_march(&app).await;
        let card = |name: &str, items: Vec<Value>| {
            let app = &app;
            let input = company(name, items);
            async move { id_of(&define(app, "admin", input).await) }
        };
        let balanced = card(
            "Balanced",
            vec![
                item("revenue", "0.6", "1", "1", "1"),
                item("nps", "0.4", "1", "1", "1"),
            ],
        )
        .await;
        let b = balance(&app, &balanced).await;
        assert_eq!(
            b,
            json!({ "balanced": true, "reasons": [], "maxPerspectiveShare": "0.7",
                    "perspectiveShares": [
                        { "perspective": "FINANCIAL", "share": "0.6" },
                        { "perspective": "CUSTOMER", "share": "0.4" }
                    ] })
        );

        // Exactly 70% is allowed; the rule is "above".
        let at_max = card(
            "At the maximum",
            vec![
                item("revenue", "7", "1", "1", "1"),
                item("nps", "3", "1", "1", "1"),
            ],
        )
        .await;
        assert_eq!(balance(&app, &at_max).await["balanced"], true);

        // A hair above 70% (0.7000004 rounds to 0.7 at six places) is above: shares are exact.
        let hair = card(
            "A hair above",
            vec![
                item("revenue", "0.7000004", "1", "1", "1"),
                item("nps", "0.2999996", "1", "1", "1"),
            ],
        )
        .await;
        let b = balance(&app, &hair).await;
        assert_eq!(b["balanced"], false, "{b:#}");
        assert_eq!(
            b["reasons"],
            json!(["FINANCIAL holds 70.00004% of the weight, above the maximum of 70%"])
        );
        assert_eq!(b["perspectiveShares"][0]["share"], "0.7000004", "{b:#}");

        let no_customer = card(
            "No customer",
            vec![
                item("revenue", "1", "1", "1", "1"),
                item("incidents", "1", "1", "1", "1"),
            ],
        )
        .await;
        let b = balance(&app, &no_customer).await;
        assert_eq!(b["balanced"], false);
        assert_eq!(b["reasons"], json!(["no CUSTOMER item"]));

        let no_financial = card(
            "No financial",
            vec![
                item("nps", "1", "1", "1", "1"),
                item("training_hours", "1", "1", "1", "1"),
            ],
        )
        .await;
        let b = balance(&app, &no_financial).await;
        assert_eq!(b["balanced"], false);
        assert_eq!(b["reasons"], json!(["no FINANCIAL item"]));

        let heavy = card(
            "Financial heavy",
            vec![
                item("revenue", "0.5", "1", "1", "1"),
                item("arr", "0.3", "1", "1", "1"),
                item("nps", "0.2", "1", "1", "1"),
            ],
        )
        .await;
        let b = balance(&app, &heavy).await;
        assert_eq!(b["balanced"], false);
        assert_eq!(
            b["reasons"],
            json!(["FINANCIAL holds 80% of the weight, above the maximum of 70%"])
        );
        assert_eq!(
            b["perspectiveShares"],
            json!([
                { "perspective": "FINANCIAL", "share": "0.8" },
                { "perspective": "CUSTOMER", "share": "0.2" }
            ])
        );

        // 1 + 1 + 6: INTERNAL_PROCESS holds 6/8 = 75%.
        let process = card(
            "Process heavy",
            vec![
                item("revenue", "1", "1", "1", "1"),
                item("nps", "1", "1", "1", "1"),
                item("incidents", "6", "1", "1", "1"),
            ],
        )
        .await;
        let b = balance(&app, &process).await;
        assert_eq!(
            b["reasons"],
            json!(["INTERNAL_PROCESS holds 75% of the weight, above the maximum of 70%"])
        );
        assert_eq!(
            b["perspectiveShares"],
            json!([
                { "perspective": "FINANCIAL", "share": "0.125" },
                { "perspective": "CUSTOMER", "share": "0.125" },
                { "perspective": "INTERNAL_PROCESS", "share": "0.75" }
            ])
        );

        let empty = card("Empty", vec![]).await;
        let b = balance(&app, &empty).await;
        assert_eq!(
            b["reasons"],
            json!(["no FINANCIAL item", "no CUSTOMER item"])
        );

        // The organization's maximum moves the verdict.
        let settings = app.ok("admin", SETTINGS, json!({ "share": "0.9" })).await;
        assert_eq!(
            settings["updateOrganizationSettings"]["settings"]["maxPerspectiveShare"],
            "0.9"
        );
        let read = app
            .ok(
                "member",
                "{ organizationSettings { maxPerspectiveShare } }",
                json!({}),
            )
            .await;
        assert_eq!(read["organizationSettings"]["maxPerspectiveShare"], "0.9");
        let b = balance(&app, &heavy).await;
        assert_eq!(b["balanced"], true, "{b:#}");
        assert_eq!(b["maxPerspectiveShare"], "0.9");
        assert_eq!(balance(&app, &process).await["balanced"], true);
        // Missing perspectives are not a matter of share.
        assert_eq!(balance(&app, &no_customer).await["balanced"], false);

        app.ok("admin", SETTINGS, json!({ "share": "0.75" })).await;
        assert_eq!(
            balance(&app, &process).await["balanced"],
            true,
            "75% is not above 75%"
        );
        let b = balance(&app, &heavy).await;
        assert_eq!(
            b["reasons"],
            json!(["FINANCIAL holds 80% of the weight, above the maximum of 75%"])
        );
        app.ok("admin", SETTINGS, json!({ "share": "0.5" })).await;
        assert_eq!(balance(&app, &balanced).await["balanced"], false);
    }
);

on_both_backends!(
    only_admins_change_the_maximum_share_and_only_to_a_share,
    |app: TestApp| async move {
        for role in [
            "executive",
            "hr",
            "revops",
            "finance",
            "manager",
            "member",
            "bi",
            "hr_sync",
        ] {
            let body = app.gql(role, SETTINGS, json!({ "share": "0.9" })).await;
            assert_code(&body, "FORBIDDEN", role);
        }
        for bad in ["0", "1.5", "-0.2", "much"] {
            let body = app.gql("admin", SETTINGS, json!({ "share": bad })).await;
            assert_bad_input(&body, "input.maxPerspectiveShare", bad);
        }
        let read = app
            .ok(
                "bi",
                "{ organizationSettings { maxPerspectiveShare } }",
                json!({}),
            )
            .await;
        assert_eq!(read["organizationSettings"]["maxPerspectiveShare"], "0.7");
        let ok = app.ok("admin", SETTINGS, json!({ "share": "1" })).await;
        assert_eq!(
            ok["updateOrganizationSettings"]["settings"]["maxPerspectiveShare"],
            "1"
        );
        // The change is audited.
        let events = app
            .ok(
                "admin",
                "{ auditEvents(first: 1) { nodes { operation entityType before after } } }",
                json!({}),
            )
            .await;
        let e = &events["auditEvents"]["nodes"][0];
        assert_eq!(e["operation"], "updateOrganizationSettings");
        assert_eq!(e["before"]["maxPerspectiveShare"], "0.7");
        assert_eq!(e["after"]["maxPerspectiveShare"], "1");
    }
);

on_both_backends!(
    role_balance_counts_active_roles_and_lists_the_unbalanced_ones,
    |app: TestApp| async move {
        let empty = app.ok("member", ROLE_BALANCE, json!({})).await;
        assert_eq!(empty["roleBalance"]["roleCount"], 0);
        assert!(empty["roleBalance"]["balancedShare"].is_null());

        metric(&app, "new_arr", "FINANCIAL", "HIGHER_IS_BETTER", "SUM").await;
        metric(&app, "nps", "CUSTOMER", "HIGHER_IS_BETTER", "LAST").await;
        let fin = || item("new_arr", "0.6", "1", "1", "1");
        let cus = || item("nps", "0.4", "1", "1", "1");
        app.ok(
            "hr_sync",
            SYNC,
            json!({ "input": {
                "roles": [
                    { "key": "account_executive", "name": "AE" },
                    { "key": "csm", "name": "CSM" },
                    { "key": "sdr", "name": "SDR" },
                    { "key": "legacy", "name": "Legacy", "active": false }
                ],
                "assignments": [
                    { "roleKey": "account_executive", "items": [fin(), cus()] },
                    { "roleKey": "csm", "items": [cus(), fin()] },
                    { "roleKey": "legacy", "items": [fin()] }
                ]
            } }),
        )
        .await;
        // Three active roles; AE and CSM are balanced; SDR has no KPIs; Legacy is inactive
        // and not counted although unbalanced. 2 / 3, exact: 0.6666666666666666666666666667.
        let r = app.ok("bi", ROLE_BALANCE, json!({})).await["roleBalance"].clone();
        assert_eq!(
            r,
            json!({ "roleCount": 3, "balancedCount": 2, "balancedShare": "0.6666666666666666666666666667",
                    "unbalancedRoles": { "totalCount": 1, "nodes": [
                        { "role": { "key": "sdr" }, "reasons": ["no KPI assignment"] }
                    ] } })
        );

        // SDR gets financial KPIs only: still unbalanced, now for its items.
        app.ok(
            "hr",
            &assign_q(),
            json!({ "input": { "roleKey": "sdr", "items": [fin()] } }),
        )
        .await;
        let r = app.ok("member", ROLE_BALANCE, json!({})).await["roleBalance"].clone();
        assert_eq!(r["balancedShare"], "0.6666666666666666666666666667");
        assert_eq!(
            r["unbalancedRoles"]["nodes"],
            json!([{ "role": { "key": "sdr" }, "reasons": [
                "no CUSTOMER item",
                "FINANCIAL holds 100% of the weight, above the maximum of 70%"
            ] }])
        );

        // CSM tips to 80% customer: two unbalanced roles, listed by key.
        app.ok(
            "hr",
            &assign_q(),
            json!({ "input": { "roleKey": "csm", "items": [
                item("nps", "0.8", "1", "1", "1"), item("new_arr", "0.2", "1", "1", "1")
            ] } }),
        )
        .await;
        let r = app.ok("member", ROLE_BALANCE, json!({})).await["roleBalance"].clone();
        assert_eq!(r["balancedCount"], 1);
        assert_eq!(r["balancedShare"], "0.3333333333333333333333333333");
        let keys: Vec<&str> = r["unbalancedRoles"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["role"]["key"].as_str().unwrap())
            .collect();
        assert_eq!(keys, vec!["csm", "sdr"]);

        // A higher maximum share, and retiring SDR, leave AE and CSM both balanced: 2 / 2.
        app.ok("admin", SETTINGS, json!({ "share": "0.8" })).await;
        app.ok(
            "hr",
            UPSERT_ROLE,
            json!({ "input": { "key": "sdr", "name": "SDR", "active": false } }),
        )
        .await;
        let r = app.ok("member", ROLE_BALANCE, json!({})).await["roleBalance"].clone();
        assert_eq!(r["roleCount"], 2, "{r:#}");
        assert_eq!(r["balancedCount"], 2);
        assert_eq!(r["balancedShare"], "1");
        assert_eq!(r["unbalancedRoles"]["totalCount"], 0);
    }
);

// --- A person's scorecards -----------------------------------------------------------------

on_both_backends!(
    a_persons_scorecards_are_those_of_the_roles_they_hold,
    |app: TestApp| async move {
        seed_march(&app).await;
        app.ok(
            "hr_sync",
            SYNC,
            json!({ "input": {
                "roles": [
                    { "key": "account_executive", "name": "Account Executive" },
                    { "key": "csm", "name": "Customer Success Manager" },
                    { "key": "sdr", "name": "SDR" }
                ],
                "people": [
                    { "externalId": "E1", "name": "Ana", "subject": "ana", "roleKeys": ["csm", "account_executive"] },
                    { "externalId": "E2", "name": "Bo", "roleKeys": ["sdr"] },
                    { "externalId": "E3", "name": "Cleo" }
                ],
                "assignments": [
                    { "roleKey": "account_executive", "items": [
                        item("revenue", "0.6", "100", "100", "80"), item("nps", "0.4", "20", "20", "10")
                    ] },
                    { "roleKey": "csm", "items": [item("churn", "1", "5", "5", "6")] }
                ]
            } }),
        )
        .await;
        let q = r#"query($ext: String!) {
            person(externalId: $ext) {
              scorecards { totalCount nodes { name ownerKind role { key }
                evaluation(periodStart: "2026-03-01", granularity: MONTH) { score status } } }
            }
        }"#;
        let ana = app.ok("member", q, json!({ "ext": "E1" })).await["person"]["scorecards"].clone();
        assert_eq!(ana["totalCount"], 2);
        // By name. AE: 0.6 * 0.9 + 0.4 * 1.5 (nps 60 vs 20, capped) = 0.54 + 0.6 = 1.14.
        // CSM: churn 4 vs 5 -> 1.2.
        assert_eq!(
            ana["nodes"],
            json!([
                { "name": "Account Executive KPIs", "ownerKind": "ROLE", "role": { "key": "account_executive" },
                  "evaluation": { "score": "1.14", "status": "GREEN" } },
                { "name": "Customer Success Manager KPIs", "ownerKind": "ROLE", "role": { "key": "csm" },
                  "evaluation": { "score": "1.2", "status": "GREEN" } }
            ])
        );
        // A role without a KPI assignment adds no scorecard; no roles, no scorecards.
        let bo = app.ok("member", q, json!({ "ext": "E2" })).await;
        assert_eq!(bo["person"]["scorecards"]["totalCount"], 0);
        let cleo = app.ok("member", q, json!({ "ext": "E3" })).await;
        assert_eq!(cleo["person"]["scorecards"]["totalCount"], 0);

        // Changing Ana's roles changes her scorecards; `me` reaches them too.
        app.ok(
            "hr",
            UPSERT_PERSON,
            json!({ "input": { "externalId": "E1", "name": "Ana", "subject": "ana", "roleKeys": ["csm"] } }),
        )
        .await;
        let me = as_sub(
            &app,
            "ana",
            "member",
            "{ me { scorecards { nodes { name } } } }",
            json!({}),
        )
        .await;
        assert_eq!(
            me["data"]["me"]["scorecards"]["nodes"],
            json!([{ "name": "Customer Success Manager KPIs" }]),
            "{me:#}"
        );
        // The list of people reaches each person's scorecards too.
        let all = app
            .ok(
                "bi",
                "{ people { nodes { externalId scorecards { totalCount } } } }",
                json!({}),
            )
            .await;
        let counts: Vec<(String, i64)> = all["people"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["externalId"].as_str().unwrap().to_owned(),
                    p["scorecards"]["totalCount"].as_i64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            counts,
            vec![
                ("E1".to_owned(), 1),
                ("E2".to_owned(), 0),
                ("E3".to_owned(), 0)
            ]
        );
    }
);

// --- Audit ---------------------------------------------------------------------------------

on_both_backends!(
    scorecard_changes_are_audited_under_their_own_operation,
    |app: TestApp| async move {
        metric(&app, "new_arr", "FINANCIAL", "HIGHER_IS_BETTER", "SUM").await;
        app.ok(
            "hr",
            UPSERT_ROLE,
            json!({ "input": { "key": "csm", "name": "CSM" } }),
        )
        .await;
        let events = |id: String| {
            let app = &app;
            async move {
                app.ok(
                    "admin",
                    "query($id: ID!) { auditEvents(filter: { entityId: $id }) { totalCount nodes { actor operation entityType before after } } }",
                    json!({ "id": id }),
                )
                .await["auditEvents"]
                    .clone()
            }
        };
        let body = as_sub(
            &app,
            "cfo",
            "executive",
            &define_q(),
            json!({ "input": company("Company", vec![item("new_arr", "1", "100", "100", "80")]) }),
        )
        .await;
        let co = id_of(&body["data"]["defineScorecard"]["scorecard"]);
        let e = events(co.clone()).await;
        assert_eq!(e["totalCount"], 1);
        assert_eq!(e["nodes"][0]["operation"], "defineScorecard");
        assert_eq!(e["nodes"][0]["actor"], "cfo");
        assert_eq!(e["nodes"][0]["entityType"], "Scorecard");
        assert_eq!(e["nodes"][0]["after"]["items"][0]["metricKey"], "new_arr");

        as_sub(
            &app,
            "cfo",
            "executive",
            &update_q(),
            json!({ "input": { "id": co, "name": "Company 2026" } }),
        )
        .await;
        let e = events(co.clone()).await;
        assert_eq!(e["totalCount"], 2);
        assert_eq!(e["nodes"][0]["operation"], "updateScorecard");
        assert_eq!(e["nodes"][0]["before"]["name"], "Company");
        assert_eq!(e["nodes"][0]["after"]["name"], "Company 2026");

        let body = as_sub(
            &app,
            "hr-lead",
            "hr",
            &assign_q(),
            json!({ "input": { "roleKey": "csm", "items": [item("new_arr", "1", "100", "100", "80")] } }),
        )
        .await;
        let role_card = id_of(&body["data"]["assignRoleKpis"]["scorecard"]);
        let e = events(role_card).await;
        assert_eq!(e["totalCount"], 1);
        assert_eq!(e["nodes"][0]["actor"], "hr-lead");
        assert_eq!(e["nodes"][0]["operation"], "assignRoleKpis", "{e:#}");

        // Refused definitions leave no trace.
        let before = counts(&app).await["auditEvents"].clone();
        try_define(
            &app,
            "admin",
            company("Bad", vec![item("nope", "1", "1", "1", "1")]),
        )
        .await;
        try_define(&app, "hr", company("Forbidden", vec![])).await;
        assert_eq!(counts(&app).await["auditEvents"], before);
    }
);
