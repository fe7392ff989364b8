//! Governance: forums and sessions, trade-off rules with guards, decisions, maturity.

use serde_json::json;
use tandem_tests::{TestApp, error_code, error_field, on_both_backends};

use crate::goals::goal;

const FORUM: &str = r#"mutation($input: CreateForumInput!) { createForum(input: $input) { forum { id name cadence nextSessionDue overdue } } }"#;
const SESSION: &str = r#"mutation($input: RecordReviewSessionInput!) { recordReviewSession(input: $input) { session { id heldOn dashboardsUsed goals { title } } } }"#;
const RULE: &str = r#"mutation($input: DefineTradeOffRuleInput!) { defineTradeOffRule(input: $input) { rule { id kind statement guard { comparator threshold metric { key } } } } }"#;
const DECISION: &str = r#"mutation($input: LogDecisionInput!) { logDecision(input: $input) { decision { id title escalated resolvedByRule rules { statement } } } }"#;

on_both_backends!(
    forums_track_sessions_and_overdue_cadence,
    |app: TestApp| async move {
        let f = app
        .ok("executive", FORUM, json!({ "input": { "name": "Monthly business review", "cadence": "MONTHLY", "setUpOn": "2020-01-15" } }))
        .await;
        let forum = &f["createForum"]["forum"];
        assert_eq!(forum["nextSessionDue"], "2020-02-15");
        assert_eq!(forum["overdue"], true);
        let id = forum["id"].as_str().unwrap().to_owned();
        let g = goal(&app, "executive", "Retention", "CUSTOMER", None).await;
        let today = chrono::Utc::now().date_naive();
        let s = app
        .ok("executive", SESSION, json!({ "input": { "forumId": id, "heldOn": today.to_string(), "goalIds": [g], "dashboardsUsed": ["Revenue x retention"] } }))
        .await;
        assert_eq!(
            s["recordReviewSession"]["session"]["goals"][0]["title"],
            "Retention"
        );
        let forums = app
            .ok(
                "member",
                "{ forums { nodes { lastSessionOn overdue sessions { totalCount } } } }",
                json!({}),
            )
            .await;
        assert_eq!(forums["forums"]["nodes"][0]["overdue"], false);
        assert_eq!(forums["forums"]["nodes"][0]["sessions"]["totalCount"], 1);
        for role in ["member", "bi", "finance", "revops", "hr", "manager"] {
            let body = app
                .gql(
                    role,
                    FORUM,
                    json!({ "input": { "name": "x", "cadence": "WEEKLY" } }),
                )
                .await;
            assert_eq!(error_code(&body).as_deref(), Some("FORBIDDEN"), "{role}");
        }
    }
);

on_both_backends!(
    guards_report_violations_with_the_numbers_behind_them,
    |app: TestApp| async move {
        app.ok("admin", r#"mutation { defineMetric(input: { key: "grr", name: "GRR", definition: "d", unit: RATIO,
        direction: HIGHER_IS_BETTER, perspective: CUSTOMER, kind: OUTPUT, aggregation: LAST }) { metric { id } } }"#, json!({})).await;
        let g = goal(&app, "admin", "Expand Enterprise", "CUSTOMER", None).await;
        let rule = app
        .ok("executive", RULE, json!({ "input": { "kind": "UNACCEPTABLE", "statement": "No expansion push if GRR drops below 0.9",
            "guard": { "metricKey": "grr", "comparator": "AT_LEAST", "threshold": "0.9", "goalId": g } } }))
        .await;
        let rule_id = rule["defineTradeOffRule"]["rule"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        app.ok("revops", "mutation($o: [ObservationInput!]!) { recordObservations(input: { observations: $o }) { created } }", json!({ "o": [
        { "metricKey": "grr", "periodStart": "2026-09-01", "granularity": "MONTH", "value": "0.95" },
        { "metricKey": "grr", "periodStart": "2026-10-01", "granularity": "MONTH", "value": "0.87" }
    ] })).await;
        let q = "{ guardChecks(onlyViolations: false) { status latestValue threshold gap rule { id } } }";
        let inactive = app.ok("member", q, json!({})).await;
        assert_eq!(inactive["guardChecks"][0]["status"], "INACTIVE");
        app.ok("admin", r#"mutation($id: ID!) { setGoalStatus(input: { id: $id, status: ACTIVE }) { goal { status } } }"#, json!({ "id": g })).await;
        let violated = app
            .ok(
                "member",
                "{ guardChecks { status latestValue threshold gap rule { id statement } } }",
                json!({}),
            )
            .await;
        let check = &violated["guardChecks"][0];
        assert_eq!(check["status"], "VIOLATED");
        assert_eq!(check["latestValue"], "0.87");
        assert_eq!(check["gap"], "0.03");
        assert_eq!(check["rule"]["id"], rule_id.as_str());

        let bad = app
        .gql("executive", RULE, json!({ "input": { "kind": "ACCEPTABLE", "statement": "x", "guard": { "metricKey": "nope", "comparator": "AT_MOST", "threshold": "1", "goalId": g } } }))
        .await;
        assert_eq!(error_field(&bad).as_deref(), Some("input.guard.metricKey"));
        let forbidden = app
            .gql(
                "manager",
                RULE,
                json!({ "input": { "kind": "ACCEPTABLE", "statement": "x" } }),
            )
            .await;
        assert_eq!(error_code(&forbidden).as_deref(), Some("FORBIDDEN"));
    }
);

on_both_backends!(
    decisions_feed_the_maturity_figures,
    |app: TestApp| async move {
        let rule = app.ok("executive", RULE, json!({ "input": { "kind": "ACCEPTABLE", "statement": "Discounts up to 10% for multi-year renewals" } })).await;
        let rule_id = rule["defineTradeOffRule"]["rule"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let logged = app
        .ok("executive", DECISION, json!({ "input": { "title": "Renewal discount", "context": "Big renewal at risk", "options": ["5%", "12%"],
            "outcome": "10%", "ruleIds": [rule_id], "escalated": true, "resolvedByRule": true, "decidedOn": "2026-11-01" } }))
        .await;
        let decision_id = logged["logDecision"]["decision"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        app.ok("admin", DECISION, json!({ "input": { "title": "Headcount", "context": "c", "outcome": "o", "escalated": true } })).await;
        let refused = app.gql("admin", DECISION, json!({ "input": { "title": "t", "context": "c", "outcome": "o", "resolvedByRule": true } })).await;
        assert_eq!(error_field(&refused).as_deref(), Some("input.ruleIds"));
        let listed = app
        .ok("member", r#"{ decisions(escalated: true) { totalCount nodes { title rules { statement } } } }"#, json!({}))
        .await;
        assert_eq!(listed["decisions"]["totalCount"], 2);
        app.ok("executive", r#"mutation { assessCapability(input: { capability: PLANNING_TRADE_OFFS, level: 3, evidence: "rules used in QBR" }) { level } }"#, json!({})).await;
        let bad_level = app.gql("executive", r#"mutation { assessCapability(input: { capability: PLANNING_TRADE_OFFS, level: 6 }) { level } }"#, json!({})).await;
        assert_eq!(error_field(&bad_level).as_deref(), Some("input.level"));
        let maturity = app
            .ok(
                "bi",
                "{ maturity { capability level evidence figure { name value note } } }",
                json!({}),
            )
            .await;
        let rows = maturity["maturity"].as_array().unwrap();
        assert_eq!(rows.len(), 6);
        let planning = rows
            .iter()
            .find(|r| r["capability"] == "PLANNING_TRADE_OFFS")
            .unwrap();
        assert_eq!(planning["level"], 3);
        assert_eq!(planning["figure"]["value"], "0.5", "{planning:#}");
        let nrr = rows
            .iter()
            .find(|r| r["capability"] == "STRATEGY_NARRATIVE")
            .unwrap();
        assert!(nrr["figure"]["value"].is_null());
        let history = app
        .ok("member", r#"query($id: ID!) { node(id: $id) { ... on Decision { history { totalCount nodes { operation actor } } } } }"#, json!({ "id": decision_id }))
        .await;
        assert_eq!(
            history["node"]["history"]["nodes"][0]["operation"],
            "logDecision"
        );
    }
);

on_both_backends!(
    rules_and_decisions_keep_their_full_history,
    |app: TestApp| async move {
        let rule = app
            .ok(
                "executive",
                RULE,
                json!({ "input": { "kind": "ACCEPTABLE", "statement": "Discounts up to 10%" } }),
            )
            .await;
        let rule_id = rule["defineTradeOffRule"]["rule"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let update = r#"mutation($input: UpdateTradeOffRuleInput!) { updateTradeOffRule(input: $input) { rule { kind statement } } }"#;
        let changed = app.ok("admin", update, json!({ "input": { "id": rule_id, "kind": "UNACCEPTABLE", "statement": "No discounts above 10%" } })).await;
        assert_eq!(
            changed["updateTradeOffRule"]["rule"]["kind"],
            "UNACCEPTABLE"
        );
        let refused = app
            .gql(
                "member",
                update,
                json!({ "input": { "id": rule_id, "statement": "x" } }),
            )
            .await;
        assert_eq!(error_code(&refused).as_deref(), Some("FORBIDDEN"));

        let logged = app
        .ok("executive", DECISION, json!({ "input": { "title": "Renewal", "context": "c", "outcome": "5%", "escalated": true } }))
        .await;
        let decision_id = logged["logDecision"]["decision"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let revise = r#"mutation($input: UpdateDecisionInput!) { updateDecision(input: $input) { decision { outcome resolvedByRule rules { statement } } } }"#;
        let no_rule = app
            .gql(
                "executive",
                revise,
                json!({ "input": { "id": decision_id, "resolvedByRule": true } }),
            )
            .await;
        assert_eq!(error_field(&no_rule).as_deref(), Some("input.ruleIds"));
        let revised = app
        .ok("executive", revise, json!({ "input": { "id": decision_id, "outcome": "10%", "resolvedByRule": true, "ruleIds": [rule_id] } }))
        .await;
        assert_eq!(
            revised["updateDecision"]["decision"]["rules"][0]["statement"],
            "No discounts above 10%"
        );

        let history = r#"query($r: ID!, $d: ID!) {
        rule: node(id: $r) { ... on TradeOffRule { history { nodes { operation before after } } } }
        decision: node(id: $d) { ... on Decision { history { nodes { operation before after } } } } }"#;
        let h = app
            .ok("member", history, json!({ "r": rule_id, "d": decision_id }))
            .await;
        let rule_ops: Vec<_> = h["rule"]["history"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["operation"].clone())
            .collect();
        assert_eq!(
            rule_ops,
            vec![json!("updateTradeOffRule"), json!("defineTradeOffRule")]
        );
        assert_eq!(
            h["rule"]["history"]["nodes"][0]["before"]["statement"],
            "Discounts up to 10%"
        );
        let decision_nodes = h["decision"]["history"]["nodes"].as_array().unwrap();
        assert_eq!(decision_nodes.len(), 2);
        assert_eq!(decision_nodes[0]["before"]["outcome"], "5%");
        assert_eq!(decision_nodes[0]["after"]["outcome"], "10%");
    }
);
