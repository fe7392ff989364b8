//! Concurrent bulk writers: 20 callers sending overlapping batches at once. Every call succeeds,
//! the created/updated/unchanged counts of all callers add up to what the database holds, and
//! the audit trail has exactly one event per row a caller reports as changed, under that
//! caller's name.

use std::collections::HashSet;

use futures::future::join_all;
use serde_json::{Value, json};
use tandem_tests::{TestApp, on_both_backends};

use crate::support::{RECORD, define_metric, obs};

/// How many callers write at once.
const WRITERS: usize = 20;

const UPSERT_ACCOUNTS: &str = r#"
mutation($a: [AccountInput!]!) {
  upsertAccounts(input: { accounts: $a }) { created updated unchanged }
}"#;

const RECORD_MOVEMENTS: &str = r#"
mutation($m: [RevenueMovementInput!]!) {
  recordRevenueMovements(input: { movements: $m }) { created updated unchanged }
}"#;

const SYNC: &str = r#"
mutation($input: HrSyncInput!) {
  syncHr(input: $input) {
    changed
    teams { created updated unchanged deactivated }
    people { created updated unchanged deactivated }
    changes { entity key action }
  }
}"#;

const ASSIGN: &str = r#"
mutation($input: RoleKpiAssignmentInput!) {
  assignRoleKpis(input: $input) { changed scorecard { items { nodes { metric { key } target } } } }
}"#;

/// The subject of writer `i`; each writer's audit events carry it.
fn writer(i: usize) -> String {
    format!("writer-{i}@acme.example")
}

/// Sends one request per writer at the same time, writer `i` as [`writer`]`(i)` with `role`
/// and the variables `variables(i)`; fails the test on any error; returns the `field` of each
/// response's data, in writer order.
async fn all_at_once(
    app: &TestApp,
    role: &str,
    query: &str,
    field: &str,
    variables: impl Fn(usize) -> Value,
) -> Vec<Value> {
    let calls = (0..WRITERS).map(|i| {
        let token = app.token_for(app.org_id, &writer(i), &[role]);
        let vars = variables(i);
        async move { app.gql_with(Some(&token), query, vars).await }
    });
    join_all(calls)
        .await
        .into_iter()
        .map(|body| {
            assert!(body.get("errors").is_none(), "a writer failed: {body:#}");
            body["data"][field].clone()
        })
        .collect()
}

/// How many audit events name `actor` as who made the change.
async fn audit_events_by(app: &TestApp, actor: &str) -> i64 {
    let data = app
        .ok(
            "admin",
            "query($f: AuditFilterInput) { auditEvents(filter: $f) { totalCount } }",
            json!({ "f": { "actor": actor } }),
        )
        .await;
    data["auditEvents"]["totalCount"]
        .as_i64()
        .expect("totalCount")
}

/// The entity ids of every audit event, paging through the trail.
async fn audited_entity_ids(app: &TestApp) -> Vec<String> {
    let mut ids = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let data = app
            .ok(
                "admin",
                "query($after: String) { auditEvents(first: 500, after: $after) {
                   nodes { entityId } pageInfo { hasNextPage endCursor } } }",
                json!({ "after": after }),
            )
            .await;
        let page = &data["auditEvents"];
        ids.extend(
            page["nodes"]
                .as_array()
                .expect("nodes")
                .iter()
                .filter_map(|n| n["entityId"].as_str().map(str::to_owned)),
        );
        if page["pageInfo"]["hasNextPage"] != true {
            return ids;
        }
        after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
}

/// A count field of a payload.
fn n(payload: &Value, field: &str) -> i64 {
    payload[field].as_i64().expect("a count")
}

/// Sums a count field over the payloads.
fn total(payloads: &[Value], field: &str) -> i64 {
    payloads.iter().map(|p| n(p, field)).sum()
}

/// Checks that each writer has exactly as many audit events as it reported changes
/// (`changes(payload)`), and returns the sum.
async fn assert_one_event_per_reported_change(
    app: &TestApp,
    payloads: &[Value],
    changes: impl Fn(&Value) -> i64,
) -> i64 {
    let mut sum = 0;
    for (i, payload) in payloads.iter().enumerate() {
        let reported = changes(payload);
        assert_eq!(
            audit_events_by(app, &writer(i)).await,
            reported,
            "writer {i} reported {payload:#} but its audit events differ"
        );
        sum += reported;
    }
    sum
}

/// The batch of writer `i` in an overlapping window over the keys `0..`: keys `5i` to
/// `5i + 99`, so neighbouring writers share most of their keys.
fn window(i: usize) -> std::ops::Range<usize> {
    5 * i..5 * i + 100
}

/// Distinct keys of all windows.
fn window_keys() -> usize {
    window(WRITERS - 1).end
}

/// The day `k` days after 1 January 2026.
fn day(k: usize) -> String {
    let start = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).expect("date");
    (start + chrono::Days::new(k as u64)).to_string()
}

on_both_backends!(
    concurrent_identical_observation_batches_create_each_row_once,
    |app: TestApp| async move {
        define_metric(&app, "signups", "CUSTOMER", "SUM").await;
        let payloads = all_at_once(&app, "revops", RECORD, "recordObservations", |i| {
            let rows: Vec<Value> = window(i)
                .map(|k| obs("signups", &day(k), "DAY", &format!("{k}")))
                .collect();
            json!({ "o": rows })
        })
        .await;
        let held = app
            .ok(
                "bi",
                "{ observations(first: 500) { totalCount nodes { id periodStart value } } }",
                json!({}),
            )
            .await;
        let held = &held["observations"];
        assert_eq!(held["totalCount"], window_keys(), "{held:#}");
        assert_eq!(
            total(&payloads, "created"),
            window_keys() as i64,
            "{payloads:#?}"
        );
        assert_eq!(total(&payloads, "updated"), 0, "{payloads:#?}");
        assert_eq!(
            total(&payloads, "unchanged"),
            (WRITERS * 100 - window_keys()) as i64
        );
        let audited = assert_one_event_per_reported_change(&app, &payloads, |p| {
            n(p, "created") + n(p, "updated")
        })
        .await;
        assert_eq!(audited, window_keys() as i64);
        // Every audit event names a row that exists, and no row is named twice.
        let rows: HashSet<String> = held["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .map(|n| n["id"].as_str().expect("id").to_owned())
            .collect();
        let named = audited_entity_ids(&app).await;
        let observation_events: Vec<&String> =
            named.iter().filter(|id| rows.contains(*id)).collect();
        assert_eq!(observation_events.len(), window_keys());
        assert_eq!(
            observation_events.iter().collect::<HashSet<_>>().len(),
            window_keys()
        );
    }
);

on_both_backends!(
    concurrent_observation_batches_with_different_values_leave_one_writers_values,
    |app: TestApp| async move {
        define_metric(&app, "signups", "CUSTOMER", "SUM").await;
        let payloads = all_at_once(&app, "revops", RECORD, "recordObservations", |i| {
            let rows: Vec<Value> = (0..100)
                .map(|k| obs("signups", &day(k), "DAY", &format!("{}", 1000 * i + k)))
                .collect();
            json!({ "o": rows })
        })
        .await;
        assert_eq!(total(&payloads, "created"), 100, "{payloads:#?}");
        let values = app
            .ok(
                "bi",
                "{ observations(first: 500) { totalCount nodes { periodStart value } } }",
                json!({}),
            )
            .await;
        let nodes = values["observations"]["nodes"].as_array().expect("nodes");
        assert_eq!(nodes.len(), 100);
        // The last batch to run wrote every row: all values come from one writer.
        let writers: HashSet<i64> = nodes
            .iter()
            .map(|n| {
                n["value"]
                    .as_str()
                    .expect("value")
                    .parse::<i64>()
                    .expect("int")
                    / 1000
            })
            .collect();
        assert_eq!(writers.len(), 1, "values of several writers: {values:#}");
        assert!(writers.iter().all(|w| (0..WRITERS as i64).contains(w)));
        let changed = assert_one_event_per_reported_change(&app, &payloads, |p| {
            n(p, "created") + n(p, "updated")
        })
        .await;
        assert_eq!(
            changed + total(&payloads, "unchanged"),
            (WRITERS * 100) as i64
        );
    }
);

/// Account `k` as writer `version` sends it.
fn account(k: usize, version: usize) -> Value {
    json!({
        "externalId": format!("A-{k:04}"), "name": format!("Account {k} v{version}"),
        "arr": "1200", "risk": "GREEN"
    })
}

on_both_backends!(
    concurrent_identical_account_upserts_create_each_account_once,
    |app: TestApp| async move {
        let payloads = all_at_once(
            &app,
            "revops",
            UPSERT_ACCOUNTS,
            "upsertAccounts",
            |i| json!({ "a": window(i).map(|k| account(k, 0)).collect::<Vec<_>>() }),
        )
        .await;
        let held = app.ok("bi", "{ accounts { totalCount } }", json!({})).await;
        assert_eq!(held["accounts"]["totalCount"], window_keys());
        assert_eq!(total(&payloads, "created"), window_keys() as i64);
        assert_eq!(total(&payloads, "updated"), 0);
        let audited = assert_one_event_per_reported_change(&app, &payloads, |p| {
            n(p, "created") + n(p, "updated")
        })
        .await;
        assert_eq!(audited, window_keys() as i64);
    }
);

on_both_backends!(
    concurrent_account_upserts_with_different_values_leave_one_writers_values,
    |app: TestApp| async move {
        let payloads = all_at_once(
            &app,
            "revops",
            UPSERT_ACCOUNTS,
            "upsertAccounts",
            |i| json!({ "a": (0..100).map(|k| account(k, i)).collect::<Vec<_>>() }),
        )
        .await;
        assert_eq!(total(&payloads, "created"), 100);
        let held = app
            .ok(
                "bi",
                "{ accounts(first: 500) { nodes { name } } }",
                json!({}),
            )
            .await;
        let versions: HashSet<String> = held["accounts"]["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .map(|n| {
                let name = n["name"].as_str().expect("name");
                name.rsplit_once(' ').expect("version").1.to_owned()
            })
            .collect();
        assert_eq!(versions.len(), 1, "names of several writers: {held:#}");
        let changed = assert_one_event_per_reported_change(&app, &payloads, |p| {
            n(p, "created") + n(p, "updated")
        })
        .await;
        assert_eq!(
            changed + total(&payloads, "unchanged"),
            (WRITERS * 100) as i64
        );
    }
);

/// Movement `k` (on one of ten accounts) with `amount`.
fn movement(k: usize, amount: usize) -> Value {
    json!({
        "externalId": format!("EV-{k:04}"), "accountExternalId": format!("A-{:04}", k % 10),
        "effectiveOn": day(k), "kind": "EXPANSION", "amount": amount.to_string()
    })
}

/// Creates the ten accounts movements are recorded against.
async fn ten_accounts(app: &TestApp) {
    app.ok(
        "revops",
        UPSERT_ACCOUNTS,
        json!({ "a": (0..10).map(|k| account(k, 0)).collect::<Vec<_>>() }),
    )
    .await;
}

on_both_backends!(
    concurrent_identical_movement_batches_record_each_movement_once,
    |app: TestApp| async move {
        ten_accounts(&app).await;
        let payloads = all_at_once(
            &app,
            "finance",
            RECORD_MOVEMENTS,
            "recordRevenueMovements",
            |i| json!({ "m": window(i).map(|k| movement(k, 10)).collect::<Vec<_>>() }),
        )
        .await;
        let held = app
            .ok("bi", "{ revenueMovements { totalCount } }", json!({}))
            .await;
        assert_eq!(held["revenueMovements"]["totalCount"], window_keys());
        assert_eq!(total(&payloads, "created"), window_keys() as i64);
        assert_eq!(total(&payloads, "updated"), 0);
        let audited = assert_one_event_per_reported_change(&app, &payloads, |p| {
            n(p, "created") + n(p, "updated")
        })
        .await;
        assert_eq!(audited, window_keys() as i64);
    }
);

on_both_backends!(
    concurrent_movement_batches_with_different_values_leave_one_writers_values,
    |app: TestApp| async move {
        ten_accounts(&app).await;
        let payloads = all_at_once(
            &app,
            "finance",
            RECORD_MOVEMENTS,
            "recordRevenueMovements",
            |i| json!({ "m": (0..100).map(|k| movement(k, i + 1)).collect::<Vec<_>>() }),
        )
        .await;
        assert_eq!(total(&payloads, "created"), 100);
        let held = app
            .ok(
                "bi",
                "{ revenueMovements(first: 500) { nodes { amount } } }",
                json!({}),
            )
            .await;
        let amounts: HashSet<String> = held["revenueMovements"]["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .map(|n| n["amount"].as_str().expect("amount").to_owned())
            .collect();
        assert_eq!(amounts.len(), 1, "amounts of several writers: {held:#}");
        let changed = assert_one_event_per_reported_change(&app, &payloads, |p| {
            n(p, "created") + n(p, "updated")
        })
        .await;
        assert_eq!(
            changed + total(&payloads, "unchanged"),
            (WRITERS * 100) as i64
        );
    }
);

/// A roster of five teams and the people `keys`, named as writer `version` sends them.
fn roster(keys: std::ops::Range<usize>, version: usize) -> Value {
    let teams: Vec<Value> = (0..5)
        .map(|t| json!({ "externalId": format!("T-{t}"), "name": format!("Team {t}") }))
        .collect();
    let people: Vec<Value> = keys
        .map(|k| {
            json!({
                "externalId": format!("P-{k:04}"), "name": format!("Person {k} v{version}"),
                "email": format!("p{k}@acme.example"), "teamExternalId": format!("T-{}", k % 5)
            })
        })
        .collect();
    json!({ "input": { "teams": teams, "people": people } })
}

/// Created, updated and deactivated records a sync reports, teams and people together.
fn sync_changes(p: &Value) -> i64 {
    ["teams", "people"]
        .iter()
        .map(|kind| n(&p[kind], "created") + n(&p[kind], "updated") + n(&p[kind], "deactivated"))
        .sum()
}

on_both_backends!(
    concurrent_identical_hr_syncs_create_each_record_once,
    |app: TestApp| async move {
        let payloads = all_at_once(&app, "hr_sync", SYNC, "syncHr", |i| roster(window(i), 0)).await;
        let people: Vec<Value> = payloads.iter().map(|p| p["people"].clone()).collect();
        let teams: Vec<Value> = payloads.iter().map(|p| p["teams"].clone()).collect();
        assert_eq!(total(&people, "created"), window_keys() as i64);
        assert_eq!(total(&people, "updated"), 0);
        assert_eq!(total(&teams, "created"), 5);
        assert_eq!(total(&teams, "updated"), 0);
        let held = app.ok("hr", "{ people { totalCount } }", json!({})).await;
        assert_eq!(held["people"]["totalCount"], window_keys());
        for p in &payloads {
            let listed = p["changes"].as_array().expect("changes").len() as i64;
            assert_eq!(listed, sync_changes(p), "{p:#}");
        }
        let audited = assert_one_event_per_reported_change(&app, &payloads, sync_changes).await;
        assert_eq!(audited, window_keys() as i64 + 5);
    }
);

on_both_backends!(
    concurrent_hr_syncs_with_different_values_leave_one_writers_values,
    |app: TestApp| async move {
        let payloads = all_at_once(&app, "hr_sync", SYNC, "syncHr", |i| roster(0..100, i)).await;
        let people: Vec<Value> = payloads.iter().map(|p| p["people"].clone()).collect();
        assert_eq!(total(&people, "created"), 100);
        let held = app
            .ok("hr", "{ people(first: 500) { nodes { name } } }", json!({}))
            .await;
        let versions: HashSet<String> = held["people"]["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .map(|n| {
                let name = n["name"].as_str().expect("name");
                name.rsplit_once(' ').expect("version").1.to_owned()
            })
            .collect();
        assert_eq!(versions.len(), 1, "names of several writers: {held:#}");
        let teams: Vec<Value> = payloads.iter().map(|p| p["teams"].clone()).collect();
        assert_eq!(total(&teams, "created"), 5);
        for p in &people {
            assert_eq!(n(p, "created") + n(p, "updated") + n(p, "unchanged"), 100);
        }
        assert_one_event_per_reported_change(&app, &payloads, sync_changes).await;
    }
);

/// Defines the metrics and the role that KPI assignments use.
async fn role_with_metrics(app: &TestApp) {
    define_metric(app, "revenue", "FINANCIAL", "SUM").await;
    define_metric(app, "csat", "CUSTOMER", "LAST").await;
    app.ok(
        "admin",
        "mutation($input: JobRoleInput!) { upsertJobRole(input: $input) { jobRole { id } } }",
        json!({ "input": { "key": "csm", "name": "Customer Success Manager" } }),
    )
    .await;
}

/// The role KPI assignment writer `version` sends.
fn assignment(version: usize) -> Value {
    let target = (90 + version).to_string();
    json!({ "input": { "roleKey": "csm", "items": [
        { "metricKey": "revenue", "weight": "0.5", "target": "100000", "green": "100000", "amber": "80000" },
        { "metricKey": "csat", "weight": "0.5", "target": target, "green": target, "amber": "80" }
    ] } })
}

on_both_backends!(
    concurrent_identical_role_kpi_assignments_change_the_scorecard_once,
    |app: TestApp| async move {
        role_with_metrics(&app).await;
        let payloads =
            all_at_once(&app, "admin", ASSIGN, "assignRoleKpis", |_| assignment(0)).await;
        let changed: Vec<usize> = (0..WRITERS)
            .filter(|i| payloads[*i]["changed"] == true)
            .collect();
        assert_eq!(changed.len(), 1, "{payloads:#?}");
        for (i, p) in payloads.iter().enumerate() {
            let events = audit_events_by(&app, &writer(i)).await;
            assert_eq!(events > 0, p["changed"] == true, "writer {i}: {p:#}");
            assert_eq!(
                p["scorecard"]["items"]["nodes"].as_array().map(Vec::len),
                Some(2),
                "{p:#}"
            );
        }
    }
);

on_both_backends!(
    concurrent_role_kpi_assignments_with_different_values_leave_one_writers_items,
    |app: TestApp| async move {
        role_with_metrics(&app).await;
        let payloads = all_at_once(&app, "admin", ASSIGN, "assignRoleKpis", assignment).await;
        for (i, p) in payloads.iter().enumerate() {
            let events = audit_events_by(&app, &writer(i)).await;
            assert_eq!(events > 0, p["changed"] == true, "writer {i}: {p:#}");
        }
        let held = app
            .ok(
                "admin",
                "{ scorecards(first: 10) { nodes { items { nodes { metric { key } target } } } } }",
                json!({}),
            )
            .await;
        let cards = held["scorecards"]["nodes"].as_array().expect("nodes");
        assert_eq!(cards.len(), 1, "{held:#}");
        let items = cards[0]["items"]["nodes"].as_array().expect("items");
        assert_eq!(items.len(), 2, "items of several writers: {held:#}");
        let csat = items
            .iter()
            .find(|i| i["metric"]["key"] == "csat")
            .expect("csat item");
        let target: usize = csat["target"]
            .as_str()
            .expect("target")
            .parse()
            .expect("int");
        assert!((90..90 + WRITERS).contains(&target), "{held:#}");
    }
);

on_both_backends!(
    concurrent_scorecard_updates_with_different_items_leave_one_writers_items,
    |app: TestApp| async move {
        role_with_metrics(&app).await;
        let items = |version: usize| assignment(version)["input"]["items"].clone();
        let defined = app
            .ok(
                "admin",
                "mutation($input: DefineScorecardInput!) { defineScorecard(input: $input) { scorecard { id } } }",
                json!({ "input": { "name": "Company", "ownerKind": "COMPANY", "items": items(0) } }),
            )
            .await;
        let id = defined["defineScorecard"]["scorecard"]["id"].clone();
        let payloads = all_at_once(
            &app,
            "admin",
            "mutation($input: UpdateScorecardInput!) {
               updateScorecard(input: $input) { scorecard { items { totalCount } } } }",
            "updateScorecard",
            |i| json!({ "input": { "id": id, "items": items(i + 1) } }),
        )
        .await;
        for (i, p) in payloads.iter().enumerate() {
            assert_eq!(
                p["scorecard"]["items"]["totalCount"], 2,
                "writer {i}: {p:#}"
            );
            assert_eq!(audit_events_by(&app, &writer(i)).await, 1, "writer {i}");
        }
        let held = app
            .ok(
                "admin",
                "query($id: ID!) { node(id: $id) { ... on Scorecard {
                   items { nodes { metric { key } target } } } } }",
                json!({ "id": id }),
            )
            .await;
        let items = held["node"]["items"]["nodes"].as_array().expect("items");
        assert_eq!(items.len(), 2, "items of several writers: {held:#}");
        let target: usize = items
            .iter()
            .find(|i| i["metric"]["key"] == "csat")
            .and_then(|i| i["target"].as_str())
            .expect("csat target")
            .parse()
            .expect("int");
        assert!((91..91 + WRITERS).contains(&target), "{held:#}");
    }
);
