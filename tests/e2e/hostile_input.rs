//! Input that used to reach the storage layer as `INTERNAL`: search text with wildcards or of
//! any length, and exports whose parameters were only found wrong after streaming began.

use serde_json::{Value, json};
use tandem_tests::{TestApp, error_code, error_field};

use crate::export::split_resume;
use crate::people::UPSERT_PERSON;
use crate::support::{define_metric, obs, on_both_backends_with, record};
use crate::sync::no_settle;

const METRICS: &str = "query($s: String) { metrics(filter: { search: $s }) { nodes { key } } }";
const PEOPLE: &str = "query($s: String) { people(filter: { search: $s }) { nodes { name } } }";

fn keys(data: &Value, list: &str, field: &str) -> Vec<String> {
    let mut found: Vec<String> = data[list]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n[field].as_str().expect("text").to_owned())
        .collect();
    found.sort();
    found
}

on_both_backends_with!(
    search_text_matches_literally_and_is_bounded,
    no_settle(),
    8 * 1024 * 1024,
    |app: TestApp| async move {
        for key in ["a_b", "axb", "ab"] {
            define_metric(&app, key, "FINANCIAL", "SUM").await;
        }
        for (i, name) in ["50% Off", "500 Off", "a_b Co", "axb Co", "back\\slash"]
            .into_iter()
            .enumerate()
        {
            let input = json!({ "input": { "externalId": format!("P{i}"), "name": name } });
            app.ok("hr", UPSERT_PERSON, input).await;
        }
        let metrics = |s: &str| {
            let s = s.to_owned();
            let app = &app;
            async move {
                keys(
                    &app.ok("bi", METRICS, json!({ "s": s })).await,
                    "metrics",
                    "key",
                )
            }
        };
        assert_eq!(metrics("a_b").await, vec!["a_b"]);
        assert_eq!(metrics("_").await, vec!["a_b"]);
        assert!(metrics("%").await.is_empty());
        assert_eq!(metrics("A_B").await, vec!["a_b"], "case is ignored");

        let people = |s: &str| {
            let s = s.to_owned();
            let app = &app;
            async move {
                keys(
                    &app.ok("hr", PEOPLE, json!({ "s": s })).await,
                    "people",
                    "name",
                )
            }
        };
        assert_eq!(people("50%").await, vec!["50% Off"]);
        assert_eq!(people("a_b").await, vec!["a_b Co"]);
        assert_eq!(people("\\").await, vec!["back\\slash"]);
        assert_eq!(people("%%").await, Vec::<String>::new());

        // At the limit is fine; past it, and far past it, is refused before any query.
        let at_limit = "x".repeat(200);
        assert!(metrics(&at_limit).await.is_empty());
        for (query, role) in [(METRICS, "bi"), (PEOPLE, "hr")] {
            for length in [201, 50_000] {
                let body = app
                    .gql(role, query, json!({ "s": "%".repeat(length) }))
                    .await;
                assert_eq!(
                    error_code(&body).as_deref(),
                    Some("BAD_USER_INPUT"),
                    "{body}"
                );
                assert_eq!(
                    error_field(&body).as_deref(),
                    Some("filter.search"),
                    "{body}"
                );
                let message = body["errors"][0]["message"].as_str().unwrap_or("");
                assert!(message.contains("200"), "{message}");
            }
        }
    }
);

/// GETs an export as `bi`; status, body and the `WWW-Authenticate` header.
async fn export(app: &TestApp, token: Option<&str>, path: &str) -> (u16, String) {
    let mut req = app.client().get(app.url(path));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    (status, res.text().await.expect("body"))
}

fn field_of(body: &str) -> (String, String, String) {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("JSON error: {body}"));
    let e = &v["errors"][0];
    (
        e["extensions"]["code"].as_str().unwrap_or("").to_owned(),
        e["extensions"]["field"].as_str().unwrap_or("").to_owned(),
        e["message"].as_str().unwrap_or("").to_owned(),
    )
}

on_both_backends_with!(
    export_parameters_are_checked_before_any_byte_is_sent,
    no_settle(),
    8 * 1024 * 1024,
    |app: TestApp| async move {
        define_metric(&app, "arr", "FINANCIAL", "SUM").await;
        record(&app, vec![obs("arr", "2026-01-01", "DAY", "1")]).await;
        let token = app.token(&["bi"]);
        let t = Some(token.as_str());

        let repeated = vec!["value"; 2_000].join(",");
        for (path, field, says) in [
            (
                format!("/export/observations.csv?columns={repeated}"),
                "columns",
                "has 12",
            ),
            (
                "/export/observations.csv?columns=value,value".to_owned(),
                "columns",
                "more than once",
            ),
            (
                "/export/observations.ndjson?columns=value,nope".to_owned(),
                "columns",
                "`nope`",
            ),
            (
                "/export/observations.csv?updatedSince=yesterday".to_owned(),
                "updatedSince",
                "RFC 3339",
            ),
            (
                "/export/observations.csv?after=garbage".to_owned(),
                "after",
                "",
            ),
            (
                "/export/observations.csv?column=value".to_owned(),
                "query",
                "column",
            ),
            (
                "/export/observations.csv?columns=value&columns=id".to_owned(),
                "query",
                "",
            ),
        ] {
            let (status, body) = export(&app, t, &path).await;
            assert_eq!(status, 400, "{path}: {body}");
            let (code, got_field, message) = field_of(&body);
            assert_eq!(code, "BAD_USER_INPUT", "{path}: {body}");
            assert_eq!(got_field, field, "{path}: {body}");
            assert!(message.contains(says), "{path}: {message}");
        }

        // A 401 names the scheme.
        let res = app
            .client()
            .get(app.url("/export/observations.csv"))
            .send()
            .await
            .expect("request");
        assert_eq!(res.status().as_u16(), 401);
        assert_eq!(
            res.headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok()),
            Some("Bearer")
        );

        // A complete export ends with the cursor to resume from, in both formats.
        let (status, body) = export(&app, t, "/export/observations.csv?columns=value").await;
        assert_eq!(status, 200);
        let (rows, resume) = split_resume(&body);
        assert_eq!(rows, "value\r\n1\r\n");
        assert!(body.ends_with(&format!("#_resume_after,{}\r\n", resume.expect("cursor"))));
        let (_, body) = export(&app, t, "/export/observations.ndjson?columns=value").await;
        let lines: Vec<Value> = body
            .lines()
            .map(|l| serde_json::from_str(l).expect("json line"))
            .collect();
        assert_eq!(lines.len(), 2, "{body}");
        assert_eq!(lines[0], json!({ "value": "1" }));
        assert!(lines[1]["_resume_after"].is_string(), "{body}");
    }
);

on_both_backends_with!(
    an_export_that_fails_midway_ends_without_a_cursor,
    no_settle(),
    8 * 1024 * 1024,
    |app: TestApp| async move {
        define_metric(&app, "visits", "CUSTOMER", "SUM").await;
        // More rows than one read (2,000), so the failing row is in a later read.
        let start = chrono::NaiveDate::from_ymd_opt(2020, 1, 1).expect("date");
        let rows: Vec<Value> = (0..2_100)
            .map(|d| {
                let day = start + chrono::Days::new(d);
                obs("visits", &day.to_string(), "DAY", "1")
            })
            .collect();
        record(&app, rows).await;
        // The last row in change order gets a value no decimal can hold.
        let unreadable = match app.backend {
            tandem_tests::Backend::Sqlite => "'not a number'",
            tandem_tests::Backend::Postgres => "'NaN'",
        };
        app.store
            .execute_unprepared(&format!(
                "UPDATE observations SET value = {unreadable} WHERE id = \
                 (SELECT id FROM observations ORDER BY updated_at DESC, id DESC LIMIT 1)"
            ))
            .await
            .expect("corrupt one row");
        let token = app.token(&["bi"]);
        for format in ["csv", "ndjson"] {
            let res = app
                .client()
                .get(app.url(&format!("/export/observations.{format}?columns=id,value")))
                .bearer_auth(&token)
                .send()
                .await
                .expect("request");
            assert_eq!(res.status().as_u16(), 200, "the first read succeeded");
            // The body is either reported broken by the client or, read as far as it got,
            // has no resume record.
            if let Ok(body) = res.text().await {
                let (_, resume) = split_resume(&body);
                assert!(
                    resume.is_none(),
                    "{format}: a cut-off body carried a cursor"
                );
                assert!(
                    body.lines().count() >= 2_000,
                    "{format}: the first read was sent"
                );
            }
        }
    }
);
