//! Incremental sync end to end: `updatedSince` and change-ordered cursors on the fact lists,
//! with writes interleaved between pages; tombstones of removed rows and their expiry; role
//! rules and tenancy.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};
use tandem_api::Limits;
use tandem_tests::{TestApp, error_code, error_field, on_both_backends};

use crate::support::{define_metric, obs, on_both_backends_with, record};

/// No settle window, so rows written by a test are readable by the next request.
pub fn no_settle() -> Limits {
    Limits {
        sync_settle: Duration::ZERO,
        ..Limits::default()
    }
}

const EPOCH: &str = "1970-01-01T00:00:00Z";

const OBSERVATIONS: &str = r#"
query($since: DateTime, $first: Int, $after: String) {
  observations(updatedSince: $since, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage endCursor }
    edges { cursor node { id value updatedAt periodStart } }
  }
}"#;

/// Reads one page of observations in change order as `role`.
async fn page(app: &TestApp, since: Option<&str>, first: i64, after: Option<&str>) -> Value {
    app.ok(
        "bi",
        OBSERVATIONS,
        json!({ "since": since, "first": first, "after": after }),
    )
    .await["observations"]
        .clone()
}

/// (id, value) of every node of a page.
fn rows(page: &Value) -> Vec<(String, String)> {
    page["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| {
            (
                e["node"]["id"].as_str().expect("id").to_owned(),
                e["node"]["value"].as_str().expect("value").to_owned(),
            )
        })
        .collect()
}

fn day(n: u32) -> String {
    format!("2026-01-{n:02}")
}

on_both_backends_with!(
    a_saved_cursor_never_misses_or_repeats_a_row_while_writes_continue,
    no_settle(),
    8 * 1024 * 1024,
    |app: TestApp| async move {
        define_metric(&app, "arr", "FINANCIAL", "SUM").await;
        // Six values in one batch: they share one change time, so the id orders them.
        record(
            &app,
            (1..=6)
                .map(|d| obs("arr", &day(d), "DAY", &format!("{d}.00")))
                .collect(),
        )
        .await;
        let period_of = |page: &Value| -> Vec<String> {
            page["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["node"]["periodStart"].as_str().unwrap().to_owned())
                .collect()
        };

        let mut seen: Vec<(String, String)> = Vec::new();
        let mut changed_after_read: Vec<String> = Vec::new();
        let first = page(&app, Some(EPOCH), 2, None).await;
        assert_eq!(first["totalCount"], 6);
        assert_eq!(first["pageInfo"]["hasPreviousPage"], false);
        seen.extend(rows(&first));
        let read: Vec<String> = period_of(&first);
        let mut cursor = first["pageInfo"]["endCursor"].as_str().unwrap().to_owned();

        // Between pages: change a row already read, change one not read yet, add a new one.
        let unread = (1..=6).map(day).find(|d| !read.contains(d)).unwrap();
        record(
            &app,
            vec![
                obs("arr", &read[0], "DAY", "100.50"),
                obs("arr", &unread, "DAY", "600.25"),
                obs("arr", &day(7), "DAY", "7.00"),
            ],
        )
        .await;
        changed_after_read.push(read[0].clone());

        let mut pages = 1;
        loop {
            let next = page(&app, None, 2, Some(&cursor)).await;
            pages += 1;
            assert_eq!(next["pageInfo"]["hasPreviousPage"], true);
            seen.extend(rows(&next));
            cursor = next["pageInfo"]["endCursor"].as_str().unwrap().to_owned();
            if pages == 2 {
                // Another write mid-way, to a row this page just read.
                let just_read = period_of(&next)[0].clone();
                record(&app, vec![obs("arr", &just_read, "DAY", "333.333")]).await;
                changed_after_read.push(just_read);
            }
            if next["pageInfo"]["hasNextPage"] == false {
                break;
            }
            assert!(pages < 20, "paging does not end");
        }

        // Every row is read; a row is read again only when it changed after it was read,
        // and the last value read is the current one.
        let mut count: HashMap<&str, usize> = HashMap::new();
        let mut last: HashMap<&str, &str> = HashMap::new();
        for (id, value) in &seen {
            *count.entry(id).or_default() += 1;
            last.insert(id, value);
        }
        assert_eq!(count.len(), 7, "seven distinct rows: {seen:?}");
        let current = app
            .ok(
                "bi",
                "{ observations(first: 50) { nodes { id value periodStart } } }",
                json!({}),
            )
            .await;
        for node in current["observations"]["nodes"].as_array().unwrap() {
            let id = node["id"].as_str().unwrap();
            assert_eq!(
                last[id],
                node["value"].as_str().unwrap(),
                "latest value of {node}"
            );
            let start = node["periodStart"].as_str().unwrap().to_owned();
            let expected = if changed_after_read.contains(&start) {
                2
            } else {
                1
            };
            assert_eq!(count[id], expected, "times {start} was read");
        }
        // Nothing changed since the saved cursor: an empty page that keeps the position.
        let idle = page(&app, None, 10, Some(&cursor)).await;
        assert_eq!(rows(&idle).len(), 0);
        assert_eq!(
            idle["pageInfo"]["endCursor"].as_str(),
            Some(cursor.as_str())
        );
        // One new change: exactly that row.
        record(&app, vec![obs("arr", &day(2), "DAY", "2.50")]).await;
        let after = page(&app, None, 10, Some(&cursor)).await;
        let after_rows = rows(&after);
        assert_eq!(after_rows.len(), 1);
        assert_eq!(after_rows[0].1, "2.50");
    }
);

on_both_backends_with!(
    updated_since_keeps_rows_changed_at_or_after_it,
    no_settle(),
    8 * 1024 * 1024,
    |app: TestApp| async move {
        define_metric(&app, "arr", "FINANCIAL", "SUM").await;
        record(&app, vec![obs("arr", &day(1), "DAY", "1")]).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        record(&app, vec![obs("arr", &day(2), "DAY", "2")]).await;
        let all = page(&app, Some(EPOCH), 10, None).await;
        let second_at = all["edges"][1]["node"]["updatedAt"]
            .as_str()
            .unwrap()
            .to_owned();
        let since = page(&app, Some(&second_at), 10, None).await;
        assert_eq!(since["totalCount"], 1);
        assert_eq!(rows(&since)[0].1, "2");
        // In the future: nothing.
        let none = page(&app, Some("2999-01-01T00:00:00Z"), 10, None).await;
        assert_eq!(none["totalCount"], 0);
    }
);

on_both_backends!(
    changes_younger_than_the_settle_window_wait_for_the_next_read,
    |app: TestApp| async move {
        // Default limits: a change is handed out once it is 5 seconds old.
        define_metric(&app, "arr", "FINANCIAL", "SUM").await;
        record(&app, vec![obs("arr", &day(1), "DAY", "1")]).await;
        let fresh = page(&app, Some(EPOCH), 10, None).await;
        assert_eq!(fresh["totalCount"], 0);
        assert_eq!(fresh["pageInfo"]["endCursor"], Value::Null);
        let plain = app
            .ok("bi", "{ observations { totalCount } }", json!({}))
            .await;
        assert_eq!(plain["observations"]["totalCount"], 1);
    }
);

const GOAL: &str =
    r#"mutation($input: CreateGoalInput!) { createGoal(input: $input) { goal { id updatedAt } } }"#;
const OBJECTIVE: &str = r#"mutation($input: CreateObjectiveInput!) { createObjective(input: $input) { objective { id } } }"#;
const KEY_RESULT: &str = r#"mutation($input: CreateKeyResultInput!) { createKeyResult(input: $input) { keyResult { id } } }"#;
const CHECK_IN: &str =
    r#"mutation($input: CheckInInput!) { checkIn(input: $input) { checkIn { id } } }"#;

async fn goal(app: &TestApp, title: &str, perspective: &str) -> String {
    app.ok(
        "admin",
        GOAL,
        json!({ "input": { "title": title, "perspective": perspective,
            "periodStart": "2026-01-01", "periodEnd": "2026-12-31" } }),
    )
    .await["createGoal"]["goal"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A goal with an objective and a check-in key result; returns (goal, key result).
async fn okr(app: &TestApp) -> (String, String) {
    let g = goal(app, "Grow NRR", "FINANCIAL").await;
    let o = app
        .ok(
            "admin",
            OBJECTIVE,
            json!({ "input": { "goalId": g, "title": "Expand accounts",
                "periodStart": "2026-01-01", "periodEnd": "2026-03-31" } }),
        )
        .await["createObjective"]["objective"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let kr = app
        .ok(
            "admin",
            KEY_RESULT,
            json!({ "input": { "objectiveId": o, "title": "Expansion deals",
                "baseline": "0", "target": "10.5" } }),
        )
        .await["createKeyResult"]["keyResult"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    (g, kr)
}

on_both_backends_with!(
    goals_key_results_and_check_ins_sync_in_change_order,
    no_settle(),
    8 * 1024 * 1024,
    |app: TestApp| async move {
        let (g, kr) = okr(&app).await;
        let q = r#"query($since: DateTime, $after: String) {
            goals(updatedSince: $since, first: 1, after: $after) { totalCount pageInfo { hasNextPage endCursor } nodes { id title } }
            keyResults(updatedSince: $since) { totalCount nodes { id title target } }
            checkIns(updatedSince: $since) { totalCount nodes { id keyResultId value confidence } }
        }"#;
        let before = app.ok("member", q, json!({ "since": EPOCH })).await;
        assert_eq!(before["goals"]["totalCount"], 1);
        assert_eq!(before["keyResults"]["nodes"][0]["id"], kr);
        assert_eq!(before["keyResults"]["nodes"][0]["target"], "10.5");
        assert_eq!(before["checkIns"]["totalCount"], 0);
        let cursor = before["goals"]["pageInfo"]["endCursor"]
            .as_str()
            .unwrap()
            .to_owned();

        // Interleaved: a new goal, a renamed old one, a check-in.
        let g2 = goal(&app, "Cut time to value", "CUSTOMER").await;
        app.ok(
            "admin",
            r#"mutation($id: ID!) { updateGoal(input: { id: $id, title: "Grow NRR to 115%" }) { goal { id } } }"#,
            json!({ "id": g }),
        )
        .await;
        app.ok(
            "admin",
            CHECK_IN,
            json!({ "input": { "keyResultId": kr, "value": "3.25", "confidence": 7, "note": "two, \"big\" deals" } }),
        )
        .await;

        let mut titles = Vec::new();
        let mut after = Some(cursor);
        while let Some(c) = after.take() {
            let next = app.ok("member", q, json!({ "after": c })).await;
            for n in next["goals"]["nodes"].as_array().unwrap() {
                titles.push((
                    n["id"].as_str().unwrap().to_owned(),
                    n["title"].as_str().unwrap().to_owned(),
                ));
            }
            if next["goals"]["pageInfo"]["hasNextPage"] == true {
                after = next["goals"]["pageInfo"]["endCursor"]
                    .as_str()
                    .map(str::to_owned);
            }
        }
        assert_eq!(
            titles,
            vec![
                (g2.clone(), "Cut time to value".to_owned()),
                (g.clone(), "Grow NRR to 115%".to_owned())
            ]
        );
        let now = app.ok("member", q, json!({ "since": EPOCH })).await;
        let check_in = &now["checkIns"]["nodes"][0];
        assert_eq!(check_in["keyResultId"], kr);
        assert_eq!(check_in["value"], "3.25");
        assert_eq!(check_in["confidence"], 7);
    }
);

on_both_backends_with!(
    change_order_arguments_are_checked,
    no_settle(),
    8 * 1024 * 1024,
    |app: TestApp| async move {
        define_metric(&app, "arr", "FINANCIAL", "SUM").await;
        record(
            &app,
            vec![
                obs("arr", &day(1), "DAY", "1"),
                obs("arr", &day(2), "DAY", "2"),
            ],
        )
        .await;
        let body = app
            .gql(
                "bi",
                "query($s: DateTime) { observations(updatedSince: $s, last: 1) { totalCount } }",
                json!({ "s": EPOCH }),
            )
            .await;
        assert_eq!(error_code(&body).as_deref(), Some("BAD_USER_INPUT"));
        assert_eq!(error_field(&body).as_deref(), Some("last"));
        let offset = app
            .ok(
                "bi",
                "{ observations(first: 1) { pageInfo { endCursor } } }",
                json!({}),
            )
            .await["observations"]["pageInfo"]["endCursor"]
            .clone();
        let body = app
            .gql("bi", "query($s: DateTime, $a: String) { observations(updatedSince: $s, after: $a) { totalCount } }", json!({ "s": EPOCH, "a": offset }))
            .await;
        assert_eq!(error_field(&body).as_deref(), Some("after"));
        let body = app
            .gql(
                "bi",
                "{ observations(updatedSince: \"yesterday\") { totalCount } }",
                json!({}),
            )
            .await;
        assert_eq!(error_code(&body).as_deref(), Some("BAD_USER_INPUT"));
        let body = app
            .gql(
                "bi",
                "{ tombstones(dataset: \"nope\") { totalCount } }",
                json!({}),
            )
            .await;
        assert_eq!(error_field(&body).as_deref(), Some("dataset"));
    }
);

on_both_backends_with!(
    sync_lists_follow_role_rules_and_tenancy,
    no_settle(),
    8 * 1024 * 1024,
    |app: TestApp| async move {
        define_metric(&app, "arr", "FINANCIAL", "SUM").await;
        record(&app, vec![obs("arr", &day(1), "DAY", "1")]).await;
        okr(&app).await;
        let q = r#"query($s: DateTime) {
            observations(updatedSince: $s) { totalCount }
            goals(updatedSince: $s) { totalCount }
            keyResults(updatedSince: $s) { totalCount }
            checkIns(updatedSince: $s) { totalCount }
            tombstones(updatedSince: $s) { totalCount }
        }"#;
        for role in [
            "admin",
            "executive",
            "finance",
            "revops",
            "hr",
            "manager",
            "member",
            "bi",
        ] {
            let data = app.ok(role, q, json!({ "s": EPOCH })).await;
            assert_eq!(data["observations"]["totalCount"], 1, "{role}");
            assert_eq!(data["keyResults"]["totalCount"], 1, "{role}");
        }
        for field in [
            "observations",
            "goals",
            "keyResults",
            "checkIns",
            "tombstones",
        ] {
            let body = app
                .gql(
                    "hr_sync",
                    &format!("{{ {field}(updatedSince: \"{EPOCH}\") {{ totalCount }} }}"),
                    json!({}),
                )
                .await;
            assert_eq!(error_code(&body).as_deref(), Some("FORBIDDEN"), "{field}");
        }
        let body = app
            .gql_with(None, "{ keyResults { totalCount } }", json!({}))
            .await;
        assert_eq!(error_code(&body).as_deref(), Some("UNAUTHENTICATED"));
        // Another organization sees none of these rows.
        let other = app.create_org("Other").await;
        let token = app.token_for(other, "bi-user", &["bi"]);
        let body = app.gql_with(Some(&token), q, json!({ "s": EPOCH })).await;
        for field in [
            "observations",
            "goals",
            "keyResults",
            "checkIns",
            "tombstones",
        ] {
            assert_eq!(body["data"][field]["totalCount"], 0, "{field}: {body}");
        }
    }
);

const TOMBSTONES: &str = r#"
query($d: String, $s: DateTime, $a: String) {
  tombstones(dataset: $d, updatedSince: $s, after: $a) {
    totalCount pageInfo { endCursor } nodes { dataset entityId naturalKey removedAt }
  }
}"#;

on_both_backends_with!(
    removals_leave_tombstones_in_removal_order,
    no_settle(),
    8 * 1024 * 1024,
    |app: TestApp| async move {
        // A goal link removed.
        let a = goal(&app, "Grow NRR", "FINANCIAL").await;
        let b = goal(&app, "Onboard faster", "CUSTOMER").await;
        app.ok(
            "admin",
            r#"mutation($a: ID!, $b: ID!) { linkGoals(input: { goalId: $a, otherGoalId: $b, rationale: "r" }) { __typename } }"#,
            json!({ "a": a, "b": b }),
        )
        .await;
        let empty = app.ok("bi", TOMBSTONES, json!({})).await;
        assert_eq!(empty["tombstones"]["totalCount"], 0);
        app.ok(
            "admin",
            r#"mutation($a: ID!, $b: ID!) { unlinkGoals(input: { goalId: $a, otherGoalId: $b }) { __typename } }"#,
            json!({ "a": a, "b": b }),
        )
        .await;
        let first = app.ok("bi", TOMBSTONES, json!({})).await["tombstones"].clone();
        assert_eq!(first["totalCount"], 1);
        assert_eq!(first["nodes"][0]["dataset"], "goal_links");
        assert!(
            first["nodes"][0]["entityId"]
                .as_str()
                .unwrap()
                .contains(':')
        );
        let cursor = first["pageInfo"]["endCursor"].as_str().unwrap().to_owned();

        // A metric retired.
        let metric = define_metric(&app, "legacy_mrr", "FINANCIAL", "SUM").await;
        app.ok(
            "revops",
            r#"mutation($id: ID!) { retireMetric(input: { id: $id }) { metric { status } } }"#,
            json!({ "id": metric }),
        )
        .await;
        // A role taken away and a person deactivated by the HR system.
        let sync = crate::hr_sync::SYNC;
        let roster = |roles: Value, mode: &str, people: Value| {
            json!({ "input": { "mode": mode,
                "roles": roles, "people": people } })
        };
        app.ok(
            "hr_sync",
            sync,
            roster(
                json!([{ "key": "ae", "name": "AE" }]),
                "INCREMENTAL",
                json!([{ "externalId": "E1", "name": "Ana", "roleKeys": ["ae"] },
                       { "externalId": "E2", "name": "Bo" }]),
            ),
        )
        .await;
        app.ok(
            "hr_sync",
            sync,
            roster(
                json!([{ "key": "ae", "name": "AE" }]),
                "FULL_ROSTER",
                json!([{ "externalId": "E1", "name": "Ana", "roleKeys": [] }]),
            ),
        )
        .await;

        // Resuming from the saved cursor gives only the later removals, in order.
        let later = app.ok("bi", TOMBSTONES, json!({ "a": cursor })).await["tombstones"].clone();
        let got: Vec<(String, String)> = later["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| {
                (
                    n["dataset"].as_str().unwrap().to_owned(),
                    n["naturalKey"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("metrics".to_owned(), "legacy_mrr".to_owned()),
                ("person_roles".to_owned(), "E1:ae".to_owned()),
                ("people".to_owned(), "E2".to_owned()),
            ]
        );
        let people = app.ok("bi", TOMBSTONES, json!({ "d": "people" })).await;
        assert_eq!(people["tombstones"]["totalCount"], 1);
    }
);

on_both_backends_with!(
    replaced_scorecard_items_leave_tombstones,
    no_settle(),
    8 * 1024 * 1024,
    |app: TestApp| async move {
        define_metric(&app, "arr", "FINANCIAL", "SUM").await;
        define_metric(&app, "nps", "CUSTOMER", "AVERAGE").await;
        let assign = |items: Value| {
            json!({ "input": { "roles": [{ "key": "ae", "name": "AE" }],
                "assignments": [{ "roleKey": "ae", "items": items }] } })
        };
        let item = |key: &str| json!({ "metricKey": key, "weight": "0.5", "target": "10", "green": "10", "amber": "5" });
        app.ok(
            "hr",
            crate::hr_sync::SYNC,
            assign(json!([item("arr"), item("nps")])),
        )
        .await;
        let none = app
            .ok("bi", TOMBSTONES, json!({ "d": "scorecard_items" }))
            .await;
        assert_eq!(none["tombstones"]["totalCount"], 0);
        app.ok("hr", crate::hr_sync::SYNC, assign(json!([item("arr")])))
            .await;
        let replaced = app
            .ok("bi", TOMBSTONES, json!({ "d": "scorecard_items" }))
            .await;
        // Both old items are gone (the kept KPI is a new row with a new id).
        assert_eq!(replaced["tombstones"]["totalCount"], 2);
    }
);

on_both_backends_with!(
    tombstones_expire_after_the_retention_window,
    Limits {
        sync_settle: Duration::ZERO,
        tombstone_retention: Duration::from_secs(2),
        ..Limits::default()
    },
    8 * 1024 * 1024,
    |app: TestApp| async move {
        let metric = define_metric(&app, "legacy", "FINANCIAL", "SUM").await;
        app.ok(
            "revops",
            r#"mutation($id: ID!) { retireMetric(input: { id: $id }) { metric { status } } }"#,
            json!({ "id": metric }),
        )
        .await;
        let listed = app.ok("bi", TOMBSTONES, json!({ "s": EPOCH })).await;
        assert_eq!(listed["tombstones"]["totalCount"], 1);
        tokio::time::sleep(Duration::from_millis(2_200)).await;
        let expired = app.ok("bi", TOMBSTONES, json!({ "s": EPOCH })).await;
        assert_eq!(expired["tombstones"]["totalCount"], 0);
        // The purge deletes what the list no longer shows.
        let cutoff = chrono::Utc::now() - chrono::Duration::seconds(2);
        assert_eq!(app.store.purge_tombstones(cutoff).await.unwrap(), 1);
        assert_eq!(app.store.purge_tombstones(cutoff).await.unwrap(), 0);
    }
);

const ACCOUNTS: &str = r#"
query($since: DateTime, $first: Int, $after: String) {
  accounts(updatedSince: $since, first: $first, after: $after) {
    pageInfo { hasNextPage endCursor }
    nodes { externalId arr segment { key } }
  }
  revenueMovements(updatedSince: $since, first: 10) {
    nodes { externalId amount account { externalId } }
  }
}"#;

on_both_backends_with!(
    accounts_and_movements_sync_in_change_order_and_export_exactly,
    no_settle(),
    8 * 1024 * 1024,
    |app: TestApp| async move {
        app.ok(
            "revops",
            r#"mutation { createSegment(input: { key: "ent", name: "Enterprise" }) { segment { id } } }"#,
            json!({}),
        )
        .await;
        let upsert = "mutation($a: [AccountInput!]!) { upsertAccounts(input: { accounts: $a }) { created updated } }";
        app.ok(
            "revops",
            upsert,
            json!({ "a": [
                { "externalId": "A", "name": "Acme", "segmentKey": "ent", "arr": "12345678901234.123456789", "risk": "GREEN" },
                { "externalId": "B", "name": "Beta, \"the\" one", "arr": "10", "risk": "RED" }
            ] }),
        )
        .await;
        app.ok(
            "finance",
            "mutation($m: [RevenueMovementInput!]!) { recordRevenueMovements(input: { movements: $m }) { created } }",
            json!({ "m": [{ "externalId": "e1", "accountExternalId": "A", "effectiveOn": "2026-01-05", "kind": "NEW", "amount": "100.10" }] }),
        )
        .await;
        let first = app
            .ok("bi", ACCOUNTS, json!({ "since": EPOCH, "first": 10 }))
            .await;
        let ids: Vec<&str> = first["accounts"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["externalId"].as_str().unwrap())
            .collect();
        assert_eq!(ids.len(), 2, "{first:#}");
        assert_eq!(
            first["revenueMovements"]["nodes"][0]["account"]["externalId"],
            "A"
        );
        assert_eq!(first["revenueMovements"]["nodes"][0]["amount"], "100.10");
        let cursor = first["accounts"]["pageInfo"]["endCursor"]
            .as_str()
            .unwrap()
            .to_owned();
        // Nothing changed: the saved cursor reads nothing new.
        let again = app
            .ok("bi", ACCOUNTS, json!({ "first": 10, "after": cursor }))
            .await;
        assert_eq!(again["accounts"]["nodes"], json!([]), "{again:#}");
        // B changes: only B comes back after the cursor, with its new ARR.
        tokio::time::sleep(Duration::from_millis(5)).await;
        app.ok(
            "revops",
            upsert,
            json!({ "a": [{ "externalId": "B", "name": "Beta, \"the\" one", "arr": "20.5", "risk": "RED" }] }),
        )
        .await;
        let next = app
            .ok("bi", ACCOUNTS, json!({ "first": 10, "after": cursor }))
            .await;
        assert_eq!(
            next["accounts"]["nodes"],
            json!([{ "externalId": "B", "arr": "20.5", "segment": null }])
        );
        // Export: RFC 4180 quoting, exact decimals, the segment key joined in.
        let token = app.token(&["bi"]);
        let res = app
            .client()
            .get(app.url("/export/accounts.csv?columns=external_id,name,segment_key,arr"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 200);
        let body = res.text().await.unwrap();
        assert!(
            body.contains("A,Acme,ent,12345678901234.123456789\r\n"),
            "{body}"
        );
        assert!(
            body.contains("B,\"Beta, \"\"the\"\" one\",,20.5\r\n"),
            "{body}"
        );
        let res = app
            .client()
            .get(app.url(
                "/export/revenue_movements.ndjson?columns=external_id,account_external_id,amount",
            ))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        let body = res.text().await.unwrap();
        let (rows, resume) = crate::export::split_resume(&body);
        assert!(resume.is_some(), "{body}");
        let line: Value = serde_json::from_str(rows.trim()).unwrap();
        assert_eq!(
            line,
            json!({ "external_id": "e1", "account_external_id": "A", "amount": "100.10" })
        );
    }
);
