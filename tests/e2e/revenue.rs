//! Accounts and MRR movements: idempotent all-or-nothing bulk writes with every problem listed,
//! who may write them, tenant isolation, net and gross revenue retention from worked tables,
//! and ARR exposure by risk, segment and renewal window.

use std::collections::BTreeMap;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::{Value, json};
use tandem_api::Limits;
use tandem_tests::{TestApp, error_code, error_field, on_both_backends};

use crate::support::{audit_count, create_segment, on_both_backends_with};

const UPSERT: &str = r#"
mutation($a: [AccountInput!]!, $dry: Boolean! = false) {
  upsertAccounts(input: { accounts: $a, dryRun: $dry }) { created updated unchanged dryRun }
}"#;

const MOVE: &str = r#"
mutation($m: [RevenueMovementInput!]!, $dry: Boolean! = false) {
  recordRevenueMovements(input: { movements: $m, dryRun: $dry }) { created updated unchanged dryRun }
}"#;

const ACCOUNTS: &str = r#"
query($f: AccountFilterInput) {
  accounts(filter: $f, first: 100) {
    totalCount
    nodes { id externalId name startedOn renewsOn arr healthScore risk segment { key } }
  }
}"#;

const MOVEMENTS: &str = r#"
query($f: RevenueMovementFilterInput) {
  revenueMovements(filter: $f, first: 100) {
    totalCount
    nodes { id externalId effectiveOn kind amount recordedBy account { externalId } }
  }
}"#;

const RETENTION: &str = r#"
query($input: RevenueRetentionInput!) {
  revenueRetention(input: $input) {
    periodStart periodEnd segment { key }
    startingMrr expansionMrr contractionMrr churnedMrr nrr grr reason
  }
}"#;

const EXPOSURE: &str = r#"
query($input: ArrExposureInput) {
  arrExposure(input: $input) {
    asOf totalArr
    byRisk {
      risk arr accountCount
      accounts(first: 100) { totalCount nodes { externalId arr } }
      bySegment { segment { key } arr accountCount accounts { nodes { externalId } } }
      byRenewalWindow { days until arr accountCount accounts { nodes { externalId } } }
    }
  }
}"#;

/// One account row.
fn account(
    external_id: &str,
    segment: Option<&str>,
    started_on: Option<&str>,
    renews_on: Option<&str>,
    arr: &str,
    health: Option<&str>,
    risk: &str,
) -> Value {
    json!({
        "externalId": external_id, "name": format!("Account {external_id}"),
        "segmentKey": segment, "startedOn": started_on, "renewsOn": renews_on,
        "arr": arr, "healthScore": health, "risk": risk
    })
}

/// An account with only the fields exposure reads.
fn simple_account(
    external_id: &str,
    segment: Option<&str>,
    arr: &str,
    risk: &str,
    renews_on: Option<&str>,
) -> Value {
    account(external_id, segment, None, renews_on, arr, None, risk)
}

/// One MRR movement row.
fn movement(external_id: &str, account: &str, on: &str, kind: &str, amount: &str) -> Value {
    json!({
        "externalId": external_id, "accountExternalId": account,
        "effectiveOn": on, "kind": kind, "amount": amount
    })
}

async fn upsert(app: &TestApp, rows: Vec<Value>) -> Value {
    app.ok("revops", UPSERT, json!({ "a": rows })).await["upsertAccounts"].clone()
}

async fn record(app: &TestApp, rows: Vec<Value>) -> Value {
    app.ok("finance", MOVE, json!({ "m": rows })).await["recordRevenueMovements"].clone()
}

async fn accounts(app: &TestApp, filter: Value) -> Value {
    app.ok("bi", ACCOUNTS, json!({ "f": filter })).await["accounts"].clone()
}

async fn movements(app: &TestApp, filter: Value) -> Value {
    app.ok("bi", MOVEMENTS, json!({ "f": filter })).await["revenueMovements"].clone()
}

async fn retention(app: &TestApp, input: Value) -> Vec<Value> {
    app.ok("bi", RETENTION, json!({ "input": input })).await["revenueRetention"]
        .as_array()
        .expect("figures")
        .clone()
}

async fn exposure(app: &TestApp, input: Value) -> Value {
    app.ok("bi", EXPOSURE, json!({ "input": input })).await["arrExposure"].clone()
}

/// The `field` of each listed problem of a refused call.
fn problem_fields(body: &Value) -> Vec<String> {
    body["errors"][0]["extensions"]["problems"]
        .as_array()
        .unwrap_or_else(|| panic!("no problems listed: {body:#}"))
        .iter()
        .map(|p| p["field"].as_str().expect("field").to_owned())
        .collect()
}

/// A list's values of one string field, in order.
fn strings(nodes: &Value, field: &str) -> Vec<String> {
    nodes
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {nodes}"))
        .iter()
        .map(|n| n[field].as_str().unwrap_or("<null>").to_owned())
        .collect()
}

/// An exact ratio as rust_decimal computes and prints it.
fn ratio(kept: i64, starting: i64) -> String {
    (Decimal::from(kept) / Decimal::from(starting))
        .normalize()
        .to_string()
}

fn assert_code(body: &Value, code: &str) {
    assert_eq!(error_code(body).as_deref(), Some(code), "{body:#}");
}

fn assert_bad_input(body: &Value, field: &str) {
    assert_code(body, "BAD_USER_INPUT");
    assert_eq!(error_field(body).as_deref(), Some(field), "{body:#}");
}

on_both_backends!(
    accounts_are_idempotent_corrected_and_dry_runs_write_nothing,
    |app: TestApp| async move {
        create_segment(&app, "enterprise").await;
        create_segment(&app, "smb").await;
        let batch = vec![
            account(
                "A-1",
                Some("enterprise"),
                Some("2025-01-01"),
                Some("2026-12-31"),
                "120000",
                Some("72.5"),
                "GREEN",
            ),
            account("A-2", Some("smb"), None, None, "0", None, "AMBER"),
            account(
                "A-3",
                None,
                None,
                Some("2027-03-01"),
                "5000.50",
                None,
                "RED",
            ),
        ];
        assert_eq!(
            upsert(&app, batch.clone()).await,
            json!({ "created": 3, "updated": 0, "unchanged": 0, "dryRun": false })
        );
        let stored = accounts(&app, json!({})).await;
        assert_eq!(stored["totalCount"], 3);
        assert_eq!(
            stored["nodes"][0],
            json!({
                "id": stored["nodes"][0]["id"], "externalId": "A-1", "name": "Account A-1",
                "startedOn": "2025-01-01", "renewsOn": "2026-12-31", "arr": "120000",
                "healthScore": "72.5", "risk": "GREEN", "segment": { "key": "enterprise" }
            })
        );
        let audits = audit_count(&app).await;

        // The same batch again changes nothing and is not audited.
        assert_eq!(
            upsert(&app, batch.clone()).await,
            json!({ "created": 0, "updated": 0, "unchanged": 3, "dryRun": false })
        );
        assert_eq!(accounts(&app, json!({})).await, stored);
        assert_eq!(audit_count(&app).await, audits);

        // A correction updates the one row that changed.
        let mut corrected = batch.clone();
        corrected[1]["arr"] = json!("900");
        corrected[1]["risk"] = json!("RED");
        assert_eq!(
            upsert(&app, corrected.clone()).await,
            json!({ "created": 0, "updated": 1, "unchanged": 2, "dryRun": false })
        );
        let now = accounts(&app, json!({})).await;
        assert_eq!(now["nodes"][1]["arr"], "900");
        assert_eq!(now["nodes"][1]["risk"], "RED");
        assert_eq!(now["nodes"][1]["id"], stored["nodes"][1]["id"], "same row");
        assert_eq!(audit_count(&app).await, audits + 1);

        // A dry run reports the diff and writes nothing.
        let mut dry = corrected.clone();
        dry[0]["healthScore"] = json!("10");
        dry.push(account("A-4", None, None, None, "1", None, "GREEN"));
        let data = app
            .ok("revops", UPSERT, json!({ "a": dry, "dry": true }))
            .await;
        assert_eq!(
            data["upsertAccounts"],
            json!({ "created": 1, "updated": 1, "unchanged": 2, "dryRun": true })
        );
        assert_eq!(accounts(&app, json!({})).await, now);
        assert_eq!(audit_count(&app).await, audits + 1);
    }
);

on_both_backends!(
    movements_are_idempotent_corrected_and_dry_runs_write_nothing,
    |app: TestApp| async move {
        upsert(
            &app,
            vec![
                simple_account("A-1", None, "1", "GREEN", None),
                simple_account("A-2", None, "1", "GREEN", None),
            ],
        )
        .await;
        let batch = vec![
            movement("EV-1", "A-1", "2026-01-10", "NEW", "1000"),
            movement("EV-2", "A-2", "2026-02-01", "NEW", "500"),
            movement("EV-3", "A-1", "2026-03-15", "EXPANSION", "250.25"),
        ];
        assert_eq!(
            record(&app, batch.clone()).await,
            json!({ "created": 3, "updated": 0, "unchanged": 0, "dryRun": false })
        );
        let stored = movements(&app, json!({})).await;
        assert_eq!(
            strings(&stored["nodes"], "externalId"),
            ["EV-1", "EV-2", "EV-3"]
        );
        assert_eq!(stored["nodes"][2]["amount"], "250.25");
        assert_eq!(stored["nodes"][2]["recordedBy"], "finance-user");
        assert_eq!(stored["nodes"][2]["account"]["externalId"], "A-1");
        let audits = audit_count(&app).await;

        assert_eq!(
            record(&app, batch.clone()).await,
            json!({ "created": 0, "updated": 0, "unchanged": 3, "dryRun": false })
        );
        assert_eq!(movements(&app, json!({})).await, stored);
        assert_eq!(audit_count(&app).await, audits);

        // The billing system re-sends an event with a corrected amount and account.
        let mut corrected = batch.clone();
        corrected[2]["amount"] = json!("300");
        corrected[2]["accountExternalId"] = json!("A-2");
        assert_eq!(
            record(&app, corrected.clone()).await,
            json!({ "created": 0, "updated": 1, "unchanged": 2, "dryRun": false })
        );
        let now = movements(&app, json!({})).await;
        assert_eq!(now["totalCount"], 3);
        assert_eq!(now["nodes"][2]["amount"], "300");
        assert_eq!(now["nodes"][2]["account"]["externalId"], "A-2");
        assert_eq!(now["nodes"][2]["id"], stored["nodes"][2]["id"]);

        let mut dry = corrected;
        dry[0]["kind"] = json!("EXPANSION");
        dry.push(movement("EV-4", "A-2", "2026-04-01", "CHURN", "800"));
        let data = app
            .ok("admin", MOVE, json!({ "m": dry, "dry": true }))
            .await;
        assert_eq!(
            data["recordRevenueMovements"],
            json!({ "created": 1, "updated": 1, "unchanged": 2, "dryRun": true })
        );
        assert_eq!(movements(&app, json!({})).await, now);
        assert_eq!(audit_count(&app).await, audits + 1);
    }
);

on_both_backends!(
    a_bad_batch_is_refused_whole_with_every_problem_listed,
    |app: TestApp| async move {
        create_segment(&app, "smb").await;
        let bad_accounts = vec![
            simple_account("A-1", Some("smb"), "100", "GREEN", None),
            simple_account("A-2", Some("nope"), "100", "GREEN", None),
            simple_account("A-3", None, "-0.01", "GREEN", None),
            account("A-4", None, None, None, "1", Some("100.5"), "AMBER"),
            account(
                "A-5",
                None,
                Some("2026-06-01"),
                Some("2026-05-31"),
                "1",
                None,
                "RED",
            ),
            simple_account("A-1", None, "5", "RED", None),
        ];
        let body = app
            .gql("revops", UPSERT, json!({ "a": bad_accounts }))
            .await;
        assert_bad_input(&body, "input.accounts[1].segmentKey");
        assert_eq!(
            problem_fields(&body),
            [
                "input.accounts[1].segmentKey",
                "input.accounts[2].arr",
                "input.accounts[3].healthScore",
                "input.accounts[4].renewsOn",
                "input.accounts[5].externalId",
            ]
        );
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains("nope"), "{message}");
        // The same problems on a dry run; nothing written either way.
        let dry = app
            .gql("revops", UPSERT, json!({ "a": bad_accounts, "dry": true }))
            .await;
        assert_eq!(problem_fields(&dry), problem_fields(&body));
        assert_eq!(accounts(&app, json!({})).await["totalCount"], 0);

        // Input the API itself cannot read is listed the same way.
        let body = app
            .gql(
                "revops",
                UPSERT,
                json!({ "a": [
                    simple_account("A-1", Some("Not A Key"), "1", "GREEN", None),
                    simple_account("A-2", None, "abc", "GREEN", None),
                ] }),
            )
            .await;
        assert_eq!(
            problem_fields(&body),
            ["input.accounts[0].segmentKey", "input.accounts[1].arr"]
        );

        upsert(
            &app,
            vec![simple_account("A-1", Some("smb"), "100", "GREEN", None)],
        )
        .await;
        let bad_movements = vec![
            movement("EV-1", "A-1", "2026-01-01", "NEW", "100"),
            movement("EV-2", "GHOST", "2026-01-01", "NEW", "100"),
            movement("EV-3", "A-1", "2026-01-01", "EXPANSION", "0"),
            movement("EV-4", "A-1", "2026-01-01", "CHURN", "-5"),
            movement("EV-1", "A-1", "2026-02-01", "EXPANSION", "1"),
        ];
        let body = app
            .gql("finance", MOVE, json!({ "m": bad_movements }))
            .await;
        assert_bad_input(&body, "input.movements[1].accountExternalId");
        assert_eq!(
            problem_fields(&body),
            [
                "input.movements[1].accountExternalId",
                "input.movements[2].amount",
                "input.movements[3].amount",
                "input.movements[4].externalId",
            ]
        );
        assert_eq!(movements(&app, json!({})).await["totalCount"], 0);
    }
);

on_both_backends_with!(
    batches_above_the_limit_are_refused,
    Limits {
        max_batch_size: 3,
        ..Limits::default()
    },
    8 * 1024 * 1024,
    |app: TestApp| async move {
        let four: Vec<Value> = (0..4)
            .map(|i| simple_account(&format!("A-{i}"), None, "1", "GREEN", None))
            .collect();
        let body = app.gql("revops", UPSERT, json!({ "a": four })).await;
        assert_bad_input(&body, "input.accounts");
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("at most 3"),
            "{body:#}"
        );
        assert_eq!(accounts(&app, json!({})).await["totalCount"], 0);
        assert_eq!(upsert(&app, four[..3].to_vec()).await["created"], 3);

        let four: Vec<Value> = (0..4)
            .map(|i| movement(&format!("EV-{i}"), "A-0", "2026-01-01", "NEW", "1"))
            .collect();
        let body = app.gql("finance", MOVE, json!({ "m": four })).await;
        assert_bad_input(&body, "input.movements");
        assert_eq!(movements(&app, json!({})).await["totalCount"], 0);
        assert_eq!(record(&app, four[..3].to_vec()).await["created"], 3);
    }
);

on_both_backends!(
    only_revops_and_admin_write_accounts_and_only_finance_and_admin_movements,
    |app: TestApp| async move {
        let rows = json!([simple_account("A-1", None, "1", "GREEN", None)]);
        for role in ["admin", "revops"] {
            let data = app
                .ok(role, UPSERT, json!({ "a": rows, "dry": true }))
                .await;
            assert_eq!(data["upsertAccounts"]["created"], 1, "{role}");
        }
        for role in [
            "finance",
            "executive",
            "hr",
            "manager",
            "member",
            "bi",
            "hr_sync",
        ] {
            let body = app.gql(role, UPSERT, json!({ "a": rows })).await;
            assert_code(&body, "FORBIDDEN");
        }
        upsert(&app, vec![simple_account("A-1", None, "1", "GREEN", None)]).await;

        let rows = json!([movement("EV-1", "A-1", "2026-01-01", "NEW", "10")]);
        for role in ["admin", "finance"] {
            let data = app.ok(role, MOVE, json!({ "m": rows, "dry": true })).await;
            assert_eq!(data["recordRevenueMovements"]["created"], 1, "{role}");
        }
        for role in [
            "revops",
            "executive",
            "hr",
            "manager",
            "member",
            "bi",
            "hr_sync",
        ] {
            let body = app.gql(role, MOVE, json!({ "m": rows })).await;
            assert_code(&body, "FORBIDDEN");
        }
        assert_eq!(movements(&app, json!({})).await["totalCount"], 0);
        // Without a token nothing is read or written.
        let body = app.gql_with(None, MOVE, json!({ "m": rows })).await;
        assert_code(&body, "UNAUTHENTICATED");

        // Every role but the HR sync account reads.
        record(
            &app,
            vec![movement("EV-1", "A-1", "2026-01-01", "NEW", "10")],
        )
        .await;
        let reads = r#"{
            accounts { totalCount }
            revenueMovements { totalCount }
            revenueRetention(input: { from: "2026-02-01", to: "2026-02-28" }) { startingMrr }
            arrExposure(input: { asOf: "2026-01-01" }) { totalArr }
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
            let data = app.ok(role, reads, json!({})).await;
            assert_eq!(data["accounts"]["totalCount"], 1, "{role}");
            assert_eq!(data["revenueMovements"]["totalCount"], 1, "{role}");
            assert_eq!(data["revenueRetention"][0]["startingMrr"], "10", "{role}");
            assert_eq!(data["arrExposure"]["totalArr"], "1", "{role}");
        }
        let body = app.gql("hr_sync", reads, json!({})).await;
        assert_code(&body, "FORBIDDEN");
    }
);

on_both_backends!(
    another_organization_never_sees_accounts_or_movements,
    |app: TestApp| async move {
        create_segment(&app, "smb").await;
        upsert(
            &app,
            vec![simple_account(
                "A-1",
                Some("smb"),
                "1000",
                "RED",
                Some("2026-02-01"),
            )],
        )
        .await;
        record(
            &app,
            vec![movement("EV-1", "A-1", "2026-01-01", "NEW", "100")],
        )
        .await;
        let account_id = accounts(&app, json!({})).await["nodes"][0]["id"].clone();
        let movement_id = movements(&app, json!({})).await["nodes"][0]["id"].clone();

        let other = app.create_org("Globex").await;
        for role in ["admin", "finance", "bi"] {
            let token = app.token_for(other, &format!("{role}-globex"), &[role]);
            let body = app
                .gql_with(
                    Some(&token),
                    r#"query($a: ID!, $m: ID!) {
                        accounts { totalCount }
                        revenueMovements { totalCount }
                        a: node(id: $a) { id }
                        m: node(id: $m) { id }
                        revenueRetention(input: { from: "2026-02-01", to: "2026-02-28" }) { startingMrr nrr reason }
                        arrExposure(input: { asOf: "2026-01-15" }) { totalArr byRisk { arr accountCount } }
                    }"#,
                    json!({ "a": account_id, "m": movement_id }),
                )
                .await;
            assert!(body.get("errors").is_none(), "{body:#}");
            let data = &body["data"];
            assert_eq!(data["accounts"]["totalCount"], 0, "{role}");
            assert_eq!(data["revenueMovements"]["totalCount"], 0, "{role}");
            assert!(data["a"].is_null() && data["m"].is_null(), "{data:#}");
            assert_eq!(data["revenueRetention"][0]["startingMrr"], "0");
            assert!(data["revenueRetention"][0]["nrr"].is_null());
            assert_eq!(data["arrExposure"]["totalArr"], "0");
            for r in data["arrExposure"]["byRisk"].as_array().unwrap() {
                assert_eq!(r["accountCount"], 0, "{data:#}");
            }
        }

        // The other organization's segment key and account external ids are its own.
        let token = app.token_for(other, "finance-globex", &["finance"]);
        let body = app
            .gql_with(
                Some(&token),
                MOVE,
                json!({ "m": [movement("EV-2", "A-1", "2026-01-01", "NEW", "1")] }),
            )
            .await;
        assert_bad_input(&body, "input.movements[0].accountExternalId");
        let token = app.token_for(other, "revops-globex", &["revops"]);
        let body = app
            .gql_with(
                Some(&token),
                UPSERT,
                json!({ "a": [simple_account("A-1", Some("smb"), "5", "GREEN", None)] }),
            )
            .await;
        assert_bad_input(&body, "input.accounts[0].segmentKey");
        let body = app
            .gql_with(
                Some(&token),
                UPSERT,
                json!({ "a": [simple_account("A-1", None, "5", "GREEN", None)] }),
            )
            .await;
        assert_eq!(body["data"]["upsertAccounts"]["created"], 1, "{body:#}");
        // The first organization's account is untouched.
        let mine = accounts(&app, json!({})).await;
        assert_eq!(mine["totalCount"], 1);
        assert_eq!(mine["nodes"][0]["arr"], "1000");
        let node = app
            .ok(
                "bi",
                "query($id: ID!) { node(id: $id) { ... on Account { externalId arr } } }",
                json!({ "id": account_id }),
            )
            .await;
        assert_eq!(node["node"], json!({ "externalId": "A-1", "arr": "1000" }));
    }
);

/// Worked table, Q3 2026 (1 Jul - 30 Sep), accounts in segments:
///
/// | account | segment    | before Q3                    | MRR at 1 Jul | in Q3                 |
/// |---------|------------|------------------------------|--------------|-----------------------|
/// | A       | enterprise | NEW 1,000 (10 Jan)           | 1,000        | EXPANSION 200 (15 Aug)|
/// | B       | smb        | NEW 500, CONTRACTION 100     | 400          | CHURN 400 (1 Sep)     |
/// | C       | enterprise | NEW 2,000 (30 Jun)           | 2,000        | CONTRACTION 300 (30 Sep)|
/// | D       | smb        | (none)                       | -            | NEW 900 (ignored)     |
/// | A       |            |                              |              | EXPANSION 5,000 on 1 Oct (after) |
///
/// starting 3,400; expansion 200; contraction 300; churn 400
/// NRR = (3,400 + 200 - 300 - 400) / 3,400 = 2,900 / 3,400
/// GRR = (3,400 - 300 - 400) / 3,400 = 2,700 / 3,400
async fn seed_quarter(app: &TestApp) {
    create_segment(app, "enterprise").await;
    create_segment(app, "smb").await;
    upsert(
        app,
        vec![
            simple_account("A", Some("enterprise"), "12000", "GREEN", None),
            simple_account("B", Some("smb"), "0", "RED", None),
            simple_account("C", Some("enterprise"), "24000", "AMBER", None),
            simple_account("D", Some("smb"), "10800", "GREEN", None),
        ],
    )
    .await;
    record(
        app,
        vec![
            movement("e1", "A", "2026-01-10", "NEW", "1000"),
            movement("e2", "B", "2026-02-01", "NEW", "500"),
            movement("e3", "B", "2026-05-01", "CONTRACTION", "100"),
            movement("e4", "C", "2026-06-30", "NEW", "2000"),
            movement("e5", "A", "2026-08-15", "EXPANSION", "200"),
            movement("e6", "B", "2026-09-01", "CHURN", "400"),
            movement("e7", "C", "2026-09-30", "CONTRACTION", "300"),
            movement("e8", "D", "2026-08-01", "NEW", "900"),
            movement("e9", "A", "2026-10-01", "EXPANSION", "5000"),
        ],
    )
    .await;
}

on_both_backends!(
    quarterly_retention_matches_the_worked_table,
    |app: TestApp| async move {
        seed_quarter(&app).await;
        let nrr = ratio(2900, 3400);
        let grr = ratio(2700, 3400);
        // 2,900 / 3,400 does not terminate: the figure is rust_decimal's exact 28 digits.
        assert!(nrr.starts_with("0.852941176470588235294117647"), "{nrr}");
        let expected = json!({
            "periodStart": "2026-07-01", "periodEnd": "2026-09-30", "segment": null,
            "startingMrr": "3400", "expansionMrr": "200", "contractionMrr": "300",
            "churnedMrr": "400", "nrr": nrr, "grr": grr, "reason": null
        });
        let whole = retention(&app, json!({ "from": "2026-07-01", "to": "2026-09-30" })).await;
        assert_eq!(whole.as_slice(), std::slice::from_ref(&expected));
        // The same quarter asked for by granularity, from days inside it.
        let by_quarter = retention(
            &app,
            json!({ "from": "2026-08-10", "to": "2026-08-20", "granularity": "QUARTER" }),
        )
        .await;
        assert_eq!(by_quarter, [expected]);

        // Enterprise alone: A and C, starting 3,000; +200 -300 -> 2,900 / 3,000.
        let enterprise = retention(
            &app,
            json!({ "from": "2026-07-01", "to": "2026-09-30", "segmentKey": "enterprise" }),
        )
        .await;
        assert_eq!(enterprise.len(), 1);
        assert_eq!(enterprise[0]["segment"]["key"], "enterprise");
        assert_eq!(enterprise[0]["startingMrr"], "3000");
        assert_eq!(enterprise[0]["churnedMrr"], "0");
        assert_eq!(enterprise[0]["nrr"], ratio(2900, 3000));
        assert_eq!(enterprise[0]["grr"], ratio(2700, 3000));

        // Nobody paid before 10 January: no ratio, and a reason.
        let early = retention(&app, json!({ "from": "2026-01-01", "to": "2026-01-31" })).await;
        assert_eq!(early.len(), 1);
        assert_eq!(early[0]["startingMrr"], "0");
        assert_eq!(early[0]["expansionMrr"], "0");
        assert!(early[0]["nrr"].is_null() && early[0]["grr"].is_null());
        assert_eq!(
            early[0]["reason"],
            "no account was paying at the start of the period"
        );
    }
);

// Worked table, monthly July - September 2026, by segment:
//
// | account | segment    | before July | July          | August             | September   |
// |---------|------------|-------------|---------------|--------------------|-------------|
// | A       | enterprise | NEW 1,000   | EXPANSION 100 |                    | CHURN 1,100 |
// | B       | smb        | NEW 500     |               | CONTRACTION 20+30  |             |
// | C       | enterprise |             | NEW 300       | EXPANSION 30       |             |
//
// | month | all: start exp contr churn | NRR         | GRR         |
// |-------|----------------------------|-------------|-------------|
// | Jul   | 1,500  100  0   0          | 1,600/1,500 | 1           |
// | Aug   | 1,900  30   50  0          | 1,880/1,900 | 1,850/1,900 |
// | Sep   | 1,880  0    0   1,100      | 780/1,880   | 780/1,880   |
//
// | month | enterprise: start exp churn | NRR         | GRR       | smb: start contr | NRR = GRR |
// |-------|-----------------------------|-------------|-----------|------------------|-----------|
// | Jul   | 1,000  100  0               | 1.1         | 1         | 500  0           | 1         |
// | Aug   | 1,400  30   0               | 1,430/1,400 | 1         | 500  50          | 0.9       |
// | Sep   | 1,430  0    1,100           | 330/1,430   | 330/1,430 | 450  0           | 1         |
on_both_backends!(
    monthly_retention_by_segment_matches_the_worked_table,
    |app: TestApp| async move {
        create_segment(&app, "enterprise").await;
        create_segment(&app, "smb").await;
        upsert(
            &app,
            vec![
                simple_account("A", Some("enterprise"), "0", "RED", None),
                simple_account("B", Some("smb"), "5400", "GREEN", None),
                simple_account("C", Some("enterprise"), "3960", "GREEN", None),
            ],
        )
        .await;
        record(
            &app,
            vec![
                movement("m1", "A", "2026-05-10", "NEW", "1000"),
                movement("m2", "B", "2026-06-01", "NEW", "500"),
                movement("m3", "A", "2026-07-15", "EXPANSION", "100"),
                movement("m4", "C", "2026-07-20", "NEW", "300"),
                movement("m5", "B", "2026-08-05", "CONTRACTION", "20"),
                movement("m6", "B", "2026-08-20", "CONTRACTION", "30"),
                movement("m7", "C", "2026-08-10", "EXPANSION", "30"),
                movement("m8", "A", "2026-09-30", "CHURN", "1100"),
            ],
        )
        .await;
        let figures = retention(
            &app,
            json!({ "from": "2026-07-05", "to": "2026-09-10", "granularity": "MONTH", "bySegment": true }),
        )
        .await;
        // Each month: the all-accounts figure first, then one per segment.
        let order: Vec<(String, String)> = figures
            .iter()
            .map(|f| {
                (
                    f["periodStart"].as_str().unwrap().to_owned(),
                    f["segment"]["key"].as_str().unwrap_or("all").to_owned(),
                )
            })
            .collect();
        let month = |m: &str| format!("2026-{m}-01");
        let mut expected_order = Vec::new();
        for m in ["07", "08", "09"] {
            for seg in ["all", "enterprise", "smb"] {
                expected_order.push((month(m), seg.to_owned()));
            }
        }
        let mut sorted = order.clone();
        sorted.sort_by(|a, b| {
            a.0.cmp(&b.0)
                .then((a.1 != "all").cmp(&(b.1 != "all")))
                .then(a.1.cmp(&b.1))
        });
        assert_eq!(order, sorted, "figures out of order");
        assert_eq!(sorted, expected_order);
        assert_eq!(figures[0]["periodEnd"], "2026-07-31");
        assert_eq!(figures[8]["periodEnd"], "2026-09-30");

        let got: BTreeMap<(String, String), [String; 6]> = figures
            .iter()
            .zip(&order)
            .map(|(f, key)| {
                let parts = [
                    "startingMrr",
                    "expansionMrr",
                    "contractionMrr",
                    "churnedMrr",
                    "nrr",
                    "grr",
                ]
                .map(|k| f[k].as_str().unwrap_or("<null>").to_owned());
                (key.clone(), parts)
            })
            .collect();
        let row = |parts: [&str; 4], nrr: String, grr: String| {
            [parts[0], parts[1], parts[2], parts[3]]
                .map(str::to_owned)
                .into_iter()
                .chain([nrr, grr])
                .collect::<Vec<_>>()
                .try_into()
                .unwrap()
        };
        let one = || "1".to_owned();
        let want: BTreeMap<(String, String), [String; 6]> = [
            (
                ("07", "all"),
                row(["1500", "100", "0", "0"], ratio(1600, 1500), one()),
            ),
            (
                ("08", "all"),
                row(
                    ["1900", "30", "50", "0"],
                    ratio(1880, 1900),
                    ratio(1850, 1900),
                ),
            ),
            (
                ("09", "all"),
                row(
                    ["1880", "0", "0", "1100"],
                    ratio(780, 1880),
                    ratio(780, 1880),
                ),
            ),
            (
                ("07", "enterprise"),
                row(["1000", "100", "0", "0"], "1.1".to_owned(), one()),
            ),
            (
                ("08", "enterprise"),
                row(["1400", "30", "0", "0"], ratio(1430, 1400), one()),
            ),
            (
                ("09", "enterprise"),
                row(
                    ["1430", "0", "0", "1100"],
                    ratio(330, 1430),
                    ratio(330, 1430),
                ),
            ),
            (("07", "smb"), row(["500", "0", "0", "0"], one(), one())),
            (
                ("08", "smb"),
                row(["500", "0", "50", "0"], "0.9".to_owned(), "0.9".to_owned()),
            ),
            (("09", "smb"), row(["450", "0", "0", "0"], one(), one())),
        ]
        .into_iter()
        .map(|((m, seg), v)| ((month(m), seg.to_owned()), v))
        .collect();
        assert_eq!(got, want);

        // One segment only: its figures, each naming it, and no all-accounts figure.
        let smb = retention(
            &app,
            json!({ "from": "2026-07-01", "to": "2026-09-30", "granularity": "MONTH",
                    "segmentKey": "smb", "bySegment": true }),
        )
        .await;
        assert_eq!(strings(&Value::from(smb.clone()), "nrr"), ["1", "0.9", "1"]);
        assert!(smb.iter().all(|f| f["segment"]["key"] == "smb"), "{smb:?}");

        // May: A starts paying during the month, so May has no starting MRR; June starts at 1,000.
        let may_june = retention(
            &app,
            json!({ "from": "2026-05-01", "to": "2026-06-30", "granularity": "MONTH" }),
        )
        .await;
        assert_eq!(may_june.len(), 2);
        assert!(may_june[0]["nrr"].is_null(), "{may_june:?}");
        assert!(may_june[0]["reason"].as_str().is_some());
        assert_eq!(may_june[1]["startingMrr"], "1000");
        assert_eq!(may_june[1]["nrr"], "1");
        assert!(may_june[1]["reason"].is_null());
    }
);

on_both_backends!(retention_input_is_checked, |app: TestApp| async move {
    let body = app
        .gql(
            "bi",
            RETENTION,
            json!({ "input": { "from": "2026-01-01", "to": "2026-12-31", "granularity": "DAY" } }),
        )
        .await;
    assert_bad_input(&body, "input.granularity");
    // 120 months is the most; 121 is too many.
    let ok = retention(
        &app,
        json!({ "from": "2020-01-01", "to": "2029-12-31", "granularity": "MONTH" }),
    )
    .await;
    assert_eq!(ok.len(), 120);
    let body = app
            .gql(
                "bi",
                RETENTION,
                json!({ "input": { "from": "2020-01-01", "to": "2030-01-01", "granularity": "MONTH" } }),
            )
            .await;
    assert_bad_input(&body, "input.granularity");
    let body = app
        .gql(
            "bi",
            RETENTION,
            json!({ "input": { "from": "2026-03-01", "to": "2026-02-01" } }),
        )
        .await;
    assert_bad_input(&body, "input.to");
    let body = app
        .gql(
            "bi",
            RETENTION,
            json!({ "input": { "from": "2026-01-01", "to": "2026-02-01", "segmentKey": "nope" } }),
        )
        .await;
    assert_bad_input(&body, "input.segmentKey");
});

/// Worked table, as of 1 Oct 2026, windows 30/60/90 days:
///
/// | account | segment    | ARR     | risk  | renews  | days ahead |
/// |---------|------------|---------|-------|---------|------------|
/// | A       | enterprise | 400,000 | RED   | 20 Oct  | 19         |
/// | B       | enterprise | 220,000 | RED   | 15 Dec  | 75         |
/// | C       | smb        | 30,000  | RED   | -       | -          |
/// | F       | enterprise | 5,000   | RED   | 30 Sep  | -1 (past)  |
/// | D       | smb        | 50,000  | GREEN | 10 Oct  | 9          |
/// | E       | -          | 10,000  | AMBER | 30 Nov  | 60         |
///
/// RED 655,000 (enterprise 625,000, smb 30,000); renewing within 30 days 400,000, 60 days
/// 400,000, 90 days 620,000: "$620K of ARR in red-risk accounts renewing within 90 days".
/// GREEN 50,000 in every window. AMBER 10,000, in the 60 and 90 day windows. Total 715,000.
async fn seed_exposure(app: &TestApp) {
    create_segment(app, "enterprise").await;
    create_segment(app, "smb").await;
    upsert(
        app,
        vec![
            simple_account("A", Some("enterprise"), "400000", "RED", Some("2026-10-20")),
            simple_account("B", Some("enterprise"), "220000", "RED", Some("2026-12-15")),
            simple_account("C", Some("smb"), "30000", "RED", None),
            simple_account("F", Some("enterprise"), "5000", "RED", Some("2026-09-30")),
            simple_account("D", Some("smb"), "50000", "GREEN", Some("2026-10-10")),
            simple_account("E", None, "10000", "AMBER", Some("2026-11-30")),
        ],
    )
    .await;
}

on_both_backends!(
    arr_exposure_matches_the_worked_table,
    |app: TestApp| async move {
        seed_exposure(&app).await;
        let e = exposure(&app, json!({ "asOf": "2026-10-01" })).await;
        assert_eq!(e["asOf"], "2026-10-01");
        assert_eq!(e["totalArr"], "715000");
        let risks = e["byRisk"].as_array().unwrap();
        assert_eq!(strings(&e["byRisk"], "risk"), ["GREEN", "AMBER", "RED"]);
        let red = &risks[2];
        assert_eq!(red["arr"], "655000");
        assert_eq!(red["accountCount"], 4);
        // Largest ARR first.
        assert_eq!(
            strings(&red["accounts"]["nodes"], "externalId"),
            ["A", "B", "C", "F"]
        );
        assert_eq!(red["accounts"]["totalCount"], 4);
        let by_segment: BTreeMap<String, (String, i64, Vec<String>)> = red["bySegment"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["segment"]["key"].as_str().unwrap_or("-").to_owned(),
                    (
                        s["arr"].as_str().unwrap().to_owned(),
                        s["accountCount"].as_i64().unwrap(),
                        strings(&s["accounts"]["nodes"], "externalId"),
                    ),
                )
            })
            .collect();
        assert_eq!(
            by_segment,
            BTreeMap::from([
                (
                    "enterprise".to_owned(),
                    (
                        "625000".to_owned(),
                        3,
                        vec!["A".into(), "B".into(), "F".into()]
                    )
                ),
                ("smb".to_owned(), ("30000".to_owned(), 1, vec!["C".into()])),
            ])
        );
        let windows: Vec<(i64, String, String, i64, Vec<String>)> = red["byRenewalWindow"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| {
                (
                    w["days"].as_i64().unwrap(),
                    w["until"].as_str().unwrap().to_owned(),
                    w["arr"].as_str().unwrap().to_owned(),
                    w["accountCount"].as_i64().unwrap(),
                    strings(&w["accounts"]["nodes"], "externalId"),
                )
            })
            .collect();
        assert_eq!(
            windows,
            vec![
                (
                    30,
                    "2026-10-31".into(),
                    "400000".into(),
                    1,
                    vec!["A".into()]
                ),
                (
                    60,
                    "2026-11-30".into(),
                    "400000".into(),
                    1,
                    vec!["A".into()]
                ),
                (
                    90,
                    "2026-12-30".into(),
                    "620000".into(),
                    2,
                    vec!["A".into(), "B".into()]
                ),
            ]
        );
        // The per-segment and per-window figures add up to the risk level's.
        for r in risks {
            let arr = |v: &Value| Decimal::from_str(v.as_str().unwrap()).unwrap();
            let segments: Decimal = r["bySegment"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| arr(&s["arr"]))
                .sum();
            assert_eq!(segments, arr(&r["arr"]), "{r:#}");
        }

        let green = &risks[0];
        assert_eq!(green["arr"], "50000");
        assert_eq!(
            strings(&green["byRenewalWindow"], "arr"),
            ["50000", "50000", "50000"]
        );
        assert_eq!(green["bySegment"][0]["segment"]["key"], "smb");
        let amber = &risks[1];
        assert_eq!(amber["arr"], "10000");
        assert_eq!(
            strings(&amber["byRenewalWindow"], "arr"),
            ["0", "10000", "10000"]
        );
        assert_eq!(amber["byRenewalWindow"][0]["accountCount"], 0);
        // An account without a segment has a null segment.
        assert!(amber["bySegment"][0]["segment"].is_null(), "{amber:#}");
        assert_eq!(amber["bySegment"][0]["arr"], "10000");

        // Paging through the red accounts, largest first.
        let page = |after: Option<String>| {
            let app = &app;
            async move {
                app.ok(
                    "bi",
                    r#"query($after: String) { arrExposure(input: { asOf: "2026-10-01" }) { byRisk {
                        risk accounts(first: 2, after: $after) { totalCount pageInfo { hasNextPage endCursor } nodes { externalId arr } } } } }"#,
                    json!({ "after": after }),
                )
                .await["arrExposure"]["byRisk"][2]["accounts"]
                    .clone()
            }
        };
        let first = page(None).await;
        assert_eq!(
            first["nodes"],
            json!([{ "externalId": "A", "arr": "400000" }, { "externalId": "B", "arr": "220000" }])
        );
        assert_eq!(first["totalCount"], 4);
        assert_eq!(first["pageInfo"]["hasNextPage"], true);
        let second = page(first["pageInfo"]["endCursor"].as_str().map(str::to_owned)).await;
        assert_eq!(strings(&second["nodes"], "externalId"), ["C", "F"]);
        assert_eq!(second["pageInfo"]["hasNextPage"], false);

        // Custom windows are sorted and de-duplicated; a later asOf moves them.
        let later = exposure(
            &app,
            json!({ "asOf": "2026-12-01", "windowsDays": [90, 14, 14] }),
        )
        .await;
        let red = &later["byRisk"][2];
        assert_eq!(
            red["byRenewalWindow"]
                .as_array()
                .unwrap()
                .iter()
                .map(|w| (
                    w["days"].as_i64().unwrap(),
                    w["arr"].as_str().unwrap().to_owned()
                ))
                .collect::<Vec<_>>(),
            vec![(14, "220000".to_owned()), (90, "220000".to_owned())]
        );

        // One segment only.
        let smb = exposure(&app, json!({ "asOf": "2026-10-01", "segmentKey": "smb" })).await;
        assert_eq!(smb["totalArr"], "80000");
        assert_eq!(strings(&smb["byRisk"], "arr"), ["50000", "0", "30000"]);
        assert_eq!(smb["byRisk"][1]["bySegment"], json!([]));

        // Without asOf the windows count from today (UTC).
        let today = chrono::Utc::now().date_naive().to_string();
        let now = exposure(&app, Value::Null).await;
        assert_eq!(now["asOf"], today);
        assert_eq!(now["totalArr"], "715000");
        assert_eq!(
            now["byRisk"][0]["byRenewalWindow"]
                .as_array()
                .unwrap()
                .iter()
                .map(|w| w["days"].as_i64().unwrap())
                .collect::<Vec<_>>(),
            [30, 60, 90]
        );
    }
);

on_both_backends!(exposure_windows_are_checked, |app: TestApp| async move {
    for (windows, field) in [
        (json!([0]), "input.windowsDays[0]"),
        (json!([30, 3661]), "input.windowsDays[1]"),
        (json!([30, -1]), "input.windowsDays[1]"),
        (json!((1..=13).collect::<Vec<i32>>()), "input.windowsDays"),
    ] {
        let body = app
            .gql(
                "bi",
                EXPOSURE,
                json!({ "input": { "asOf": "2026-10-01", "windowsDays": windows } }),
            )
            .await;
        assert_bad_input(&body, field);
    }
    let body = app
        .gql("bi", EXPOSURE, json!({ "input": { "segmentKey": "nope" } }))
        .await;
    assert_bad_input(&body, "input.segmentKey");
    let ok = exposure(&app, json!({ "asOf": "2026-10-01", "windowsDays": [3660] })).await;
    assert_eq!(ok["byRisk"][0]["byRenewalWindow"][0]["until"], "2036-10-08");
});

on_both_backends!(
    account_and_movement_lists_filter,
    |app: TestApp| async move {
        seed_exposure(&app).await;
        let names = |list: &Value| strings(&list["nodes"], "externalId");
        assert_eq!(
            names(&accounts(&app, json!({})).await),
            ["A", "B", "C", "D", "E", "F"]
        );
        assert_eq!(
            names(&accounts(&app, json!({ "risk": "RED" })).await),
            ["A", "B", "C", "F"]
        );
        assert_eq!(
            names(&accounts(&app, json!({ "segmentKey": "enterprise" })).await),
            ["A", "B", "F"]
        );
        assert_eq!(
            names(
                &accounts(
                    &app,
                    json!({ "renewsFrom": "2026-10-10", "renewsTo": "2026-11-30" })
                )
                .await
            ),
            ["A", "D", "E"]
        );
        assert_eq!(
            names(
                &accounts(
                    &app,
                    json!({ "risk": "RED", "segmentKey": "enterprise", "renewsFrom": "2026-10-01" })
                )
                .await
            ),
            ["A", "B"]
        );
        let body = app
            .gql("bi", ACCOUNTS, json!({ "f": { "segmentKey": "nope" } }))
            .await;
        assert_bad_input(&body, "filter.segmentKey");

        record(
            &app,
            vec![
                movement("e1", "A", "2026-01-01", "NEW", "100"),
                movement("e2", "B", "2026-01-15", "NEW", "200"),
                movement("e3", "A", "2026-02-01", "EXPANSION", "10"),
                movement("e4", "A", "2026-03-01", "CONTRACTION", "5"),
                movement("e5", "B", "2026-03-31", "CHURN", "200"),
            ],
        )
        .await;
        let a_id =
            accounts(&app, json!({ "segmentKey": "enterprise" })).await["nodes"][0]["id"].clone();
        let ids = |list: &Value| strings(&list["nodes"], "externalId");
        assert_eq!(
            ids(&movements(&app, json!({ "accountId": a_id })).await),
            ["e1", "e3", "e4"]
        );
        assert_eq!(
            ids(&movements(&app, json!({ "kind": "NEW" })).await),
            ["e1", "e2"]
        );
        assert_eq!(
            ids(&movements(&app, json!({ "from": "2026-01-15", "to": "2026-03-01" })).await),
            ["e2", "e3", "e4"]
        );
        assert_eq!(
            ids(&movements(
                &app,
                json!({ "accountId": a_id, "from": "2026-02-01", "kind": "CONTRACTION" })
            )
            .await),
            ["e4"]
        );
        // An id of another type is refused by name.
        let seg = app
            .ok("bi", "{ segments { nodes { id } } }", json!({}))
            .await["segments"]["nodes"][0]["id"]
            .clone();
        let body = app
            .gql("bi", MOVEMENTS, json!({ "f": { "accountId": seg } }))
            .await;
        assert_bad_input(&body, "filter.accountId");
    }
);

on_both_backends!(
    exact_decimals_survive_the_round_trip,
    |app: TestApp| async move {
        let exact = "12345678901234.123456789";
        upsert(
            &app,
            vec![account(
                "BIG",
                None,
                None,
                None,
                exact,
                Some("99.999999"),
                "RED",
            )],
        )
        .await;
        record(
            &app,
            vec![
                movement("e1", "BIG", "2026-01-01", "NEW", exact),
                movement("e2", "BIG", "2026-02-01", "EXPANSION", "0.000000001"),
            ],
        )
        .await;
        let list = accounts(&app, json!({})).await;
        assert_eq!(list["nodes"][0]["arr"], exact);
        assert_eq!(list["nodes"][0]["healthScore"], "99.999999");
        assert_eq!(
            strings(&movements(&app, json!({})).await["nodes"], "amount"),
            [exact, "0.000000001"]
        );
        // Sent again exactly: unchanged on both backends.
        let again = upsert(
            &app,
            vec![account(
                "BIG",
                None,
                None,
                None,
                exact,
                Some("99.999999"),
                "RED",
            )],
        )
        .await;
        assert_eq!(again["unchanged"], 1, "{again:#}");
        let again = record(
            &app,
            vec![movement("e1", "BIG", "2026-01-01", "NEW", exact)],
        )
        .await;
        assert_eq!(again["unchanged"], 1, "{again:#}");

        // Retention and exposure add exactly.
        let f = retention(&app, json!({ "from": "2026-02-01", "to": "2026-02-28" })).await;
        assert_eq!(f[0]["startingMrr"], exact);
        assert_eq!(f[0]["expansionMrr"], "0.000000001");
        let start = Decimal::from_str(exact).unwrap();
        let nrr = ((start + Decimal::from_str("0.000000001").unwrap()) / start)
            .normalize()
            .to_string();
        assert_eq!(f[0]["nrr"], nrr);
        assert_eq!(f[0]["grr"], "1");
        let e = exposure(&app, json!({ "asOf": "2026-01-01" })).await;
        assert_eq!(e["totalArr"], exact);
        assert_eq!(e["byRisk"][2]["arr"], exact);
    }
);

/// The figures `revenueRetention` returns for each period: `(period start, segment key or
/// "all")` to the four parts and the NRR.
fn figures_by_key(figures: &[Value]) -> BTreeMap<(String, String), [Option<Decimal>; 5]> {
    let dec = |v: &Value| v.as_str().map(|s| Decimal::from_str(s).expect("decimal"));
    figures
        .iter()
        .map(|f| {
            (
                (
                    f["periodStart"].as_str().expect("start").to_owned(),
                    f["segment"]["key"].as_str().unwrap_or("all").to_owned(),
                ),
                [
                    dec(&f["startingMrr"]),
                    dec(&f["expansionMrr"]),
                    dec(&f["contractionMrr"]),
                    dec(&f["churnedMrr"]),
                    dec(&f["nrr"]),
                ],
            )
        })
        .collect()
}

on_both_backends!(
    retention_over_whole_months_and_other_periods_follows_the_rule_on_raw_movements,
    |app: TestApp| async move {
        use chrono::{Days, NaiveDate};
        use tandem_domain::revenue::{self as rules, Movement, MovementKind};

        create_segment(&app, "enterprise").await;
        create_segment(&app, "smb").await;
        let segment_of = |a: usize| match a % 3 {
            0 => Some("enterprise"),
            1 => Some("smb"),
            _ => None,
        };
        upsert(
            &app,
            (0..24)
                .map(|a| simple_account(&format!("A{a}"), segment_of(a), "1000", "GREEN", None))
                .collect(),
        )
        .await;
        // Pseudo-random movements: accounts start, grow, shrink, churn and come back.
        let mut seed: u64 = 7;
        let mut next = |n: u64| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) % n
        };
        let base = NaiveDate::from_ymd_opt(2025, 6, 1).expect("date");
        let mut raw: Vec<(String, usize, NaiveDate, MovementKind, Decimal)> = Vec::new();
        for a in 0..24 {
            let mut on = base + Days::new(next(400));
            let mut mrr = Decimal::ZERO;
            for j in 0..next(8) + 1 {
                let amount = Decimal::from(next(500) + 1);
                let (kind, amount) = match (mrr.is_zero(), next(4)) {
                    (true, _) => (MovementKind::New, amount),
                    (false, 0) => (MovementKind::Churn, mrr),
                    (false, 1) => (MovementKind::Contraction, amount.min(mrr)),
                    _ => (MovementKind::Expansion, amount),
                };
                mrr += match kind {
                    MovementKind::New | MovementKind::Expansion => amount,
                    _ => -amount,
                };
                raw.push((format!("M{a}-{j}"), a, on, kind, amount));
                on = on + Days::new(next(75));
            }
        }
        let row =
            |(id, a, on, kind, amount): &(String, usize, NaiveDate, MovementKind, Decimal)| {
                movement(
                    id,
                    &format!("A{a}"),
                    &on.to_string(),
                    kind.as_str(),
                    &amount.to_string(),
                )
            };
        let (first, second) = raw.split_at(raw.len() / 2);
        record(&app, first.iter().map(row).collect()).await;
        record(&app, second.iter().map(row).collect()).await;
        // Corrections: one movement moves to another month, one to another account.
        let moved_month = raw.len() / 3;
        raw[moved_month].2 = raw[moved_month].2 + Days::new(45);
        let moved_account = raw.len() / 4;
        raw[moved_account].1 = (raw[moved_account].1 + 1) % 24;
        record(&app, vec![row(&raw[moved_month]), row(&raw[moved_account])]).await;

        let expected =
            |seg_of: &[Option<&str>], from: NaiveDate, to: NaiveDate, segment: Option<&str>| {
                let movements: Vec<Movement<usize>> = raw
                    .iter()
                    .filter(|m| segment.is_none() || seg_of[m.1] == segment)
                    .map(|m| Movement {
                        account: m.1,
                        on: m.2,
                        kind: m.3,
                        amount: m.4,
                    })
                    .collect();
                let r = rules::retention(&movements, from, to);
                [
                    Some(r.starting),
                    Some(r.expansion),
                    Some(r.contraction),
                    Some(r.churn),
                    r.nrr,
                ]
            };
        let day = |s: &str| NaiveDate::from_str(s).expect("date");
        let month_end = |start: NaiveDate| {
            start
                .checked_add_months(chrono::Months::new(1))
                .and_then(|d| d.pred_opt())
                .expect("month end")
        };
        let check =
            |seg_of: &[Option<&str>], figures: Vec<Value>, periods: Vec<(NaiveDate, NaiveDate)>| {
                let got = figures_by_key(&figures);
                for (from, to) in periods {
                    for segment in [None, Some("enterprise"), Some("smb")] {
                        let key = (from.to_string(), segment.unwrap_or("all").to_owned());
                        let want = expected(seg_of, from, to, segment);
                        match got.get(&key) {
                            Some(figure) => assert_eq!(figure, &want, "{key:?}"),
                            // A segment is listed once one of its accounts has a movement.
                            None => assert_eq!(want[0], Some(Decimal::ZERO), "{key:?} missing"),
                        }
                    }
                }
            };
        let months: Vec<(NaiveDate, NaiveDate)> = (0..12)
            .map(|i| {
                let start = day("2025-12-01")
                    .checked_add_months(chrono::Months::new(i))
                    .expect("month");
                (start, month_end(start))
            })
            .collect();
        let monthly = json!({ "from": "2025-12-01", "to": "2026-11-30", "granularity": "MONTH", "bySegment": true });
        let figures = retention(&app, monthly.clone()).await;
        let paying = figures_by_key(&figures)
            .values()
            .filter(|f| f[0] > Some(Decimal::ZERO) && f[4].is_some())
            .count();
        assert!(paying >= 30, "most months have paying accounts: {paying}");
        let mut seg_of: Vec<Option<&str>> = (0..24).map(segment_of).collect();
        check(&seg_of, figures, months.clone());
        check(
            &seg_of,
            retention(&app, json!({ "from": "2025-07-01", "to": "2026-06-30", "granularity": "QUARTER", "bySegment": true })).await,
            vec![
                (day("2025-07-01"), day("2025-09-30")),
                (day("2025-10-01"), day("2025-12-31")),
                (day("2026-01-01"), day("2026-03-31")),
                (day("2026-04-01"), day("2026-06-30")),
            ],
        );
        for (from, to) in [
            ("2025-12-01", "2026-11-30"),
            ("2027-09-01", "2027-09-30"),
            ("2026-01-15", "2026-06-10"),
        ] {
            check(
                &seg_of,
                retention(&app, json!({ "from": from, "to": to, "bySegment": true })).await,
                vec![(day(from), day(to))],
            );
        }
        let enterprise = retention(
            &app,
            json!({ "from": "2025-12-01", "to": "2026-11-30", "granularity": "MONTH", "segmentKey": "enterprise" }),
        )
        .await;
        for (key, figure) in figures_by_key(&enterprise) {
            assert_eq!(key.1, "enterprise");
            assert_eq!(
                figure,
                expected(
                    &seg_of,
                    day(&key.0),
                    month_end(day(&key.0)),
                    Some("enterprise")
                )
            );
        }

        // Whole months are read from the monthly ledger: without it they come back empty, and
        // starting the server again (migrating) rebuilds it from the movements.
        app.store
            .execute_unprepared("DELETE FROM account_mrr_months")
            .await
            .expect("clear ledger");
        let cleared = figures_by_key(&retention(&app, monthly.clone()).await);
        assert!(cleared.values().all(|f| f[0] == Some(Decimal::ZERO)));
        app.store.migrate_up(None).await.expect("migrate");
        check(
            &seg_of,
            retention(&app, monthly.clone()).await,
            months.clone(),
        );

        // An account that changes segment takes its history along.
        upsert(
            &app,
            vec![simple_account("A0", Some("smb"), "1000", "GREEN", None)],
        )
        .await;
        upsert(
            &app,
            vec![simple_account("A1", None, "1000", "GREEN", None)],
        )
        .await;
        seg_of[0] = Some("smb");
        seg_of[1] = None;
        check(&seg_of, retention(&app, monthly).await, months);
    }
);
