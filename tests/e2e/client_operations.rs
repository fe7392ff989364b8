//! The example front-end operations in `clients/operations/*.graphql` run against a live server:
//! every named operation of every file is sent as a front end sends it (the file's text with
//! `operationName` and variables) with an admin token, over data this test sets up, and must
//! answer without errors and with data behind every top-level field.
//!
//! A new `.graphql` file needs only an entry in [`variables`] for each of its operations that
//! declares variables.

use std::collections::BTreeMap;
use std::path::PathBuf;

use async_graphql::parser::parse_query;
use async_graphql::parser::types::OperationType;
use serde_json::{Value, json};
use tandem_tests::{TestApp, on_both_backends};

/// One named operation of an operation file.
struct Operation {
    file: String,
    name: String,
    kind: OperationType,
    has_variables: bool,
    line: usize,
    /// The whole file: a front end sends an operation with the fragments beside it.
    document: String,
}

fn operations_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../clients/operations")
}

/// Every named operation, in file order and then in the order written.
fn load_operations() -> Vec<Operation> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(operations_dir())
        .expect("clients/operations exists")
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "graphql"))
        .collect();
    files.sort();
    let mut operations = Vec::new();
    for path in files {
        let file = path
            .file_name()
            .and_then(|name| name.to_str())
            .unwrap_or_default()
            .to_owned();
        let document = std::fs::read_to_string(&path).expect("read operation file");
        let parsed =
            parse_query(&document).unwrap_or_else(|e| panic!("{file} does not parse: {e}"));
        let mut in_file: Vec<Operation> = parsed
            .operations
            .iter()
            .map(|(name, op)| Operation {
                file: file.clone(),
                name: name
                    .unwrap_or_else(|| panic!("{file}: every operation must be named"))
                    .to_string(),
                kind: op.node.ty,
                has_variables: !op.node.variable_definitions.is_empty(),
                line: op.pos.line,
                document: document.clone(),
            })
            .collect();
        assert!(!in_file.is_empty(), "{file} holds no operation");
        in_file.sort_by_key(|op| op.line);
        operations.extend(in_file);
    }
    operations
}

/// The rows the operations read, created as a front end's users would.
struct Fixture {
    scorecard: String,
    revenue_goal: String,
    customer_goal: String,
    lone_revenue_goal: String,
    lone_customer_goal: String,
    objective: String,
    key_result: String,
    plan: String,
    session: String,
    rule: String,
    dashboard: String,
}

fn sid(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("expected an id, got {v}"))
        .to_owned()
}

async fn setup(app: &TestApp) -> Fixture {
    let define =
        r#"mutation($input: DefineMetricInput!) { defineMetric(input: $input) { metric { id } } }"#;
    for (key, perspective, unit, currency) in [
        ("revenue", "FINANCIAL", "CURRENCY", Some("EUR")),
        ("csat", "CUSTOMER", "SCORE", None),
    ] {
        app.ok(
            "admin",
            define,
            json!({ "input": { "key": key, "name": key, "definition": format!("{key} of the period"),
                "unit": unit, "currency": currency, "direction": "HIGHER_IS_BETTER",
                "perspective": perspective, "kind": "OUTPUT", "aggregation": "SUM" } }),
        )
        .await;
    }
    app.ok(
        "admin",
        r#"mutation { createSegment(input: { key: "enterprise", name: "Enterprise" }) { segment { id } } }"#,
        json!({}),
    )
    .await;
    app.ok(
        "admin",
        r#"mutation($o: [ObservationInput!]!) { recordObservations(input: { observations: $o }) { created } }"#,
        json!({ "o": [
            { "metricKey": "revenue", "periodStart": "2026-01-01", "granularity": "MONTH", "value": "40000.50" },
            { "metricKey": "revenue", "periodStart": "2026-02-01", "granularity": "MONTH", "value": "45000" },
            { "metricKey": "revenue", "periodStart": "2026-03-01", "granularity": "MONTH", "value": "30000",
              "segmentKey": "enterprise", "stageKey": "expansion" },
            { "metricKey": "csat", "periodStart": "2026-01-01", "granularity": "QUARTER", "value": "85" }
        ] }),
    )
    .await;

    // The admin's token subject is `admin-user`: Ana signs in with it, so `me` is Ana.
    let kpis = json!([
        { "metricKey": "revenue", "weight": "0.6", "target": "100000", "green": "100000", "amber": "80000" },
        { "metricKey": "csat", "weight": "0.4", "target": "90", "green": "90", "amber": "80" }
    ]);
    app.ok(
        "admin",
        r#"mutation($input: HrSyncInput!) { syncHr(input: $input) { changed } }"#,
        json!({ "input": {
            "teams": [{ "externalId": "T-CS", "name": "Customer success" }],
            "roles": [{ "key": "account_executive", "name": "Account Executive" }],
            "people": [
                { "externalId": "E1", "name": "Ana", "email": "ana@acme.test", "subject": "admin-user",
                  "teamExternalId": "T-CS" },
                { "externalId": "E2", "name": "Bo", "managerExternalId": "E1", "teamExternalId": "T-CS",
                  "roleKeys": ["account_executive"] }
            ],
            "assignments": [{ "roleKey": "account_executive", "items": kpis }]
        } }),
    )
    .await;
    let card = app
        .ok(
            "admin",
            r#"mutation($input: DefineScorecardInput!) { defineScorecard(input: $input) { scorecard { id } } }"#,
            json!({ "input": { "name": "Company FY26", "ownerKind": "COMPANY", "items": kpis } }),
        )
        .await;

    let create_goal =
        r#"mutation($input: CreateGoalInput!) { createGoal(input: $input) { goal { id } } }"#;
    let goal = async |title: &str, perspective: &str, parent: Option<&str>| {
        let data = app
            .ok(
                "admin",
                create_goal,
                json!({ "input": { "title": title, "perspective": perspective,
                    "periodStart": "2026-01-01", "periodEnd": "2026-12-31",
                    "owner": { "teamExternalId": "T-CS" }, "parentId": parent } }),
            )
            .await;
        sid(&data["createGoal"]["goal"]["id"])
    };
    let revenue_goal = goal("Grow revenue", "FINANCIAL", None).await;
    let customer_goal = goal("Keep customers", "CUSTOMER", Some(&revenue_goal)).await;
    goal("Faster onboarding", "CUSTOMER", Some(&customer_goal)).await;
    let lone_revenue_goal = goal("Upsell push", "FINANCIAL", None).await;
    let lone_customer_goal = goal("Adoption", "CUSTOMER", None).await;
    app.ok(
        "admin",
        r#"mutation($a: ID!, $b: ID!) { linkGoals(input: { goalId: $a, otherGoalId: $b, rationale: "retained customers expand" }) { goal { id } } }"#,
        json!({ "a": revenue_goal, "b": customer_goal }),
    )
    .await;

    let objective = app
        .ok(
            "admin",
            r#"mutation($input: CreateObjectiveInput!) { createObjective(input: $input) { objective { id } } }"#,
            json!({ "input": { "goalId": customer_goal, "title": "Onboard faster",
                "periodStart": "2026-01-01", "periodEnd": "2026-06-30" } }),
        )
        .await;
    let objective = sid(&objective["createObjective"]["objective"]["id"]);
    let key_result = app
        .ok(
            "admin",
            r#"mutation($input: CreateKeyResultInput!) { createKeyResult(input: $input) { keyResult { id } } }"#,
            json!({ "input": { "objectiveId": objective, "title": "Onboarding calls held",
                "baseline": "0", "target": "10", "ownerPersonExternalId": "E2" } }),
        )
        .await;
    let key_result = sid(&key_result["createKeyResult"]["keyResult"]["id"]);
    app.ok(
        "admin",
        r#"mutation($id: ID!) { checkIn(input: { keyResultId: $id, value: "3", confidence: 6 }) { checkIn { id } } }"#,
        json!({ "id": key_result }),
    )
    .await;
    app.ok(
        "admin",
        r#"mutation($id: ID!) { metricKr: createKeyResult(input: { objectiveId: $id, title: "Revenue", baseline: "0", target: "150000", metricKey: "revenue" }) { keyResult { id } } }"#,
        json!({ "id": objective }),
    )
    .await;

    let plan = app
        .ok(
            "admin",
            r#"mutation($input: DefineIncentivePlanInput!) { defineIncentivePlan(input: $input) { plan { id } } }"#,
            json!({ "input": {
                "name": "AE Q1 2026", "periodStart": "2026-01-01", "granularity": "QUARTER",
                "target": { "amount": "10000.00", "currency": "EUR" },
                "roleKeys": ["account_executive"],
                "components": [{ "name": "Revenue", "metricKey": "revenue", "target": "100000", "weight": "1",
                    "curve": { "points": [
                        { "attainment": "0.5", "payout": "0.25" }, { "attainment": "1.5", "payout": "2" }
                    ], "threshold": "0.5", "cap": "2" } }],
                "gates": [{ "metricKey": "csat", "target": "80", "minAttainment": "0.9", "factor": "0.5" }]
            } }),
        )
        .await;
    let plan = sid(&plan["defineIncentivePlan"]["plan"]["id"]);
    app.ok(
        "admin",
        r#"mutation($id: ID!) { computePayouts(input: { planId: $id }) { statements { id } } }"#,
        json!({ "id": plan }),
    )
    .await;

    let forum = app
        .ok(
            "admin",
            r#"mutation($input: CreateForumInput!) { createForum(input: $input) { forum { id } } }"#,
            json!({ "input": { "name": "Monthly business review", "cadence": "MONTHLY",
                "setUpOn": "2026-01-01", "memberExternalIds": ["E1", "E2"] } }),
        )
        .await;
    let session = app
        .ok(
            "admin",
            r#"mutation($input: RecordReviewSessionInput!) { recordReviewSession(input: $input) { session { id } } }"#,
            json!({ "input": { "forumId": sid(&forum["createForum"]["forum"]["id"]), "heldOn": "2026-02-02",
                "attendeeExternalIds": ["E1"], "goalIds": [customer_goal],
                "scorecardIds": [sid(&card["defineScorecard"]["scorecard"]["id"])],
                "dashboardsUsed": ["Revenue x retention"], "notes": "Q1 kick-off" } }),
        )
        .await;
    let session = sid(&session["recordReviewSession"]["session"]["id"]);
    let rule = app
        .ok(
            "admin",
            r#"mutation($input: DefineTradeOffRuleInput!) { defineTradeOffRule(input: $input) { rule { id } } }"#,
            json!({ "input": { "kind": "UNACCEPTABLE", "statement": "No revenue push that drops CSAT below 80",
                "ownerExternalId": "E1",
                "guard": { "metricKey": "csat", "comparator": "AT_LEAST", "threshold": "80", "goalId": customer_goal } } }),
        )
        .await;
    let rule = sid(&rule["defineTradeOffRule"]["rule"]["id"]);
    app.ok(
        "admin",
        r#"mutation($input: LogDecisionInput!) { logDecision(input: $input) { decision { id } } }"#,
        json!({ "input": { "title": "Renewal discount", "context": "Renewal at risk", "options": ["5%", "10%"],
            "outcome": "5%", "ruleIds": [rule], "escalated": true, "resolvedByRule": true,
            "sessionId": session, "decidedOn": "2026-02-02" } }),
    )
    .await;
    app.ok(
        "admin",
        r#"mutation { assessCapability(input: { capability: GOVERNANCE_CADENCE, level: 2, ownerExternalId: "E1", evidence: "monthly reviews" }) { level } }"#,
        json!({}),
    )
    .await;

    // Accounts and MRR movements, and a shared dashboard over the revenue metric.
    app.ok(
        "admin",
        r#"mutation($a: [AccountInput!]!) { upsertAccounts(input: { accounts: $a }) { created } }"#,
        json!({ "a": [
            { "externalId": "ACME-1", "name": "Acme Corp", "segmentKey": "enterprise",
              "startedOn": "2025-12-01", "renewsOn": "2026-04-20", "arr": "14400", "healthScore": "35",
              "risk": "RED" },
            { "externalId": "INIT-2", "name": "Initech", "renewsOn": "2026-09-01", "arr": "6000",
              "risk": "GREEN" }
        ] }),
    )
    .await;
    app.ok(
        "admin",
        r#"mutation($m: [RevenueMovementInput!]!) { recordRevenueMovements(input: { movements: $m }) { created } }"#,
        json!({ "m": [
            { "externalId": "EV-1", "accountExternalId": "ACME-1", "effectiveOn": "2025-12-01",
              "kind": "NEW", "amount": "1000" },
            { "externalId": "EV-2", "accountExternalId": "ACME-1", "effectiveOn": "2026-02-10",
              "kind": "EXPANSION", "amount": "200" },
            { "externalId": "EV-3", "accountExternalId": "INIT-2", "effectiveOn": "2025-11-01",
              "kind": "NEW", "amount": "500" }
        ] }),
    )
    .await;
    let dashboard = app
        .ok(
            "admin",
            r#"mutation($input: SaveDashboardInput!) { saveDashboard(input: $input) { dashboard { id } } }"#,
            json!({ "input": { "name": "Revenue", "visibility": "ORGANIZATION", "panels": [
                { "title": "Revenue by segment", "metricKey": "revenue", "bySegment": true,
                  "from": "2026-01-01", "to": "2026-03-31", "granularity": "MONTH", "chart": "STACKED_BAR" },
                { "title": "Revenue per CSAT point", "formula": "revenue / csat",
                  "lastPeriods": 1, "granularity": "QUARTER", "chart": "NUMBER" }
            ] } }),
        )
        .await;

    Fixture {
        dashboard: sid(&dashboard["saveDashboard"]["dashboard"]["id"]),
        scorecard: sid(&card["defineScorecard"]["scorecard"]["id"]),
        revenue_goal,
        customer_goal,
        lone_revenue_goal,
        lone_customer_goal,
        objective,
        key_result,
        plan,
        session,
        rule,
    }
}

/// The variables of every operation that declares any, by operation name.
fn variables(f: &Fixture) -> BTreeMap<&'static str, Value> {
    let q1 = json!({ "periodStart": "2026-01-01", "granularity": "QUARTER" });
    let with_q1 = |extra: Value| {
        let mut v = q1.clone();
        if let (Some(v), Some(extra)) = (v.as_object_mut(), extra.as_object()) {
            v.extend(extra.clone());
        }
        v
    };
    let fy26 = json!({ "from": "2026-01-01", "to": "2026-12-31" });
    BTreeMap::from([
        // glossary.graphql
        (
            "Glossary",
            json!({ "filter": { "perspective": "FINANCIAL" }, "first": 10 }),
        ),
        ("MetricDetail", json!({ "key": "revenue", "versions": 5 })),
        (
            "DefineMetric",
            json!({ "input": { "key": "nps", "name": "NPS", "definition": "Net promoter score",
                "unit": "SCORE", "direction": "HIGHER_IS_BETTER", "perspective": "CUSTOMER",
                "kind": "OUTPUT", "aggregation": "AVERAGE" } }),
        ),
        // observations.graphql
        (
            "RecordObservations",
            json!({ "input": { "observations": [
                { "metricKey": "csat", "periodStart": "2026-04-01", "granularity": "QUARTER", "value": "88",
                  "source": "survey" }
            ], "dryRun": false } }),
        ),
        (
            "Observations",
            json!({ "filter": { "metricKey": "revenue" }, "first": 50 }),
        ),
        (
            "MetricSeries",
            json!({ "input": { "metricKey": "revenue", "from": "2026-01-01", "to": "2026-06-30",
                "granularity": "QUARTER", "bySegment": true, "byStage": true } }),
        ),
        // scorecards.graphql
        ("OrgScorecards", with_q1(json!({ "ownerKind": "COMPANY" }))),
        ("ScorecardById", with_q1(json!({ "id": f.scorecard }))),
        ("RoleScorecards", q1.clone()),
        ("PersonScorecards", with_q1(json!({ "externalId": "E2" }))),
        // goals.graphql
        ("Goals", json!({ "filter": fy26, "first": 20 })),
        ("GoalTree", json!({ "id": f.revenue_goal, "first": 20 })),
        ("UnbalancedGoals", json!({ "period": fy26, "first": 20 })),
        (
            "CreateGoal",
            json!({ "input": { "title": "Self-serve onboarding", "perspective": "CUSTOMER",
                "periodStart": "2026-04-01", "periodEnd": "2026-06-30", "parentId": f.customer_goal,
                "owner": { "personExternalId": "E2" } } }),
        ),
        (
            "LinkGoals",
            json!({ "input": { "goalId": f.lone_revenue_goal, "otherGoalId": f.lone_customer_goal,
                "rationale": "adopted accounts buy more" } }),
        ),
        (
            "SetGoalStatus",
            json!({ "input": { "id": f.revenue_goal, "status": "ACTIVE" } }),
        ),
        // okrs.graphql
        ("Objective", json!({ "id": f.objective, "checkIns": 5 })),
        (
            "CheckIn",
            json!({ "input": { "keyResultId": f.key_result, "value": "6", "confidence": 8,
                "note": "two more calls booked" } }),
        ),
        // people.graphql
        (
            "PeopleDirectory",
            json!({ "filter": { "active": true }, "first": 50 }),
        ),
        ("Person", json!({ "externalId": "E2" })),
        // governance.graphql
        ("Forums", json!({ "sessions": 5 })),
        ("TradeOffs", json!({ "onlyViolations": false })),
        (
            "Decisions",
            json!({ "escalated": true, "sessionId": f.session, "first": 10 }),
        ),
        (
            "LogDecision",
            json!({ "input": { "title": "Hold the price rise", "context": "CSAT dipped in EMEA",
                "options": ["raise now", "wait a quarter"], "outcome": "wait a quarter",
                "ruleIds": [f.rule], "resolvedByRule": true, "sessionId": f.session } }),
        ),
        // incentives.graphql
        ("IncentivePlans", json!({ "first": 10 })),
        ("PayoutPreview", json!({ "planId": f.plan })),
        (
            "PayoutStatements",
            json!({ "filter": { "planId": f.plan }, "first": 10 }),
        ),
        ("PlanTotals", json!({ "planId": f.plan })),
        // revenue.graphql
        (
            "NrrBySegment",
            json!({ "from": "2026-01-01", "to": "2026-03-31" }),
        ),
        (
            "ArrAtRisk",
            json!({ "asOf": "2026-04-01", "windowsDays": [30, 90], "first": 10 }),
        ),
        // dashboards.graphql
        (
            "Dashboard",
            json!({ "id": f.dashboard, "asOf": "2026-03-15" }),
        ),
        (
            "SaveDashboard",
            json!({ "input": { "id": f.dashboard, "name": "Revenue, monthly", "visibility": "ORGANIZATION",
                "expectedVersion": 1, "panels": [
                    { "title": "Revenue", "metricKey": "revenue", "lastPeriods": 6, "granularity": "MONTH" }
                ] } }),
        ),
    ])
}

/// Top-level fields that answered nothing: null, an empty list or an empty connection.
fn empty_fields(data: &Value) -> Vec<String> {
    let Some(fields) = data.as_object() else {
        return vec!["(no data)".to_owned()];
    };
    fields
        .iter()
        .filter(|(_, value)| match value {
            Value::Null => true,
            Value::Array(items) => items.is_empty(),
            Value::Object(object) => object
                .get("totalCount")
                .is_some_and(|count| count.as_i64() == Some(0)),
            _ => false,
        })
        .map(|(name, _)| name.clone())
        .collect()
}

on_both_backends!(
    every_example_operation_runs_against_the_live_schema_with_data,
    |app: TestApp| async move {
        let operations = load_operations();
        let fixture = setup(&app).await;
        let mut vars = variables(&fixture);

        let names: Vec<&str> = operations.iter().map(|op| op.name.as_str()).collect();
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(
            unique.len(),
            names.len(),
            "operation names repeat: {names:?}"
        );
        let stale: Vec<&&str> = vars.keys().filter(|k| !names.contains(k)).collect();
        assert!(
            stale.is_empty(),
            "variables for operations that do not exist: {stale:?}"
        );
        for kind in [OperationType::Query, OperationType::Mutation] {
            assert!(
                operations.iter().any(|op| op.kind == kind),
                "no {kind} among the examples"
            );
        }

        let token = app.token(&["admin"]);
        let mut failures = Vec::new();
        for op in &operations {
            let variables = match vars.remove(op.name.as_str()) {
                Some(v) => v,
                None if !op.has_variables => json!({}),
                None => {
                    failures.push(format!(
                        "{} ({}): declares variables but has no entry in `variables`",
                        op.name, op.file
                    ));
                    continue;
                }
            };
            let body: Value = app
                .client()
                .post(app.url("/graphql"))
                .bearer_auth(&token)
                .json(&json!({ "query": op.document, "operationName": op.name, "variables": variables }))
                .send()
                .await
                .expect("request")
                .json()
                .await
                .expect("json body");
            if body.get("errors").is_some() {
                failures.push(format!("{} ({}): {:#}", op.name, op.file, body["errors"]));
                continue;
            }
            let empty = empty_fields(&body["data"]);
            if !empty.is_empty() {
                failures.push(format!(
                    "{} ({}): nothing in {empty:?}: {:#}",
                    op.name, op.file, body["data"]
                ));
            }
        }
        assert!(
            failures.is_empty(),
            "{} of {} example operations failed:\n{}",
            failures.len(),
            operations.len(),
            failures.join("\n")
        );
        assert!(
            operations.len() >= 25,
            "only {} operations found",
            operations.len()
        );
    }
);

on_both_backends!(
    a_query_against_a_field_the_schema_lacks_is_refused,
    |app: TestApp| async move {
        // The check above is only worth something if the server validates what it is sent.
        let body = app
            .gql(
                "admin",
                "query Glossary { metrics { nodes { keyy } } }",
                json!({}),
            )
            .await;
        assert!(body.get("errors").is_some(), "{body:#}");
    }
);
