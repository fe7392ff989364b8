//! Goals and OKRs: linked financial and customer goals, cascading trees, key results and
//! check-ins.

use serde_json::{Value, json};
use tandem_tests::{TestApp, error_code, error_field, on_both_backends};

pub const CREATE_GOAL: &str = r#"mutation($input: CreateGoalInput!) { createGoal(input: $input) { goal { id status perspective } } }"#;
pub const SET_STATUS: &str = r#"mutation($id: ID!, $status: GoalStatus!) { setGoalStatus(input: { id: $id, status: $status }) { goal { status } } }"#;
pub const LINK: &str = r#"mutation($a: ID!, $b: ID!, $why: String!) { linkGoals(input: { goalId: $a, otherGoalId: $b, rationale: $why }) { goal { id } } }"#;

pub async fn goal(
    app: &TestApp,
    role: &str,
    title: &str,
    perspective: &str,
    parent: Option<&str>,
) -> String {
    let data = app
        .ok(
            role,
            CREATE_GOAL,
            json!({ "input": {
                "title": title, "perspective": perspective, "periodStart": "2026-01-01", "periodEnd": "2026-12-31",
                "parentId": parent
            } }),
        )
        .await;
    data["createGoal"]["goal"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

on_both_backends!(
    activating_a_financial_goal_without_customer_link_is_conflict,
    |app: TestApp| async move {
        let nrr = goal(
            &app,
            "executive",
            "Grow NRR to 115% in FY27",
            "FINANCIAL",
            None,
        )
        .await;
        let ttv = goal(
            &app,
            "executive",
            "Cut time-to-first-value to 14 days",
            "CUSTOMER",
            None,
        )
        .await;
        let refused = app
            .gql(
                "executive",
                SET_STATUS,
                json!({ "id": nrr, "status": "ACTIVE" }),
            )
            .await;
        assert_eq!(
            error_code(&refused).as_deref(),
            Some("CONFLICT"),
            "{refused:#}"
        );
        let message = refused["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains("CUSTOMER"), "{message}");
        let unbalanced = app
        .ok("member", r#"{ unbalancedGoals(period: { from: "2026-01-01", to: "2026-12-31" }) { totalCount nodes { title } } }"#, json!({}))
        .await;
        assert_eq!(unbalanced["unbalancedGoals"]["totalCount"], 1);

        // Linking in the other direction counts too.
        app.ok(
            "executive",
            LINK,
            json!({ "a": ttv, "b": nrr, "why": "faster onboarding drives expansion" }),
        )
        .await;
        let active = app
            .ok(
                "executive",
                SET_STATUS,
                json!({ "id": nrr, "status": "ACTIVE" }),
            )
            .await;
        assert_eq!(active["setGoalStatus"]["goal"]["status"], "ACTIVE");
        let unbalanced = app
            .ok(
                "member",
                r#"{ unbalancedGoals(period: { from: "2026-01-01", to: "2026-12-31" }) { totalCount } }"#,
                json!({}),
            )
            .await;
        assert_eq!(unbalanced["unbalancedGoals"]["totalCount"], 0);
        let links = app
        .ok("bi", r#"query($id: ID!) { node(id: $id) { ... on Goal { hasCustomerLink links { rationale goal { title } } } } }"#, json!({ "id": nrr }))
        .await;
        assert_eq!(links["node"]["hasCustomerLink"], true);
        assert_eq!(
            links["node"]["links"][0]["rationale"],
            "faster onboarding drives expansion"
        );
    }
);

on_both_backends!(
    an_admin_can_turn_the_customer_link_policy_off,
    |app: TestApp| async move {
        let nrr = goal(&app, "admin", "Grow NRR", "FINANCIAL", None).await;
        let forbidden = app
        .gql("executive", "mutation { updateOrganizationSettings(input: { requireCustomerLink: false }) { settings { requireCustomerLink } } }", json!({}))
        .await;
        assert_eq!(error_code(&forbidden).as_deref(), Some("FORBIDDEN"));
        app.ok("admin", "mutation { updateOrganizationSettings(input: { requireCustomerLink: false }) { settings { requireCustomerLink } } }", json!({}))
        .await;
        let active = app
            .ok(
                "admin",
                SET_STATUS,
                json!({ "id": nrr, "status": "ACTIVE" }),
            )
            .await;
        assert_eq!(active["setGoalStatus"]["goal"]["status"], "ACTIVE");
    }
);

on_both_backends!(
    illegal_transitions_and_cycles_are_refused,
    |app: TestApp| async move {
        let a = goal(&app, "executive", "A", "CUSTOMER", None).await;
        let b = goal(&app, "executive", "B", "CUSTOMER", Some(&a)).await;
        let c = goal(&app, "executive", "C", "CUSTOMER", Some(&b)).await;
        let achieved = app
            .gql(
                "executive",
                SET_STATUS,
                json!({ "id": a, "status": "ACHIEVED" }),
            )
            .await;
        assert_eq!(error_code(&achieved).as_deref(), Some("CONFLICT"));
        let cycle = app
        .gql("executive", r#"mutation($id: ID!, $p: ID!) { updateGoal(input: { id: $id, parentId: $p }) { goal { id } } }"#, json!({ "id": a, "p": c }))
        .await;
        assert_eq!(error_code(&cycle).as_deref(), Some("CONFLICT"), "{cycle:#}");
        let bad_period = app
        .gql("executive", CREATE_GOAL, json!({ "input": { "title": "x", "perspective": "CUSTOMER", "periodStart": "2026-12-31", "periodEnd": "2026-01-01" } }))
        .await;
        assert_eq!(error_field(&bad_period).as_deref(), Some("input.periodEnd"));
        let other = app.create_org("Other").await;
        let stranger = app.token_for(other, "x", &["admin"]);
        let foreign = app
        .gql_with(Some(&stranger), CREATE_GOAL, json!({ "input": { "title": "x", "perspective": "CUSTOMER", "periodStart": "2026-01-01", "periodEnd": "2026-12-31", "parentId": a } }))
        .await;
        assert_eq!(
            error_code(&foreign).as_deref(),
            Some("BAD_USER_INPUT"),
            "{foreign:#}"
        );
        let count = app.ok("admin", "{ goals { totalCount } }", json!({})).await;
        assert_eq!(count["goals"]["totalCount"], 3);
    }
);

pub const OBJECTIVE: &str = r#"mutation($input: CreateObjectiveInput!) { createObjective(input: $input) { objective { id } } }"#;
pub const KEY_RESULT: &str = r#"mutation($input: CreateKeyResultInput!) { createKeyResult(input: $input) { keyResult { id source } } }"#;
pub const CHECK_IN: &str = r#"mutation($input: CheckInInput!) { checkIn(input: $input) { checkIn { value confidence author } keyResult { current progress confidence } } }"#;

pub async fn objective(app: &TestApp, goal_id: &str, owner: Value) -> String {
    let data = app
        .ok("executive", OBJECTIVE, json!({ "input": { "goalId": goal_id, "title": "Onboard faster", "owner": owner, "periodStart": "2026-04-01", "periodEnd": "2026-06-30" } }))
        .await;
    data["createObjective"]["objective"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

pub async fn roster(app: &TestApp) {
    app.ok(
        "hr",
        r#"mutation { syncHr(input: {
            teams: [{ externalId: "T1", name: "Onboarding" }, { externalId: "T2", name: "Finance" }]
            people: [
              { externalId: "M", name: "Mia", subject: "mia", teamExternalId: "T1" },
              { externalId: "A", name: "Ana", subject: "ana", managerExternalId: "M", teamExternalId: "T1" },
              { externalId: "Z", name: "Zed", subject: "zed", teamExternalId: "T2" }
            ] }) { changed } }"#,
        json!({}),
    )
    .await;
}

on_both_backends!(
    key_results_track_check_ins_and_metrics_with_exact_progress,
    |app: TestApp| async move {
        roster(&app).await;
        let g = goal(
            &app,
            "executive",
            "Cut time-to-first-value",
            "CUSTOMER",
            None,
        )
        .await;
        let o = objective(&app, &g, json!({ "teamExternalId": "T1" })).await;
        let manual = app
        .ok("executive", KEY_RESULT, json!({ "input": { "objectiveId": o, "title": "Days to first value", "baseline": "30", "target": "14", "ownerPersonExternalId": "A" } }))
        .await;
        let manual_id = manual["createKeyResult"]["keyResult"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(manual["createKeyResult"]["keyResult"]["source"], "CHECK_IN");

        let ana = app.token_for(app.org_id, "ana", &["member"]);
        let data = app
        .gql_with(Some(&ana), CHECK_IN, json!({ "input": { "keyResultId": manual_id, "value": "22", "confidence": 7, "note": "on track" } }))
        .await;
        assert!(data.get("errors").is_none(), "{data:#}");
        let kr = &data["data"]["checkIn"]["keyResult"];
        assert_eq!(kr["current"], "22");
        assert_eq!(kr["progress"], "0.5");
        assert_eq!(kr["confidence"], 7);
        assert_eq!(data["data"]["checkIn"]["checkIn"]["author"], "ana");

        // Metric key result: latest observation in the objective's period (Q2).
        app.ok("admin", r#"mutation { defineMetric(input: { key: "activation", name: "Activation", definition: "d", unit: PERCENT,
        direction: HIGHER_IS_BETTER, perspective: CUSTOMER, kind: OUTPUT, aggregation: LAST }) { metric { id } } }"#, json!({})).await;
        app.ok("revops", "mutation($o: [ObservationInput!]!) { recordObservations(input: { observations: $o }) { created } }", json!({ "o": [
        { "metricKey": "activation", "periodStart": "2026-04-01", "granularity": "MONTH", "value": "40" },
        { "metricKey": "activation", "periodStart": "2026-05-01", "granularity": "MONTH", "value": "45" },
        { "metricKey": "activation", "periodStart": "2026-07-01", "granularity": "MONTH", "value": "99" }
    ] })).await;
        let metric_kr = app
        .ok("executive", KEY_RESULT, json!({ "input": { "objectiveId": o, "title": "Activation", "baseline": "40", "target": "70", "metricKey": "activation", "weight": "2" } }))
        .await;
        let metric_kr_id = metric_kr["createKeyResult"]["keyResult"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let objective_data = app
        .ok("member", r#"query($id: ID!) { node(id: $id) { ... on Objective { progress keyResults { nodes { title current progress } } } } }"#, json!({ "id": o }))
        .await;
        let nodes = &objective_data["node"]["keyResults"]["nodes"];
        assert_eq!(nodes[1]["current"], "45");
        // (45 - 40) / (70 - 40) = 1/6, exact to Decimal precision.
        assert_eq!(nodes[1]["progress"], "0.1666666666666666666666666667");
        // (1 * 0.5 + 2 * 1/6) / 3 = 0.2777...
        assert!(
            objective_data["node"]["progress"]
                .as_str()
                .unwrap()
                .starts_with("0.27777777777777777777777777"),
            "{objective_data:#}"
        );

        // A metric key result takes no check-ins.
        let refused = app
            .gql(
                "executive",
                CHECK_IN,
                json!({ "input": { "keyResultId": metric_kr_id, "value": "1", "confidence": 5 } }),
            )
            .await;
        assert_eq!(error_code(&refused).as_deref(), Some("CONFLICT"));
    }
);

on_both_backends!(check_in_rules_follow_ownership, |app: TestApp| async move {
    roster(&app).await;
    let g = goal(&app, "executive", "Retention", "CUSTOMER", None).await;
    let o = objective(&app, &g, json!({ "teamExternalId": "T1" })).await;
    let kr = app
        .ok("executive", KEY_RESULT, json!({ "input": { "objectiveId": o, "title": "Renewals", "baseline": "0", "target": "10", "ownerPersonExternalId": "A" } }))
        .await;
    let kr_id = kr["createKeyResult"]["keyResult"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let input = |confidence: i64| json!({ "input": { "keyResultId": kr_id, "value": "3", "confidence": confidence } });
    let zed = app.token_for(app.org_id, "zed", &["member"]);
    let body = app.gql_with(Some(&zed), CHECK_IN, input(5)).await;
    assert_eq!(
        error_code(&body).as_deref(),
        Some("FORBIDDEN"),
        "a member on someone else's key result"
    );
    let mia = app.token_for(app.org_id, "mia", &["manager"]);
    let body = app.gql_with(Some(&mia), CHECK_IN, input(5)).await;
    assert!(
        body.get("errors").is_none(),
        "the owner's manager: {body:#}"
    );
    let zed_manager = app.token_for(app.org_id, "zed", &["manager"]);
    let body = app.gql_with(Some(&zed_manager), CHECK_IN, input(5)).await;
    assert_eq!(
        error_code(&body).as_deref(),
        Some("FORBIDDEN"),
        "a manager of another team"
    );
    let body = app.gql("bi", CHECK_IN, input(5)).await;
    assert_eq!(error_code(&body).as_deref(), Some("FORBIDDEN"));
    let ana = app.token_for(app.org_id, "ana", &["member"]);
    let body = app.gql_with(Some(&ana), CHECK_IN, input(11)).await;
    assert_eq!(error_field(&body).as_deref(), Some("input.confidence"));
    let zero_span = app
        .gql(
            "executive",
            KEY_RESULT,
            json!({ "input": { "objectiveId": o, "title": "x", "baseline": "5", "target": "5" } }),
        )
        .await;
    assert_eq!(error_field(&zero_span).as_deref(), Some("input.target"));
    let count = app
        .ok(
            "admin",
            r#"query($id: ID!) { node(id: $id) { ... on KeyResult { checkIns { totalCount } } } }"#,
            json!({ "id": kr_id }),
        )
        .await;
    assert_eq!(count["node"]["checkIns"]["totalCount"], 1);
});

on_both_backends!(
    managers_write_goals_of_their_teams_only,
    |app: TestApp| async move {
        roster(&app).await;
        let mia = app.token_for(app.org_id, "mia", &["manager"]);
        let own = json!({ "input": { "title": "Onboarding NPS", "perspective": "CUSTOMER", "periodStart": "2026-01-01", "periodEnd": "2026-12-31", "owner": { "teamExternalId": "T1" } } });
        let body = app.gql_with(Some(&mia), CREATE_GOAL, own).await;
        assert!(body.get("errors").is_none(), "{body:#}");
        let other = json!({ "input": { "title": "Close faster", "perspective": "INTERNAL_PROCESS", "periodStart": "2026-01-01", "periodEnd": "2026-12-31", "owner": { "teamExternalId": "T2" } } });
        let body = app.gql_with(Some(&mia), CREATE_GOAL, other).await;
        assert_eq!(error_code(&body).as_deref(), Some("FORBIDDEN"));
        let company = json!({ "input": { "title": "Company", "perspective": "FINANCIAL", "periodStart": "2026-01-01", "periodEnd": "2026-12-31" } });
        let body = app.gql_with(Some(&mia), CREATE_GOAL, company.clone()).await;
        assert_eq!(error_code(&body).as_deref(), Some("FORBIDDEN"));
        for role in ["member", "bi", "finance", "revops", "hr", "hr_sync"] {
            let body = app.gql(role, CREATE_GOAL, company.clone()).await;
            assert_eq!(error_code(&body).as_deref(), Some("FORBIDDEN"), "{role}");
        }
        let listed = app
            .ok(
                "member",
                r#"{ goals(filter: { ownerTeamExternalId: "T1" }) { totalCount } }"#,
                json!({}),
            )
            .await;
        assert_eq!(listed["goals"]["totalCount"], 1);
    }
);

/// Builds a tree of `depth` levels under one root with `per_goal` children per goal until
/// `total` goals exist, each with one objective and one check-in key result.
async fn tree(app: &TestApp, total: usize, per_goal: usize, depth: usize) -> String {
    let root = goal(app, "admin", "root", "CUSTOMER", None).await;
    let mut level = vec![root.clone()];
    let mut made = 1;
    for _ in 1..depth {
        let mut next = Vec::new();
        for parent in &level {
            for _ in 0..per_goal {
                if made >= total {
                    break;
                }
                next.push(goal(app, "admin", &format!("g{made}"), "CUSTOMER", Some(parent)).await);
                made += 1;
            }
        }
        level = next;
    }
    let all = app
        .ok("admin", "{ goals(first: 500) { nodes { id } } }", json!({}))
        .await;
    for g in all["goals"]["nodes"].as_array().unwrap() {
        let o = app
            .ok("admin", OBJECTIVE, json!({ "input": { "goalId": g["id"], "title": "o", "periodStart": "2026-01-01", "periodEnd": "2026-12-31" } }))
            .await;
        let o = o["createObjective"]["objective"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let kr = app
            .ok("admin", KEY_RESULT, json!({ "input": { "objectiveId": o, "title": "kr", "baseline": "0", "target": "4" } }))
            .await;
        let kr = kr["createKeyResult"]["keyResult"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        app.ok(
            "admin",
            CHECK_IN,
            json!({ "input": { "keyResultId": kr, "value": "1", "confidence": 5 } }),
        )
        .await;
    }
    root
}

const TREE: &str = r#"query($id: ID!) { node(id: $id) { ... on Goal { title
  descendants(first: 500) { totalCount nodes { depth parentId goal { title status
    objectives { nodes { title progress keyResults { nodes { current progress confidence } } } } } } } } } }"#;

on_both_backends!(
    a_goal_tree_loads_in_a_bounded_number_of_statements,
    |small: TestApp| async move {
        let root = tree(&small, 5, 1, 5).await;
        small.ok("bi", "{ viewer { subject } }", json!({})).await;
        let before = small.statements();
        let data = small.ok("bi", TREE, json!({ "id": root })).await;
        let few = small.statements() - before;
        assert_eq!(data["node"]["descendants"]["totalCount"], 4);

        let big = tandem_tests::spawn_app(small.backend)
            .await
            .expect("second app");
        let root = tree(&big, 200, 4, 5).await;
        big.ok("bi", "{ viewer { subject } }", json!({})).await;
        let before = big.statements();
        let data = big.ok("bi", TREE, json!({ "id": root })).await;
        let many = big.statements() - before;
        let nodes = data["node"]["descendants"]["nodes"].as_array().unwrap();
        assert_eq!(nodes.len(), 199);
        assert_eq!(
            nodes.iter().map(|n| n["depth"].as_i64().unwrap()).max(),
            Some(4)
        );
        assert_eq!(
            nodes[0]["goal"]["objectives"]["nodes"][0]["keyResults"]["nodes"][0]["progress"],
            "0.25"
        );
        assert_eq!(
            few, many,
            "statements grew with the tree: {few} for 6 goals, {many} for 200"
        );
        assert!(many <= 8, "{many} statements");
    }
);
