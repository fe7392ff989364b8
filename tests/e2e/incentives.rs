//! Incentive plans end to end: definitions with curves and customer gates, payout previews,
//! locked and versioned statements, who may see individual pay, plan totals, unbalanced plans,
//! currencies and tenancy.
//!
//! Every expected figure below is worked out by hand in the comment next to it. Attainment is
//! direction-aware (all metrics here are HIGHER_IS_BETTER): attainment = actual / target.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::{Value, json};
use tandem_tests::{TestApp, error_code, error_field, on_both_backends};

use crate::hr_sync::{SYNC, define_metric};

const DEFINE: &str = r#"mutation($input: DefineIncentivePlanInput!) { defineIncentivePlan(input: $input) { plan { id name } } }"#;

const PLANS: &str = r#"
{ incentivePlans(first: 50) { totalCount nodes {
    id name periodStart periodEnd granularity target { amount currency }
    components { name metric { key perspective } target weight curve { attainment payout } threshold cap }
    gates { metric { key perspective } target minAttainment factor }
    roles { key name } balanced createdBy createdAt
} } }"#;

const RECORD: &str = r#"mutation($o: [ObservationInput!]!) { recordObservations(input: { observations: $o }) { created updated } }"#;

/// Every field of a statement (locked or previewed).
const STATEMENT: &str = "id locked version computedBy computedAt person { externalId } \
    total { amount currency } \
    lines { component metric { key } actual attainment curvePayout curveSegment gateApplied payout weight amount { amount currency } } \
    gates { metric { key } actual attainment missed }";

const TOTALS: &str = r#"
query($id: ID!) { planTotals(planId: $id) {
    plan { name }
    overall { group headcount target { amount currency } payout { amount currency } }
    byRole { group headcount target { amount currency } payout { amount currency } }
    byTeam { group headcount target { amount currency } payout { amount currency } }
} }"#;

fn preview_query() -> String {
    format!("query($id: ID!) {{ payoutPreview(planId: $id) {{ {STATEMENT} }} }}")
}

fn compute_query() -> String {
    format!(
        "mutation($id: ID!) {{ computePayouts(input: {{ planId: $id }}) {{ statements {{ {STATEMENT} }} }} }}"
    )
}

fn statements_query() -> String {
    format!(
        "query($f: PayoutStatementFilter) {{ payoutStatements(filter: $f, first: 100) {{ totalCount nodes {{ {STATEMENT} }} }} }}"
    )
}

/// Teams, job roles and people, each person signing in with a token subject:
///
/// - Mia (M, `mia`): manages Ana, Ben and Dee; holds no role.
/// - Ana (A, `ana`): account executive in Sales EMEA, reports to Mia.
/// - Ben (B, `ben`): account executive in Sales, reports to Mia (Ana's peer).
/// - Cy (C, `cy`): account executive in Sales EMEA, no manager.
/// - Dee (D, `dee`): account executive, reports to Mia, no longer active.
/// - Sam (S, `sam`): customer success manager in Sales EMEA.
fn roster() -> Value {
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
            { "externalId": "M", "name": "Mia", "subject": "mia", "teamExternalId": "T-SALES" },
            { "externalId": "A", "name": "Ana", "subject": "ana", "managerExternalId": "M", "teamExternalId": "T-EMEA", "roleKeys": ["account_executive"] },
            { "externalId": "B", "name": "Ben", "subject": "ben", "managerExternalId": "M", "teamExternalId": "T-SALES", "roleKeys": ["account_executive"] },
            { "externalId": "C", "name": "Cy", "subject": "cy", "teamExternalId": "T-EMEA", "roleKeys": ["account_executive"] },
            { "externalId": "D", "name": "Dee", "subject": "dee", "managerExternalId": "M", "teamExternalId": "T-EMEA", "roleKeys": ["account_executive"], "active": false },
            { "externalId": "S", "name": "Sam", "subject": "sam", "teamExternalId": "T-EMEA", "roleKeys": ["csm"] }
        ]
    })
}

/// Three metrics (one FINANCIAL, two CUSTOMER, all summed and higher-is-better) and the roster.
async fn setup(app: &TestApp) {
    define_metric(app, "new_arr", "FINANCIAL", "HIGHER_IS_BETTER").await;
    define_metric(app, "nrr", "CUSTOMER", "HIGHER_IS_BETTER").await;
    define_metric(app, "csat", "CUSTOMER", "HIGHER_IS_BETTER").await;
    app.ok("hr_sync", SYNC, json!({ "input": roster() })).await;
}

/// The account executives' plan for Q1 2026 (2026-01-01 .. 2026-03-31), 10,000.00 EUR at 100%:
///
/// - "New ARR" (FINANCIAL, new_arr against 100,000), weight 3 -> 3/4 = 0.75 of the target;
///   curve 0.5 -> 0.25, 1 -> 1, 1.5 -> 2; threshold 0.5; cap 2.
/// - "Net revenue retention" (CUSTOMER, nrr against 100), weight 1 -> 1/4 = 0.25;
///   curve 0.8 -> 0.5, 1 -> 1; threshold 0.8; cap 1.5.
/// - Gate: csat against 80 must reach 0.9 attainment (72), else financial pays at most 0.5.
fn ae_plan() -> Value {
    json!({
        "name": "AE Q1 2026",
        "periodStart": "2026-01-01",
        "granularity": "QUARTER",
        "target": { "amount": "10000.00", "currency": "EUR" },
        "roleKeys": ["account_executive"],
        "components": [
            { "name": "New ARR", "metricKey": "new_arr", "target": "100000", "weight": "3",
              "curve": { "points": [
                  { "attainment": "0.5", "payout": "0.25" },
                  { "attainment": "1", "payout": "1" },
                  { "attainment": "1.5", "payout": "2" }
              ], "threshold": "0.5", "cap": "2" } },
            { "name": "Net revenue retention", "metricKey": "nrr", "target": "100", "weight": "1",
              "curve": { "points": [
                  { "attainment": "0.8", "payout": "0.5" },
                  { "attainment": "1", "payout": "1" }
              ], "threshold": "0.8", "cap": "1.5" } }
        ],
        "gates": [ { "metricKey": "csat", "target": "80", "minAttainment": "0.9", "factor": "0.5" } ]
    })
}

/// A one-segment curve that pays exactly the attainment (0 -> 0, 2 -> 2), up to 2.
fn identity_curve() -> Value {
    json!({ "points": [
        { "attainment": "0", "payout": "0" },
        { "attainment": "2", "payout": "2" }
    ], "threshold": "0", "cap": "2" })
}

/// Defines a plan as `role`; returns its global id.
async fn define(app: &TestApp, role: &str, input: Value) -> String {
    let data = app.ok(role, DEFINE, json!({ "input": input })).await;
    data["defineIncentivePlan"]["plan"]["id"]
        .as_str()
        .expect("plan id")
        .to_owned()
}

/// Records Q1 2026 values (one QUARTER observation per metric); re-recording replaces.
async fn record(app: &TestApp, values: &[(&str, &str)]) {
    let o: Vec<Value> = values
        .iter()
        .map(|(k, v)| json!({ "metricKey": k, "periodStart": "2026-01-01", "granularity": "QUARTER", "value": v }))
        .collect();
    app.ok("admin", RECORD, json!({ "o": o })).await;
}

async fn plan_count(app: &TestApp) -> i64 {
    app.ok("admin", "{ incentivePlans { totalCount } }", json!({}))
        .await["incentivePlans"]["totalCount"]
        .as_i64()
        .expect("totalCount")
}

/// Runs a request with a token for `sub` holding `role`.
async fn as_person(app: &TestApp, sub: &str, role: &str, query: &str, variables: Value) -> Value {
    let token = app.token_for(app.org_id, sub, &[role]);
    app.gql_with(Some(&token), query, variables).await
}

/// The previewed statements of a plan, as `role`; checks they are unsaved previews.
async fn preview(app: &TestApp, role: &str, plan: &str) -> Vec<Value> {
    let data = app.ok(role, &preview_query(), json!({ "id": plan })).await;
    let list = data["payoutPreview"].as_array().expect("list").clone();
    for st in &list {
        assert_eq!(st["locked"], false, "{st:#}");
        assert!(st["id"].is_null(), "{st:#}");
        assert!(st["version"].is_null(), "{st:#}");
        assert!(st["computedBy"].is_null(), "{st:#}");
        assert!(st["computedAt"].is_null(), "{st:#}");
    }
    list
}

/// External ids of the people on a list of statements, sorted.
fn people_of(statements: &[Value]) -> Vec<String> {
    let mut ids: Vec<String> = statements
        .iter()
        .map(|st| {
            st["person"]["externalId"]
                .as_str()
                .expect("person")
                .to_owned()
        })
        .collect();
    ids.sort();
    ids
}

/// Locked statements visible to a caller (latest versions unless `filter` says otherwise).
async fn visible(app: &TestApp, sub: &str, role: &str, filter: Value) -> Vec<Value> {
    let body = as_person(app, sub, role, &statements_query(), json!({ "f": filter })).await;
    assert!(body.get("errors").is_none(), "{sub}/{role}: {body:#}");
    let conn = &body["data"]["payoutStatements"];
    let nodes = conn["nodes"].as_array().expect("nodes").clone();
    assert_eq!(conn["totalCount"], nodes.len(), "{conn:#}");
    nodes
}

#[track_caller]
fn num(v: &Value) -> Decimal {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("expected a decimal string, got {v}"));
    Decimal::from_str(s).unwrap_or_else(|e| panic!("`{s}` is not a decimal: {e}"))
}

#[track_caller]
fn assert_dec(v: &Value, expected: &str) {
    assert_eq!(
        num(v),
        Decimal::from_str(expected).expect("expected decimal"),
        "expected {expected}, got {v}"
    );
}

#[track_caller]
fn assert_money(v: &Value, amount: &str, currency: &str) {
    assert_dec(&v["amount"], amount);
    assert_eq!(v["currency"], currency, "{v}");
}

/// A total rounded to the currency's minor unit has no more digits after the point.
#[track_caller]
fn assert_minor_unit(v: &Value, digits: usize) {
    let s = v.as_str().expect("decimal string");
    let after = s.split_once('.').map_or(0, |(_, f)| f.len());
    assert!(after <= digits, "`{s}` is not rounded to {digits} digits");
}

/// What one line of a statement must show.
struct Line<'a> {
    component: &'a str,
    metric: &'a str,
    actual: Option<&'a str>,
    attainment: Option<&'a str>,
    curve_payout: &'a str,
    segment: &'a str,
    gate_applied: bool,
    payout: &'a str,
    weight: &'a str,
    amount: &'a str,
}

impl Line<'_> {
    #[track_caller]
    fn check(&self, line: &Value, currency: &str) {
        assert_eq!(line["component"], self.component, "{line:#}");
        assert_eq!(line["metric"]["key"], self.metric, "{line:#}");
        match self.actual {
            Some(a) => assert_dec(&line["actual"], a),
            None => assert!(line["actual"].is_null(), "{line:#}"),
        }
        match self.attainment {
            Some(a) => assert_dec(&line["attainment"], a),
            None => assert!(line["attainment"].is_null(), "{line:#}"),
        }
        assert_dec(&line["curvePayout"], self.curve_payout);
        assert_eq!(line["curveSegment"], self.segment, "{line:#}");
        assert_eq!(line["gateApplied"], self.gate_applied, "{line:#}");
        assert_dec(&line["payout"], self.payout);
        assert_dec(&line["weight"], self.weight);
        assert_money(&line["amount"], self.amount, currency);
    }
}

/// Checks a gate outcome: metric, actual, attainment, missed.
#[track_caller]
fn check_gate(gate: &Value, actual: Option<&str>, attainment: Option<&str>, missed: bool) {
    assert_eq!(gate["metric"]["key"], "csat", "{gate:#}");
    match actual {
        Some(a) => assert_dec(&gate["actual"], a),
        None => assert!(gate["actual"].is_null(), "{gate:#}"),
    }
    match attainment {
        Some(a) => assert_dec(&gate["attainment"], a),
        None => assert!(gate["attainment"].is_null(), "{gate:#}"),
    }
    assert_eq!(gate["missed"], missed, "{gate:#}");
}

// ---------------------------------------------------------------------------------------------
// 1. Defining plans and reading them back
// ---------------------------------------------------------------------------------------------

on_both_backends!(
    only_admin_and_finance_define_plans_and_the_plan_reads_back_with_every_part,
    |app: TestApp| async move {
        setup(&app).await;
        for role in [
            "hr",
            "executive",
            "revops",
            "manager",
            "member",
            "bi",
            "hr_sync",
        ] {
            let body = app.gql(role, DEFINE, json!({ "input": ae_plan() })).await;
            assert_eq!(
                error_code(&body).as_deref(),
                Some("FORBIDDEN"),
                "{role}: {body:#}"
            );
        }
        assert_eq!(
            plan_count(&app).await,
            0,
            "a refused definition wrote a plan"
        );

        let ae = define(&app, "finance", ae_plan()).await;
        let mut csm = ae_plan();
        csm["name"] = json!("CSM Q1 2026");
        csm["roleKeys"] = json!(["csm"]);
        let csm = define(&app, "admin", csm).await;

        // bi reads plans (aggregates, no individual pay); ordered by period, then name.
        let data = app.ok("bi", PLANS, json!({})).await;
        let list = &data["incentivePlans"];
        assert_eq!(list["totalCount"], 2, "{list:#}");
        let plan = &list["nodes"][0];
        assert_eq!(plan["id"], ae.as_str());
        assert_eq!(plan["name"], "AE Q1 2026");
        assert_eq!(plan["periodStart"], "2026-01-01");
        assert_eq!(plan["periodEnd"], "2026-03-31");
        assert_eq!(plan["granularity"], "QUARTER");
        assert_money(&plan["target"], "10000", "EUR");
        assert_eq!(plan["createdBy"], "finance-user");
        assert!(plan["createdAt"].is_string(), "{plan:#}");
        assert_eq!(
            plan["roles"],
            json!([{ "key": "account_executive", "name": "Account Executive" }])
        );
        // A CUSTOMER component and a customer gate: balanced.
        assert_eq!(plan["balanced"], true);

        let comps = plan["components"].as_array().expect("components");
        assert_eq!(comps.len(), 2, "{comps:#?}");
        let arr = &comps[0];
        assert_eq!(arr["name"], "New ARR");
        assert_eq!(arr["metric"]["key"], "new_arr");
        assert_eq!(arr["metric"]["perspective"], "FINANCIAL");
        assert_dec(&arr["target"], "100000");
        assert_dec(&arr["weight"], "3");
        assert_dec(&arr["threshold"], "0.5");
        assert_dec(&arr["cap"], "2");
        let points: Vec<(Decimal, Decimal)> = arr["curve"]
            .as_array()
            .expect("curve")
            .iter()
            .map(|p| (num(&p["attainment"]), num(&p["payout"])))
            .collect();
        let expect =
            |a: &str, b: &str| (Decimal::from_str(a).unwrap(), Decimal::from_str(b).unwrap());
        assert_eq!(
            points,
            vec![expect("0.5", "0.25"), expect("1", "1"), expect("1.5", "2")]
        );
        let nrr = &comps[1];
        assert_eq!(nrr["name"], "Net revenue retention");
        assert_eq!(nrr["metric"]["key"], "nrr");
        assert_eq!(nrr["metric"]["perspective"], "CUSTOMER");
        assert_dec(&nrr["target"], "100");
        assert_dec(&nrr["weight"], "1");
        assert_dec(&nrr["threshold"], "0.8");
        assert_dec(&nrr["cap"], "1.5");
        assert_eq!(nrr["curve"].as_array().map(Vec::len), Some(2));
        assert_dec(&nrr["curve"][0]["attainment"], "0.8");
        assert_dec(&nrr["curve"][0]["payout"], "0.5");
        assert_dec(&nrr["curve"][1]["attainment"], "1");
        assert_dec(&nrr["curve"][1]["payout"], "1");

        let gates = plan["gates"].as_array().expect("gates");
        assert_eq!(gates.len(), 1);
        assert_eq!(gates[0]["metric"]["key"], "csat");
        assert_eq!(gates[0]["metric"]["perspective"], "CUSTOMER");
        assert_dec(&gates[0]["target"], "80");
        assert_dec(&gates[0]["minAttainment"], "0.9");
        assert_dec(&gates[0]["factor"], "0.5");

        let other = &list["nodes"][1];
        assert_eq!(other["id"], csm.as_str());
        assert_eq!(other["createdBy"], "admin-user");
        assert_eq!(other["roles"][0]["key"], "csm");
    }
);

on_both_backends!(
    a_plan_is_fetched_by_its_global_id_through_node,
    |app: TestApp| async move {
        setup(&app).await;
        let id = define(&app, "finance", ae_plan()).await;
        let data = app
            .ok(
                "finance",
                r#"query($id: ID!) { node(id: $id) { id ... on IncentivePlan {
                    name granularity target { amount currency } balanced
                    components { name curve { attainment payout } threshold cap }
                    gates { metric { key } factor } roles { key } } } }"#,
                json!({ "id": id }),
            )
            .await;
        let node = &data["node"];
        assert_eq!(node["id"], id.as_str(), "{data:#}");
        assert_eq!(node["name"], "AE Q1 2026");
        assert_eq!(node["granularity"], "QUARTER");
        assert_money(&node["target"], "10000.00", "EUR");
        assert_eq!(node["balanced"], true);
        assert_eq!(node["components"][0]["name"], "New ARR");
        assert_eq!(
            node["components"][0]["curve"].as_array().map(Vec::len),
            Some(3)
        );
        assert_dec(&node["components"][1]["cap"], "1.5");
        assert_eq!(node["gates"][0]["metric"]["key"], "csat");
        assert_eq!(node["roles"][0]["key"], "account_executive");
    }
);

// ---------------------------------------------------------------------------------------------
// 2. Bad plans
// ---------------------------------------------------------------------------------------------

on_both_backends!(
    bad_plans_are_refused_at_the_field_that_is_wrong_and_write_nothing,
    |app: TestApp| async move {
        setup(&app).await;
        define(&app, "finance", ae_plan()).await;
        assert_eq!(plan_count(&app).await, 1);

        // Each case changes one thing in an otherwise valid plan for the `csm` role.
        let base = || {
            let mut p = ae_plan();
            p["name"] = json!("CSM Q1 2026");
            p["roleKeys"] = json!(["csm"]);
            p
        };
        type Change = fn(&mut Value);
        let cases: Vec<(&str, Change, &str)> = vec![
            (
                "curve attainments not increasing (0.5 then 0.5)",
                |p| p["components"][0]["curve"]["points"][1]["attainment"] = json!("0.5"),
                "input.components[0].curve",
            ),
            (
                "curve attainments going down (1 then 0.9)",
                |p| p["components"][0]["curve"]["points"][2]["attainment"] = json!("0.9"),
                "input.components[0].curve",
            ),
            (
                "payouts decreasing (0.5 then 0.4)",
                |p| p["components"][1]["curve"]["points"][1]["payout"] = json!("0.4"),
                "input.components[1].curve",
            ),
            (
                "negative weight",
                |p| p["components"][1]["weight"] = json!("-1"),
                "input.components[1].weight",
            ),
            (
                "all weights zero",
                |p| {
                    p["components"][0]["weight"] = json!("0");
                    p["components"][1]["weight"] = json!("0");
                },
                "input.components",
            ),
            (
                "unknown currency code",
                |p| p["target"]["currency"] = json!("EUX"),
                "input.target.currency",
            ),
            (
                "a gate on a FINANCIAL metric",
                |p| p["gates"][0]["metricKey"] = json!("new_arr"),
                "input.gates[0].metricKey",
            ),
            (
                "a cap (0.1) below the first point's payout (0.25)",
                |p| p["components"][0]["curve"]["cap"] = json!("0.1"),
                "input.components[0].curve",
            ),
            (
                "a negative gate minimum",
                |p| p["gates"][0]["minAttainment"] = json!("-0.1"),
                "input.gates[0].minAttainment",
            ),
            (
                "a gate factor above 1",
                |p| p["gates"][0]["factor"] = json!("1.5"),
                "input.gates[0].factor",
            ),
            (
                "the account executives already have a plan in Q1: February overlaps it",
                |p| {
                    p["roleKeys"] = json!(["account_executive"]);
                    p["periodStart"] = json!("2026-02-01");
                    p["granularity"] = json!("MONTH");
                },
                "input.roleKeys[0]",
            ),
            (
                "the year 2026 overlaps the Q1 plan of the second role",
                |p| {
                    p["roleKeys"] = json!(["csm", "account_executive"]);
                    p["granularity"] = json!("YEAR");
                },
                "input.roleKeys[1]",
            ),
            (
                "a quarter cannot start on 2026-02-01",
                |p| p["periodStart"] = json!("2026-02-01"),
                "input.periodStart",
            ),
            (
                "unknown metric key",
                |p| p["components"][0]["metricKey"] = json!("bookings"),
                "input.components[0].metricKey",
            ),
            (
                "unknown role key",
                |p| p["roleKeys"] = json!(["sdr"]),
                "input.roleKeys[0]",
            ),
            (
                "no role and no person",
                |p| p["roleKeys"] = json!([]),
                "input.roleKeys",
            ),
        ];
        for (what, change, field) in cases {
            let mut input = base();
            change(&mut input);
            let body = app.gql("finance", DEFINE, json!({ "input": input })).await;
            assert_eq!(
                error_code(&body).as_deref(),
                Some("BAD_USER_INPUT"),
                "{what}: {body:#}"
            );
            assert_eq!(
                error_field(&body).as_deref(),
                Some(field),
                "{what}: {body:#}"
            );
            let problems: Vec<&str> = body["errors"][0]["extensions"]["problems"]
                .as_array()
                .unwrap_or_else(|| panic!("{what}: no problems listed: {body:#}"))
                .iter()
                .map(|p| p["field"].as_str().expect("field"))
                .collect();
            assert_eq!(problems, vec![field], "{what}: {body:#}");
            assert_eq!(
                plan_count(&app).await,
                1,
                "{what}: a refused plan was written"
            );
        }
        // The base itself is fine: each refusal came from its one change.
        define(&app, "finance", base()).await;
        assert_eq!(plan_count(&app).await, 2);
        // Q2 (from 2026-04-01) starts the day after Q1 ends: no overlap.
        let mut q2 = ae_plan();
        q2["name"] = json!("AE Q2 2026");
        q2["periodStart"] = json!("2026-04-01");
        define(&app, "finance", q2).await;
        assert_eq!(plan_count(&app).await, 3);
    }
);

// ---------------------------------------------------------------------------------------------
// 3. Previews
// ---------------------------------------------------------------------------------------------

on_both_backends!(
    payout_previews_show_the_person_and_their_managers_and_refuse_everyone_else,
    |app: TestApp| async move {
        setup(&app).await;
        let plan = define(&app, "finance", ae_plan()).await;
        record(
            &app,
            &[("new_arr", "100000"), ("nrr", "100"), ("csat", "80")],
        )
        .await;
        for role in ["admin", "finance", "hr"] {
            let list = preview(&app, role, &plan).await;
            assert_eq!(people_of(&list), vec!["A", "B", "C"], "{role}");
        }
        let preview_as = |sub: &'static str, role: &'static str| {
            let app = &app;
            let plan = plan.clone();
            async move { as_person(app, sub, role, &preview_query(), json!({ "id": plan })).await }
        };
        let people = |body: &Value| -> Vec<String> {
            assert!(body.get("errors").is_none(), "{body:#}");
            people_of(body["data"]["payoutPreview"].as_array().expect("list"))
        };
        // The person sees their own preview (Ana and Cy are on the plan).
        assert_eq!(people(&preview_as("ana", "member").await), vec!["A"]);
        assert_eq!(people(&preview_as("cy", "member").await), vec!["C"]);
        // Mia manages Ana and Ben (and Dee, who left and is not on the plan): theirs only.
        assert_eq!(people(&preview_as("mia", "manager").await), vec!["A", "B"]);
        let ana = preview_as("mia", "manager").await;
        let first = &ana["data"]["payoutPreview"][0];
        assert_money(&first["total"], "10000.00", "EUR");
        // A manager two levels up sees them too: Gus now manages Mia.
        app.ok(
            "hr_sync",
            SYNC,
            json!({ "input": { "people": [
                { "externalId": "G", "name": "Gus", "subject": "gus", "teamExternalId": "T-SALES" },
                { "externalId": "M", "name": "Mia", "subject": "mia", "managerExternalId": "G", "teamExternalId": "T-SALES" }
            ] } }),
        )
        .await;
        assert_eq!(people(&preview_as("gus", "manager").await), vec!["A", "B"]);
        // Ana's peer Ben does not see Ana's; Sam is on no plan and manages nobody; Mia holds
        // no role of the plan and previews only her reports.
        assert_eq!(people(&preview_as("ben", "member").await), vec!["B"]);
        for (sub, role) in [("sam", "member"), ("sam", "manager"), ("nobody", "manager")] {
            let body = preview_as(sub, role).await;
            assert_eq!(
                error_code(&body).as_deref(),
                Some("FORBIDDEN"),
                "{sub}/{role}: {body:#}"
            );
        }
        // Roles that never see individual pay are refused, whoever they are.
        for role in ["bi", "hr_sync"] {
            let body = preview_as("ana", role).await;
            assert_eq!(
                error_code(&body).as_deref(),
                Some("FORBIDDEN"),
                "{role}: {body:#}"
            );
        }
        // Callers not on the roster (no person behind the token) see nobody's pay.
        for role in ["executive", "revops", "manager", "member"] {
            let body = app.gql(role, &preview_query(), json!({ "id": plan })).await;
            assert_eq!(
                error_code(&body).as_deref(),
                Some("FORBIDDEN"),
                "{role}: {body:#}"
            );
        }
    }
);

on_both_backends!(
    preview_pays_each_component_along_its_curve_from_current_data_without_saving,
    |app: TestApp| async move {
        setup(&app).await;
        let plan = define(&app, "finance", ae_plan()).await;
        let gate_met = ("csat", "80"); // 80 / 80 = 1 >= 0.9

        // Below the threshold. new_arr 40,000 / 100,000 = 0.4 < 0.5: pays 0, amount 0.
        // nrr 100 / 100 = 1, the end of segment 0.8 -> 0.5 .. 1 -> 1: pays 1;
        // 10,000 x 0.25 x 1 = 2,500. Total 0 + 2,500 = 2,500.00.
        record(&app, &[("new_arr", "40000"), ("nrr", "100"), gate_met]).await;
        let list = preview(&app, "finance", &plan).await;
        // Active account executives only: Ana, Ben, Cy (not Dee, who left; not Sam, a CSM).
        assert_eq!(people_of(&list), vec!["A", "B", "C"]);
        for st in &list {
            assert_money(&st["total"], "2500.00", "EUR");
            assert_minor_unit(&st["total"]["amount"], 2);
        }
        let st = &list[0];
        Line {
            component: "New ARR",
            metric: "new_arr",
            actual: Some("40000"),
            attainment: Some("0.4"),
            curve_payout: "0",
            segment: "below the threshold of 0.5",
            gate_applied: false,
            payout: "0",
            weight: "0.75",
            amount: "0",
        }
        .check(&st["lines"][0], "EUR");
        Line {
            component: "Net revenue retention",
            metric: "nrr",
            actual: Some("100"),
            attainment: Some("1"),
            curve_payout: "1",
            segment: "between points 0.8 -> 0.5 and 1 -> 1",
            gate_applied: false,
            payout: "1",
            weight: "0.25",
            amount: "2500",
        }
        .check(&st["lines"][1], "EUR");
        assert_eq!(st["lines"].as_array().map(Vec::len), Some(2));
        check_gate(&st["gates"][0], Some("80"), Some("1"), false);

        // Exactly at target. new_arr 100,000 -> attainment 1 on segment 0.5 -> 0.25 .. 1 -> 1:
        // 0.25 + (1 - 0.25) x (1 - 0.5) / (1 - 0.5) = 1; 10,000 x 0.75 x 1 = 7,500.
        // nrr 2,500 as before. Total 10,000.00: the target.
        record(&app, &[("new_arr", "100000")]).await;
        let st = &preview(&app, "hr", &plan).await[0];
        Line {
            component: "New ARR",
            metric: "new_arr",
            actual: Some("100000"),
            attainment: Some("1"),
            curve_payout: "1",
            segment: "between points 0.5 -> 0.25 and 1 -> 1",
            gate_applied: false,
            payout: "1",
            weight: "0.75",
            amount: "7500",
        }
        .check(&st["lines"][0], "EUR");
        assert_money(&st["total"], "10000.00", "EUR");

        // On the curve between points. new_arr 75,000 -> 0.75, halfway along 0.5 -> 0.25 ..
        // 1 -> 1: 0.25 + 0.75 x 0.25 / 0.5 = 0.625; 10,000 x 0.75 x 0.625 = 4,687.5.
        // nrr 90 -> 0.9, halfway along 0.8 -> 0.5 .. 1 -> 1: 0.5 + 0.5 x 0.1 / 0.2 = 0.75;
        // 10,000 x 0.25 x 0.75 = 1,875. Total 4,687.5 + 1,875 = 6,562.50.
        record(&app, &[("new_arr", "75000"), ("nrr", "90")]).await;
        let st = &preview(&app, "admin", &plan).await[0];
        Line {
            component: "New ARR",
            metric: "new_arr",
            actual: Some("75000"),
            attainment: Some("0.75"),
            curve_payout: "0.625",
            segment: "between points 0.5 -> 0.25 and 1 -> 1",
            gate_applied: false,
            payout: "0.625",
            weight: "0.75",
            amount: "4687.5",
        }
        .check(&st["lines"][0], "EUR");
        Line {
            component: "Net revenue retention",
            metric: "nrr",
            actual: Some("90"),
            attainment: Some("0.9"),
            curve_payout: "0.75",
            segment: "between points 0.8 -> 0.5 and 1 -> 1",
            gate_applied: false,
            payout: "0.75",
            weight: "0.25",
            amount: "1875",
        }
        .check(&st["lines"][1], "EUR");
        assert_money(&st["total"], "6562.50", "EUR");
        assert_minor_unit(&st["total"]["amount"], 2);

        // Past the knee at 1: new_arr 120,000 -> 1.2 on segment 1 -> 1 .. 1.5 -> 2:
        // 1 + (2 - 1) x 0.2 / 0.5 = 1.4; 10,000 x 0.75 x 1.4 = 10,500.
        // Beyond the last point, uncapped: nrr 110 -> 1.1 continues the last slope
        // (1 - 0.5) / (1 - 0.8) = 2.5: 1 + 2.5 x 0.1 = 1.25 <= cap 1.5; 10,000 x 0.25 x 1.25
        // = 3,125. Total 13,625.00.
        record(&app, &[("new_arr", "120000"), ("nrr", "110")]).await;
        let st = &preview(&app, "finance", &plan).await[0];
        Line {
            component: "New ARR",
            metric: "new_arr",
            actual: Some("120000"),
            attainment: Some("1.2"),
            curve_payout: "1.4",
            segment: "between points 1 -> 1 and 1.5 -> 2",
            gate_applied: false,
            payout: "1.4",
            weight: "0.75",
            amount: "10500",
        }
        .check(&st["lines"][0], "EUR");
        Line {
            component: "Net revenue retention",
            metric: "nrr",
            actual: Some("110"),
            attainment: Some("1.1"),
            curve_payout: "1.25",
            segment: "beyond the last point",
            gate_applied: false,
            payout: "1.25",
            weight: "0.25",
            amount: "3125",
        }
        .check(&st["lines"][1], "EUR");
        assert_money(&st["total"], "13625.00", "EUR");

        // Above the cap. new_arr 180,000 -> 1.8: the last slope (2 - 1) / 0.5 = 2 would give
        // 1 + 2 x 0.8 = 2.6, held at the cap 2; 10,000 x 0.75 x 2 = 15,000.
        // nrr 130 -> 1.3: 1 + 2.5 x 0.3 = 1.75, held at 1.5; 10,000 x 0.25 x 1.5 = 3,750.
        // Total 18,750.00.
        record(&app, &[("new_arr", "180000"), ("nrr", "130")]).await;
        let st = &preview(&app, "finance", &plan).await[0];
        Line {
            component: "New ARR",
            metric: "new_arr",
            actual: Some("180000"),
            attainment: Some("1.8"),
            curve_payout: "2",
            segment: "capped at 2",
            gate_applied: false,
            payout: "2",
            weight: "0.75",
            amount: "15000",
        }
        .check(&st["lines"][0], "EUR");
        Line {
            component: "Net revenue retention",
            metric: "nrr",
            actual: Some("130"),
            attainment: Some("1.3"),
            curve_payout: "1.5",
            segment: "capped at 1.5",
            gate_applied: false,
            payout: "1.5",
            weight: "0.25",
            amount: "3750",
        }
        .check(&st["lines"][1], "EUR");
        assert_money(&st["total"], "18750.00", "EUR");

        // Nothing of the above was saved.
        let none = visible(&app, "admin-user", "admin", json!({ "allVersions": true })).await;
        assert!(none.is_empty(), "{none:#?}");
    }
);

on_both_backends!(
    a_missed_customer_gate_holds_financial_components_at_the_factor_and_leaves_customer_ones,
    |app: TestApp| async move {
        setup(&app).await;
        let plan = define(&app, "finance", ae_plan()).await;

        // No csat data at all: the gate cannot be shown met, so it is missed.
        // new_arr 120,000 -> 1.2 -> curve 1.4, held at the factor 0.5: 10,000 x 0.75 x 0.5
        // = 3,750. nrr 110 -> 1.1 -> 1.25 (customer, untouched): 3,125. Total 6,875.00.
        record(&app, &[("new_arr", "120000"), ("nrr", "110")]).await;
        let st = &preview(&app, "finance", &plan).await[0];
        check_gate(&st["gates"][0], None, None, true);
        assert_eq!(st["lines"][0]["gateApplied"], true, "{st:#}");
        assert_money(&st["total"], "6875.00", "EUR");

        // Gate missed: csat 60 / 80 = 0.75 < 0.9. Same lines as above.
        record(&app, &[("csat", "60")]).await;
        let st = &preview(&app, "finance", &plan).await[0];
        check_gate(&st["gates"][0], Some("60"), Some("0.75"), true);
        Line {
            component: "New ARR",
            metric: "new_arr",
            actual: Some("120000"),
            attainment: Some("1.2"),
            curve_payout: "1.4",
            segment: "between points 1 -> 1 and 1.5 -> 2",
            gate_applied: true,
            payout: "0.5",
            weight: "0.75",
            amount: "3750",
        }
        .check(&st["lines"][0], "EUR");
        Line {
            component: "Net revenue retention",
            metric: "nrr",
            actual: Some("110"),
            attainment: Some("1.1"),
            curve_payout: "1.25",
            segment: "beyond the last point",
            gate_applied: false,
            payout: "1.25",
            weight: "0.25",
            amount: "3125",
        }
        .check(&st["lines"][1], "EUR");
        assert_money(&st["total"], "6875.00", "EUR");

        // The factor is a ceiling, not a multiplier: new_arr 60,000 -> 0.6 ->
        // 0.25 + 0.75 x 0.1 / 0.5 = 0.4, already under 0.5, so the gate does not apply;
        // 10,000 x 0.75 x 0.4 = 3,000. Total 3,000 + 3,125 = 6,125.00.
        record(&app, &[("new_arr", "60000")]).await;
        let st = &preview(&app, "finance", &plan).await[0];
        check_gate(&st["gates"][0], Some("60"), Some("0.75"), true);
        Line {
            component: "New ARR",
            metric: "new_arr",
            actual: Some("60000"),
            attainment: Some("0.6"),
            curve_payout: "0.4",
            segment: "between points 0.5 -> 0.25 and 1 -> 1",
            gate_applied: false,
            payout: "0.4",
            weight: "0.75",
            amount: "3000",
        }
        .check(&st["lines"][0], "EUR");
        assert_money(&st["total"], "6125.00", "EUR");

        // Gate met exactly at its minimum: csat 72 / 80 = 0.9. new_arr back to 120,000:
        // 10,000 x 0.75 x 1.4 = 10,500, plus 3,125 = 13,625.00.
        record(&app, &[("csat", "72"), ("new_arr", "120000")]).await;
        let st = &preview(&app, "finance", &plan).await[0];
        check_gate(&st["gates"][0], Some("72"), Some("0.9"), false);
        Line {
            component: "New ARR",
            metric: "new_arr",
            actual: Some("120000"),
            attainment: Some("1.2"),
            curve_payout: "1.4",
            segment: "between points 1 -> 1 and 1.5 -> 2",
            gate_applied: false,
            payout: "1.4",
            weight: "0.75",
            amount: "10500",
        }
        .check(&st["lines"][0], "EUR");
        assert_eq!(st["lines"][1]["gateApplied"], false);
        assert_money(&st["total"], "13625.00", "EUR");
    }
);

on_both_backends!(
    totals_are_rounded_once_to_the_currency_minor_unit_half_away_from_zero,
    |app: TestApp| async move {
        setup(&app).await;
        // Three equal weights on 100.00 EUR for the CSMs, every metric exactly at target.
        let component = |name: &str, metric: &str, target: &str| json!({ "name": name, "metricKey": metric, "target": target, "weight": "1", "curve": identity_curve() });
        let thirds = define(
            &app,
            "finance",
            json!({
                "name": "Thirds", "periodStart": "2026-01-01", "granularity": "QUARTER",
                "target": { "amount": "100.00", "currency": "EUR" },
                "roleKeys": ["csm"],
                "components": [
                    component("ARR", "new_arr", "100000"),
                    component("NRR", "nrr", "100"),
                    component("CSAT", "csat", "80")
                ]
            }),
        )
        .await;
        // Half a cent: 10.01 EUR for the account executives, one component at half of target.
        let half_cent = define(
            &app,
            "finance",
            json!({
                "name": "Half cent", "periodStart": "2026-01-01", "granularity": "QUARTER",
                "target": { "amount": "10.01", "currency": "EUR" },
                "roleKeys": ["account_executive"],
                "components": [component("ARR", "new_arr", "200000")]
            }),
        )
        .await;
        // Yen has no minor unit: 1,001 JPY for Mia directly, at half of target.
        let yen = define(
            &app,
            "finance",
            json!({
                "name": "Yen", "periodStart": "2026-01-01", "granularity": "QUARTER",
                "target": { "amount": "1001", "currency": "JPY" },
                "personExternalIds": ["M"],
                "components": [component("ARR", "new_arr", "200000")]
            }),
        )
        .await;
        record(
            &app,
            &[("new_arr", "100000"), ("nrr", "100"), ("csat", "80")],
        )
        .await;

        // Thirds: each line 100 x 1/3 x 1 = 33.333...; rounding each line to cents would
        // give 33.33 x 3 = 99.99, but the exact sum is 100, rounded once: 100.00.
        let list = preview(&app, "finance", &thirds).await;
        assert_eq!(people_of(&list), vec!["S"]);
        let st = &list[0];
        let third = Decimal::ONE / Decimal::from(3);
        for (i, line) in st["lines"].as_array().expect("lines").iter().enumerate() {
            assert_dec(&line["attainment"], "1");
            assert_dec(&line["payout"], "1");
            assert_eq!(
                line["curveSegment"], "between points 0 -> 0 and 2 -> 2",
                "{line:#}"
            );
            let w = num(&line["weight"]);
            assert!(
                (w - third).abs() < Decimal::new(1, 20),
                "line {i}: weight {w}"
            );
            let amount = num(&line["amount"]["amount"]);
            assert!(
                amount > Decimal::from_str("33.3333333333").unwrap()
                    && amount < Decimal::from_str("33.3333333334").unwrap(),
                "line {i}: the amount stays exact, not rounded per line: {amount}"
            );
            assert_eq!(line["amount"]["currency"], "EUR");
        }
        assert_money(&st["total"], "100.00", "EUR");
        assert_minor_unit(&st["total"]["amount"], 2);

        // Half cent: new_arr 100,000 / 200,000 = 0.5 -> pays 0.5; 10.01 x 1 x 0.5 = 5.005,
        // half away from zero -> 5.01 (bankers' rounding or truncation would give 5.00).
        let list = preview(&app, "finance", &half_cent).await;
        assert_eq!(people_of(&list), vec!["A", "B", "C"]);
        assert_money(&list[0]["lines"][0]["amount"], "5.005", "EUR");
        assert_money(&list[0]["total"], "5.01", "EUR");
        assert_minor_unit(&list[0]["total"]["amount"], 2);

        // Yen: 1,001 x 0.5 = 500.5 -> 501 JPY, no decimals.
        let list = preview(&app, "finance", &yen).await;
        assert_eq!(people_of(&list), vec!["M"]);
        assert_money(&list[0]["lines"][0]["amount"], "500.5", "JPY");
        assert_money(&list[0]["total"], "501", "JPY");
        assert_minor_unit(&list[0]["total"]["amount"], 0);
    }
);

on_both_backends!(
    money_is_written_at_its_currency_scale_and_a_component_without_data_says_no_actual,
    |app: TestApp| async move {
        setup(&app).await;
        // Targets written with too few or too many digits come back at the currency's scale.
        let mut eur = ae_plan();
        eur["target"] = json!({ "amount": "10000", "currency": "EUR" });
        let eur = define(&app, "finance", eur).await;
        let mut yen = ae_plan();
        yen["name"] = json!("AE Q2 2026 (JPY)");
        yen["periodStart"] = json!("2026-04-01");
        yen["target"] = json!({ "amount": "1200.000", "currency": "JPY" });
        define(&app, "finance", yen).await;
        let mut dinar = ae_plan();
        dinar["name"] = json!("AE Q3 2026 (BHD)");
        dinar["periodStart"] = json!("2026-07-01");
        dinar["target"] = json!({ "amount": "7", "currency": "BHD" });
        define(&app, "finance", dinar).await;
        let plans = app.ok("finance", PLANS, json!({})).await;
        let mut targets: Vec<(String, String)> = plans["incentivePlans"]["nodes"]
            .as_array()
            .expect("plans")
            .iter()
            .map(|p| {
                (
                    p["target"]["currency"]
                        .as_str()
                        .expect("currency")
                        .to_owned(),
                    p["target"]["amount"].as_str().expect("amount").to_owned(),
                )
            })
            .collect();
        targets.sort();
        assert_eq!(
            targets,
            vec![
                ("BHD".to_owned(), "7.000".to_owned()),
                ("EUR".to_owned(), "10000.00".to_owned()),
                ("JPY".to_owned(), "1200".to_owned()),
            ]
        );

        // Nothing recorded yet: every line says there is no actual and pays "0.00".
        let list = preview(&app, "finance", &eur).await;
        assert_eq!(people_of(&list), vec!["A", "B", "C"]);
        for st in &list {
            assert_eq!(
                st["total"],
                json!({ "amount": "0.00", "currency": "EUR" }),
                "{st:#}"
            );
            for line in st["lines"].as_array().expect("lines") {
                assert!(line["actual"].is_null(), "{line:#}");
                assert_eq!(
                    line["curveSegment"], "no actual recorded for the period",
                    "{line:#}"
                );
                assert_eq!(line["amount"]["amount"], "0.00", "{line:#}");
            }
        }
        // Recorded but below the threshold still says so.
        record(
            &app,
            &[("new_arr", "40000"), ("nrr", "100"), ("csat", "80")],
        )
        .await;
        let list = preview(&app, "finance", &eur).await;
        assert_eq!(
            list[0]["lines"][0]["curveSegment"],
            "below the threshold of 0.5"
        );
        assert_eq!(list[0]["lines"][0]["amount"]["amount"], "0.00");
        // At target the exact line amount 7500 is written "7500.00", as the total.
        record(
            &app,
            &[("new_arr", "100000"), ("nrr", "100"), ("csat", "80")],
        )
        .await;
        let data = app
            .ok("finance", &compute_query(), json!({ "id": eur }))
            .await;
        let st = &data["computePayouts"]["statements"][0];
        assert_eq!(st["lines"][0]["amount"]["amount"], "7500.00", "{st:#}");
        assert_eq!(st["total"]["amount"], "10000.00", "{st:#}");
        let totals = app.ok("finance", TOTALS, json!({ "id": eur })).await;
        let overall = &totals["planTotals"]["overall"];
        assert_eq!(overall["target"]["amount"], "30000.00", "{overall:#}");
        assert_eq!(overall["payout"]["amount"], "30000.00", "{overall:#}");
    }
);

// ---------------------------------------------------------------------------------------------
// 4. Locked statements and versions
// ---------------------------------------------------------------------------------------------

on_both_backends!(
    computing_locks_one_statement_per_active_role_holder_and_recomputing_adds_a_version,
    |app: TestApp| async move {
        setup(&app).await;
        let plan = define(&app, "finance", ae_plan()).await;
        // At target: 7,500 + 2,500 = 10,000.00, gate met (80 / 80 = 1).
        record(
            &app,
            &[("new_arr", "100000"), ("nrr", "100"), ("csat", "80")],
        )
        .await;

        for role in [
            "hr",
            "executive",
            "revops",
            "manager",
            "member",
            "bi",
            "hr_sync",
        ] {
            let body = app.gql(role, &compute_query(), json!({ "id": plan })).await;
            assert_eq!(
                error_code(&body).as_deref(),
                Some("FORBIDDEN"),
                "{role}: {body:#}"
            );
        }
        assert!(
            visible(&app, "admin-user", "admin", json!({ "allVersions": true }))
                .await
                .is_empty()
        );

        let first = app
            .ok("finance", &compute_query(), json!({ "id": plan }))
            .await;
        let first = first["computePayouts"]["statements"]
            .as_array()
            .expect("statements")
            .clone();
        // Ana, Ben and Cy hold the role; Dee left; Sam and Mia do not hold it.
        assert_eq!(people_of(&first), vec!["A", "B", "C"]);
        for st in &first {
            assert_eq!(st["locked"], true, "{st:#}");
            assert_eq!(st["version"], 1, "{st:#}");
            assert_eq!(st["computedBy"], "finance-user", "{st:#}");
            assert!(st["computedAt"].is_string(), "{st:#}");
            assert!(st["id"].is_string(), "{st:#}");
            assert_money(&st["total"], "10000.00", "EUR");
            check_gate(&st["gates"][0], Some("80"), Some("1"), false);
        }
        let v1_ids: Vec<String> = first
            .iter()
            .map(|st| st["id"].as_str().unwrap().to_owned())
            .collect();

        // Observations change after locking: new_arr 120,000 -> 1.4, but csat 60 -> 0.75
        // misses the gate, so new ARR pays 0.5: 10,000 x 0.75 x 0.5 = 3,750; nrr still 1:
        // 2,500. Total 6,250.00.
        record(&app, &[("new_arr", "120000"), ("csat", "60")]).await;

        // The locked statements read back exactly as computed.
        let all = visible(
            &app,
            "finance-user",
            "finance",
            json!({ "planId": plan, "allVersions": true }),
        )
        .await;
        assert_eq!(all.len(), 3, "{all:#?}");
        for st in &all {
            assert_eq!(st["version"], 1);
            assert_money(&st["total"], "10000.00", "EUR");
            assert_dec(&st["lines"][0]["actual"], "100000");
        }

        let second = app
            .ok("admin", &compute_query(), json!({ "id": plan }))
            .await;
        let second = second["computePayouts"]["statements"]
            .as_array()
            .expect("statements")
            .clone();
        assert_eq!(people_of(&second), vec!["A", "B", "C"]);
        for st in &second {
            assert_eq!(st["version"], 2, "{st:#}");
            assert_eq!(st["computedBy"], "admin-user", "{st:#}");
            assert!(
                !v1_ids.contains(&st["id"].as_str().unwrap().to_owned()),
                "a new statement, not an overwrite"
            );
            assert_money(&st["total"], "6250.00", "EUR");
        }

        // Every version: three of each; version 1 unchanged by the new data.
        let all = visible(
            &app,
            "finance-user",
            "finance",
            json!({ "planId": plan, "allVersions": true }),
        )
        .await;
        assert_eq!(all.len(), 6, "{all:#?}");
        let (v1, v2): (Vec<&Value>, Vec<&Value>) = all.iter().partition(|st| st["version"] == 1);
        assert_eq!(v1.len(), 3);
        assert_eq!(v2.len(), 3);
        for st in &v1 {
            assert!(
                v1_ids.contains(&st["id"].as_str().unwrap().to_owned()),
                "{st:#}"
            );
            assert_eq!(st["computedBy"], "finance-user");
            assert_money(&st["total"], "10000.00", "EUR");
            Line {
                component: "New ARR",
                metric: "new_arr",
                actual: Some("100000"),
                attainment: Some("1"),
                curve_payout: "1",
                segment: "between points 0.5 -> 0.25 and 1 -> 1",
                gate_applied: false,
                payout: "1",
                weight: "0.75",
                amount: "7500",
            }
            .check(&st["lines"][0], "EUR");
            check_gate(&st["gates"][0], Some("80"), Some("1"), false);
        }
        for st in &v2 {
            assert_eq!(st["computedBy"], "admin-user");
            assert_money(&st["total"], "6250.00", "EUR");
            Line {
                component: "New ARR",
                metric: "new_arr",
                actual: Some("120000"),
                attainment: Some("1.2"),
                curve_payout: "1.4",
                segment: "between points 1 -> 1 and 1.5 -> 2",
                gate_applied: true,
                payout: "0.5",
                weight: "0.75",
                amount: "3750",
            }
            .check(&st["lines"][0], "EUR");
            Line {
                component: "Net revenue retention",
                metric: "nrr",
                actual: Some("100"),
                attainment: Some("1"),
                curve_payout: "1",
                segment: "between points 0.8 -> 0.5 and 1 -> 1",
                gate_applied: false,
                payout: "1",
                weight: "0.25",
                amount: "2500",
            }
            .check(&st["lines"][1], "EUR");
            check_gate(&st["gates"][0], Some("60"), Some("0.75"), true);
        }

        // Without allVersions: only the latest per person.
        let latest = visible(&app, "hr-user", "hr", json!({ "planId": plan })).await;
        assert_eq!(people_of(&latest), vec!["A", "B", "C"]);
        assert!(latest.iter().all(|st| st["version"] == 2), "{latest:#?}");

        // One person's history.
        let ana = visible(
            &app,
            "hr-user",
            "hr",
            json!({ "personExternalId": "A", "allVersions": true }),
        )
        .await;
        let mut versions: Vec<i64> = ana
            .iter()
            .map(|st| st["version"].as_i64().unwrap())
            .collect();
        versions.sort_unstable();
        assert_eq!(versions, vec![1, 2]);
        assert!(ana.iter().all(|st| st["person"]["externalId"] == "A"));
    }
);

// ---------------------------------------------------------------------------------------------
// 5. Who sees individual pay; plan totals
// ---------------------------------------------------------------------------------------------

on_both_backends!(
    individual_pay_is_visible_to_pay_roles_the_person_and_their_managers_only,
    |app: TestApp| async move {
        setup(&app).await;
        let plan = define(&app, "finance", ae_plan()).await;
        record(
            &app,
            &[("new_arr", "100000"), ("nrr", "100"), ("csat", "80")],
        )
        .await;
        app.ok("finance", &compute_query(), json!({ "id": plan }))
            .await;

        // admin, finance and hr see everyone's.
        for role in ["admin", "finance", "hr"] {
            let all = visible(&app, &format!("{role}-user"), role, json!({})).await;
            assert_eq!(people_of(&all), vec!["A", "B", "C"], "{role}");
        }
        // The person sees their own, with every line.
        let ana = visible(&app, "ana", "member", json!({})).await;
        assert_eq!(people_of(&ana), vec!["A"]);
        assert_money(&ana[0]["total"], "10000.00", "EUR");
        assert_eq!(ana[0]["lines"].as_array().map(Vec::len), Some(2));
        // Cy, with no manager, likewise.
        assert_eq!(
            people_of(&visible(&app, "cy", "member", json!({})).await),
            vec!["C"]
        );
        // Mia manages Ana and Ben: she sees both of theirs, not Cy's.
        let mia = visible(&app, "mia", "manager", json!({})).await;
        assert_eq!(people_of(&mia), vec!["A", "B"]);
        let mia_on_cy = visible(&app, "mia", "manager", json!({ "personExternalId": "C" })).await;
        assert!(mia_on_cy.is_empty(), "{mia_on_cy:#?}");
        // Ben, Ana's peer, sees only his own, even when he asks for hers.
        assert_eq!(
            people_of(&visible(&app, "ben", "member", json!({})).await),
            vec!["B"]
        );
        let ben_on_ana = visible(&app, "ben", "member", json!({ "personExternalId": "A" })).await;
        assert!(ben_on_ana.is_empty(), "{ben_on_ana:#?}");
        // Ana is nobody's manager: the manager role alone shows her no one else's pay.
        assert_eq!(
            people_of(&visible(&app, "ana", "manager", json!({})).await),
            vec!["A"]
        );
        // A member who is not a person of the org, and an executive, see no individual pay.
        assert!(
            visible(&app, "member-user", "member", json!({}))
                .await
                .is_empty()
        );
        assert!(
            visible(&app, "executive-user", "executive", json!({}))
                .await
                .is_empty()
        );

        // bi: aggregates only.
        for (query, vars) in [
            (statements_query(), json!({ "f": {} })),
            (preview_query(), json!({ "id": plan })),
        ] {
            let body = app.gql("bi", &query, vars).await;
            assert_eq!(error_code(&body).as_deref(), Some("FORBIDDEN"), "{body:#}");
        }
        let body = app
            .gql("hr_sync", &statements_query(), json!({ "f": {} }))
            .await;
        assert_eq!(error_code(&body).as_deref(), Some("FORBIDDEN"), "{body:#}");
        let plans = app.ok("bi", PLANS, json!({})).await;
        assert_eq!(plans["incentivePlans"]["totalCount"], 1);
        let totals = app.ok("bi", TOTALS, json!({ "id": plan })).await;
        assert_eq!(totals["planTotals"]["overall"]["headcount"], 3);
    }
);

on_both_backends!(
    plan_totals_compare_latest_cost_with_target_overall_by_role_and_by_team,
    |app: TestApp| async move {
        setup(&app).await;
        let plan = define(&app, "finance", ae_plan()).await;
        // Each statement: 4,687.5 + 1,875 = 6,562.50 (see the preview test).
        record(&app, &[("new_arr", "75000"), ("nrr", "90"), ("csat", "80")]).await;
        app.ok("finance", &compute_query(), json!({ "id": plan }))
            .await;

        for role in ["member", "manager", "revops", "hr_sync"] {
            let body = app.gql(role, TOTALS, json!({ "id": plan })).await;
            assert_eq!(
                error_code(&body).as_deref(),
                Some("FORBIDDEN"),
                "{role}: {body:#}"
            );
        }

        let check = |t: &Value, group: &str, heads: i64, target: &str, payout: &str| {
            assert_eq!(t["group"], group, "{t:#}");
            assert_eq!(t["headcount"], heads, "{t:#}");
            assert_money(&t["target"], target, "EUR");
            assert_money(&t["payout"], payout, "EUR");
        };
        let data = app.ok("bi", TOTALS, json!({ "id": plan })).await;
        let t = &data["planTotals"];
        assert_eq!(t["plan"]["name"], "AE Q1 2026");
        // Three people: target 3 x 10,000 = 30,000; cost 3 x 6,562.50 = 19,687.50.
        check(&t["overall"], "all", 3, "30000", "19687.50");
        assert_eq!(t["byRole"].as_array().map(Vec::len), Some(1), "{t:#}");
        check(&t["byRole"][0], "Account Executive", 3, "30000", "19687.50");
        // Sales: Ben; Sales EMEA: Ana and Cy. Groups under three people would reveal someone's
        // pay, so bi sees their heads and targets but no payout; finance sees it all.
        assert_eq!(t["byTeam"].as_array().map(Vec::len), Some(2), "{t:#}");
        assert_eq!(t["byTeam"][0]["headcount"], 1);
        assert!(t["byTeam"][0]["payout"].is_null(), "{t:#}");
        assert!(t["byTeam"][1]["payout"].is_null(), "{t:#}");
        let data = app.ok("finance", TOTALS, json!({ "id": plan })).await;
        let t = &data["planTotals"];
        check(&t["byTeam"][0], "Sales", 1, "10000", "6562.50");
        check(&t["byTeam"][1], "Sales EMEA", 2, "20000", "13125.00");

        // After recomputing at target (10,000.00 each) only the latest versions count:
        // still three heads, cost 30,000.00.
        record(&app, &[("new_arr", "100000"), ("nrr", "100")]).await;
        app.ok("finance", &compute_query(), json!({ "id": plan }))
            .await;
        let data = app.ok("executive", TOTALS, json!({ "id": plan })).await;
        let t = &data["planTotals"];
        check(&t["overall"], "all", 3, "30000", "30000");
        assert!(
            t["byTeam"][1]["payout"].is_null(),
            "a group of two stays hidden from executives"
        );
        let data = app.ok("hr", TOTALS, json!({ "id": plan })).await;
        check(
            &data["planTotals"]["byTeam"][1],
            "Sales EMEA",
            2,
            "20000",
            "20000",
        );
    }
);

// ---------------------------------------------------------------------------------------------
// 6. Unbalanced plans
// ---------------------------------------------------------------------------------------------

on_both_backends!(
    unbalanced_plans_are_those_with_neither_a_customer_component_nor_a_gate,
    |app: TestApp| async move {
        setup(&app).await;
        let arr_only = |name: &str| {
            let mut p = ae_plan();
            p["name"] = json!(name);
            p["components"] = json!([p["components"][0].clone()]);
            p["gates"] = json!([]);
            p
        };
        // Only new ARR, no gate: unbalanced.
        let bookings = define(&app, "finance", arr_only("Bookings only")).await;
        // Only new ARR, but a customer gate: balanced.
        let mut gated = arr_only("Bookings with a gate");
        gated["roleKeys"] = json!(["csm"]);
        gated["gates"] = ae_plan()["gates"].clone();
        define(&app, "finance", gated).await;
        // A CUSTOMER component, no gate: balanced.
        let mut mixed = ae_plan();
        mixed["name"] = json!("Bookings and retention");
        mixed["roleKeys"] = json!([]);
        mixed["personExternalIds"] = json!(["M"]);
        mixed["gates"] = json!([]);
        define(&app, "finance", mixed).await;

        let data = app
            .ok(
                "bi",
                "{ unbalancedPlans { totalCount nodes { id name balanced } } incentivePlans { nodes { name balanced } } }",
                json!({}),
            )
            .await;
        let u = &data["unbalancedPlans"];
        assert_eq!(u["totalCount"], 1, "{u:#}");
        assert_eq!(u["nodes"][0]["id"], bookings.as_str());
        assert_eq!(u["nodes"][0]["name"], "Bookings only");
        assert_eq!(u["nodes"][0]["balanced"], false);
        let mut flags: Vec<(String, bool)> = data["incentivePlans"]["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .map(|p| {
                (
                    p["name"].as_str().unwrap().to_owned(),
                    p["balanced"].as_bool().unwrap(),
                )
            })
            .collect();
        flags.sort();
        assert_eq!(
            flags,
            vec![
                ("Bookings and retention".to_owned(), true),
                ("Bookings only".to_owned(), false),
                ("Bookings with a gate".to_owned(), true),
            ]
        );
    }
);

// ---------------------------------------------------------------------------------------------
// 7. Two currencies
// ---------------------------------------------------------------------------------------------

on_both_backends!(
    two_currencies_in_one_org_are_never_summed,
    |app: TestApp| async move {
        setup(&app).await;
        let eur = define(&app, "finance", ae_plan()).await;
        let mut usd = ae_plan();
        usd["name"] = json!("CSM Q1 2026");
        usd["roleKeys"] = json!(["csm"]);
        usd["target"] = json!({ "amount": "5000", "currency": "USD" });
        let usd = define(&app, "finance", usd).await;
        // At target: EUR statements 10,000.00 each (Ana, Ben, Cy); USD 5,000.00 (Sam).
        record(
            &app,
            &[("new_arr", "100000"), ("nrr", "100"), ("csat", "80")],
        )
        .await;
        app.ok("finance", &compute_query(), json!({ "id": eur }))
            .await;
        app.ok("finance", &compute_query(), json!({ "id": usd }))
            .await;

        let all = visible(&app, "finance-user", "finance", json!({})).await;
        assert_eq!(people_of(&all), vec!["A", "B", "C", "S"]);
        for st in &all {
            let (amount, currency) = if st["person"]["externalId"] == "S" {
                ("5000.00", "USD")
            } else {
                ("10000.00", "EUR")
            };
            assert_money(&st["total"], amount, currency);
            for line in st["lines"].as_array().expect("lines") {
                assert_eq!(line["amount"]["currency"], currency, "{line:#}");
            }
        }

        let data = app.ok("finance", TOTALS, json!({ "id": eur })).await;
        let t = &data["planTotals"];
        // 3 x 10,000 EUR; the 5,000 USD is not in it (35,000 would be a mixed sum).
        assert_money(&t["overall"]["target"], "30000", "EUR");
        assert_money(&t["overall"]["payout"], "30000", "EUR");
        assert_eq!(t["overall"]["headcount"], 3);
        // Sam is in Sales EMEA too, but not on this plan: Ana and Cy only.
        let emea = t["byTeam"]
            .as_array()
            .expect("byTeam")
            .iter()
            .find(|g| g["group"] == "Sales EMEA")
            .expect("Sales EMEA");
        assert_eq!(emea["headcount"], 2);
        assert_money(&emea["payout"], "20000", "EUR");

        let data = app.ok("finance", TOTALS, json!({ "id": usd })).await;
        let t = &data["planTotals"];
        assert_eq!(t["overall"]["headcount"], 1);
        assert_money(&t["overall"]["target"], "5000", "USD");
        assert_money(&t["overall"]["payout"], "5000", "USD");
        assert_eq!(t["byRole"][0]["group"], "Customer Success Manager");
        assert_money(&t["byRole"][0]["payout"], "5000", "USD");
        assert_eq!(t["byTeam"][0]["group"], "Sales EMEA");
        assert_money(&t["byTeam"][0]["payout"], "5000", "USD");
    }
);

// ---------------------------------------------------------------------------------------------
// 8. Tenancy and audit
// ---------------------------------------------------------------------------------------------

on_both_backends!(
    another_org_sees_no_plans_or_statements_and_cannot_touch_them,
    |app: TestApp| async move {
        setup(&app).await;
        let plan = define(&app, "finance", ae_plan()).await;
        record(
            &app,
            &[("new_arr", "100000"), ("nrr", "100"), ("csat", "80")],
        )
        .await;
        app.ok("finance", &compute_query(), json!({ "id": plan }))
            .await;

        let other = app.create_org("Other").await;
        let stranger = app.token_for(other, "x", &["admin"]);
        let body = app
            .gql_with(
                Some(&stranger),
                "{ incentivePlans { totalCount } unbalancedPlans { totalCount } payoutStatements(filter: { allVersions: true }) { totalCount } }",
                json!({}),
            )
            .await;
        assert!(body.get("errors").is_none(), "{body:#}");
        assert_eq!(body["data"]["incentivePlans"]["totalCount"], 0);
        assert_eq!(body["data"]["unbalancedPlans"]["totalCount"], 0);
        assert_eq!(body["data"]["payoutStatements"]["totalCount"], 0);
        for (query, vars) in [
            (TOTALS.to_owned(), json!({ "id": plan })),
            (preview_query(), json!({ "id": plan })),
            (compute_query(), json!({ "id": plan })),
            (statements_query(), json!({ "f": { "planId": plan } })),
        ] {
            let body = app.gql_with(Some(&stranger), &query, vars).await;
            assert_eq!(
                error_code(&body).as_deref(),
                Some("NOT_FOUND"),
                "{query}: {body:#}"
            );
        }
        let body = app
            .gql_with(
                Some(&stranger),
                r#"query($id: ID!) { node(id: $id) { id } }"#,
                json!({ "id": plan }),
            )
            .await;
        assert!(body["data"]["node"].is_null(), "{body:#}");
        // The other org has no such role: its own plan for it is refused.
        let body = app
            .gql_with(Some(&stranger), DEFINE, json!({ "input": ae_plan() }))
            .await;
        assert_eq!(
            error_code(&body).as_deref(),
            Some("BAD_USER_INPUT"),
            "{body:#}"
        );
        let fields: Vec<&str> = body["errors"][0]["extensions"]["problems"]
            .as_array()
            .expect("problems")
            .iter()
            .map(|p| p["field"].as_str().unwrap())
            .collect();
        assert!(fields.contains(&"input.roleKeys[0]"), "{fields:?}");

        // The home org is untouched: still one version per person.
        let home = visible(&app, "admin-user", "admin", json!({ "allVersions": true })).await;
        assert_eq!(people_of(&home), vec!["A", "B", "C"]);
        assert!(home.iter().all(|st| st["version"] == 1));
    }
);

on_both_backends!(
    defining_a_plan_and_computing_payouts_are_audited,
    |app: TestApp| async move {
        setup(&app).await;
        let plan = define(&app, "finance", ae_plan()).await;
        record(
            &app,
            &[("new_arr", "100000"), ("nrr", "100"), ("csat", "80")],
        )
        .await;
        let computed = app
            .ok("finance", &compute_query(), json!({ "id": plan }))
            .await;
        let events = r#"query($f: AuditFilterInput) { auditEvents(filter: $f, first: 50) {
            totalCount nodes { actor operation entityType entityId after } } }"#;

        let data = app
            .ok("admin", events, json!({ "f": { "entityId": plan } }))
            .await;
        let list = &data["auditEvents"];
        assert_eq!(list["totalCount"], 1, "{list:#}");
        let e = &list["nodes"][0];
        assert_eq!(e["operation"], "defineIncentivePlan");
        assert_eq!(e["entityType"], "IncentivePlan");
        assert_eq!(e["entityId"], plan.as_str());
        assert_eq!(e["actor"], "finance-user");
        assert_eq!(e["after"]["name"], "AE Q1 2026");
        assert_eq!(e["after"]["currency"], "EUR");

        let statements = computed["computePayouts"]["statements"]
            .as_array()
            .expect("statements");
        assert_eq!(statements.len(), 3);
        for st in statements {
            let id = st["id"].as_str().expect("id");
            let data = app
                .ok("admin", events, json!({ "f": { "entityId": id } }))
                .await;
            let list = &data["auditEvents"];
            assert_eq!(list["totalCount"], 1, "{list:#}");
            let e = &list["nodes"][0];
            assert_eq!(e["operation"], "computePayouts");
            assert_eq!(e["entityType"], "PayoutStatement");
            assert_eq!(e["entityId"], id);
            assert_eq!(e["actor"], "finance-user");
            assert_eq!(e["after"]["version"], 1);
            assert_eq!(e["after"]["currency"], "EUR");
        }
    }
);
