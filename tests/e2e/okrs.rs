//! Goals and OKRs beyond the basics in `goals.rs`: filters and pagination, goal trees and
//! moves, updates and the life cycle, links, key results, check-ins, access per role, tenancy
//! and the audit trail.

use serde_json::{Value, json};
use tandem_tests::{TestApp, error_code, error_field, on_both_backends};

use crate::goals::{CHECK_IN, CREATE_GOAL, KEY_RESULT, LINK, OBJECTIVE, SET_STATUS, roster};
use crate::support::{audit_count, create_segment, define_metric, obs, obs_dim, record};

const FY26: (&str, &str) = ("2026-01-01", "2026-12-31");

const UPDATE_GOAL: &str = r#"mutation($input: UpdateGoalInput!) { updateGoal(input: $input) { goal {
  id title description perspective status periodStart periodEnd
  ownerPerson { externalId } ownerTeam { externalId } parent { id title } } } }"#;
const UNLINK: &str = r#"mutation($a: ID!, $b: ID!) { unlinkGoals(input: { goalId: $a, otherGoalId: $b }) {
  goal { id hasCustomerLink } otherGoal { id } } }"#;
const UPDATE_KR: &str = r#"mutation($input: UpdateKeyResultInput!) { updateKeyResult(input: $input) { keyResult {
  id title baseline target weight current progress } } }"#;
const GOALS: &str = r#"query($f: GoalFilterInput, $first: Int, $after: String) {
  goals(filter: $f, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } nodes { id title } } }"#;
const GOAL: &str = r#"query($id: ID!) { node(id: $id) { ... on Goal {
  id title description perspective status periodStart periodEnd hasCustomerLink
  ownerPerson { externalId } ownerTeam { externalId } parent { id title }
  links { rationale goal { id title } } } } }"#;
const KR: &str = r#"query($id: ID!) { node(id: $id) { ... on KeyResult {
  id title baseline target weight source current progress confidence
  checkIns { totalCount nodes { id value confidence note author } } } } }"#;
const EVENTS: &str = r#"query($id: ID!) { auditEvents(filter: { entityId: $id }, first: 100) {
  totalCount nodes { actor operation entityType entityId before after } } }"#;

fn sid(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {v}"))
        .to_owned()
}

fn titles(connection: &Value) -> Vec<String> {
    connection["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("no nodes in {connection:#}"))
        .iter()
        .map(|n| sid(&n["title"]))
        .collect()
}

/// Creates a goal as admin with every field given; returns its global id.
async fn mk_goal(
    app: &TestApp,
    title: &str,
    perspective: &str,
    period: (&str, &str),
    owner: Value,
    parent: Option<&str>,
) -> String {
    let data = app
        .ok(
            "admin",
            CREATE_GOAL,
            json!({ "input": {
                "title": title, "perspective": perspective, "periodStart": period.0,
                "periodEnd": period.1, "owner": owner, "parentId": parent
            } }),
        )
        .await;
    sid(&data["createGoal"]["goal"]["id"])
}

/// A company goal for FY26 created by admin.
async fn fy_goal(app: &TestApp, title: &str, perspective: &str, parent: Option<&str>) -> String {
    mk_goal(app, title, perspective, FY26, Value::Null, parent).await
}

async fn mk_objective(app: &TestApp, goal: &str, owner: Value, period: (&str, &str)) -> String {
    let data = app
        .ok(
            "admin",
            OBJECTIVE,
            json!({ "input": { "goalId": goal, "title": "Objective", "owner": owner,
                "periodStart": period.0, "periodEnd": period.1 } }),
        )
        .await;
    sid(&data["createObjective"]["objective"]["id"])
}

async fn mk_kr(app: &TestApp, input: Value) -> String {
    let data = app.ok("admin", KEY_RESULT, json!({ "input": input })).await;
    sid(&data["createKeyResult"]["keyResult"]["id"])
}

/// The goals a filter selects, in order, after checking `totalCount` agrees.
async fn filtered(app: &TestApp, filter: Value) -> Vec<String> {
    let data = app
        .ok("member", GOALS, json!({ "f": filter, "first": 100 }))
        .await;
    let list = titles(&data["goals"]);
    assert_eq!(
        data["goals"]["totalCount"].as_u64(),
        Some(list.len() as u64),
        "{filter}"
    );
    list
}

async fn goal_node(app: &TestApp, id: &str) -> Value {
    app.ok("admin", GOAL, json!({ "id": id })).await["node"].clone()
}

async fn kr_node(app: &TestApp, id: &str) -> Value {
    app.ok("admin", KR, json!({ "id": id })).await["node"].clone()
}

async fn key_result_count(app: &TestApp, objective: &str) -> i64 {
    app.ok(
        "admin",
        r#"query($id: ID!) { node(id: $id) { ... on Objective { keyResults { totalCount } } } }"#,
        json!({ "id": objective }),
    )
    .await["node"]["keyResults"]["totalCount"]
        .as_i64()
        .unwrap()
}

/// The audit events about one object (global id), newest first.
async fn events(app: &TestApp, id: &str) -> Vec<Value> {
    let data = app.ok("admin", EVENTS, json!({ "id": id })).await;
    data["auditEvents"]["nodes"].as_array().unwrap().clone()
}

async fn operations(app: &TestApp, id: &str) -> Vec<String> {
    events(app, id)
        .await
        .iter()
        .map(|e| sid(&e["operation"]))
        .collect()
}

async fn set_status(app: &TestApp, id: &str, status: &str) -> Value {
    app.gql("admin", SET_STATUS, json!({ "id": id, "status": status }))
        .await
}

fn expect_code(body: &Value, code: &str, what: &str) {
    assert_eq!(error_code(body).as_deref(), Some(code), "{what}: {body:#}");
}

on_both_backends!(
    goals_filter_by_period_status_perspective_owner_and_level,
    |app: TestApp| async move {
        roster(&app).await;
        let a = fy_goal(&app, "A revenue", "FINANCIAL", None).await;
        let b = mk_goal(
            &app,
            "B nps",
            "CUSTOMER",
            ("2026-01-01", "2026-03-31"),
            json!({ "teamExternalId": "T1" }),
            Some(&a),
        )
        .await;
        mk_goal(
            &app,
            "C cycle time",
            "INTERNAL_PROCESS",
            ("2026-04-01", "2026-06-30"),
            json!({ "personExternalId": "A" }),
            Some(&a),
        )
        .await;
        mk_goal(
            &app,
            "D learning",
            "LEARNING_GROWTH",
            ("2027-01-01", "2027-12-31"),
            json!({ "teamExternalId": "T2" }),
            None,
        )
        .await;
        let e = mk_goal(
            &app,
            "E churn",
            "CUSTOMER",
            ("2025-07-01", "2025-12-31"),
            Value::Null,
            None,
        )
        .await;
        assert!(set_status(&app, &b, "ACTIVE").await.get("errors").is_none());
        assert!(
            set_status(&app, &e, "CANCELLED")
                .await
                .get("errors")
                .is_none()
        );

        // Period overlap, both ends included; by period start, then title.
        let range = |from: &str, to: &str| json!({ "from": from, "to": to });
        assert_eq!(
            filtered(&app, range("2026-03-31", "2026-04-01")).await,
            ["A revenue", "B nps", "C cycle time"]
        );
        assert_eq!(
            filtered(&app, range("2026-07-01", "2026-12-31")).await,
            ["A revenue"]
        );
        assert_eq!(
            filtered(&app, range("2025-12-31", "2026-01-01")).await,
            ["E churn", "A revenue", "B nps"]
        );
        assert_eq!(
            filtered(&app, range("2026-12-31", "2027-01-01")).await,
            ["A revenue", "D learning"]
        );
        assert!(
            filtered(&app, range("2028-01-01", "2028-12-31"))
                .await
                .is_empty()
        );
        assert_eq!(filtered(&app, json!({})).await.len(), 5);

        // Only one end of the range, or a reversed range, is bad input.
        for f in [
            json!({ "from": "2026-01-01" }),
            json!({ "to": "2026-12-31" }),
            range("2026-12-31", "2026-01-01"),
        ] {
            let body = app
                .gql("member", GOALS, json!({ "f": f, "first": 10 }))
                .await;
            expect_code(&body, "BAD_USER_INPUT", &f.to_string());
            let field = error_field(&body).unwrap_or_default();
            assert!(field.starts_with("filter."), "{field}: {body:#}");
        }

        assert_eq!(
            filtered(&app, json!({ "status": "ACTIVE" })).await,
            ["B nps"]
        );
        assert_eq!(
            filtered(&app, json!({ "status": "CANCELLED" })).await,
            ["E churn"]
        );
        assert_eq!(
            filtered(&app, json!({ "status": "DRAFT" })).await,
            ["A revenue", "C cycle time", "D learning"]
        );
        assert!(
            filtered(&app, json!({ "status": "ACHIEVED" }))
                .await
                .is_empty()
        );
        assert_eq!(
            filtered(&app, json!({ "perspective": "CUSTOMER" })).await,
            ["E churn", "B nps"]
        );
        assert_eq!(
            filtered(&app, json!({ "perspective": "FINANCIAL" })).await,
            ["A revenue"]
        );
        assert_eq!(
            filtered(&app, json!({ "ownerPersonExternalId": "A" })).await,
            ["C cycle time"]
        );
        assert!(
            filtered(&app, json!({ "ownerPersonExternalId": "M" }))
                .await
                .is_empty()
        );
        assert!(
            filtered(&app, json!({ "ownerPersonExternalId": "nobody" }))
                .await
                .is_empty()
        );
        assert_eq!(
            filtered(&app, json!({ "ownerTeamExternalId": "T2" })).await,
            ["D learning"]
        );
        assert_eq!(
            filtered(&app, json!({ "ownerTeamExternalId": "T1" })).await,
            ["B nps"]
        );
        assert!(
            filtered(&app, json!({ "ownerTeamExternalId": "nope" }))
                .await
                .is_empty()
        );
        assert_eq!(
            filtered(&app, json!({ "topLevelOnly": true })).await,
            ["E churn", "A revenue", "D learning"]
        );
        assert_eq!(
            filtered(&app, json!({ "topLevelOnly": false })).await.len(),
            5
        );
        // Filters combine.
        assert_eq!(
            filtered(
                &app,
                json!({ "topLevelOnly": true, "perspective": "CUSTOMER" })
            )
            .await,
            ["E churn"]
        );
        assert_eq!(
            filtered(
                &app,
                json!({ "status": "DRAFT", "from": "2026-01-01", "to": "2026-12-31" })
            )
            .await,
            ["A revenue", "C cycle time"]
        );
    }
);

on_both_backends!(
    goals_children_and_descendants_paginate_to_the_end,
    |app: TestApp| async move {
        let root = fy_goal(&app, "root", "CUSTOMER", None).await;
        for c in ["c1", "c2", "c3"] {
            let child = fy_goal(&app, c, "CUSTOMER", Some(&root)).await;
            for g in ["x", "y"] {
                fy_goal(&app, &format!("{c}{g}"), "CUSTOMER", Some(&child)).await;
            }
        }

        // goals: pages of 3 until the end.
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        let mut pages = 0;
        loop {
            let data = app
                .ok("bi", GOALS, json!({ "first": 3, "after": after }))
                .await;
            let conn = &data["goals"];
            assert_eq!(conn["totalCount"], 10, "{conn:#}");
            seen.extend(titles(conn));
            pages += 1;
            if conn["pageInfo"]["hasNextPage"] == false {
                break;
            }
            after = Some(sid(&conn["pageInfo"]["endCursor"]));
            assert!(pages < 10, "pagination does not end");
        }
        assert_eq!(pages, 4);
        let everything = app.ok("bi", GOALS, json!({ "first": 100 })).await["goals"].clone();
        let all = titles(&everything);
        assert_eq!(seen, all, "pages concatenate to the whole list");
        let mut unique = all.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 10);
        assert_eq!(everything["pageInfo"]["hasNextPage"], false);

        // descendants: pages of 4 until the end, parents before children.
        const DESC: &str = r#"query($id: ID!, $after: String) { node(id: $id) { ... on Goal {
          descendants(first: 4, after: $after) { totalCount pageInfo { hasNextPage endCursor }
            nodes { depth goal { title } } } } } }"#;
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        let mut pages = 0;
        loop {
            let data = app
                .ok("member", DESC, json!({ "id": root, "after": after }))
                .await;
            let conn = &data["node"]["descendants"];
            assert_eq!(conn["totalCount"], 9, "{conn:#}");
            for n in conn["nodes"].as_array().unwrap() {
                seen.push((n["depth"].as_i64().unwrap(), sid(&n["goal"]["title"])));
            }
            pages += 1;
            if conn["pageInfo"]["hasNextPage"] == false {
                break;
            }
            after = Some(sid(&conn["pageInfo"]["endCursor"]));
            assert!(pages < 10, "pagination does not end");
        }
        assert_eq!(pages, 3);
        let expected: Vec<(i64, String)> = [
            (1, "c1"),
            (1, "c2"),
            (1, "c3"),
            (2, "c1x"),
            (2, "c1y"),
            (2, "c2x"),
            (2, "c2y"),
            (2, "c3x"),
            (2, "c3y"),
        ]
        .into_iter()
        .map(|(d, t)| (d, t.to_owned()))
        .collect();
        assert_eq!(seen, expected);

        // children page too.
        const CHILDREN: &str = r#"query($id: ID!, $after: String) { node(id: $id) { ... on Goal {
          children(first: 2, after: $after) { totalCount pageInfo { hasNextPage endCursor } nodes { title } } } } }"#;
        let first = app
            .ok("member", CHILDREN, json!({ "id": root, "after": null }))
            .await;
        let conn = &first["node"]["children"];
        assert_eq!(conn["totalCount"], 3);
        assert_eq!(titles(conn), ["c1", "c2"]);
        assert_eq!(conn["pageInfo"]["hasNextPage"], true);
        let second = app
            .ok(
                "member",
                CHILDREN,
                json!({ "id": root, "after": conn["pageInfo"]["endCursor"] }),
            )
            .await;
        let conn = &second["node"]["children"];
        assert_eq!(titles(conn), ["c3"]);
        assert_eq!(conn["pageInfo"]["hasNextPage"], false);
    }
);

const TREE: &str = r#"query($id: ID!) { node(id: $id) { ... on Goal { title
  parent { title }
  children { totalCount nodes { id title parent { id title } } }
  descendants { totalCount nodes { depth parentId goal { id title } } } } } }"#;

/// `(depth, title, parent global id)` of each descendant.
async fn descendants(app: &TestApp, id: &str) -> Vec<(i64, String, String)> {
    let data = app.ok("bi", TREE, json!({ "id": id })).await;
    let conn = &data["node"]["descendants"];
    let list: Vec<(i64, String, String)> = conn["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["depth"].as_i64().unwrap(),
                sid(&n["goal"]["title"]),
                sid(&n["parentId"]),
            )
        })
        .collect();
    assert_eq!(conn["totalCount"].as_u64(), Some(list.len() as u64));
    list
}

async fn children(app: &TestApp, id: &str) -> Vec<String> {
    let data = app.ok("bi", TREE, json!({ "id": id })).await;
    for n in data["node"]["children"]["nodes"].as_array().unwrap() {
        assert_eq!(n["parent"]["id"], id, "a child's parent is the goal: {n:#}");
    }
    titles(&data["node"]["children"])
}

on_both_backends!(
    goal_trees_read_children_parents_and_descendants_and_goals_move,
    |app: TestApp| async move {
        let r = fy_goal(&app, "R", "CUSTOMER", None).await;
        // Created out of title order: children come back by title.
        let b = fy_goal(&app, "B", "CUSTOMER", Some(&r)).await;
        let a = fy_goal(&app, "A", "CUSTOMER", Some(&r)).await;
        let a1 = fy_goal(&app, "A1", "CUSTOMER", Some(&a)).await;
        let a1x = fy_goal(&app, "A1x", "CUSTOMER", Some(&a1)).await;

        assert_eq!(children(&app, &r).await, ["A", "B"]);
        assert_eq!(children(&app, &a).await, ["A1"]);
        assert!(children(&app, &b).await.is_empty());
        assert_eq!(
            descendants(&app, &r).await,
            [
                (1, "A".to_owned(), r.clone()),
                (1, "B".to_owned(), r.clone()),
                (2, "A1".to_owned(), a.clone()),
                (3, "A1x".to_owned(), a1.clone()),
            ]
        );
        assert_eq!(
            descendants(&app, &a).await,
            [
                (1, "A1".to_owned(), a.clone()),
                (2, "A1x".to_owned(), a1.clone()),
            ]
        );
        assert!(descendants(&app, &a1x).await.is_empty());
        let up = app
            .ok(
                "member",
                r#"query($id: ID!) { node(id: $id) { ... on Goal { parent { title parent { title parent { title parent { title } } } } } } }"#,
                json!({ "id": a1x }),
            )
            .await;
        let p = &up["node"]["parent"];
        assert_eq!(p["title"], "A1");
        assert_eq!(p["parent"]["title"], "A");
        assert_eq!(p["parent"]["parent"]["title"], "R");
        assert!(p["parent"]["parent"]["parent"].is_null(), "{up:#}");

        // Move A1 (with its subtree) under B.
        let moved = app
            .ok(
                "executive",
                UPDATE_GOAL,
                json!({ "input": { "id": a1, "parentId": b } }),
            )
            .await;
        assert_eq!(moved["updateGoal"]["goal"]["parent"]["id"], b.as_str());
        assert_eq!(moved["updateGoal"]["goal"]["parent"]["title"], "B");
        assert!(children(&app, &a).await.is_empty());
        assert_eq!(children(&app, &b).await, ["A1"]);
        assert_eq!(
            descendants(&app, &r).await,
            [
                (1, "A".to_owned(), r.clone()),
                (1, "B".to_owned(), r.clone()),
                (2, "A1".to_owned(), b.clone()),
                (3, "A1x".to_owned(), a1.clone()),
            ]
        );

        // Under its own descendant: a cycle, refused.
        let cycle = app
            .gql(
                "admin",
                UPDATE_GOAL,
                json!({ "input": { "id": a1, "parentId": a1x } }),
            )
            .await;
        expect_code(&cycle, "CONFLICT", "a goal under its own child");
        let to_self = app
            .gql(
                "admin",
                UPDATE_GOAL,
                json!({ "input": { "id": a1, "parentId": a1 } }),
            )
            .await;
        assert!(to_self.get("errors").is_some(), "{to_self:#}");

        // To the top level with parentId: null.
        let top = app
            .ok(
                "admin",
                UPDATE_GOAL,
                json!({ "input": { "id": a1, "parentId": null } }),
            )
            .await;
        assert!(top["updateGoal"]["goal"]["parent"].is_null(), "{top:#}");
        assert!(goal_node(&app, &a1).await["parent"].is_null());
        assert_eq!(
            descendants(&app, &r).await,
            [
                (1, "A".to_owned(), r.clone()),
                (1, "B".to_owned(), r.clone()),
            ]
        );
        assert_eq!(
            descendants(&app, &a1).await,
            [(1, "A1x".to_owned(), a1.clone())]
        );
        assert_eq!(
            filtered(&app, json!({ "topLevelOnly": true })).await,
            ["A1", "R"]
        );
        // Omitting parentId leaves the parent as it is.
        let renamed = app
            .ok(
                "admin",
                UPDATE_GOAL,
                json!({ "input": { "id": a1x, "title": "A1y" } }),
            )
            .await;
        assert_eq!(renamed["updateGoal"]["goal"]["parent"]["id"], a1.as_str());

        // A parent from another organization is refused and writes nothing.
        let other = app.create_org("Other").await;
        let stranger = app.token_for(other, "stranger", &["admin"]);
        let foreign = app
            .gql_with(
                Some(&stranger),
                CREATE_GOAL,
                json!({ "input": { "title": "theirs", "perspective": "CUSTOMER",
                    "periodStart": "2026-01-01", "periodEnd": "2026-12-31" } }),
            )
            .await;
        assert!(foreign.get("errors").is_none(), "{foreign:#}");
        let theirs = sid(&foreign["data"]["createGoal"]["goal"]["id"]);
        let before = audit_count(&app).await;
        let refused = app
            .gql(
                "admin",
                UPDATE_GOAL,
                json!({ "input": { "id": a1, "parentId": theirs, "title": "hijacked" } }),
            )
            .await;
        expect_code(&refused, "BAD_USER_INPUT", "a parent in another org");
        assert_eq!(error_field(&refused).as_deref(), Some("input.parentId"));
        let a1_now = goal_node(&app, &a1).await;
        assert!(a1_now["parent"].is_null(), "{a1_now:#}");
        assert_eq!(a1_now["title"], "A1");
        assert_eq!(audit_count(&app).await, before);
        // ...and the other way round: their goal cannot move under ours.
        let refused = app
            .gql_with(
                Some(&stranger),
                UPDATE_GOAL,
                json!({ "input": { "id": theirs, "parentId": r } }),
            )
            .await;
        expect_code(&refused, "BAD_USER_INPUT", "our goal as their parent");
        assert_eq!(error_field(&refused).as_deref(), Some("input.parentId"));
        let theirs_now = app
            .gql_with(
                Some(&stranger),
                r#"query($id: ID!) { node(id: $id) { ... on Goal { title parent { id } } } }"#,
                json!({ "id": theirs }),
            )
            .await;
        assert_eq!(theirs_now["data"]["node"]["title"], "theirs");
        assert!(theirs_now["data"]["node"]["parent"].is_null());
        assert_eq!(children(&app, &r).await, ["A", "B"]);
    }
);

on_both_backends!(
    update_goal_changes_fields_and_closed_goals_stay_closed,
    |app: TestApp| async move {
        roster(&app).await;
        let g = app
            .ok(
                "executive",
                CREATE_GOAL,
                json!({ "input": { "title": "Raise adoption", "description": "depth of use",
                    "perspective": "CUSTOMER", "periodStart": "2026-01-01", "periodEnd": "2026-12-31" } }),
            )
            .await;
        let g = sid(&g["createGoal"]["goal"]["id"]);
        let updated = app
            .ok(
                "executive",
                UPDATE_GOAL,
                json!({ "input": { "id": g, "title": "Raise adoption depth", "description": "weekly active seats",
                    "perspective": "INTERNAL_PROCESS", "owner": { "personExternalId": "A" },
                    "periodStart": "2026-04-01", "periodEnd": "2026-06-30" } }),
            )
            .await;
        let u = &updated["updateGoal"]["goal"];
        assert_eq!(u["title"], "Raise adoption depth");
        assert_eq!(u["description"], "weekly active seats");
        assert_eq!(u["perspective"], "INTERNAL_PROCESS");
        assert_eq!(u["ownerPerson"]["externalId"], "A");
        assert!(u["ownerTeam"].is_null());
        assert_eq!(u["periodStart"], "2026-04-01");
        assert_eq!(u["periodEnd"], "2026-06-30");
        assert_eq!(u["status"], "DRAFT");
        let read = goal_node(&app, &g).await;
        assert_eq!(read["title"], "Raise adoption depth");
        assert_eq!(read["perspective"], "INTERNAL_PROCESS");
        assert_eq!(read["ownerPerson"]["externalId"], "A");
        assert_eq!(read["periodStart"], "2026-04-01");

        // A team owner replaces the person; description null clears it; the rest stays.
        let updated = app
            .ok(
                "admin",
                UPDATE_GOAL,
                json!({ "input": { "id": g, "owner": { "teamExternalId": "T1" }, "description": null } }),
            )
            .await;
        let u = &updated["updateGoal"]["goal"];
        assert!(u["ownerPerson"].is_null());
        assert_eq!(u["ownerTeam"]["externalId"], "T1");
        assert!(u["description"].is_null());
        assert_eq!(u["title"], "Raise adoption depth");
        assert_eq!(u["periodEnd"], "2026-06-30");
        let listed = filtered(&app, json!({ "ownerTeamExternalId": "T1" })).await;
        assert_eq!(listed, ["Raise adoption depth"]);
        let half = app
            .gql(
                "admin",
                UPDATE_GOAL,
                json!({ "input": { "id": g, "periodStart": "2026-01-01" } }),
            )
            .await;
        expect_code(&half, "BAD_USER_INPUT", "one end of the period");
        let reversed = app
            .gql(
                "admin",
                UPDATE_GOAL,
                json!({ "input": { "id": g, "periodStart": "2026-12-31", "periodEnd": "2026-01-01" } }),
            )
            .await;
        assert_eq!(error_field(&reversed).as_deref(), Some("input.periodEnd"));
        let unknown_owner = app
            .gql(
                "admin",
                UPDATE_GOAL,
                json!({ "input": { "id": g, "owner": { "teamExternalId": "T9" } } }),
            )
            .await;
        expect_code(&unknown_owner, "BAD_USER_INPUT", "an unknown team");
        assert_eq!(goal_node(&app, &g).await["ownerTeam"]["externalId"], "T1");

        // DRAFT -> CANCELLED; a cancelled goal does not change.
        let cancelled = fy_goal(&app, "Cancel me", "CUSTOMER", None).await;
        let body = set_status(&app, &cancelled, "CANCELLED").await;
        assert_eq!(
            body["data"]["setGoalStatus"]["goal"]["status"], "CANCELLED",
            "{body:#}"
        );
        // ACTIVE -> MISSED.
        let missed = fy_goal(&app, "Miss me", "CUSTOMER", None).await;
        assert!(
            set_status(&app, &missed, "ACTIVE")
                .await
                .get("errors")
                .is_none()
        );
        let again = set_status(&app, &missed, "ACTIVE").await;
        expect_code(&again, "CONFLICT", "re-activating an ACTIVE goal");
        let body = set_status(&app, &missed, "MISSED").await;
        assert_eq!(
            body["data"]["setGoalStatus"]["goal"]["status"], "MISSED",
            "{body:#}"
        );
        // ACTIVE -> ACHIEVED.
        let achieved = fy_goal(&app, "Reach me", "CUSTOMER", None).await;
        assert!(
            set_status(&app, &achieved, "ACTIVE")
                .await
                .get("errors")
                .is_none()
        );
        assert!(
            set_status(&app, &achieved, "ACHIEVED")
                .await
                .get("errors")
                .is_none()
        );

        for (id, status) in [
            (&cancelled, "CANCELLED"),
            (&missed, "MISSED"),
            (&achieved, "ACHIEVED"),
        ] {
            let before = audit_count(&app).await;
            let body = app
                .gql(
                    "admin",
                    UPDATE_GOAL,
                    json!({ "input": { "id": id, "title": "changed" } }),
                )
                .await;
            expect_code(&body, "CONFLICT", &format!("updating a {status} goal"));
            for next in ["DRAFT", "ACTIVE", "ACHIEVED", "MISSED", "CANCELLED"] {
                let body = set_status(&app, id, next).await;
                expect_code(&body, "CONFLICT", &format!("{status} -> {next}"));
            }
            let read = goal_node(&app, id).await;
            assert_eq!(read["status"], status);
            assert_ne!(read["title"], "changed");
            assert_eq!(audit_count(&app).await, before, "{status}: nothing written");
        }

        // An ACTIVE goal may still change...
        let active = fy_goal(&app, "Active customer goal", "CUSTOMER", None).await;
        assert!(
            set_status(&app, &active, "ACTIVE")
                .await
                .get("errors")
                .is_none()
        );
        let renamed = app
            .ok(
                "admin",
                UPDATE_GOAL,
                json!({ "input": { "id": active, "title": "Active customer goal, renamed" } }),
            )
            .await;
        assert_eq!(renamed["updateGoal"]["goal"]["status"], "ACTIVE");
        // ...but not become FINANCIAL without a customer link while the policy is on.
        let before = audit_count(&app).await;
        let refused = app
            .gql(
                "admin",
                UPDATE_GOAL,
                json!({ "input": { "id": active, "perspective": "FINANCIAL", "title": "Revenue now" } }),
            )
            .await;
        expect_code(
            &refused,
            "CONFLICT",
            "an ACTIVE goal turning FINANCIAL unlinked",
        );
        let message = refused["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains("CUSTOMER"), "{message}");
        let read = goal_node(&app, &active).await;
        assert_eq!(read["perspective"], "CUSTOMER");
        assert_eq!(read["title"], "Active customer goal, renamed");
        assert_eq!(audit_count(&app).await, before);
        // A DRAFT goal may turn FINANCIAL (it is checked when it is activated).
        let draft = fy_goal(&app, "Draft", "CUSTOMER", None).await;
        let ok = app
            .ok(
                "admin",
                UPDATE_GOAL,
                json!({ "input": { "id": draft, "perspective": "FINANCIAL" } }),
            )
            .await;
        assert_eq!(ok["updateGoal"]["goal"]["perspective"], "FINANCIAL");
        // Linked to a CUSTOMER goal, the ACTIVE goal may turn FINANCIAL.
        let customer = fy_goal(&app, "Customer driver", "CUSTOMER", None).await;
        app.ok(
            "admin",
            LINK,
            json!({ "a": customer, "b": active, "why": "drives it" }),
        )
        .await;
        let ok = app
            .ok(
                "admin",
                UPDATE_GOAL,
                json!({ "input": { "id": active, "perspective": "FINANCIAL" } }),
            )
            .await;
        assert_eq!(ok["updateGoal"]["goal"]["perspective"], "FINANCIAL");
        assert_eq!(ok["updateGoal"]["goal"]["status"], "ACTIVE");
        // With the policy off, an unlinked ACTIVE goal may turn FINANCIAL too.
        let lone = fy_goal(&app, "Lone", "CUSTOMER", None).await;
        assert!(
            set_status(&app, &lone, "ACTIVE")
                .await
                .get("errors")
                .is_none()
        );
        app.ok(
            "admin",
            "mutation { updateOrganizationSettings(input: { requireCustomerLink: false }) { settings { requireCustomerLink } } }",
            json!({}),
        )
        .await;
        let ok = app
            .ok(
                "admin",
                UPDATE_GOAL,
                json!({ "input": { "id": lone, "perspective": "FINANCIAL" } }),
            )
            .await;
        assert_eq!(ok["updateGoal"]["goal"]["perspective"], "FINANCIAL");
    }
);

on_both_backends!(
    unlinking_relinking_and_self_links,
    |app: TestApp| async move {
        let f = fy_goal(&app, "Grow NRR", "FINANCIAL", None).await;
        let c = fy_goal(&app, "Cut time-to-value", "CUSTOMER", None).await;
        let c2 = fy_goal(&app, "Raise adoption", "CUSTOMER", None).await;
        app.ok(
            "admin",
            LINK,
            json!({ "a": f, "b": c, "why": "first reason" }),
        )
        .await;
        assert!(set_status(&app, &f, "ACTIVE").await.get("errors").is_none());

        // Linking again, in the other direction, replaces the rationale: one link.
        app.ok(
            "admin",
            LINK,
            json!({ "a": c, "b": f, "why": "second reason" }),
        )
        .await;
        for (id, other) in [(&f, &c), (&c, &f)] {
            let read = goal_node(&app, id).await;
            let links = read["links"].as_array().unwrap();
            assert_eq!(links.len(), 1, "{read:#}");
            assert_eq!(links[0]["rationale"], "second reason");
            assert_eq!(links[0]["goal"]["id"], other.as_str());
        }
        assert_eq!(goal_node(&app, &f).await["hasCustomerLink"], true);

        // A goal cannot be linked to itself.
        let before = audit_count(&app).await;
        let body = app
            .gql("admin", LINK, json!({ "a": f, "b": f, "why": "narcissus" }))
            .await;
        expect_code(&body, "BAD_USER_INPUT", "a self link");
        assert_eq!(audit_count(&app).await, before);
        assert_eq!(
            goal_node(&app, &f).await["links"].as_array().unwrap().len(),
            1
        );

        // Unlinking leaves the ACTIVE goal standing alone, and listed as unbalanced.
        let unlinked = app.ok("admin", UNLINK, json!({ "a": f, "b": c })).await;
        assert_eq!(unlinked["unlinkGoals"]["goal"]["id"], f.as_str());
        assert_eq!(unlinked["unlinkGoals"]["goal"]["hasCustomerLink"], false);
        assert_eq!(unlinked["unlinkGoals"]["otherGoal"]["id"], c.as_str());
        let read = goal_node(&app, &f).await;
        assert_eq!(read["hasCustomerLink"], false);
        assert!(read["links"].as_array().unwrap().is_empty());
        assert_eq!(read["status"], "ACTIVE");
        assert!(
            goal_node(&app, &c).await["links"]
                .as_array()
                .unwrap()
                .is_empty()
        );
        const UNBALANCED: &str = r#"query($from: Date!, $to: Date!) { unbalancedGoals(period: { from: $from, to: $to }) {
          totalCount nodes { id title status } } }"#;
        let list = app
            .ok(
                "bi",
                UNBALANCED,
                json!({ "from": "2026-06-01", "to": "2026-06-30" }),
            )
            .await;
        assert_eq!(list["unbalancedGoals"]["totalCount"], 1);
        assert_eq!(list["unbalancedGoals"]["nodes"][0]["id"], f.as_str());
        assert_eq!(list["unbalancedGoals"]["nodes"][0]["status"], "ACTIVE");
        let elsewhere = app
            .ok(
                "bi",
                UNBALANCED,
                json!({ "from": "2027-01-01", "to": "2027-12-31" }),
            )
            .await;
        assert_eq!(elsewhere["unbalancedGoals"]["totalCount"], 0);

        // Unlinking what is not linked finds nothing and writes nothing.
        let before = audit_count(&app).await;
        let body = app.gql("admin", UNLINK, json!({ "a": f, "b": c })).await;
        expect_code(&body, "NOT_FOUND", "unlinking twice");
        assert_eq!(audit_count(&app).await, before);

        // An ACTIVE FINANCIAL goal that lost its link can still be edited (it does not
        // *become* ACTIVE by being renamed).
        let renamed = app
            .gql(
                "admin",
                UPDATE_GOAL,
                json!({ "input": { "id": f, "description": "net revenue retention, all segments" } }),
            )
            .await;
        assert!(renamed.get("errors").is_none(), "{renamed:#}");

        // Linking (in reverse) to another customer goal balances it again.
        app.ok(
            "admin",
            LINK,
            json!({ "a": c2, "b": f, "why": "adoption drives expansion" }),
        )
        .await;
        let list = app
            .ok(
                "bi",
                UNBALANCED,
                json!({ "from": "2026-01-01", "to": "2026-12-31" }),
            )
            .await;
        assert_eq!(list["unbalancedGoals"]["totalCount"], 0);
        assert_eq!(goal_node(&app, &f).await["hasCustomerLink"], true);
    }
);

on_both_backends!(
    key_results_update_and_follow_metrics_segments_and_periods,
    |app: TestApp| async move {
        define_metric(&app, "activation", "CUSTOMER", "LAST").await;
        define_metric(&app, "silent", "CUSTOMER", "LAST").await;
        define_metric(&app, "late", "CUSTOMER", "LAST").await;
        create_segment(&app, "enterprise").await;
        create_segment(&app, "smb").await;
        record(
            &app,
            vec![
                obs("activation", "2026-03-01", "MONTH", "10"),
                obs("activation", "2026-04-01", "MONTH", "40"),
                obs("activation", "2026-05-01", "MONTH", "45"),
                obs("activation", "2026-07-01", "MONTH", "99"),
                obs_dim(
                    "activation",
                    "2026-03-01",
                    "MONTH",
                    Some("enterprise"),
                    None,
                    "1",
                ),
                obs_dim(
                    "activation",
                    "2026-04-01",
                    "MONTH",
                    Some("enterprise"),
                    None,
                    "50",
                ),
                obs_dim(
                    "activation",
                    "2026-06-01",
                    "MONTH",
                    Some("enterprise"),
                    None,
                    "62",
                ),
                obs_dim(
                    "activation",
                    "2026-07-01",
                    "MONTH",
                    Some("enterprise"),
                    None,
                    "99",
                ),
                obs_dim("activation", "2026-06-01", "MONTH", Some("smb"), None, "20"),
                obs("late", "2026-08-01", "MONTH", "5"),
                obs("late", "2026-03-31", "DAY", "6"),
            ],
        )
        .await;
        let g = fy_goal(&app, "Adoption", "CUSTOMER", None).await;
        let o = mk_objective(&app, &g, Value::Null, ("2026-04-01", "2026-06-30")).await;

        let total = mk_kr(
            &app,
            json!({ "objectiveId": o, "title": "Activation", "baseline": "40", "target": "70", "metricKey": "activation" }),
        )
        .await;
        let read = kr_node(&app, &total).await;
        assert_eq!(read["source"], "METRIC");
        // Latest in Q2: the March and July values are outside the objective's period.
        assert_eq!(read["current"], "45", "{read:#}");
        assert!(read["confidence"].is_null());

        let ent = mk_kr(
            &app,
            json!({ "objectiveId": o, "title": "Enterprise activation", "baseline": "50", "target": "60",
                "metricKey": "activation", "segmentKey": "enterprise" }),
        )
        .await;
        let read = kr_node(&app, &ent).await;
        assert_eq!(
            read["current"], "62",
            "the segment's own latest value: {read:#}"
        );
        assert_eq!(read["progress"], "1", "past the target: {read:#}");
        let smb = mk_kr(
            &app,
            json!({ "objectiveId": o, "title": "SMB activation", "baseline": "10", "target": "30",
                "metricKey": "activation", "segmentKey": "smb" }),
        )
        .await;
        let read = kr_node(&app, &smb).await;
        assert_eq!(read["current"], "20", "{read:#}");
        assert_eq!(read["progress"], "0.5", "{read:#}");

        for key in ["silent", "late"] {
            let id = mk_kr(
                &app,
                json!({ "objectiveId": o, "title": key, "baseline": "0", "target": "1", "metricKey": key }),
            )
            .await;
            let read = kr_node(&app, &id).await;
            assert!(read["current"].is_null(), "{key}: {read:#}");
            assert!(read["progress"].is_null(), "{key}: {read:#}");
        }

        // A target below the baseline: past the target is 1, worse than the baseline is 0.
        let down = mk_kr(
            &app,
            json!({ "objectiveId": o, "title": "Days to first value", "baseline": "30", "target": "14" }),
        )
        .await;
        let check = |value: &str| json!({ "input": { "keyResultId": down, "value": value, "confidence": 5 } });
        let body = app.ok("admin", CHECK_IN, check("10")).await;
        assert_eq!(body["checkIn"]["keyResult"]["current"], "10");
        assert_eq!(body["checkIn"]["keyResult"]["progress"], "1");
        let body = app.ok("admin", CHECK_IN, check("35")).await;
        assert_eq!(body["checkIn"]["keyResult"]["current"], "35");
        assert_eq!(body["checkIn"]["keyResult"]["progress"], "0");
        let body = app.ok("admin", CHECK_IN, check("26")).await;
        assert_eq!(body["checkIn"]["keyResult"]["progress"], "0.25");

        // A span wider than Decimal's range (target - baseline overflows): still exact at the
        // ends and halfway in the middle.
        let wide = mk_kr(
            &app,
            json!({ "objectiveId": o, "title": "Wide", "baseline": "-40000000000000000000000000000", "target": "40000000000000000000000000000" }),
        )
        .await;
        let check = |value: &str| json!({ "input": { "keyResultId": wide, "value": value, "confidence": 5 } });
        for (value, progress) in [
            ("40000000000000000000000000000", "1"),
            ("-40000000000000000000000000000", "0"),
            ("0", "0.5"),
        ] {
            let body = app.ok("admin", CHECK_IN, check(value)).await;
            assert_eq!(
                body["checkIn"]["keyResult"]["progress"], progress,
                "{value}: {body:#}"
            );
        }

        // updateKeyResult: baseline, target, weight, title.
        let updated = app
            .ok(
                "executive",
                UPDATE_KR,
                json!({ "input": { "id": total, "baseline": "40", "target": "50", "weight": "3", "title": "Activation rate" } }),
            )
            .await;
        let k = &updated["updateKeyResult"]["keyResult"];
        assert_eq!(k["baseline"], "40");
        assert_eq!(k["target"], "50");
        assert_eq!(k["weight"], "3");
        assert_eq!(k["title"], "Activation rate");
        assert_eq!(k["current"], "45");
        assert_eq!(k["progress"], "0.5");
        // Only the target: the baseline stays.
        let updated = app
            .ok(
                "admin",
                UPDATE_KR,
                json!({ "input": { "id": total, "target": "60" } }),
            )
            .await;
        let k = &updated["updateKeyResult"]["keyResult"];
        assert_eq!(k["baseline"], "40");
        assert_eq!(k["target"], "60");
        assert_eq!(k["progress"], "0.25");
        // A target equal to the baseline, or a negative weight, is refused and writes nothing.
        let before = audit_count(&app).await;
        for (input, field) in [
            (json!({ "id": total, "target": "40" }), "input.target"),
            (json!({ "id": total, "baseline": "60" }), "input.target"),
            (
                json!({ "id": total, "baseline": "7", "target": "7" }),
                "input.target",
            ),
            (json!({ "id": total, "weight": "-1" }), "input.weight"),
            (
                json!({ "id": total, "weight": "-0.5", "title": "x" }),
                "input.weight",
            ),
            (json!({ "id": total, "target": "lots" }), "input.target"),
        ] {
            let body = app.gql("admin", UPDATE_KR, json!({ "input": input })).await;
            expect_code(&body, "BAD_USER_INPUT", &input.to_string());
            assert_eq!(error_field(&body).as_deref(), Some(field), "{body:#}");
        }
        assert_eq!(audit_count(&app).await, before);
        let read = kr_node(&app, &total).await;
        assert_eq!(read["baseline"], "40");
        assert_eq!(read["target"], "60");
        assert_eq!(read["weight"], "3");
        assert_eq!(read["title"], "Activation rate");
        // Weight zero is allowed.
        let zero = app
            .ok(
                "admin",
                UPDATE_KR,
                json!({ "input": { "id": smb, "weight": "0" } }),
            )
            .await;
        assert_eq!(zero["updateKeyResult"]["keyResult"]["weight"], "0");

        // Unknown metric, unknown segment, segment without a metric: bad input, nothing written.
        let krs = key_result_count(&app, &o).await;
        let before = audit_count(&app).await;
        for (input, field) in [
            (
                json!({ "objectiveId": o, "title": "x", "baseline": "0", "target": "1", "metricKey": "no_such_metric" }),
                "input.metricKey",
            ),
            (
                json!({ "objectiveId": o, "title": "x", "baseline": "0", "target": "1", "segmentKey": "enterprise" }),
                "input.segmentKey",
            ),
            (
                json!({ "objectiveId": o, "title": "x", "baseline": "0", "target": "1", "metricKey": "activation", "segmentKey": "mars" }),
                "input.segmentKey",
            ),
            (
                json!({ "objectiveId": o, "title": "x", "baseline": "0", "target": "1", "weight": "-2" }),
                "input.weight",
            ),
        ] {
            let body = app
                .gql("admin", KEY_RESULT, json!({ "input": input }))
                .await;
            expect_code(&body, "BAD_USER_INPUT", &input.to_string());
            assert_eq!(error_field(&body).as_deref(), Some(field), "{body:#}");
        }
        assert_eq!(key_result_count(&app, &o).await, krs);
        assert_eq!(audit_count(&app).await, before);
    }
);

on_both_backends!(
    check_ins_list_newest_first_with_confidence_note_and_author,
    |app: TestApp| async move {
        roster(&app).await;
        let g = fy_goal(&app, "Retention", "CUSTOMER", None).await;
        let o = mk_objective(
            &app,
            &g,
            json!({ "teamExternalId": "T1" }),
            ("2026-04-01", "2026-06-30"),
        )
        .await;
        let kr = mk_kr(
            &app,
            json!({ "objectiveId": o, "title": "Renewals", "baseline": "0", "target": "10", "ownerPersonExternalId": "A" }),
        )
        .await;
        let fresh = kr_node(&app, &kr).await;
        assert!(fresh["current"].is_null());
        assert!(fresh["progress"].is_null());
        assert!(fresh["confidence"].is_null());
        assert_eq!(fresh["checkIns"]["totalCount"], 0);

        let ana = app.token_for(app.org_id, "ana", &["member"]);
        let mia = app.token_for(app.org_id, "mia", &["manager"]);
        let input = |value: &str, confidence: i64, note: Option<&str>| json!({ "input": { "keyResultId": kr, "value": value, "confidence": confidence, "note": note } });
        for (token, value, confidence, note) in [
            (&ana, "2", 3, Some("slow start")),
            (&mia, "5", 6, Some("picking up")),
        ] {
            let body = app
                .gql_with(Some(token), CHECK_IN, input(value, confidence, note))
                .await;
            assert!(body.get("errors").is_none(), "{body:#}");
        }
        let body = app.ok("executive", CHECK_IN, input("7", 8, None)).await;
        assert_eq!(body["checkIn"]["checkIn"]["author"], "executive-user");
        assert_eq!(body["checkIn"]["keyResult"]["confidence"], 8);

        let read = kr_node(&app, &kr).await;
        let list = &read["checkIns"];
        assert_eq!(list["totalCount"], 3);
        let rows: Vec<(String, i64, Value, String)> = list["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| {
                (
                    sid(&n["value"]),
                    n["confidence"].as_i64().unwrap(),
                    n["note"].clone(),
                    sid(&n["author"]),
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                ("7".to_owned(), 8, Value::Null, "executive-user".to_owned()),
                ("5".to_owned(), 6, json!("picking up"), "mia".to_owned()),
                ("2".to_owned(), 3, json!("slow start"), "ana".to_owned()),
            ],
            "newest first"
        );
        assert_eq!(read["confidence"], 8, "the latest check-in's confidence");
        assert_eq!(read["current"], "7");
        assert_eq!(read["progress"], "0.7");
        // A member reads the list too, a page at a time.
        let page = app
            .ok(
                "member",
                r#"query($id: ID!) { node(id: $id) { ... on KeyResult { checkIns(first: 2) { totalCount pageInfo { hasNextPage } nodes { value } } } } }"#,
                json!({ "id": kr }),
            )
            .await;
        let page = &page["node"]["checkIns"];
        assert_eq!(page["totalCount"], 3);
        assert_eq!(page["pageInfo"]["hasNextPage"], true);
        assert_eq!(page["nodes"][0]["value"], "7");
        assert_eq!(page["nodes"][1]["value"], "5");

        // A lower confidence later becomes the key result's confidence.
        let body = app
            .gql_with(Some(&ana), CHECK_IN, input("7.5", 2, Some("risk: churn")))
            .await;
        assert!(body.get("errors").is_none(), "{body:#}");
        let read = kr_node(&app, &kr).await;
        assert_eq!(read["confidence"], 2);
        assert_eq!(read["current"], "7.5");
        assert_eq!(read["progress"], "0.75");
        assert_eq!(read["checkIns"]["nodes"][0]["note"], "risk: churn");

        // Bad input: nothing written.
        let before = audit_count(&app).await;
        let cases = [
            (input("3", -1, None), "input.confidence"),
            (input("3", 11, None), "input.confidence"),
            (input("three", 5, None), "input.value"),
            (input("", 5, None), "input.value"),
            (
                json!({ "input": { "keyResultId": kr, "value": 3, "confidence": 5 } }),
                "input.value",
            ),
        ];
        for (vars, field) in cases {
            let body = app.gql("admin", CHECK_IN, vars.clone()).await;
            expect_code(&body, "BAD_USER_INPUT", &vars.to_string());
            assert_eq!(error_field(&body).as_deref(), Some(field), "{body:#}");
        }
        assert_eq!(audit_count(&app).await, before);
        let read = kr_node(&app, &kr).await;
        assert_eq!(read["checkIns"]["totalCount"], 4);
        assert_eq!(read["confidence"], 2);
    }
);

on_both_backends!(check_ins_resolve_as_nodes, |app: TestApp| async move {
    let g = fy_goal(&app, "Retention", "CUSTOMER", None).await;
    let o = mk_objective(&app, &g, Value::Null, FY26).await;
    let kr = mk_kr(
        &app,
        json!({ "objectiveId": o, "title": "Renewals", "baseline": "0", "target": "10" }),
    )
    .await;
    let body = app
        .ok(
            "admin",
            r#"mutation($input: CheckInInput!) { checkIn(input: $input) { checkIn { id } } }"#,
            json!({ "input": { "keyResultId": kr, "value": "4", "confidence": 6, "note": "n" } }),
        )
        .await;
    let id = sid(&body["checkIn"]["checkIn"]["id"]);
    // CheckIn implements Node, so node(id:) must resolve its id.
    let node = app
        .ok(
            "member",
            r#"query($id: ID!) { node(id: $id) { id ... on CheckIn { value confidence note author } } }"#,
            json!({ "id": id }),
        )
        .await;
    assert_eq!(node["node"]["id"], id.as_str(), "{node:#}");
    assert_eq!(node["node"]["value"], "4");
    assert_eq!(node["node"]["confidence"], 6);
    // ...in its own organization only.
    let other = app.create_org("Other").await;
    let stranger = app.token_for(other, "x", &["admin"]);
    let body = app
        .gql_with(
            Some(&stranger),
            r#"query($id: ID!) { node(id: $id) { id } }"#,
            json!({ "id": id }),
        )
        .await;
    assert!(body["data"]["node"].is_null(), "{body:#}");
});

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scope {
    /// Mia's team T1 (and her report Ana).
    Own,
    /// Zed's team T2.
    Other,
    /// The company.
    Company,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    CreateGoal,
    UpdateGoal,
    SetGoalStatus,
    LinkGoals,
    UnlinkGoals,
    CreateObjective,
    CreateKeyResult,
    UpdateKeyResult,
    CheckIn,
}

const OPS: [Op; 9] = [
    Op::CreateGoal,
    Op::UpdateGoal,
    Op::SetGoalStatus,
    Op::LinkGoals,
    Op::UnlinkGoals,
    Op::CreateObjective,
    Op::CreateKeyResult,
    Op::UpdateKeyResult,
    Op::CheckIn,
];

const SCOPES: [Scope; 3] = [Scope::Own, Scope::Other, Scope::Company];

struct Fixture {
    goals: [String; 3],
    objectives: [String; 3],
    krs: [String; 3],
    anchor: String,
}

fn index(scope: Scope) -> usize {
    match scope {
        Scope::Own => 0,
        Scope::Other => 1,
        Scope::Company => 2,
    }
}

fn owner(scope: Scope) -> Value {
    match scope {
        Scope::Own => json!({ "teamExternalId": "T1" }),
        Scope::Other => json!({ "teamExternalId": "T2" }),
        Scope::Company => Value::Null,
    }
}

async fn fixture(app: &TestApp) -> Fixture {
    roster(app).await;
    let mut goals = Vec::new();
    let mut objectives = Vec::new();
    let mut krs = Vec::new();
    for (scope, kr_owner) in [
        (Scope::Own, json!("A")),
        (Scope::Other, json!("Z")),
        (Scope::Company, Value::Null),
    ] {
        let g = mk_goal(
            app,
            &format!("{scope:?} goal"),
            "CUSTOMER",
            FY26,
            owner(scope),
            None,
        )
        .await;
        let o = mk_objective(app, &g, owner(scope), FY26).await;
        let k = mk_kr(
            app,
            json!({ "objectiveId": o, "title": format!("{scope:?} kr"), "baseline": "0", "target": "10",
                "ownerPersonExternalId": kr_owner }),
        )
        .await;
        goals.push(g);
        objectives.push(o);
        krs.push(k);
    }
    let anchor = fy_goal(app, "Anchor", "FINANCIAL", None).await;
    Fixture {
        goals: goals.try_into().unwrap(),
        objectives: objectives.try_into().unwrap(),
        krs: krs.try_into().unwrap(),
        anchor,
    }
}

/// The request for `op` on `scope`, after any set-up it needs (done as admin).
async fn request(app: &TestApp, fx: &Fixture, op: Op, scope: Scope) -> (&'static str, Value) {
    let i = index(scope);
    match op {
        Op::CreateGoal => (
            CREATE_GOAL,
            json!({ "input": { "title": "new goal", "perspective": "CUSTOMER", "periodStart": FY26.0,
                "periodEnd": FY26.1, "owner": owner(scope) } }),
        ),
        Op::UpdateGoal => (
            UPDATE_GOAL,
            json!({ "input": { "id": fx.goals[i], "description": "updated" } }),
        ),
        Op::SetGoalStatus => {
            let g = mk_goal(app, "to activate", "CUSTOMER", FY26, owner(scope), None).await;
            (SET_STATUS, json!({ "id": g, "status": "ACTIVE" }))
        }
        Op::LinkGoals => (
            LINK,
            json!({ "a": fx.goals[i], "b": fx.anchor, "why": "because" }),
        ),
        Op::UnlinkGoals => {
            app.ok(
                "admin",
                LINK,
                json!({ "a": fx.goals[i], "b": fx.anchor, "why": "set-up" }),
            )
            .await;
            (UNLINK, json!({ "a": fx.goals[i], "b": fx.anchor }))
        }
        Op::CreateObjective => (
            OBJECTIVE,
            json!({ "input": { "goalId": fx.goals[i], "title": "new objective", "owner": owner(scope),
                "periodStart": "2026-04-01", "periodEnd": "2026-06-30" } }),
        ),
        Op::CreateKeyResult => (
            KEY_RESULT,
            json!({ "input": { "objectiveId": fx.objectives[i], "title": "new kr", "baseline": "0", "target": "5" } }),
        ),
        Op::UpdateKeyResult => (
            UPDATE_KR,
            json!({ "input": { "id": fx.krs[i], "weight": "2" } }),
        ),
        Op::CheckIn => (
            CHECK_IN,
            json!({ "input": { "keyResultId": fx.krs[i], "value": "4", "confidence": 6 } }),
        ),
    }
}

/// Whether `who` may run `op` on `scope`, per the access table.
fn allowed(who: &str, op: Op, scope: Scope) -> bool {
    match who {
        "admin" | "executive" => true,
        // Unlinking needs write access to both goals, and the other end is a company goal.
        "mia (manager of T1)" => scope == Scope::Own && op != Op::UnlinkGoals,
        "ana (member, owns the T1 key result)" => op == Op::CheckIn && scope == Scope::Own,
        _ => false,
    }
}

on_both_backends!(
    every_goal_and_okr_mutation_follows_the_access_table,
    |app: TestApp| async move {
        let fx = fixture(&app).await;
        let callers: Vec<(&str, String)> = vec![
            ("admin", app.token(&["admin"])),
            ("executive", app.token(&["executive"])),
            (
                "mia (manager of T1)",
                app.token_for(app.org_id, "mia", &["manager"]),
            ),
            ("manager without a person", app.token(&["manager"])),
            (
                "ana (member, owns the T1 key result)",
                app.token_for(app.org_id, "ana", &["member"]),
            ),
            ("member", app.token(&["member"])),
            ("bi", app.token(&["bi"])),
            ("finance", app.token(&["finance"])),
            ("revops", app.token(&["revops"])),
            ("hr", app.token(&["hr"])),
            ("hr_sync", app.token(&["hr_sync"])),
        ];
        for (who, token) in &callers {
            for op in OPS {
                for scope in SCOPES {
                    let (query, vars) = request(&app, &fx, op, scope).await;
                    let before = audit_count(&app).await;
                    let body = app.gql_with(Some(token), query, vars).await;
                    let what = format!("{who} {op:?} on {scope:?}");
                    if allowed(who, op, scope) {
                        assert!(body.get("errors").is_none(), "{what}: {body:#}");
                        assert_eq!(audit_count(&app).await, before + 1, "{what}");
                    } else {
                        expect_code(&body, "FORBIDDEN", &what);
                        assert_eq!(audit_count(&app).await, before, "{what} wrote something");
                    }
                }
            }
        }

        // A manager may not hand a goal of its team to another team, nor own a goal through a
        // person outside its reports.
        let mia = app.token_for(app.org_id, "mia", &["manager"]);
        let body = app
            .gql_with(
                Some(&mia),
                UPDATE_GOAL,
                json!({ "input": { "id": fx.goals[0], "owner": { "teamExternalId": "T2" } } }),
            )
            .await;
        expect_code(&body, "FORBIDDEN", "moving a goal to another team");
        assert_eq!(
            goal_node(&app, &fx.goals[0]).await["ownerTeam"]["externalId"],
            "T1"
        );
        for (person, ok) in [("A", true), ("M", true), ("Z", false)] {
            let body = app
                .gql_with(
                    Some(&mia),
                    CREATE_GOAL,
                    json!({ "input": { "title": format!("{person}'s goal"), "perspective": "CUSTOMER",
                        "periodStart": FY26.0, "periodEnd": FY26.1, "owner": { "personExternalId": person } } }),
                )
                .await;
            if ok {
                assert!(body.get("errors").is_none(), "{person}: {body:#}");
            } else {
                expect_code(&body, "FORBIDDEN", person);
            }
        }

        // Reads: member and bi read goals and OKRs; hr_sync reads none of it.
        const READ: &str = r#"query($id: ID!) { goals(first: 5) { totalCount }
          node(id: $id) { ... on Goal { title objectives { nodes { keyResults { nodes { current checkIns { totalCount } } } } } } } }"#;
        for role in [
            "member",
            "bi",
            "manager",
            "executive",
            "finance",
            "revops",
            "hr",
        ] {
            let data = app.ok(role, READ, json!({ "id": fx.goals[0] })).await;
            assert!(data["goals"]["totalCount"].as_i64().unwrap() > 3, "{role}");
            assert_eq!(data["node"]["title"], "Own goal", "{role}");
            let kr = &data["node"]["objectives"]["nodes"][0]["keyResults"]["nodes"][0];
            assert!(
                kr["checkIns"]["totalCount"].as_i64().unwrap() > 0,
                "{role}: {data:#}"
            );
        }
        for query in [
            "{ goals { totalCount } }",
            r#"{ unbalancedGoals(period: { from: "2026-01-01", to: "2026-12-31" }) { totalCount } }"#,
        ] {
            let body = app.gql("hr_sync", query, json!({})).await;
            expect_code(&body, "FORBIDDEN", query);
        }
        for id in [&fx.goals[0], &fx.objectives[0], &fx.krs[0]] {
            let body = app
                .gql(
                    "hr_sync",
                    "query($id: ID!) { node(id: $id) { id } }",
                    json!({ "id": id }),
                )
                .await;
            expect_code(&body, "FORBIDDEN", "hr_sync node");
        }
    }
);

on_both_backends!(
    another_organization_sees_and_touches_none_of_it,
    |app: TestApp| async move {
        let c = fy_goal(&app, "Customer", "CUSTOMER", None).await;
        let g = fy_goal(&app, "Ours", "FINANCIAL", Some(&c)).await;
        app.ok("admin", LINK, json!({ "a": g, "b": c, "why": "ours" }))
            .await;
        let o = mk_objective(&app, &g, Value::Null, FY26).await;
        let kr = mk_kr(
            &app,
            json!({ "objectiveId": o, "title": "ours", "baseline": "0", "target": "10" }),
        )
        .await;
        app.ok(
            "admin",
            CHECK_IN,
            json!({ "input": { "keyResultId": kr, "value": "4", "confidence": 6 } }),
        )
        .await;
        let before = audit_count(&app).await;

        let other = app.create_org("Other").await;
        for role in ["admin", "bi", "member", "executive"] {
            let token = app.token_for(other, &format!("{role}-other"), &[role]);
            let body = app
                .gql_with(
                    Some(&token),
                    r#"query($ids: [ID!]!) { goals { totalCount }
                      unbalancedGoals(period: { from: "2026-01-01", to: "2026-12-31" }) { totalCount }
                      nodes(ids: $ids) { id } }"#,
                    json!({ "ids": [g, c, o, kr] }),
                )
                .await;
            assert!(body.get("errors").is_none(), "{role}: {body:#}");
            assert_eq!(body["data"]["goals"]["totalCount"], 0, "{role}");
            assert_eq!(body["data"]["unbalancedGoals"]["totalCount"], 0, "{role}");
            assert_eq!(
                body["data"]["nodes"],
                json!([null, null, null, null]),
                "{role}"
            );
            for id in [&g, &o, &kr] {
                let body = app
                    .gql_with(
                        Some(&token),
                        "query($id: ID!) { node(id: $id) { id } }",
                        json!({ "id": id }),
                    )
                    .await;
                assert!(body.get("errors").is_none(), "{role}: {body:#}");
                assert!(body["data"]["node"].is_null(), "{role}: {body:#}");
            }
        }

        // Their admin cannot write to our goals, objectives or key results.
        let stranger = app.token_for(other, "stranger", &["admin"]);
        let theirs = app
            .gql_with(
                Some(&stranger),
                CREATE_GOAL,
                json!({ "input": { "title": "theirs", "perspective": "CUSTOMER", "periodStart": FY26.0, "periodEnd": FY26.1 } }),
            )
            .await;
        let theirs = sid(&theirs["data"]["createGoal"]["goal"]["id"]);
        let attempts = [
            (
                UPDATE_GOAL,
                json!({ "input": { "id": g, "title": "pwned" } }),
            ),
            (SET_STATUS, json!({ "id": c, "status": "ACTIVE" })),
            (LINK, json!({ "a": theirs, "b": c, "why": "x" })),
            (LINK, json!({ "a": g, "b": theirs, "why": "x" })),
            (UNLINK, json!({ "a": g, "b": c })),
            (
                OBJECTIVE,
                json!({ "input": { "goalId": g, "title": "x", "periodStart": FY26.0, "periodEnd": FY26.1 } }),
            ),
            (
                KEY_RESULT,
                json!({ "input": { "objectiveId": o, "title": "x", "baseline": "0", "target": "1" } }),
            ),
            (UPDATE_KR, json!({ "input": { "id": kr, "weight": "9" } })),
            (
                CHECK_IN,
                json!({ "input": { "keyResultId": kr, "value": "9", "confidence": 1 } }),
            ),
        ];
        for (query, vars) in attempts {
            let body = app.gql_with(Some(&stranger), query, vars.clone()).await;
            let code = error_code(&body);
            assert!(
                matches!(code.as_deref(), Some("NOT_FOUND") | Some("BAD_USER_INPUT")),
                "{vars}: {body:#}"
            );
        }
        assert_eq!(
            audit_count(&app).await,
            before,
            "nothing written in our org"
        );
        let read = goal_node(&app, &g).await;
        assert_eq!(read["title"], "Ours");
        assert_eq!(read["links"].as_array().unwrap().len(), 1);
        let k = kr_node(&app, &kr).await;
        assert_eq!(k["weight"], "1");
        assert_eq!(k["checkIns"]["totalCount"], 1);
        // Their audit trail knows nothing of our objects.
        for id in [&g, &o, &kr] {
            let body = app
                .gql_with(Some(&stranger), EVENTS, json!({ "id": id }))
                .await;
            assert_eq!(body["data"]["auditEvents"]["totalCount"], 0, "{body:#}");
        }
    }
);

on_both_backends!(
    every_goal_and_okr_mutation_writes_an_audit_event,
    |app: TestApp| async move {
        let f = app
            .ok(
                "executive",
                CREATE_GOAL,
                json!({ "input": { "title": "Grow NRR", "perspective": "FINANCIAL", "periodStart": FY26.0, "periodEnd": FY26.1 } }),
            )
            .await;
        let f = sid(&f["createGoal"]["goal"]["id"]);
        let c = fy_goal(&app, "Onboard faster", "CUSTOMER", None).await;
        let created = events(&app, &f).await;
        assert_eq!(created.len(), 1);
        let e = &created[0];
        assert_eq!(e["operation"], "createGoal");
        assert_eq!(e["actor"], "executive-user");
        assert_eq!(e["entityType"], "Goal");
        assert_eq!(e["entityId"], f.as_str());
        assert!(e["before"].is_null());
        assert_eq!(e["after"]["title"], "Grow NRR");

        // A refused activation writes nothing.
        let total = audit_count(&app).await;
        let refused = app
            .gql(
                "executive",
                SET_STATUS,
                json!({ "id": f, "status": "ACTIVE" }),
            )
            .await;
        expect_code(&refused, "CONFLICT", "activation without a customer link");
        assert_eq!(audit_count(&app).await, total);
        assert_eq!(operations(&app, &f).await, ["createGoal"]);

        app.ok(
            "executive",
            UPDATE_GOAL,
            json!({ "input": { "id": f, "title": "Grow NRR to 115%" } }),
        )
        .await;
        let e = &events(&app, &f).await[0];
        assert_eq!(e["operation"], "updateGoal");
        assert_eq!(e["before"]["title"], "Grow NRR");
        assert_eq!(e["after"]["title"], "Grow NRR to 115%");

        app.ok(
            "executive",
            LINK,
            json!({ "a": f, "b": c, "why": "onboarding drives NRR" }),
        )
        .await;
        let e = &events(&app, &f).await[0];
        assert_eq!(e["operation"], "linkGoals");
        assert_eq!(e["entityType"], "Goal");
        assert_eq!(e["after"]["rationale"], "onboarding drives NRR");
        assert_eq!(
            operations(&app, &c).await,
            ["createGoal"],
            "recorded on the first goal"
        );

        app.ok(
            "executive",
            SET_STATUS,
            json!({ "id": f, "status": "ACTIVE" }),
        )
        .await;
        let e = &events(&app, &f).await[0];
        assert_eq!(e["operation"], "setGoalStatus");
        assert_eq!(e["before"]["status"], "DRAFT");
        assert_eq!(e["after"]["status"], "ACTIVE");

        app.ok("executive", UNLINK, json!({ "a": f, "b": c })).await;
        assert_eq!(
            operations(&app, &f).await,
            [
                "unlinkGoals",
                "setGoalStatus",
                "linkGoals",
                "updateGoal",
                "createGoal"
            ]
        );

        let o = app
            .ok(
                "executive",
                OBJECTIVE,
                json!({ "input": { "goalId": c, "title": "Onboard in 14 days", "periodStart": "2026-04-01", "periodEnd": "2026-06-30" } }),
            )
            .await;
        let o = sid(&o["createObjective"]["objective"]["id"]);
        let e = &events(&app, &o).await;
        assert_eq!(e.len(), 1);
        assert_eq!(e[0]["operation"], "createObjective");
        assert_eq!(e[0]["entityType"], "Objective");
        assert_eq!(e[0]["entityId"], o.as_str());

        let kr = app
            .ok(
                "executive",
                KEY_RESULT,
                json!({ "input": { "objectiveId": o, "title": "Days to value", "baseline": "30", "target": "14" } }),
            )
            .await;
        let kr = sid(&kr["createKeyResult"]["keyResult"]["id"]);
        app.ok(
            "executive",
            UPDATE_KR,
            json!({ "input": { "id": kr, "target": "10", "weight": "2" } }),
        )
        .await;
        let e = events(&app, &kr).await;
        assert_eq!(
            e.iter().map(|e| sid(&e["operation"])).collect::<Vec<_>>(),
            ["updateKeyResult", "createKeyResult"]
        );
        assert_eq!(e[0]["entityType"], "KeyResult");
        assert_eq!(e[0]["entityId"], kr.as_str());
        assert_eq!(e[0]["before"]["target"], "14");
        assert_eq!(e[0]["after"]["target"], "10");

        let total = audit_count(&app).await;
        let refused = app
            .gql(
                "executive",
                UPDATE_KR,
                json!({ "input": { "id": kr, "target": "30" } }),
            )
            .await;
        expect_code(&refused, "BAD_USER_INPUT", "target equal to baseline");
        assert_eq!(audit_count(&app).await, total);

        let body = app
            .ok(
                "executive",
                r#"mutation($input: CheckInInput!) { checkIn(input: $input) { checkIn { id } } }"#,
                json!({ "input": { "keyResultId": kr, "value": "22", "confidence": 7, "note": "on track" } }),
            )
            .await;
        let check_in = sid(&body["checkIn"]["checkIn"]["id"]);
        let e = events(&app, &check_in).await;
        assert_eq!(e.len(), 1, "{e:#?}");
        assert_eq!(e[0]["operation"], "checkIn");
        assert_eq!(e[0]["entityType"], "CheckIn");
        assert_eq!(e[0]["entityId"], check_in.as_str());
        assert_eq!(e[0]["actor"], "executive-user");
        assert_eq!(e[0]["after"]["value"], "22");
        assert_eq!(e[0]["after"]["confidence"], 7);
        assert_eq!(audit_count(&app).await, total + 1);
    }
);
