//! The example front-end operations in `clients/operations/` run against a live server.
//!
//! The layout is the one graphql-request and codegen's client preset expect: each
//! `clients/operations/<area>/<Name>.graphql` holds exactly one operation named `<Name>`, and
//! each `clients/operations/fragments/<Name>.graphql` one fragment named `<Name>`. Every
//! operation is sent as the generated document sends it (its own text plus the fragments it
//! spreads, transitively, and no `operationName`) with an admin token, over data this test
//! sets up: queries and mutations over HTTP, subscriptions over WebSocket with a write that
//! triggers them. Each must answer without errors and with data behind every top-level field.
//!
//! A new operation file needs only an entry in [`variables`] when it declares variables (and,
//! for a subscription, a trigger in [`trigger`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_graphql::parser::parse_query;
use async_graphql::parser::types::{DocumentOperations, OperationType};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tandem_tests::{TestApp, on_both_backends};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// One operation file.
struct Operation {
    file: String,
    name: String,
    kind: OperationType,
    has_variables: bool,
    /// The operation followed by every fragment it spreads, as a client sends it.
    document: String,
}

fn operations_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../clients/operations")
}

/// Every `.graphql` file under `dir`, sorted by path.
fn graphql_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read operations directory") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            files.extend(graphql_files(&path));
        } else if path.extension().is_some_and(|ext| ext == "graphql") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// The names spread with `...Name` in a document (inline fragments `... on T` excluded).
fn spreads(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (i, _) in text.match_indices("...") {
        let name: String = text[i + 3..]
            .trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() && name != "on" {
            names.insert(name);
        }
    }
    names
}

/// Every operation, in path order, each checked to be alone in a file named after it.
fn load_operations() -> Vec<Operation> {
    let root = operations_dir();
    let mut fragments = BTreeMap::new();
    let mut operation_files = Vec::new();
    for path in graphql_files(&root) {
        let file = path
            .strip_prefix(&root)
            .unwrap_or(&path)
            .display()
            .to_string();
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_owned();
        let text = std::fs::read_to_string(&path).expect("read operation file");
        let in_fragments_dir =
            path.parent().and_then(|p| p.file_name()) == Some("fragments".as_ref());
        if in_fragments_dir {
            // A document needs an operation to parse: a placeholder stands in for it.
            let parsed = parse_query(format!(
                "{text}\nquery FragmentFilePlaceholder {{ __typename }}"
            ))
            .unwrap_or_else(|e| panic!("{file} does not parse: {e}"));
            let names: Vec<String> = parsed.fragments.keys().map(|n| n.to_string()).collect();
            assert_eq!(
                names,
                std::slice::from_ref(&stem),
                "{file} must hold exactly the fragment {stem}"
            );
            assert!(
                matches!(&parsed.operations, DocumentOperations::Multiple(ops) if ops.len() == 1),
                "{file} holds an operation; fragment files hold one fragment only"
            );
            fragments.insert(stem, text);
        } else {
            let parsed =
                parse_query(&text).unwrap_or_else(|e| panic!("{file} does not parse: {e}"));
            assert!(
                parsed.fragments.is_empty(),
                "{file} defines a fragment; put it in fragments/<Name>.graphql"
            );
            let ops: Vec<_> = parsed.operations.iter().collect();
            assert_eq!(ops.len(), 1, "{file} must hold exactly one operation");
            let (name, op) = ops[0];
            let name = name.map(|n| n.to_string()).unwrap_or_default();
            assert_eq!(
                name, stem,
                "{file}: the operation must be named like its file"
            );
            operation_files.push(Operation {
                file,
                name,
                kind: op.node.ty,
                has_variables: !op.node.variable_definitions.is_empty(),
                document: text,
            });
        }
    }
    for op in &mut operation_files {
        // The fragments it spreads, and the ones those spread.
        let mut needed = BTreeSet::new();
        let mut queue: Vec<String> = spreads(&op.document).into_iter().collect();
        while let Some(name) = queue.pop() {
            let text = fragments
                .get(&name)
                .unwrap_or_else(|| panic!("{}: no fragments/{name}.graphql", op.file));
            if needed.insert(name) {
                queue.extend(spreads(text));
            }
        }
        for name in needed {
            op.document.push('\n');
            op.document.push_str(&fragments[&name]);
        }
        parse_query(&op.document).unwrap_or_else(|e| panic!("{} with its fragments: {e}", op.file));
    }
    operation_files
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
    // Stays unlinked (LinkGoals links the two above): what UnbalancedGoals lists.
    goal("Price increase", "FINANCIAL", None).await;
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
        // glossary/
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
        // observations/
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
        // scorecards/
        ("OrgScorecards", with_q1(json!({ "ownerKind": "COMPANY" }))),
        ("ScorecardById", with_q1(json!({ "id": f.scorecard }))),
        ("RoleScorecards", q1.clone()),
        ("PersonScorecards", with_q1(json!({ "externalId": "E2" }))),
        // goals/
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
        // okrs/
        ("Objective", json!({ "id": f.objective, "checkIns": 5 })),
        (
            "CheckIn",
            json!({ "input": { "keyResultId": f.key_result, "value": "6", "confidence": 8,
                "note": "two more calls booked" } }),
        ),
        // people/
        (
            "PeopleDirectory",
            json!({ "filter": { "active": true }, "first": 50 }),
        ),
        ("Person", json!({ "externalId": "E2" })),
        // governance/
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
        // incentives/
        ("IncentivePlans", json!({ "first": 10 })),
        ("PayoutPreview", json!({ "planId": f.plan })),
        (
            "PayoutStatements",
            json!({ "filter": { "planId": f.plan }, "first": 10 }),
        ),
        ("PlanTotals", json!({ "planId": f.plan })),
        // revenue/
        (
            "NrrBySegment",
            json!({ "from": "2026-01-01", "to": "2026-03-31" }),
        ),
        (
            "ArrAtRisk",
            json!({ "asOf": "2026-04-01", "windowsDays": [30, 90], "first": 10 }),
        ),
        // subscriptions/
        ("ObservationRecorded", json!({ "metricKey": "revenue" })),
        ("CheckInAdded", json!({ "keyResultId": f.key_result })),
        (
            "ScorecardStatusChanged",
            json!({ "scorecardId": f.scorecard }),
        ),
        // dashboards/
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

/// Opens a graphql-transport-ws connection as `token` and starts `query`; returns the socket.
async fn subscribe(
    app: &TestApp,
    token: &str,
    query: &str,
    variables: &Value,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let mut request = format!("ws://{}/graphql", app.addr)
        .into_client_request()
        .expect("request");
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().expect("header"),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("websocket upgrade");
    let init = json!({ "type": "connection_init",
        "payload": { "Authorization": format!("Bearer {token}") } });
    socket
        .send(Message::text(init.to_string()))
        .await
        .expect("send init");
    let ack = next_message(&mut socket, Duration::from_secs(10))
        .await
        .expect("connection_ack");
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    let subscribe = json!({ "id": "1", "type": "subscribe",
        "payload": { "query": query, "variables": variables } });
    socket
        .send(Message::text(subscribe.to_string()))
        .await
        .expect("send subscribe");
    socket
}

/// The next text message within `within`, if any.
async fn next_message(
    socket: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    within: Duration,
) -> Option<Value> {
    loop {
        match tokio::time::timeout(within, socket.next()).await.ok()?? {
            Ok(Message::Text(text)) => return serde_json::from_str(text.as_str()).ok(),
            Ok(Message::Close(frame)) => panic!("socket closed: {frame:?}"),
            Ok(_) => {}
            Err(e) => panic!("websocket error: {e}"),
        }
    }
}

/// The `n`-th write that makes subscription `name` send an event: each call differs from the
/// one before, so every call announces something once the subscription is running.
async fn trigger(app: &TestApp, f: &Fixture, name: &str, n: usize) {
    let value = if n.is_multiple_of(2) { "1000000" } else { "0" };
    match name {
        "ObservationRecorded" | "ScorecardStatusChanged" => {
            // Revenue far above and far below target in turn: the company scorecard's
            // status flips between GREEN and RED for 2027-01 with every write.
            app.ok(
                "admin",
                r#"mutation($o: [ObservationInput!]!) { recordObservations(input: { observations: $o }) { created } }"#,
                json!({ "o": [
                    { "metricKey": "revenue", "periodStart": "2027-01-01", "granularity": "QUARTER", "value": value },
                    { "metricKey": "csat", "periodStart": "2027-01-01", "granularity": "QUARTER", "value": "95" }
                ] }),
            )
            .await;
        }
        "CheckInAdded" => {
            app.ok(
                "admin",
                r#"mutation($id: ID!, $v: Decimal!) { checkIn(input: { keyResultId: $id, value: $v, confidence: 5 }) { checkIn { id } } }"#,
                json!({ "id": f.key_result, "v": if n.is_multiple_of(2) { "4" } else { "5" } }),
            )
            .await;
        }
        other => panic!("subscription {other} has no trigger in `trigger`"),
    }
}

/// Runs a subscription: subscribes, then writes until its first event arrives (a write made
/// before the server has the subscription running announces nothing to it, so the test
/// repeats the write rather than waiting a fixed time). Returns the first event's payload.
async fn first_event(app: &TestApp, f: &Fixture, op: &Operation, variables: &Value) -> Value {
    let token = app.token(&["admin"]);
    let mut socket = subscribe(app, &token, &op.document, variables).await;
    for n in 0..100 {
        trigger(app, f, &op.name, n).await;
        while let Some(message) = next_message(&mut socket, Duration::from_millis(100)).await {
            match message["type"].as_str() {
                Some("next") => return message["payload"].clone(),
                Some("error") => return json!({ "errors": message["payload"] }),
                Some("complete") => panic!("{} completed without an event", op.name),
                _ => {}
            }
        }
    }
    panic!("{}: no event after 100 writes", op.name)
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
        for kind in [
            OperationType::Query,
            OperationType::Mutation,
            OperationType::Subscription,
        ] {
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
            let body: Value = if op.kind == OperationType::Subscription {
                first_event(&app, &fixture, op, &variables).await
            } else {
                // As graphql-request sends a generated document: no operation name.
                app.client()
                    .post(app.url("/graphql"))
                    .bearer_auth(&token)
                    .json(&json!({ "query": op.document, "variables": variables }))
                    .send()
                    .await
                    .expect("request")
                    .json()
                    .await
                    .expect("json body")
            };
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
            operations.len() >= 39,
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

on_both_backends!(
    a_forbidden_error_names_the_roles_that_may_do_it,
    |app: TestApp| async move {
        let body = app
            .gql(
                "member",
                r#"mutation { defineMetric(input: { key: "nps", name: "NPS", definition: "d",
                    unit: SCORE, direction: HIGHER_IS_BETTER, perspective: CUSTOMER, kind: OUTPUT,
                    aggregation: AVERAGE }) { metric { id } } }"#,
                json!({}),
            )
            .await;
        assert_eq!(
            tandem_tests::error_code(&body).as_deref(),
            Some("FORBIDDEN"),
            "{body:#}"
        );
        assert_eq!(
            body["errors"][0]["message"],
            "your roles (member) do not allow this operation; it needs one of these roles: \
             admin, revops",
            "{body:#}"
        );
    }
);

on_both_backends!(
    a_batched_request_is_refused_with_400_as_the_readme_says,
    |app: TestApp| async move {
        // Apollo's BatchHttpLink sends a JSON array; Tandem takes one operation per request.
        let response = app
            .client()
            .post(app.url("/graphql"))
            .bearer_auth(app.token(&["admin"]))
            .json(&json!([{ "query": "{ __typename }" }, { "query": "{ __typename }" }]))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), reqwest::StatusCode::BAD_REQUEST);
        let body: Value = response.json().await.expect("json");
        assert_eq!(
            tandem_tests::error_code(&body).as_deref(),
            Some("BAD_USER_INPUT"),
            "{body:#}"
        );
        assert_eq!(
            body["errors"][0]["message"],
            "the body must be a JSON object with a `query`"
        );
    }
);
