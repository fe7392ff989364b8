//! Governance, broader: forum members and session attendees as people, refusals that write
//! nothing, cadence arithmetic from the last session, every guard verdict, decision filters,
//! rule and decision history, maturity assessments and the figures the platform computes
//! itself (worked out by hand below), access and tenancy.

use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{Days, Months, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use tandem_tests::{TestApp, error_code, error_field, on_both_backends};
use uuid::Uuid;

use crate::goals::{CREATE_GOAL, SET_STATUS, goal};
use crate::hr_sync::{SYNC, define_metric};
use crate::support::{audit_count, create_segment, obs, obs_dim, record};

const FORUM: &str = r#"mutation($input: CreateForumInput!) { createForum(input: $input) { forum {
    id name cadence setUpOn lastSessionOn nextSessionDue overdue members { externalId name } } } }"#;
const SESSION: &str = r#"mutation($input: RecordReviewSessionInput!) { recordReviewSession(input: $input) { session {
    id heldOn notes dashboardsUsed recordedBy forum { id name } attendees { externalId name }
    goals { id title } scorecards { id } } } }"#;
const RULE: &str = r#"mutation($input: DefineTradeOffRuleInput!) { defineTradeOffRule(input: $input) { rule {
    id kind statement owner { externalId } guard { comparator threshold metric { key } goal { id } } } } }"#;
const DECISION: &str = r#"mutation($input: LogDecisionInput!) { logDecision(input: $input) { decision {
    id title escalated resolvedByRule decidedOn } } }"#;
const ASSESS: &str = r#"mutation($input: AssessCapabilityInput!) { assessCapability(input: $input) { capability level } }"#;

const FORUMS: &str = r#"{ forums(first: 100) { totalCount nodes {
    id name cadence setUpOn lastSessionOn nextSessionDue overdue
    members { externalId name } sessions(first: 100) { totalCount nodes { heldOn } } } } }"#;
const CHECKS: &str = r#"query($all: Boolean!) { guardChecks(onlyViolations: $all) {
    status latestValue threshold gap rule { id statement } } }"#;
const DECISIONS: &str = r#"query($e: Boolean, $s: ID) { decisions(escalated: $e, sessionId: $s, first: 100) {
    totalCount nodes { id title context options outcome escalated resolvedByRule decidedOn loggedBy
    rules { id statement } session { id heldOn forum { name } } } } }"#;
const MATURITY: &str = r#"{ maturity { capability level evidence assessedOn owner { externalId }
    figure { name value note } } }"#;

/// The six capabilities, in the order the API lists them.
const CAPABILITIES: [&str; 6] = [
    "STRATEGY_NARRATIVE",
    "SCORECARDS_INCENTIVES",
    "PLANNING_TRADE_OFFS",
    "MEASUREMENT_DASHBOARDS",
    "GOVERNANCE_CADENCE",
    "CULTURE_BEHAVIOURS",
];

/// Every access role that is neither admin nor executive.
const NON_WRITERS: [&str; 7] = [
    "finance", "revops", "hr", "manager", "member", "bi", "hr_sync",
];

/// Ana (E1), Bo (E2) and Cleo (E3, no token subject) in one team.
async fn roster(app: &TestApp) {
    app.ok(
        "hr_sync",
        SYNC,
        json!({ "input": {
            "teams": [{ "externalId": "T1", "name": "Leadership" }],
            "people": [
                { "externalId": "E1", "name": "Ana", "subject": "ana", "teamExternalId": "T1" },
                { "externalId": "E2", "name": "Bo", "subject": "bo", "teamExternalId": "T1" },
                { "externalId": "E3", "name": "Cleo", "teamExternalId": "T1" }
            ]
        } }),
    )
    .await;
}

fn sid(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not an id: {v}"))
        .to_owned()
}

/// Creates a forum as executive; returns it.
async fn create_forum(app: &TestApp, input: Value) -> Value {
    app.ok("executive", FORUM, json!({ "input": input })).await["createForum"]["forum"].clone()
}

/// Records a session of `forum` held on `held_on` as executive, with `extra` input fields.
async fn record_session(app: &TestApp, forum: &str, held_on: &str, extra: Value) -> Value {
    let mut input = json!({ "forumId": forum, "heldOn": held_on });
    for (k, v) in extra.as_object().expect("extra fields") {
        input[k] = v.clone();
    }
    app.ok("executive", SESSION, json!({ "input": input }))
        .await["recordReviewSession"]["session"]
        .clone()
}

/// Writes a rule as executive; returns its id.
async fn define_rule(app: &TestApp, input: Value) -> String {
    sid(
        &app.ok("executive", RULE, json!({ "input": input })).await["defineTradeOffRule"]["rule"]["id"],
    )
}

/// Logs a decision as executive; returns its id.
async fn log_decision(app: &TestApp, input: Value) -> String {
    sid(&app
        .ok("executive", DECISION, json!({ "input": input }))
        .await["logDecision"]["decision"]["id"])
}

/// `(externalId, name)` of a list of people.
fn people(list: &Value) -> Vec<(String, String)> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|p| (sid(&p["externalId"]), sid(&p["name"])))
        .collect()
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

/// Forums (as member), and the total number of sessions over all of them.
async fn forums(app: &TestApp) -> (Vec<Value>, i64) {
    let data = app.ok("member", FORUMS, json!({})).await;
    let nodes = data["forums"]["nodes"].as_array().expect("nodes").clone();
    let sessions = nodes
        .iter()
        .map(|f| f["sessions"]["totalCount"].as_i64().expect("count"))
        .sum();
    (nodes, sessions)
}

fn forum_named<'a>(list: &'a [Value], name: &str) -> &'a Value {
    list.iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("no forum {name} in {list:#?}"))
}

/// Asserts a BAD_USER_INPUT at `field`.
fn assert_bad_input(body: &Value, field: &str, what: &str) {
    assert_eq!(
        error_code(body).as_deref(),
        Some("BAD_USER_INPUT"),
        "{what}: {body:#}"
    );
    assert_eq!(
        error_field(body).as_deref(),
        Some(field),
        "{what}: {body:#}"
    );
}

/// A well-formed global id of `kind` for a row that does not exist.
fn unknown_id(kind: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{kind}:{}", Uuid::new_v4()))
}

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

fn days_ago(n: u64) -> String {
    (today() - Days::new(n)).to_string()
}

fn dec(v: &Value) -> Decimal {
    Decimal::from_str(v.as_str().unwrap_or_else(|| panic!("not a decimal: {v}"))).expect("decimal")
}

/// The maturity rows, as `role` sees them.
async fn maturity(app: &TestApp, role: &str) -> Vec<Value> {
    app.ok(role, MATURITY, json!({})).await["maturity"]
        .as_array()
        .expect("maturity")
        .clone()
}

fn row<'a>(rows: &'a [Value], capability: &str) -> &'a Value {
    rows.iter()
        .find(|r| r["capability"] == capability)
        .unwrap_or_else(|| panic!("no {capability} in {rows:#?}"))
}

on_both_backends!(
    forum_members_and_attendees_resolve_as_people,
    |app: TestApp| async move {
        roster(&app).await;
        // Members come back as people, by name, each once.
        let forum = create_forum(
            &app,
            json!({ "name": "Monthly business review", "cadence": "MONTHLY",
                "memberExternalIds": ["E2", "E1", " E2 "] }),
        )
        .await;
        assert_eq!(
            people(&forum["members"]),
            pairs(&[("E1", "Ana"), ("E2", "Bo")])
        );
        let forum_id = sid(&forum["id"]);
        let session = record_session(
            &app,
            &forum_id,
            "2026-03-02",
            json!({ "attendeeExternalIds": ["E3", "E1"], "notes": "Churn up in SMB" }),
        )
        .await;
        assert_eq!(
            people(&session["attendees"]),
            pairs(&[("E1", "Ana"), ("E3", "Cleo")])
        );
        assert_eq!(session["forum"]["id"], forum_id.as_str());
        assert_eq!(session["notes"], "Churn up in SMB");
        assert_eq!(session["recordedBy"], "executive-user");
        let session_id = sid(&session["id"]);

        // The same through node(id:) and the list, as a member and as bi.
        for role in ["member", "bi"] {
            let node = app
                .ok(
                    role,
                    r#"query($f: ID!, $s: ID!) {
                      f: node(id: $f) { ... on Forum { name members { externalId name } } }
                      s: node(id: $s) { ... on ReviewSession { heldOn forum { name } attendees { externalId name } } } }"#,
                    json!({ "f": forum_id, "s": session_id }),
                )
                .await;
            assert_eq!(
                people(&node["f"]["members"]),
                pairs(&[("E1", "Ana"), ("E2", "Bo")]),
                "{role}"
            );
            assert_eq!(
                people(&node["s"]["attendees"]),
                pairs(&[("E1", "Ana"), ("E3", "Cleo")]),
                "{role}"
            );
            assert_eq!(node["s"]["forum"]["name"], "Monthly business review");
        }

        // Unknown HR ids are refused at their index, and nothing is written.
        let audit = audit_count(&app).await;
        let refused = app
            .gql(
                "executive",
                FORUM,
                json!({ "input": { "name": "QBR", "cadence": "QUARTERLY", "memberExternalIds": ["GHOST"] } }),
            )
            .await;
        assert_bad_input(&refused, "input.memberExternalIds[0]", "unknown member");
        let refused = app
            .gql(
                "executive",
                FORUM,
                json!({ "input": { "name": "QBR", "cadence": "QUARTERLY", "memberExternalIds": ["E1", "GHOST"] } }),
            )
            .await;
        assert_bad_input(
            &refused,
            "input.memberExternalIds[1]",
            "unknown second member",
        );
        let refused = app
            .gql(
                "executive",
                SESSION,
                json!({ "input": { "forumId": forum_id, "heldOn": "2026-04-01", "attendeeExternalIds": ["GHOST"] } }),
            )
            .await;
        assert_bad_input(&refused, "input.attendeeExternalIds[0]", "unknown attendee");
        let refused = app
            .gql(
                "executive",
                SESSION,
                json!({ "input": { "forumId": forum_id, "heldOn": "2026-04-01", "attendeeExternalIds": ["E1", "E2", "GHOST"] } }),
            )
            .await;
        assert_bad_input(
            &refused,
            "input.attendeeExternalIds[2]",
            "unknown third attendee",
        );
        let (list, sessions) = forums(&app).await;
        assert_eq!(list.len(), 1, "a refused forum was created");
        assert_eq!(sessions, 1, "a refused session was recorded");
        assert_eq!(
            audit_count(&app).await,
            audit,
            "refusals wrote audit events"
        );
    }
);

on_both_backends!(
    another_organizations_goal_cannot_be_reviewed,
    |app: TestApp| async move {
        let own = goal(&app, "executive", "Retention", "CUSTOMER", None).await;
        let other = app.create_org("Other").await;
        let stranger = app.token_for(other, "stranger", &["admin"]);
        let foreign = app
            .gql_with(
                Some(&stranger),
                CREATE_GOAL,
                json!({ "input": { "title": "Their goal", "perspective": "CUSTOMER",
                    "periodStart": "2026-01-01", "periodEnd": "2026-12-31" } }),
            )
            .await;
        let foreign_goal = sid(&foreign["data"]["createGoal"]["goal"]["id"]);
        let theirs = app
            .gql_with(
                Some(&stranger),
                FORUM,
                json!({ "input": { "name": "Their forum", "cadence": "MONTHLY" } }),
            )
            .await;
        let foreign_forum = sid(&theirs["data"]["createForum"]["forum"]["id"]);
        let forum =
            sid(&create_forum(&app, json!({ "name": "QBR", "cadence": "QUARTERLY" })).await["id"]);

        let audit = audit_count(&app).await;
        let refused = app
            .gql(
                "executive",
                SESSION,
                json!({ "input": { "forumId": forum, "heldOn": "2026-03-01", "goalIds": [own, foreign_goal] } }),
            )
            .await;
        assert_bad_input(&refused, "input.goalIds[1]", "another org's goal");
        let refused = app
            .gql(
                "executive",
                SESSION,
                json!({ "input": { "forumId": forum, "heldOn": "2026-03-01", "goalIds": [foreign_goal] } }),
            )
            .await;
        assert_bad_input(&refused, "input.goalIds[0]", "another org's goal alone");
        let refused = app
            .gql(
                "executive",
                SESSION,
                json!({ "input": { "forumId": forum, "heldOn": "2026-03-01", "goalIds": [forum] } }),
            )
            .await;
        assert_bad_input(&refused, "input.goalIds[0]", "a forum id as a goal id");
        let refused = app
            .gql(
                "executive",
                SESSION,
                json!({ "input": { "forumId": forum, "heldOn": "2026-03-01", "goalIds": [unknown_id("Goal")] } }),
            )
            .await;
        assert_bad_input(&refused, "input.goalIds[0]", "an unknown goal id");
        let refused = app
            .gql(
                "executive",
                SESSION,
                json!({ "input": { "forumId": foreign_forum, "heldOn": "2026-03-01", "goalIds": [own] } }),
            )
            .await;
        assert_bad_input(&refused, "input.forumId", "another org's forum");

        // Nothing was written, here or there.
        assert_eq!(
            audit_count(&app).await,
            audit,
            "refusals wrote audit events"
        );
        let (_, sessions) = forums(&app).await;
        assert_eq!(sessions, 0);
        let theirs = app
            .gql_with(
                Some(&stranger),
                "{ forums { nodes { sessions { totalCount } } } }",
                json!({}),
            )
            .await;
        assert_eq!(
            theirs["data"]["forums"]["nodes"][0]["sessions"]["totalCount"],
            0
        );

        // The same input with only its own goal goes through.
        let ok = record_session(&app, &forum, "2026-03-01", json!({ "goalIds": [own] })).await;
        assert_eq!(ok["goals"][0]["title"], "Retention");
    }
);

on_both_backends!(
    next_session_due_follows_the_cadence_from_the_last_session,
    |app: TestApp| async move {
        let today = today();
        // Never met: due one cadence after set-up. 2026-01-05 + 7 days = 2026-01-12.
        let weekly = create_forum(
            &app,
            json!({ "name": "Weekly pipeline", "cadence": "WEEKLY", "setUpOn": "2026-01-05" }),
        )
        .await;
        assert_eq!(weekly["setUpOn"], "2026-01-05");
        assert!(weekly["lastSessionOn"].is_null());
        assert_eq!(weekly["nextSessionDue"], "2026-01-12");
        assert_eq!(
            weekly["overdue"],
            today > NaiveDate::from_ymd_opt(2026, 1, 12).unwrap()
        );
        let weekly = sid(&weekly["id"]);
        // Sessions recorded out of order: the latest date counts. 2026-03-02 + 7 = 2026-03-09.
        record_session(&app, &weekly, "2026-03-02", json!({})).await;
        record_session(&app, &weekly, "2026-02-23", json!({})).await;

        // 2026-01-31 + 1 month = 2026-02-28 (the month is shorter).
        let monthly = sid(&create_forum(
            &app,
            json!({ "name": "Monthly business review", "cadence": "MONTHLY", "setUpOn": "2025-12-01" }),
        )
        .await["id"]);
        record_session(&app, &monthly, "2026-01-31", json!({})).await;
        // 2025-11-30 + 3 months = 2026-02-28.
        let quarterly = sid(&create_forum(
            &app,
            json!({ "name": "Quarterly business review", "cadence": "QUARTERLY", "setUpOn": "2025-06-01" }),
        )
        .await["id"]);
        record_session(&app, &quarterly, "2025-11-30", json!({})).await;
        // A quarterly forum that never met, set up on 2025-11-30: due 2026-02-28 as well.
        create_forum(
            &app,
            json!({ "name": "Quarterly board prep", "cadence": "QUARTERLY", "setUpOn": "2025-11-30" }),
        )
        .await;
        // Forums that met today are due one cadence from today and not overdue.
        for (name, cadence) in [
            ("Today weekly", "WEEKLY"),
            ("Today monthly", "MONTHLY"),
            ("Today quarterly", "QUARTERLY"),
        ] {
            let f = sid(&create_forum(
                &app,
                json!({ "name": name, "cadence": cadence, "setUpOn": "2024-01-01" }),
            )
            .await["id"]);
            record_session(&app, &f, &today.to_string(), json!({})).await;
        }
        // Without a set-up date the forum is set up today; first session due one month on.
        let fresh = create_forum(
            &app,
            json!({ "name": "Fresh monthly", "cadence": "MONTHLY" }),
        )
        .await;
        assert_eq!(fresh["setUpOn"], today.to_string());

        let (list, _) = forums(&app).await;
        let check = |name: &str, last: Option<&str>, due: NaiveDate| {
            let f = forum_named(&list, name);
            assert_eq!(f["lastSessionOn"].as_str(), last, "{name}: {f:#}");
            assert_eq!(f["nextSessionDue"], due.to_string(), "{name}: {f:#}");
            assert_eq!(f["overdue"], today > due, "{name}: {f:#}");
        };
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        check("Weekly pipeline", Some("2026-03-02"), d(2026, 3, 9));
        check(
            "Monthly business review",
            Some("2026-01-31"),
            d(2026, 2, 28),
        );
        check(
            "Quarterly business review",
            Some("2025-11-30"),
            d(2026, 2, 28),
        );
        check("Quarterly board prep", None, d(2026, 2, 28));
        let t = today.to_string();
        check("Today weekly", Some(&t), today + Days::new(7));
        check(
            "Today monthly",
            Some(&t),
            today.checked_add_months(Months::new(1)).unwrap(),
        );
        check(
            "Today quarterly",
            Some(&t),
            today.checked_add_months(Months::new(3)).unwrap(),
        );
        check(
            "Fresh monthly",
            None,
            today.checked_add_months(Months::new(1)).unwrap(),
        );
        for name in [
            "Today weekly",
            "Today monthly",
            "Today quarterly",
            "Fresh monthly",
        ] {
            assert_eq!(forum_named(&list, name)["overdue"], false, "{name}");
        }
        // Sessions are listed newest first.
        let held: Vec<&Value> = forum_named(&list, "Weekly pipeline")["sessions"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| &s["heldOn"])
            .collect();
        assert_eq!(held, [&json!("2026-03-02"), &json!("2026-02-23")]);
    }
);

on_both_backends!(
    guards_hold_break_lack_data_or_do_not_apply,
    |app: TestApp| async move {
        define_metric(&app, "churn_rate", "CUSTOMER", "LOWER_IS_BETTER").await;
        define_metric(&app, "grr", "CUSTOMER", "HIGHER_IS_BETTER").await;
        define_metric(&app, "cac", "FINANCIAL", "LOWER_IS_BETTER").await;
        create_segment(&app, "enterprise").await;
        let active = goal(&app, "executive", "Expand enterprise", "CUSTOMER", None).await;
        app.ok(
            "executive",
            SET_STATUS,
            json!({ "id": active, "status": "ACTIVE" }),
        )
        .await;
        let draft = goal(&app, "executive", "Someday", "CUSTOMER", None).await;
        let guard = |metric: &str, comparator: &str, threshold: &str, goal: &str| json!({ "metricKey": metric, "comparator": comparator, "threshold": threshold, "goalId": goal });
        let r1 = define_rule(
            &app,
            json!({ "kind": "UNACCEPTABLE", "statement": "R1 churn at most 5",
            "guard": guard("churn_rate", "AT_MOST", "5", &active) }),
        )
        .await;
        let r2 = define_rule(
            &app,
            json!({ "kind": "UNACCEPTABLE", "statement": "R2 grr at least 0.9",
            "guard": guard("grr", "AT_LEAST", "0.9", &active) }),
        )
        .await;
        let r3 = define_rule(
            &app,
            json!({ "kind": "UNACCEPTABLE", "statement": "R3 cac at most 100",
            "guard": guard("cac", "AT_MOST", "100", &active) }),
        )
        .await;
        let r4 = define_rule(
            &app,
            json!({ "kind": "UNACCEPTABLE", "statement": "R4 churn at most 5 while a draft goal",
            "guard": guard("churn_rate", "AT_MOST", "5", &draft) }),
        )
        .await;
        let r5 = define_rule(
            &app,
            json!({ "kind": "ACCEPTABLE", "statement": "R5 churn at most 7.5",
            "guard": guard("churn_rate", "AT_MOST", "7.5", &active) }),
        )
        .await;
        define_rule(
            &app,
            json!({ "kind": "ACCEPTABLE", "statement": "R6 no guard" }),
        )
        .await;

        // churn_rate: Sep 3, Oct 7.5 -> latest 7.5.
        // grr: Oct (month) 0.95 and Oct 1st (day) 0.1 -> at the same start the month wins: 0.95;
        //      a newer enterprise-only value (0.5, Nov) is not an organization total: ignored.
        // cac: nothing recorded.
        record(
            &app,
            vec![
                obs("churn_rate", "2026-09-01", "MONTH", "3"),
                obs("churn_rate", "2026-10-01", "MONTH", "7.5"),
                obs("grr", "2026-10-01", "MONTH", "0.95"),
                obs("grr", "2026-10-01", "DAY", "0.1"),
                obs_dim(
                    "grr",
                    "2026-11-01",
                    "MONTH",
                    Some("enterprise"),
                    None,
                    "0.5",
                ),
            ],
        )
        .await;

        // By default only the violated guard: R1, 7.5 - 5 = 2.5 past its threshold.
        let violated = app.ok("member", CHECKS, json!({ "all": true })).await;
        let violated = violated["guardChecks"].as_array().unwrap();
        assert_eq!(violated.len(), 1, "{violated:#?}");
        assert_eq!(violated[0]["rule"]["id"], r1.as_str());
        assert_eq!(violated[0]["status"], "VIOLATED");
        assert_eq!(violated[0]["latestValue"], "7.5");
        assert_eq!(violated[0]["threshold"], "5");
        assert_eq!(violated[0]["gap"], "2.5");
        let default = app
            .ok("bi", "{ guardChecks { rule { id } } }", json!({}))
            .await;
        assert_eq!(default["guardChecks"].as_array().unwrap().len(), 1);

        // All guarded rules, oldest first; R6 has no guard and is not listed.
        let all = app.ok("member", CHECKS, json!({ "all": false })).await;
        let got: Vec<(String, String, Value, Value, Value)> = all["guardChecks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    sid(&c["rule"]["id"]),
                    sid(&c["status"]),
                    c["latestValue"].clone(),
                    c["threshold"].clone(),
                    c["gap"].clone(),
                )
            })
            .collect();
        let expected = vec![
            (
                r1.clone(),
                "VIOLATED".to_owned(),
                json!("7.5"),
                json!("5"),
                json!("2.5"),
            ),
            // 0.95 >= 0.9.
            (
                r2.clone(),
                "HOLDS".to_owned(),
                json!("0.95"),
                json!("0.9"),
                Value::Null,
            ),
            // Goal active, no cac recorded.
            (
                r3.clone(),
                "NO_DATA".to_owned(),
                Value::Null,
                json!("100"),
                Value::Null,
            ),
            // The draft goal switches the guard off, whatever the value.
            (
                r4.clone(),
                "INACTIVE".to_owned(),
                json!("7.5"),
                json!("5"),
                Value::Null,
            ),
            // 7.5 <= 7.5: at the threshold still holds.
            (
                r5.clone(),
                "HOLDS".to_owned(),
                json!("7.5"),
                json!("7.5"),
                Value::Null,
            ),
        ];
        assert_eq!(got, expected);

        // November's churn (4) is the new latest: R1 now holds, nothing is violated.
        record(&app, vec![obs("churn_rate", "2026-11-01", "MONTH", "4")]).await;
        let after = app.ok("member", CHECKS, json!({ "all": true })).await;
        assert_eq!(after["guardChecks"], json!([]));
        let all = app.ok("member", CHECKS, json!({ "all": false })).await;
        assert_eq!(all["guardChecks"][0]["status"], "HOLDS");
        assert_eq!(all["guardChecks"][0]["latestValue"], "4");

        // A guard on another organization's goal is refused and writes nothing.
        let other = app.create_org("Other").await;
        let stranger = app.token_for(other, "stranger", &["admin"]);
        let foreign = app
            .gql_with(
                Some(&stranger),
                CREATE_GOAL,
                json!({ "input": { "title": "Theirs", "perspective": "CUSTOMER",
                    "periodStart": "2026-01-01", "periodEnd": "2026-12-31" } }),
            )
            .await;
        let foreign = sid(&foreign["data"]["createGoal"]["goal"]["id"]);
        let audit = audit_count(&app).await;
        let refused = app
            .gql(
                "executive",
                RULE,
                json!({ "input": { "kind": "ACCEPTABLE", "statement": "x", "guard": guard("grr", "AT_LEAST", "1", &foreign) } }),
            )
            .await;
        assert_bad_input(
            &refused,
            "input.guard.goalId",
            "another org's goal in a guard",
        );
        assert_eq!(audit_count(&app).await, audit);
        let rules = app
            .ok("member", "{ tradeOffRules { totalCount } }", json!({}))
            .await;
        assert_eq!(rules["tradeOffRules"]["totalCount"], 6);
    }
);

on_both_backends!(
    decisions_filter_by_escalation_and_session_and_resolve_rules_and_sessions,
    |app: TestApp| async move {
        roster(&app).await;
        let forum =
            sid(&create_forum(&app, json!({ "name": "QBR", "cadence": "QUARTERLY" })).await["id"]);
        let s1 = sid(&record_session(&app, &forum, "2026-02-27", json!({})).await["id"]);
        let s2 = sid(&record_session(&app, &forum, "2026-03-03", json!({})).await["id"]);
        let r1 = define_rule(
            &app,
            json!({ "kind": "ACCEPTABLE", "statement": "Discounts up to 10% for multi-year",
            "ownerExternalId": "E1" }),
        )
        .await;
        let r2 = define_rule(
            &app,
            json!({ "kind": "UNACCEPTABLE", "statement": "No discount below cost" }),
        )
        .await;
        let owner = app
            .ok(
                "member",
                r#"query($id: ID!) { node(id: $id) { ... on TradeOffRule { owner { externalId name } } } }"#,
                json!({ "id": r1 }),
            )
            .await;
        assert_eq!(owner["node"]["owner"]["name"], "Ana");

        let d1 = log_decision(
            &app,
            json!({ "title": "D1", "context": "Big renewal", "options": ["5%", "12%"],
            "outcome": "10%", "ruleIds": [r2, r1], "escalated": true, "resolvedByRule": true,
            "sessionId": s1, "decidedOn": "2026-03-01" }),
        )
        .await;
        let d2 = log_decision(
            &app,
            json!({ "title": "D2", "context": "c", "outcome": "o",
            "sessionId": s1, "decidedOn": "2026-03-02" }),
        )
        .await;
        let d3 = log_decision(
            &app,
            json!({ "title": "D3", "context": "c", "outcome": "o",
            "escalated": true, "sessionId": s2, "decidedOn": "2026-03-03" }),
        )
        .await;
        let d4 = log_decision(
            &app,
            json!({ "title": "D4", "context": "c", "outcome": "o",
            "decidedOn": "2026-03-04" }),
        )
        .await;

        let list = |e: Value, s: Value| {
            let app = &app;
            async move {
                let data = app.ok("member", DECISIONS, json!({ "e": e, "s": s })).await;
                let ids: Vec<String> = data["decisions"]["nodes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|n| sid(&n["id"]))
                    .collect();
                assert_eq!(
                    data["decisions"]["totalCount"].as_u64().unwrap() as usize,
                    ids.len()
                );
                (ids, data["decisions"]["nodes"].clone())
            }
        };
        // Newest decision first.
        let (all, nodes) = list(Value::Null, Value::Null).await;
        assert_eq!(all, [d4.as_str(), d3.as_str(), d2.as_str(), d1.as_str()]);
        assert_eq!(
            list(json!(true), Value::Null).await.0,
            [d3.clone(), d1.clone()]
        );
        assert_eq!(
            list(json!(false), Value::Null).await.0,
            [d4.clone(), d2.clone()]
        );
        assert_eq!(
            list(Value::Null, json!(s1)).await.0,
            [d2.clone(), d1.clone()]
        );
        assert_eq!(list(Value::Null, json!(s2)).await.0, [d3.as_str()]);
        assert_eq!(list(json!(true), json!(s1)).await.0, [d1.as_str()]);
        assert_eq!(list(json!(false), json!(s2)).await.0, Vec::<String>::new());

        // D1 in full: its rules (oldest rule first) and its session with the forum.
        let one = &nodes[3];
        assert_eq!(one["context"], "Big renewal");
        assert_eq!(one["options"], json!(["5%", "12%"]));
        assert_eq!(one["outcome"], "10%");
        assert_eq!(one["escalated"], true);
        assert_eq!(one["resolvedByRule"], true);
        assert_eq!(one["decidedOn"], "2026-03-01");
        assert_eq!(one["loggedBy"], "executive-user");
        let rule_ids: Vec<String> = one["rules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| sid(&r["id"]))
            .collect();
        assert_eq!(rule_ids, [r1.clone(), r2.clone()]);
        assert_eq!(one["session"]["id"], s1.as_str());
        assert_eq!(one["session"]["heldOn"], "2026-02-27");
        assert_eq!(one["session"]["forum"]["name"], "QBR");
        assert!(nodes[0]["session"].is_null());
        assert_eq!(nodes[0]["rules"], json!([]));

        // Refusals: nothing written.
        let audit = audit_count(&app).await;
        let base = json!({ "title": "t", "context": "c", "outcome": "o" });
        let with = |extra: Value| {
            let mut input = base.clone();
            for (k, v) in extra.as_object().unwrap() {
                input[k] = v.clone();
            }
            json!({ "input": input })
        };
        let refused = app
            .gql(
                "executive",
                DECISION,
                with(json!({ "resolvedByRule": true, "escalated": true })),
            )
            .await;
        assert_bad_input(&refused, "input.ruleIds", "resolved by rule without rules");
        let refused = app
            .gql(
                "executive",
                DECISION,
                with(json!({ "ruleIds": [unknown_id("TradeOffRule")] })),
            )
            .await;
        assert_bad_input(&refused, "input.ruleIds[0]", "an unknown rule id");
        let refused = app
            .gql(
                "executive",
                DECISION,
                with(json!({ "ruleIds": [r1, forum] })),
            )
            .await;
        assert_bad_input(&refused, "input.ruleIds[1]", "a forum id as a rule id");
        let other = app.create_org("Other").await;
        let stranger = app.token_for(other, "stranger", &["admin"]);
        let theirs = app
            .gql_with(
                Some(&stranger),
                RULE,
                json!({ "input": { "kind": "ACCEPTABLE", "statement": "Their rule" } }),
            )
            .await;
        let their_rule = sid(&theirs["data"]["defineTradeOffRule"]["rule"]["id"]);
        let audit_here = audit_count(&app).await;
        assert_eq!(
            audit_here, audit,
            "another org's rule shows in this org's trail"
        );
        let refused = app
            .gql(
                "executive",
                DECISION,
                with(json!({ "ruleIds": [their_rule], "resolvedByRule": true })),
            )
            .await;
        assert_bad_input(&refused, "input.ruleIds[0]", "another org's rule");
        let refused = app
            .gql(
                "executive",
                DECISION,
                with(json!({ "sessionId": unknown_id("ReviewSession") })),
            )
            .await;
        assert_bad_input(&refused, "input.sessionId", "an unknown session");
        let refused = app
            .gql(
                "executive",
                RULE,
                json!({ "input": { "kind": "ACCEPTABLE", "statement": "x", "ownerExternalId": "GHOST" } }),
            )
            .await;
        assert_bad_input(&refused, "input.ownerExternalId", "an unknown rule owner");
        assert_eq!(
            audit_count(&app).await,
            audit,
            "refusals wrote audit events"
        );
        assert_eq!(list(Value::Null, Value::Null).await.0.len(), 4);
        let rules = app
            .ok("member", "{ tradeOffRules { totalCount } }", json!({}))
            .await;
        assert_eq!(rules["tradeOffRules"]["totalCount"], 2);
    }
);

on_both_backends!(
    rule_and_decision_history_list_their_audit_events,
    |app: TestApp| async move {
        let rule = define_rule(
            &app,
            json!({ "kind": "ACCEPTABLE", "statement": "Price holds beat volume" }),
        )
        .await;
        let decision = app
            .ok(
                "admin",
                DECISION,
                json!({ "input": { "title": "Hold price", "context": "c", "outcome": "held",
                    "ruleIds": [rule], "resolvedByRule": true, "escalated": true } }),
            )
            .await;
        let decision = sid(&decision["logDecision"]["decision"]["id"]);
        let history = r#"query($r: ID!, $d: ID!) {
          r: node(id: $r) { ... on TradeOffRule { history { totalCount nodes { operation actor entityType entityId after } } } }
          d: node(id: $d) { ... on Decision { history { totalCount nodes { operation actor entityType entityId after } } } } }"#;
        for role in ["member", "bi", "executive"] {
            let h = app
                .ok(role, history, json!({ "r": rule, "d": decision }))
                .await;
            let r = &h["r"]["history"];
            assert_eq!(r["totalCount"], 1, "{role}: {r:#}");
            let e = &r["nodes"][0];
            assert_eq!(e["operation"], "defineTradeOffRule");
            assert_eq!(e["actor"], "executive-user");
            assert_eq!(e["entityType"], "TradeOffRule");
            assert_eq!(e["entityId"], rule.as_str());
            assert_eq!(e["after"]["statement"], "Price holds beat volume");
            let d = &h["d"]["history"];
            assert_eq!(d["totalCount"], 1, "{role}: {d:#}");
            let e = &d["nodes"][0];
            assert_eq!(e["operation"], "logDecision");
            assert_eq!(e["actor"], "admin-user");
            assert_eq!(e["entityType"], "Decision");
            assert_eq!(e["entityId"], decision.as_str());
            assert_eq!(e["after"]["title"], "Hold price");
            assert_eq!(e["after"]["resolvedByRule"], true);
        }
        // The history is the audit trail's events about the object.
        for id in [&rule, &decision] {
            let trail = app
                .ok(
                    "admin",
                    r#"query($id: ID!) { auditEvents(filter: { entityId: $id }) { totalCount nodes { operation } } }"#,
                    json!({ "id": id }),
                )
                .await;
            assert_eq!(trail["auditEvents"]["totalCount"], 1);
        }
    }
);

on_both_backends!(
    maturity_lists_six_capabilities_and_the_latest_assessment_wins,
    |app: TestApp| async move {
        roster(&app).await;
        // Never assessed: six rows, in order, with nothing assessed.
        let rows = maturity(&app, "member").await;
        let caps: Vec<&str> = rows
            .iter()
            .map(|r| r["capability"].as_str().unwrap())
            .collect();
        assert_eq!(caps, CAPABILITIES);
        for r in &rows {
            assert!(r["level"].is_null(), "{r:#}");
            assert!(r["assessedOn"].is_null(), "{r:#}");
            assert!(r["owner"].is_null(), "{r:#}");
            assert!(r["evidence"].is_null(), "{r:#}");
        }

        let assess = |input: Value| {
            let app = &app;
            async move {
                app.ok("executive", ASSESS, json!({ "input": input })).await["assessCapability"]
                    .clone()
            }
        };
        let first = assess(json!({ "capability": "GOVERNANCE_CADENCE", "level": 2,
            "evidence": "first", "assessedOn": "2026-01-10" }))
        .await;
        assert_eq!(
            first,
            json!({ "capability": "GOVERNANCE_CADENCE", "level": 2 })
        );
        assess(
            json!({ "capability": "GOVERNANCE_CADENCE", "level": 4, "evidence": "second",
            "ownerExternalId": "E1", "assessedOn": "2026-03-01" }),
        )
        .await;
        // Recorded last, but assessed earlier: it does not replace the March assessment.
        assess(
            json!({ "capability": "GOVERNANCE_CADENCE", "level": 3, "evidence": "late entry",
            "assessedOn": "2026-02-01" }),
        )
        .await;
        // Two on the same day: the one recorded later wins.
        assess(
            json!({ "capability": "CULTURE_BEHAVIOURS", "level": 1, "assessedOn": "2026-03-01" }),
        )
        .await;
        assess(
            json!({ "capability": "CULTURE_BEHAVIOURS", "level": 2, "ownerExternalId": "E2",
            "assessedOn": "2026-03-01" }),
        )
        .await;
        // Without a date: assessed today.
        assess(json!({ "capability": "MEASUREMENT_DASHBOARDS", "level": 5 })).await;

        let audit = audit_count(&app).await;
        for level in [0, 6, -1] {
            let refused = app
                .gql(
                    "executive",
                    ASSESS,
                    json!({ "input": { "capability": "GOVERNANCE_CADENCE", "level": level } }),
                )
                .await;
            assert_bad_input(&refused, "input.level", &format!("level {level}"));
        }
        let refused = app
            .gql(
                "executive",
                ASSESS,
                json!({ "input": { "capability": "GOVERNANCE_CADENCE", "level": 3, "ownerExternalId": "GHOST" } }),
            )
            .await;
        assert_bad_input(&refused, "input.ownerExternalId", "an unknown owner");
        assert_eq!(
            audit_count(&app).await,
            audit,
            "refusals wrote audit events"
        );

        let rows = maturity(&app, "bi").await;
        let caps: Vec<&str> = rows
            .iter()
            .map(|r| r["capability"].as_str().unwrap())
            .collect();
        assert_eq!(caps, CAPABILITIES);
        let g = row(&rows, "GOVERNANCE_CADENCE");
        assert_eq!(g["level"], 4, "{g:#}");
        assert_eq!(g["evidence"], "second");
        assert_eq!(g["assessedOn"], "2026-03-01");
        assert_eq!(g["owner"]["externalId"], "E1");
        let c = row(&rows, "CULTURE_BEHAVIOURS");
        assert_eq!(c["level"], 2, "{c:#}");
        assert_eq!(c["owner"]["externalId"], "E2");
        let m = row(&rows, "MEASUREMENT_DASHBOARDS");
        assert_eq!(m["level"], 5);
        assert_eq!(m["assessedOn"], today().to_string());
        for cap in [
            "STRATEGY_NARRATIVE",
            "SCORECARDS_INCENTIVES",
            "PLANNING_TRADE_OFFS",
        ] {
            assert!(row(&rows, cap)["level"].is_null(), "{cap}");
        }
    }
);

on_both_backends!(
    maturity_figures_are_computed_from_roles_decisions_and_sessions,
    |app: TestApp| async move {
        // Nothing to compute from yet: every figure is null.
        let rows = maturity(&app, "member").await;
        for r in &rows {
            assert!(r["figure"]["value"].is_null(), "{r:#}");
        }
        assert_eq!(
            row(&rows, "SCORECARDS_INCENTIVES")["figure"]["note"],
            "0 of 0 active roles"
        );

        // Roles and their KPIs (max perspective share 70% by default):
        // - ae:     new_arr 0.6 (FINANCIAL), csat 0.4 (CUSTOMER)  -> 60% / 40%: balanced
        // - csm:    csat 0.5, training 0.5 (LEARNING_GROWTH)      -> no FINANCIAL item: unbalanced
        // - sdr:    new_arr 0.8, csat 0.2                          -> FINANCIAL 80% > 70%: unbalanced
        // - ops:    no KPI assignment                              -> unbalanced
        // - legacy: new_arr 0.5, csat 0.5 but inactive             -> not counted
        // => 1 balanced of 4 active roles = 0.25.
        define_metric(&app, "new_arr", "FINANCIAL", "HIGHER_IS_BETTER").await;
        define_metric(&app, "csat", "CUSTOMER", "HIGHER_IS_BETTER").await;
        define_metric(&app, "training", "LEARNING_GROWTH", "HIGHER_IS_BETTER").await;
        let item = |metric: &str, weight: &str| json!({ "metricKey": metric, "weight": weight, "target": "100", "green": "100", "amber": "80" });
        app.ok(
            "hr_sync",
            SYNC,
            json!({ "input": {
                "roles": [
                    { "key": "ae", "name": "Account Executive" },
                    { "key": "csm", "name": "Customer Success Manager" },
                    { "key": "sdr", "name": "Sales Development" },
                    { "key": "ops", "name": "Operations" },
                    { "key": "legacy", "name": "Legacy", "active": false }
                ],
                "assignments": [
                    { "roleKey": "ae", "items": [item("new_arr", "0.6"), item("csat", "0.4")] },
                    { "roleKey": "csm", "items": [item("csat", "0.5"), item("training", "0.5")] },
                    { "roleKey": "sdr", "items": [item("new_arr", "0.8"), item("csat", "0.2")] },
                    { "roleKey": "legacy", "items": [item("new_arr", "0.5"), item("csat", "0.5")] }
                ]
            } }),
        )
        .await;
        let rows = maturity(&app, "member").await;
        let roles = &row(&rows, "SCORECARDS_INCENTIVES")["figure"];
        assert_eq!(roles["name"], "% of roles with balanced KPIs");
        assert_eq!(
            dec(&roles["value"]),
            Decimal::from_str("0.25").unwrap(),
            "{roles:#}"
        );
        assert_eq!(roles["note"], "1 of 4 active roles");
        // The same figure as the scorecards' own report.
        let report = app
            .ok(
                "member",
                "{ roleBalance { roleCount balancedCount balancedShare } }",
                json!({}),
            )
            .await;
        assert_eq!(report["roleBalance"]["roleCount"], 4);
        assert_eq!(report["roleBalance"]["balancedCount"], 1);
        assert_eq!(
            dec(&report["roleBalance"]["balancedShare"]),
            dec(&roles["value"])
        );
        // With a max share of 80%, sdr's 80% FINANCIAL is allowed: 2 of 4 = 0.5.
        app.ok(
            "admin",
            "mutation { updateOrganizationSettings(input: { maxPerspectiveShare: \"0.8\" }) { settings { maxPerspectiveShare } } }",
            json!({}),
        )
        .await;
        let rows = maturity(&app, "member").await;
        let roles = &row(&rows, "SCORECARDS_INCENTIVES")["figure"];
        assert_eq!(roles["value"], "0.5", "{roles:#}");
        assert_eq!(roles["note"], "2 of 4 active roles");

        // Decisions: escalated and resolved by rule twice, escalated and not once, resolved by
        // rule without escalation once (does not count), neither once.
        // => 2 of 3 escalated decisions = 0.666667 (six decimals, rounded).
        let rule = define_rule(&app, json!({ "kind": "ACCEPTABLE", "statement": "Rule" })).await;
        for (escalated, by_rule) in [
            (true, true),
            (true, true),
            (true, false),
            (false, true),
            (false, false),
        ] {
            let rules = if by_rule { json!([rule]) } else { json!([]) };
            log_decision(
                &app,
                json!({ "title": "d", "context": "c", "outcome": "o", "escalated": escalated,
                "resolvedByRule": by_rule, "ruleIds": rules }),
            )
            .await;
        }

        // Sessions of two forums; the last 365 days count:
        // - Monthly: 10 days ago (dashboard), 40, 100 (dashboard), 200, and 400 days ago
        //   (dashboard, older than a year: not counted)                    -> 4 recent
        // - Quarterly: 20 days ago, 364 days ago (dashboard)                -> 2 recent
        // => 6 sessions / (4 quarters x 2 forums) = 0.75 per quarter per forum;
        //    3 of the 6 recent sessions used a dashboard = 0.5.
        let monthly = sid(&create_forum(
            &app,
            json!({ "name": "Monthly", "cadence": "MONTHLY", "setUpOn": "2024-01-01" }),
        )
        .await["id"]);
        let quarterly = sid(&create_forum(
            &app,
            json!({ "name": "Quarterly", "cadence": "QUARTERLY", "setUpOn": "2024-01-01" }),
        )
        .await["id"]);
        let dash = json!({ "dashboardsUsed": ["Revenue x retention"] });
        for (forum, ago, extra) in [
            (&monthly, 10, dash.clone()),
            (&monthly, 40, json!({})),
            (&monthly, 100, dash.clone()),
            (&monthly, 200, json!({})),
            (&monthly, 400, dash.clone()),
            (&quarterly, 20, json!({})),
            (&quarterly, 364, dash.clone()),
        ] {
            record_session(&app, forum, &days_ago(ago), extra).await;
        }

        let rows = maturity(&app, "bi").await;
        let planning = &row(&rows, "PLANNING_TRADE_OFFS")["figure"];
        assert_eq!(
            planning["name"],
            "share of escalated decisions resolved by an agreed rule"
        );
        assert_eq!(planning["value"], "0.666667", "{planning:#}");
        assert_eq!(planning["note"], "2 of 3 escalated decisions");
        let cadence = &row(&rows, "GOVERNANCE_CADENCE")["figure"];
        assert_eq!(cadence["name"], "review sessions per quarter per forum");
        assert_eq!(
            dec(&cadence["value"]),
            Decimal::from_str("0.75").unwrap(),
            "{cadence:#}"
        );
        assert_eq!(
            cadence["note"],
            "6 sessions of 2 forums in the last 365 days"
        );
        let dashboards = &row(&rows, "MEASUREMENT_DASHBOARDS")["figure"];
        assert_eq!(
            dashboards["name"],
            "share of review sessions that used a dashboard"
        );
        assert_eq!(
            dec(&dashboards["value"]),
            Decimal::from_str("0.5").unwrap(),
            "{dashboards:#}"
        );
        assert_eq!(dashboards["note"], "3 of 6 sessions in the last 365 days");
        // No revenue movements yet: NRR has no value but a reason; culture has no figure.
        let nrr = &row(&rows, "STRATEGY_NARRATIVE")["figure"];
        assert_eq!(nrr["name"], "net revenue retention, last 12 months");
        assert!(nrr["value"].is_null());
        assert_eq!(
            nrr["note"],
            "no account was paying at the start of the period"
        );
        assert!(row(&rows, "CULTURE_BEHAVIOURS")["figure"]["value"].is_null());
    }
);

on_both_backends!(
    only_executives_and_admins_write_governance_and_readers_read_it,
    |app: TestApp| async move {
        roster(&app).await;
        define_metric(&app, "grr", "CUSTOMER", "HIGHER_IS_BETTER").await;
        let g = goal(&app, "admin", "Retention", "CUSTOMER", None).await;
        let forum =
            sid(&create_forum(&app, json!({ "name": "QBR", "cadence": "QUARTERLY" })).await["id"]);
        let calls = |forum: &str| -> Vec<(&'static str, &'static str, Value)> {
            vec![
                (
                    "createForum",
                    FORUM,
                    json!({ "input": { "name": "Weekly", "cadence": "WEEKLY", "memberExternalIds": ["E1"] } }),
                ),
                (
                    "recordReviewSession",
                    SESSION,
                    json!({ "input": { "forumId": forum, "heldOn": "2026-03-01", "attendeeExternalIds": ["E1"] } }),
                ),
                (
                    "defineTradeOffRule",
                    RULE,
                    json!({ "input": { "kind": "UNACCEPTABLE", "statement": "GRR holds",
                    "guard": { "metricKey": "grr", "comparator": "AT_LEAST", "threshold": "0.9", "goalId": g } } }),
                ),
                (
                    "logDecision",
                    DECISION,
                    json!({ "input": { "title": "t", "context": "c", "outcome": "o", "escalated": true } }),
                ),
                (
                    "assessCapability",
                    ASSESS,
                    json!({ "input": { "capability": "CULTURE_BEHAVIOURS", "level": 3 } }),
                ),
            ]
        };
        // Everyone else is refused every write, and nothing is written.
        let audit = audit_count(&app).await;
        for role in NON_WRITERS {
            for (name, query, vars) in calls(&forum) {
                let body = app.gql(role, query, vars).await;
                assert_eq!(
                    error_code(&body).as_deref(),
                    Some("FORBIDDEN"),
                    "{role} {name}: {body:#}"
                );
            }
        }
        assert_eq!(
            audit_count(&app).await,
            audit,
            "refused writes left audit events"
        );
        // Admin and executive may write each of them.
        let mut ids: Vec<(&str, String)> = vec![("Forum", forum.clone())];
        for role in ["admin", "executive"] {
            for (name, query, vars) in calls(&forum) {
                let data = app.ok(role, query, vars).await;
                let payload = &data[name];
                let id = payload["forum"]["id"]
                    .as_str()
                    .or(payload["session"]["id"].as_str())
                    .or(payload["rule"]["id"].as_str())
                    .or(payload["decision"]["id"].as_str());
                let kind = match name {
                    "createForum" => "Forum",
                    "recordReviewSession" => "ReviewSession",
                    "defineTradeOffRule" => "TradeOffRule",
                    "logDecision" => "Decision",
                    _ => {
                        assert_eq!(payload["level"], 3, "{role} {name}");
                        continue;
                    }
                };
                ids.push((kind, id.expect("id").to_owned()));
            }
        }

        // member and bi read everything; hr_sync reads nothing.
        let reads = [
            "{ forums { totalCount nodes { members { externalId } sessions { totalCount nodes { attendees { externalId } } } } } }",
            "{ tradeOffRules { totalCount nodes { statement guard { metric { key } goal { title } } } } }",
            "{ guardChecks(onlyViolations: false) { status } }",
            "{ decisions { totalCount nodes { title } } }",
            "{ maturity { capability level figure { value } } }",
        ];
        for role in ["member", "bi"] {
            let forums = app.ok(role, reads[0], json!({})).await;
            assert_eq!(forums["forums"]["totalCount"], 3, "{role}");
            let rules = app.ok(role, reads[1], json!({})).await;
            assert_eq!(rules["tradeOffRules"]["totalCount"], 2, "{role}");
            assert_eq!(
                rules["tradeOffRules"]["nodes"][0]["guard"]["metric"]["key"],
                "grr"
            );
            let checks = app.ok(role, reads[2], json!({})).await;
            // The goal is a draft: both guards are inactive.
            assert_eq!(
                checks["guardChecks"],
                json!([{ "status": "INACTIVE" }, { "status": "INACTIVE" }]),
                "{role}"
            );
            let decisions = app.ok(role, reads[3], json!({})).await;
            assert_eq!(decisions["decisions"]["totalCount"], 2, "{role}");
            let rows = app.ok(role, reads[4], json!({})).await;
            assert_eq!(
                row(rows["maturity"].as_array().unwrap(), "CULTURE_BEHAVIOURS")["level"],
                3
            );
            for (kind, id) in &ids {
                let node = app
                    .ok(
                        role,
                        "query($id: ID!) { node(id: $id) { id __typename } }",
                        json!({ "id": id }),
                    )
                    .await;
                assert_eq!(node["node"]["__typename"], *kind, "{role} {kind}");
                assert_eq!(node["node"]["id"], id.as_str());
            }
        }
        for query in reads {
            let body = app.gql("hr_sync", query, json!({})).await;
            assert_eq!(
                error_code(&body).as_deref(),
                Some("FORBIDDEN"),
                "hr_sync {query}: {body:#}"
            );
        }
        let body = app
            .gql(
                "hr_sync",
                "query($id: ID!) { node(id: $id) { id } }",
                json!({ "id": forum }),
            )
            .await;
        assert_eq!(
            error_code(&body).as_deref(),
            Some("FORBIDDEN"),
            "hr_sync node: {body:#}"
        );

        // Another organization sees none of it.
        let other = app.create_org("Other").await;
        let stranger = app.token_for(other, "stranger", &["admin"]);
        let see = |query: &'static str, vars: Value| {
            let app = &app;
            let stranger = stranger.clone();
            async move {
                let body = app.gql_with(Some(&stranger), query, vars).await;
                assert!(body.get("errors").is_none(), "{query}: {body:#}");
                body["data"].clone()
            }
        };
        assert_eq!(see(reads[0], json!({})).await["forums"]["totalCount"], 0);
        assert_eq!(
            see(reads[1], json!({})).await["tradeOffRules"]["totalCount"],
            0
        );
        assert_eq!(see(reads[2], json!({})).await["guardChecks"], json!([]));
        assert_eq!(see(reads[3], json!({})).await["decisions"]["totalCount"], 0);
        let rows = see(reads[4], json!({})).await;
        for r in rows["maturity"].as_array().unwrap() {
            assert!(r["level"].is_null(), "{r:#}");
            assert!(r["figure"]["value"].is_null(), "{r:#}");
        }
        let kinds: Vec<&str> = ids.iter().map(|(k, _)| *k).collect();
        for kind in ["Forum", "ReviewSession", "TradeOffRule", "Decision"] {
            assert!(kinds.contains(&kind), "{kind} not created");
        }
        for (kind, id) in &ids {
            let node = see(
                "query($id: ID!) { node(id: $id) { id } }",
                json!({ "id": id }),
            )
            .await;
            assert!(
                node["node"].is_null(),
                "{kind} {id} visible to another org: {node:#}"
            );
        }
        let stranger_decisions = see(
            r#"query($s: ID) { decisions(sessionId: $s) { totalCount } }"#,
            json!({ "s": ids.iter().find(|(k, _)| *k == "ReviewSession").unwrap().1 }),
        )
        .await;
        assert_eq!(stranger_decisions["decisions"]["totalCount"], 0);
    }
);

on_both_backends!(
    maturity_shows_twelve_month_nrr_from_revenue_movements,
    |app: TestApp| async move {
        let day = |ago: u64| {
            (chrono::Utc::now().date_naive() - chrono::Days::new(ago))
                .format("%Y-%m-%d")
                .to_string()
        };
        app.ok(
            "revops",
            r#"mutation { upsertAccounts(input: { accounts: [
                { externalId: "A", name: "Acme", arr: "12000", risk: GREEN },
                { externalId: "B", name: "Beta", arr: "6000", risk: RED }] }) { created } }"#,
            json!({}),
        )
        .await;
        // A pays 1,000 and B 500 a year ago; A expands by 150, B churns 500 since:
        // NRR = (1,500 + 150 - 500) / 1,500 = 1,150 / 1,500.
        app.ok(
            "finance",
            "mutation($m: [RevenueMovementInput!]!) { recordRevenueMovements(input: { movements: $m }) { created } }",
            json!({ "m": [
                { "externalId": "e1", "accountExternalId": "A", "effectiveOn": day(500), "kind": "NEW", "amount": "1000" },
                { "externalId": "e2", "accountExternalId": "B", "effectiveOn": day(450), "kind": "NEW", "amount": "500" },
                { "externalId": "e3", "accountExternalId": "A", "effectiveOn": day(100), "kind": "EXPANSION", "amount": "150" },
                { "externalId": "e4", "accountExternalId": "B", "effectiveOn": day(30), "kind": "CHURN", "amount": "500" }
            ] }),
        )
        .await;
        let data = app
            .ok(
                "executive",
                "{ maturity { capability figure { name value note } } }",
                json!({}),
            )
            .await;
        let nrr = data["maturity"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["capability"] == "STRATEGY_NARRATIVE")
            .unwrap()["figure"]
            .clone();
        let want = (Decimal::from(1150) / Decimal::from(1500)).normalize();
        assert_eq!(dec(&nrr["value"]), want, "{nrr:#}");
        assert!(
            nrr["note"].as_str().unwrap().contains("starting MRR 1500"),
            "{nrr:#}"
        );
    }
);
