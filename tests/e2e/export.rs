//! Bulk export end to end: `GET /export/<dataset>.csv|.ndjson` with bearer tokens and the
//! GraphQL role rules, RFC 4180 quoting, exact decimals, column selection, `updatedSince`
//! and resuming, errors, individual pay and tenancy.

use std::time::Duration;

use serde_json::{Value, json};
use tandem_tests::TestApp;

use crate::support::{define_metric, obs, on_both_backends_with, record};
use crate::sync::no_settle;

/// Fetches an export as `token`; returns status, the resume cursor that ends a complete body
/// (taken off it) and the rows of the body.
async fn get(app: &TestApp, token: Option<&str>, path: &str) -> (u16, Option<String>, String) {
    let mut req = app.client().get(app.url(path));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    assert!(
        res.headers().get("tandem-resume-after").is_none(),
        "no cursor is promised before the body is sent"
    );
    let body = res.text().await.expect("body");
    if status != 200 {
        return (status, None, body);
    }
    let (rows, resume) = split_resume(&body);
    (status, resume, rows)
}

/// Splits the closing resume record off an export body: an NDJSON line
/// `{"_resume_after": cursor}` or a CSV record `#_resume_after,cursor`.
pub fn split_resume(body: &str) -> (String, Option<String>) {
    let trimmed = body.trim_end_matches(['\r', '\n']);
    let (rows, last) = match trimmed.rfind('\n') {
        Some(i) => (&body[..=i], &trimmed[i + 1..]),
        None => ("", trimmed),
    };
    if let Some(cursor) = last.strip_prefix("#_resume_after,") {
        return (rows.to_owned(), Some(cursor.to_owned()));
    }
    if let Ok(v) = serde_json::from_str::<Value>(last)
        && let Some(cursor) = v.get("_resume_after").and_then(Value::as_str)
    {
        return (rows.to_owned(), Some(cursor.to_owned()));
    }
    (body.to_owned(), None)
}

async fn get_as(app: &TestApp, role: &str, path: &str) -> (u16, Option<String>, String) {
    let token = app.token(&[role]);
    get(app, Some(&token), path).await
}

fn ndjson(body: &str) -> Vec<Value> {
    body.lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

fn error_of(body: &str) -> (String, Option<String>, String) {
    let v: Value = serde_json::from_str(body).expect("JSON error body");
    (
        v["errors"][0]["extensions"]["code"]
            .as_str()
            .unwrap_or("")
            .to_owned(),
        v["errors"][0]["extensions"]["field"]
            .as_str()
            .map(str::to_owned),
        v["errors"][0]["message"].as_str().unwrap_or("").to_owned(),
    )
}

on_both_backends_with!(
    csv_quotes_per_rfc_4180_and_keeps_every_decimal_digit,
    no_settle(),
    8 * 1024 * 1024,
    |app: TestApp| async move {
        define_metric(&app, "arr", "FINANCIAL", "SUM").await;
        let mut tricky = obs("arr", "2026-01-01", "DAY", "12345678901234.123456789");
        tricky["source"] = json!("crm, \"eu\"\nexport");
        record(&app, vec![tricky, obs("arr", "2026-01-02", "DAY", "-0.50")]).await;

        let (status, _, body) = get_as(
            &app,
            "bi",
            "/export/observations.csv?columns=metric_key,period_start,value,source",
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let mut lines: Vec<&str> = body.split("\r\n").collect();
        assert_eq!(lines.pop(), Some(""), "CRLF after the last record");
        assert_eq!(lines[0], "metric_key,period_start,value,source");
        let mut records = lines[1..].to_vec();
        records.sort();
        assert_eq!(
            records,
            vec![
                "arr,2026-01-01,12345678901234.123456789,\"crm, \"\"eu\"\"\nexport\"",
                "arr,2026-01-02,-0.50,",
            ]
        );

        let (status, _, body) = get_as(&app, "bi", "/export/observations.ndjson").await;
        assert_eq!(status, 200);
        let rows = ndjson(&body);
        assert_eq!(rows.len(), 2);
        let big = rows
            .iter()
            .find(|r| r["period_start"] == "2026-01-01")
            .unwrap();
        assert_eq!(big["value"], "12345678901234.123456789");
        assert_eq!(big["source"], "crm, \"eu\"\nexport");
        assert_eq!(big["segment_key"], Value::Null);
        // Every column, in the dataset's order.
        let keys: Vec<&str> = big
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert!(
            keys.contains(&"id") && keys.contains(&"updated_at") && keys.contains(&"metric_id")
        );
    }
);

on_both_backends_with!(
    columns_are_selected_in_the_order_asked_and_unknown_ones_are_refused,
    no_settle(),
    8 * 1024 * 1024,
    |app: TestApp| async move {
        define_metric(&app, "arr", "FINANCIAL", "SUM").await;
        record(&app, vec![obs("arr", "2026-01-01", "MONTH", "5")]).await;
        let (_, _, body) = get_as(
            &app,
            "member",
            "/export/observations.csv?columns=value,granularity",
        )
        .await;
        assert_eq!(body, "value,granularity\r\n5,MONTH\r\n");
        let (_, _, body) = get_as(
            &app,
            "member",
            "/export/observations.ndjson?columns=value,metric_key",
        )
        .await;
        assert_eq!(body, "{\"value\":\"5\",\"metric_key\":\"arr\"}\n");

        let (status, _, body) =
            get_as(&app, "bi", "/export/observations.csv?columns=value,salary").await;
        assert_eq!(status, 400);
        let (code, field, message) = error_of(&body);
        assert_eq!(
            (code.as_str(), field.as_deref()),
            ("BAD_USER_INPUT", Some("columns"))
        );
        assert!(message.contains("salary"), "{message}");

        let (status, _, body) = get_as(&app, "bi", "/export/nothing.csv").await;
        assert_eq!(status, 404);
        assert_eq!(error_of(&body).0, "NOT_FOUND");
        let (status, _, _) = get_as(&app, "bi", "/export/observations.xlsx").await;
        assert_eq!(status, 404);
        let (status, _, body) = get_as(
            &app,
            "bi",
            "/export/observations.csv?updatedSince=yesterday",
        )
        .await;
        assert_eq!(status, 400);
        assert_eq!(error_of(&body).1.as_deref(), Some("updatedSince"));
        let (status, _, body) = get_as(&app, "bi", "/export/observations.csv?after=garbage").await;
        assert_eq!(status, 400);
        assert_eq!(error_of(&body).1.as_deref(), Some("after"));
    }
);

on_both_backends_with!(
    exports_need_a_token_and_a_role_that_reads_the_dataset,
    no_settle(),
    8 * 1024 * 1024,
    |app: TestApp| async move {
        let (status, _, body) = get(&app, None, "/export/goals.csv").await;
        assert_eq!(status, 401);
        assert_eq!(error_of(&body).0, "UNAUTHENTICATED");
        let (status, _, _) = get(&app, Some("not.a.token"), "/export/goals.csv").await;
        assert_eq!(status, 401);
        for dataset in [
            "observations",
            "goals",
            "key_results",
            "check_ins",
            "tombstones",
            "payout_statements",
        ] {
            let (status, _, body) =
                get_as(&app, "hr_sync", &format!("/export/{dataset}.csv")).await;
            assert_eq!(status, 403, "{dataset}");
            assert_eq!(error_of(&body).0, "FORBIDDEN");
        }
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
            let (status, _, body) = get_as(&app, role, "/export/goals.csv").await;
            assert_eq!(status, 200, "{role}");
            assert!(body.starts_with("id,title,"), "{body}");
        }
    }
);

on_both_backends_with!(
    updated_since_and_the_resume_cursor_give_only_later_changes,
    no_settle(),
    8 * 1024 * 1024,
    |app: TestApp| async move {
        define_metric(&app, "arr", "FINANCIAL", "SUM").await;
        record(
            &app,
            vec![
                obs("arr", "2026-01-01", "DAY", "1"),
                obs("arr", "2026-01-02", "DAY", "2"),
            ],
        )
        .await;
        let (_, resume, body) = get_as(
            &app,
            "bi",
            "/export/observations.ndjson?columns=period_start,value,updated_at",
        )
        .await;
        let resume = resume.expect("resume record");
        assert_eq!(ndjson(&body).len(), 2);
        tokio::time::sleep(Duration::from_millis(20)).await;
        record(
            &app,
            vec![
                obs("arr", "2026-01-02", "DAY", "2.5"),
                obs("arr", "2026-01-03", "DAY", "3"),
            ],
        )
        .await;

        let (_, _, body) = get_as(
            &app,
            "bi",
            &format!(
                "/export/observations.ndjson?columns=period_start,value,updated_at&after={resume}"
            ),
        )
        .await;
        let mut later: Vec<(String, String)> = ndjson(&body)
            .iter()
            .map(|r| {
                (
                    r["period_start"].as_str().unwrap().to_owned(),
                    r["value"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        later.sort();
        assert_eq!(
            later,
            vec![
                ("2026-01-02".to_owned(), "2.5".to_owned()),
                ("2026-01-03".to_owned(), "3".to_owned())
            ]
        );
        let all = ndjson(
            &get_as(
                &app,
                "bi",
                "/export/observations.ndjson?columns=period_start,updated_at",
            )
            .await
            .2,
        );
        let newest = all
            .iter()
            .map(|r| r["updated_at"].as_str().unwrap().to_owned())
            .max()
            .unwrap();
        let (_, _, body) = get_as(
            &app,
            "bi",
            &format!(
                "/export/observations.csv?columns=period_start&updatedSince={}",
                newest.replace('+', "%2B")
            ),
        )
        .await;
        let mut lines: Vec<&str> = body.split("\r\n").filter(|l| !l.is_empty()).collect();
        lines.sort();
        assert_eq!(lines, vec!["2026-01-02", "2026-01-03", "period_start"]);
    }
);

on_both_backends_with!(
    another_organizations_rows_never_appear,
    no_settle(),
    8 * 1024 * 1024,
    |app: TestApp| async move {
        define_metric(&app, "arr", "FINANCIAL", "SUM").await;
        record(&app, vec![obs("arr", "2026-01-01", "DAY", "1")]).await;
        let other = app.create_org("Other").await;
        let token = app.token_for(other, "bi-user", &["bi"]);
        for dataset in [
            "observations",
            "goals",
            "key_results",
            "check_ins",
            "tombstones",
        ] {
            let (status, _, body) =
                get(&app, Some(&token), &format!("/export/{dataset}.ndjson")).await;
            assert_eq!((status, body.as_str()), (200, ""), "{dataset}");
        }
        let (_, _, body) = get_as(&app, "bi", "/export/observations.ndjson").await;
        assert_eq!(ndjson(&body).len(), 1);
    }
);

on_both_backends_with!(
    payout_statements_export_only_to_who_may_see_the_pay,
    no_settle(),
    8 * 1024 * 1024,
    |app: TestApp| async move {
        crate::hr_sync::define_metric(&app, "new_arr", "FINANCIAL", "HIGHER_IS_BETTER").await;
        crate::hr_sync::define_metric(&app, "nrr", "CUSTOMER", "HIGHER_IS_BETTER").await;
        // Mia manages Ana and Ben; Cy has no manager. All three are account executives.
        app.ok(
            "hr_sync",
            crate::hr_sync::SYNC,
            json!({ "input": {
                "roles": [{ "key": "ae", "name": "AE" }],
                "people": [
                    { "externalId": "M", "name": "Mia", "subject": "mia" },
                    { "externalId": "A", "name": "Ana", "subject": "ana", "managerExternalId": "M", "roleKeys": ["ae"] },
                    { "externalId": "B", "name": "Ben", "subject": "ben", "managerExternalId": "M", "roleKeys": ["ae"] },
                    { "externalId": "C", "name": "Cy", "subject": "cy", "roleKeys": ["ae"] }
                ]
            } }),
        )
        .await;
        app.ok(
            "revops",
            crate::support::RECORD,
            json!({ "o": [
                { "metricKey": "new_arr", "periodStart": "2026-01-01", "granularity": "QUARTER", "value": "80000" },
                { "metricKey": "nrr", "periodStart": "2026-01-01", "granularity": "QUARTER", "value": "100" }
            ] }),
        )
        .await;
        let curve = json!({ "points": [{ "attainment": "0", "payout": "0" }, { "attainment": "2", "payout": "2" }], "threshold": "0", "cap": "2" });
        let plan = app
            .ok(
                "finance",
                r#"mutation($input: DefineIncentivePlanInput!) { defineIncentivePlan(input: $input) { plan { id } } }"#,
                json!({ "input": {
                    "name": "AE Q1", "periodStart": "2026-01-01", "granularity": "QUARTER",
                    "target": { "amount": "10000.00", "currency": "EUR" }, "roleKeys": ["ae"],
                    "components": [
                        { "name": "New ARR", "metricKey": "new_arr", "target": "100000", "weight": "1", "curve": curve },
                        { "name": "NRR", "metricKey": "nrr", "target": "100", "weight": "1", "curve": curve }
                    ]
                } }),
            )
            .await["defineIncentivePlan"]["plan"]["id"]
            .clone();
        app.ok(
            "finance",
            "mutation($id: ID!) { computePayouts(input: { planId: $id }) { statements { id } } }",
            json!({ "id": plan }),
        )
        .await;

        let people_in = |body: &str| -> Vec<String> {
            let mut ids: Vec<String> = ndjson(body)
                .iter()
                .map(|r| r["person_external_id"].as_str().unwrap().to_owned())
                .collect();
            ids.sort();
            ids
        };
        let path = "/export/payout_statements.ndjson?columns=person_external_id,total,currency";
        for role in ["admin", "finance", "hr"] {
            let (status, _, body) = get_as(&app, role, path).await;
            assert_eq!(status, 200, "{role}");
            assert_eq!(people_in(&body), vec!["A", "B", "C"], "{role}");
            // (0.8 + 1) / 2 * 10,000.00 = 9,000.00, exact.
            assert!(
                ndjson(&body)
                    .iter()
                    .all(|r| r["total"] == "9000.00" && r["currency"] == "EUR"),
                "{body}"
            );
        }
        let as_person = |sub: &str, role: &str| app.token_for(app.org_id, sub, &[role]);
        let (_, _, body) = get(&app, Some(&as_person("ana", "member")), path).await;
        assert_eq!(people_in(&body), vec!["A"]);
        let (_, _, body) = get(&app, Some(&as_person("mia", "manager")), path).await;
        assert_eq!(people_in(&body), vec!["A", "B"]);
        let (status, _, body) = get(&app, Some(&as_person("ana", "bi")), path).await;
        assert_eq!(status, 403, "bi never sees individual pay: {body}");
        // The same rule over GraphQL in change order.
        let q = r#"{ payoutStatements(updatedSince: "1970-01-01T00:00:00Z") { totalCount nodes { person { externalId } } } }"#;
        let data = app
            .gql_with(Some(&as_person("mia", "manager")), q, json!({}))
            .await;
        assert_eq!(data["data"]["payoutStatements"]["totalCount"], 2, "{data}");
        let data = app.gql("bi", q, json!({})).await;
        assert_eq!(
            tandem_tests::error_code(&data).as_deref(),
            Some("FORBIDDEN")
        );
    }
);
