//! Recording observations: idempotent all-or-nothing batches, dry runs, exact decimals,
//! input errors that name their field, and the observation list.

use serde_json::{Value, json};
use tandem_api::Limits;
use tandem_tests::{TestApp, error_code, error_field, on_both_backends};

use crate::support::{
    RECORD, audit_count, create_segment, define_metric, obs, obs_dim, observation_count, record,
};

const LIST: &str = r#"
query($f: ObservationFilterInput) {
  observations(filter: $f, first: 100) {
    totalCount
    nodes { id value source periodStart periodEnd granularity updatedAt
            metric { key } segment { key } stage { key } }
  }
}"#;

async fn list(app: &TestApp, filter: Value) -> Value {
    app.ok("bi", LIST, json!({ "f": filter })).await["observations"].clone()
}

fn values(list: &Value) -> Vec<String> {
    list["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["value"].as_str().unwrap().to_owned())
        .collect()
}

/// Asserts a refused batch: BAD_USER_INPUT naming `field`.
fn assert_bad_input(body: &Value, field: &str) {
    assert_eq!(
        error_code(body).as_deref(),
        Some("BAD_USER_INPUT"),
        "{body:#}"
    );
    assert_eq!(error_field(body).as_deref(), Some(field), "{body:#}");
}

on_both_backends!(
    resending_the_same_batch_changes_nothing,
    |app: TestApp| async move {
        define_metric(&app, "signups", "CUSTOMER", "SUM").await;
        create_segment(&app, "smb").await;
        let batch = vec![
            obs("signups", "2026-01-01", "MONTH", "10"),
            obs_dim("signups", "2026-01-01", "MONTH", Some("smb"), None, "4"),
            obs_dim(
                "signups",
                "2026-01-01",
                "MONTH",
                None,
                Some("adoption"),
                "6.5",
            ),
        ];
        let first = record(&app, batch.clone()).await;
        assert_eq!(
            first,
            json!({ "created": 3, "updated": 0, "unchanged": 0, "dryRun": false })
        );
        let before = list(&app, json!({})).await;
        let audits = audit_count(&app).await;

        let again = record(&app, batch.clone()).await;
        assert_eq!(
            again,
            json!({ "created": 0, "updated": 0, "unchanged": 3, "dryRun": false })
        );
        let after = list(&app, json!({})).await;
        assert_eq!(before, after, "a re-sent batch changed stored rows");
        assert_eq!(
            audit_count(&app).await,
            audits,
            "a re-sent batch was audited"
        );

        let mut changed_batch = batch.clone();
        changed_batch[1]["value"] = json!("5");
        let third = record(&app, changed_batch.clone()).await;
        assert_eq!(
            third,
            json!({ "created": 0, "updated": 1, "unchanged": 2, "dryRun": false })
        );
        let now = list(&app, json!({ "segmentKey": "smb" })).await;
        assert_eq!(values(&now), ["5"]);
        assert_eq!(observation_count(&app).await, 3);

        // A new source alone is a change too.
        let mut sourced = changed_batch;
        sourced[0]["source"] = json!("warehouse");
        let fourth = record(&app, sourced).await;
        assert_eq!(
            fourth,
            json!({ "created": 0, "updated": 1, "unchanged": 2, "dryRun": false })
        );
        let with_source = list(&app, json!({ "granularity": "MONTH" })).await;
        let sources: Vec<&Value> = with_source["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| &n["source"])
            .collect();
        assert!(sources.contains(&&json!("warehouse")), "{with_source:#}");
        assert_eq!(observation_count(&app).await, 3);
    }
);

on_both_backends!(
    dry_run_reports_the_diff_and_writes_nothing,
    |app: TestApp| async move {
        define_metric(&app, "signups", "CUSTOMER", "SUM").await;
        record(&app, vec![obs("signups", "2026-01-01", "MONTH", "10")]).await;
        let audits = audit_count(&app).await;
        let snapshot = list(&app, json!({})).await;

        let data = app
            .ok(
                "revops",
                RECORD,
                json!({
                    "o": [
                        obs("signups", "2026-01-01", "MONTH", "20"),
                        obs("signups", "2026-02-01", "MONTH", "30"),
                        obs("signups", "2026-03-01", "MONTH", "40"),
                    ],
                    "dry": true
                }),
            )
            .await;
        assert_eq!(
            data["recordObservations"],
            json!({ "created": 2, "updated": 1, "unchanged": 0, "dryRun": true })
        );
        assert_eq!(observation_count(&app).await, 1);
        assert_eq!(list(&app, json!({})).await, snapshot);
        assert_eq!(values(&snapshot), ["10"]);
        assert_eq!(audit_count(&app).await, audits, "a dry run was audited");

        // A dry run of a bad batch reports the same errors as a real one.
        let bad = app
            .gql(
                "revops",
                RECORD,
                json!({ "o": [obs("nope", "2026-01-01", "MONTH", "1")], "dry": true }),
            )
            .await;
        assert_bad_input(&bad, "input.observations[0].metricKey");
    }
);

on_both_backends!(
    decimal_values_round_trip_exactly,
    |app: TestApp| async move {
        define_metric(&app, "arr", "FINANCIAL", "SUM").await;
        let exact = [
            ("2026-01-01", "12345678901234.123456789"),
            ("2026-02-01", "-0.000000001"),
            ("2026-03-01", "7922816251426433759354395033"),
            ("2026-04-01", "0.1000000000000000055511151231"),
        ];
        let rows = exact
            .iter()
            .map(|(start, value)| obs("arr", start, "MONTH", value))
            .collect();
        record(&app, rows).await;
        let got = list(&app, json!({ "metricKey": "arr" })).await;
        let expected: Vec<&str> = exact.iter().map(|(_, v)| *v).collect();
        assert_eq!(values(&got), expected);

        // The exact value is also what the series and the unchanged check see.
        let series = app
        .ok(
            "bi",
            r#"{ metricSeries(input: { metricKey: "arr", from: "2026-01-01", to: "2026-01-31", granularity: MONTH }) { points { value } } }"#,
            json!({}),
        )
        .await;
        assert_eq!(
            series["metricSeries"]["points"],
            json!([{ "value": "12345678901234.123456789" }])
        );
        let again = record(
            &app,
            vec![obs(
                "arr",
                "2026-01-01",
                "MONTH",
                "12345678901234.123456789",
            )],
        )
        .await;
        assert_eq!(again["unchanged"], 1, "{again:#}");
        let nudged = record(
            &app,
            vec![obs(
                "arr",
                "2026-01-01",
                "MONTH",
                "12345678901234.123456788",
            )],
        )
        .await;
        assert_eq!(nudged["updated"], 1, "{nudged:#}");
    }
);

on_both_backends!(
    tenths_of_days_sum_to_an_exact_month,
    |app: TestApp| async move {
        define_metric(&app, "signups", "CUSTOMER", "SUM").await;
        record(
            &app,
            vec![
                obs("signups", "2026-01-05", "DAY", "0.1"),
                obs("signups", "2026-01-20", "DAY", "0.2"),
            ],
        )
        .await;
        let data = app
        .ok(
            "bi",
            r#"{ metricSeries(input: { metricKey: "signups", from: "2026-01-01", to: "2026-01-31", granularity: MONTH }) {
                 sourceGranularity points { periodStart periodEnd value observationCount } } }"#,
            json!({}),
        )
        .await;
        assert_eq!(data["metricSeries"]["sourceGranularity"], "DAY");
        assert_eq!(
            data["metricSeries"]["points"],
            json!([{ "periodStart": "2026-01-01", "periodEnd": "2026-01-31", "value": "0.3", "observationCount": 2 }])
        );
    }
);

on_both_backends!(
    unknown_metric_key_refuses_the_whole_batch,
    |app: TestApp| async move {
        define_metric(&app, "signups", "CUSTOMER", "SUM").await;
        let audits = audit_count(&app).await;
        let body = app
        .gql(
            "revops",
            RECORD,
            json!({ "o": [obs("signups", "2026-01-01", "MONTH", "1"), obs("no_such_metric", "2026-01-01", "MONTH", "2")] }),
        )
        .await;
        assert_bad_input(&body, "input.observations[1].metricKey");
        assert!(body["data"].is_null(), "{body:#}");
        assert_eq!(
            observation_count(&app).await,
            0,
            "the valid row 0 was written"
        );
        assert_eq!(audit_count(&app).await, audits);

        // A key that is not even a valid slug is named the same way.
        let body = app
        .gql(
            "revops",
            RECORD,
            json!({ "o": [obs("signups", "2026-01-01", "MONTH", "1"), obs("Not A Key", "2026-01-01", "MONTH", "2")] }),
        )
        .await;
        assert_bad_input(&body, "input.observations[1].metricKey");
        assert_eq!(observation_count(&app).await, 0);
    }
);

on_both_backends!(
    unknown_segment_or_stage_key_refuses_the_batch,
    |app: TestApp| async move {
        define_metric(&app, "signups", "CUSTOMER", "SUM").await;
        create_segment(&app, "smb").await;
        let body = app
            .gql(
                "revops",
                RECORD,
                json!({ "o": [
                obs_dim("signups", "2026-01-01", "MONTH", Some("enterprise"), None, "1"),
                obs_dim("signups", "2026-01-01", "MONTH", Some("smb"), None, "2"),
            ] }),
            )
            .await;
        assert_bad_input(&body, "input.observations[0].segmentKey");
        let body = app
            .gql(
                "revops",
                RECORD,
                json!({ "o": [
                obs_dim("signups", "2026-01-01", "MONTH", Some("smb"), None, "2"),
                obs_dim("signups", "2026-01-01", "MONTH", None, Some("churned"), "1"),
            ] }),
            )
            .await;
        assert_bad_input(&body, "input.observations[1].stageKey");
        assert_eq!(observation_count(&app).await, 0);
    }
);

on_both_backends!(
    misaligned_period_start_names_the_field,
    |app: TestApp| async move {
        define_metric(&app, "signups", "CUSTOMER", "SUM").await;
        let cases = [
            ("2026-01-15", "MONTH"),
            ("2026-02-01", "QUARTER"),
            ("2026-01-06", "WEEK"), // a Tuesday
            ("2026-03-01", "YEAR"),
        ];
        for (start, granularity) in cases {
            let body = app
                .gql(
                    "revops",
                    RECORD,
                    json!({ "o": [obs("signups", start, granularity, "1")] }),
                )
                .await;
            assert_bad_input(&body, "input.observations[0].periodStart");
        }
        assert_eq!(observation_count(&app).await, 0);
        // Aligned starts are accepted.
        let done = record(
            &app,
            vec![
                obs("signups", "2026-01-01", "MONTH", "1"),
                obs("signups", "2026-04-01", "QUARTER", "1"),
                obs("signups", "2026-01-05", "WEEK", "1"),
                obs("signups", "2026-01-01", "YEAR", "1"),
            ],
        )
        .await;
        assert_eq!(done["created"], 4);
    }
);

on_both_backends!(
    values_that_are_not_decimal_strings_are_refused,
    |app: TestApp| async move {
        define_metric(&app, "signups", "CUSTOMER", "SUM").await;
        let bad_values = [
            json!("12,5"),
            json!(1.5),
            json!("1e"),
            json!(""),
            json!(null),
        ];
        for bad in bad_values {
            let mut row = obs("signups", "2026-01-01", "MONTH", "0");
            row["value"] = bad.clone();
            let body = app
                .gql(
                    "revops",
                    RECORD,
                    json!({ "o": [obs("signups", "2026-02-01", "MONTH", "1"), row] }),
                )
                .await;
            assert_eq!(
                error_code(&body).as_deref(),
                Some("BAD_USER_INPUT"),
                "value {bad}: {body:#}"
            );
            assert!(body["data"].is_null(), "value {bad}: {body:#}");
        }
        assert_eq!(observation_count(&app).await, 0);
    }
);

on_both_backends!(
    a_value_that_is_not_a_decimal_names_its_field,
    |app: TestApp| async move {
        define_metric(&app, "signups", "CUSTOMER", "SUM").await;
        for bad in [json!("12,5"), json!(1.5)] {
            let mut row = obs("signups", "2026-01-01", "MONTH", "0");
            row["value"] = bad.clone();
            let body = app
                .gql(
                    "revops",
                    RECORD,
                    json!({ "o": [obs("signups", "2026-02-01", "MONTH", "1"), row] }),
                )
                .await;
            assert_bad_input(&body, "input.observations[1].value");
        }
        assert_eq!(observation_count(&app).await, 0);
    }
);

on_both_backends!(
    duplicate_natural_key_in_one_batch_is_refused,
    |app: TestApp| async move {
        define_metric(&app, "signups", "CUSTOMER", "SUM").await;
        create_segment(&app, "smb").await;
        let body = app
            .gql(
                "revops",
                RECORD,
                json!({ "o": [
                obs_dim("signups", "2026-01-01", "MONTH", Some("smb"), None, "1"),
                obs_dim("signups", "2026-01-01", "MONTH", Some("smb"), None, "2"),
            ] }),
            )
            .await;
        assert_bad_input(&body, "input.observations[1]");
        assert_eq!(observation_count(&app).await, 0);

        // The same period for another segment, stage or granularity is a different key.
        let done = record(
            &app,
            vec![
                obs_dim("signups", "2026-01-01", "MONTH", Some("smb"), None, "1"),
                obs_dim("signups", "2026-01-01", "MONTH", None, None, "2"),
                obs_dim(
                    "signups",
                    "2026-01-01",
                    "MONTH",
                    Some("smb"),
                    Some("adoption"),
                    "3",
                ),
                obs_dim("signups", "2026-01-01", "DAY", Some("smb"), None, "4"),
            ],
        )
        .await;
        assert_eq!(done["created"], 4);
    }
);

on_both_backends!(
    retired_metric_takes_no_observations,
    |app: TestApp| async move {
        let id = define_metric(&app, "legacy", "CUSTOMER", "SUM").await;
        record(&app, vec![obs("legacy", "2026-01-01", "MONTH", "1")]).await;
        app.ok(
            "revops",
            "mutation($id: ID!) { retireMetric(input: { id: $id }) { metric { status } } }",
            json!({ "id": id }),
        )
        .await;
        let body = app
            .gql(
                "revops",
                RECORD,
                json!({ "o": [obs("legacy", "2026-02-01", "MONTH", "2")] }),
            )
            .await;
        assert_bad_input(&body, "input.observations[0].metricKey");
        // History stays.
        let all = list(&app, json!({ "metricKey": "legacy" })).await;
        assert_eq!(values(&all), ["1"]);
    }
);

mod batch_over_the_limit_is_refused {
    use super::*;

    async fn check(app: TestApp) {
        define_metric(&app, "signups", "CUSTOMER", "SUM").await;
        let rows: Vec<Value> = ["2026-01-01", "2026-02-01", "2026-03-01", "2026-04-01"]
            .iter()
            .map(|d| obs("signups", d, "MONTH", "1"))
            .collect();
        let body = app.gql("revops", RECORD, json!({ "o": rows })).await;
        assert_bad_input(&body, "input.observations");
        assert_eq!(observation_count(&app).await, 0);
        let done = record(&app, rows[..3].to_vec()).await;
        assert_eq!(done["created"], 3);
    }

    fn limits() -> Limits {
        Limits {
            max_batch_size: 3,
            ..Limits::default()
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        let app =
            tandem_tests::spawn_app_with(tandem_tests::Backend::Sqlite, limits(), 8 * 1024 * 1024)
                .await
                .expect("sqlite app");
        check(app).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[cfg_attr(
        tandem_no_postgres,
        ignore = "set TEST_DATABASE_URL to run on PostgreSQL"
    )]
    async fn postgres() {
        check(tandem_tests::spawn_postgres_app_with(limits(), 8 * 1024 * 1024).await).await;
    }
}

on_both_backends!(
    observation_list_filters_narrow_the_rows,
    |app: TestApp| async move {
        define_metric(&app, "signups", "CUSTOMER", "SUM").await;
        define_metric(&app, "revenue", "FINANCIAL", "SUM").await;
        create_segment(&app, "smb").await;
        create_segment(&app, "enterprise").await;
        record(
            &app,
            vec![
                obs("signups", "2026-01-01", "MONTH", "1"),
                obs_dim("signups", "2026-02-01", "MONTH", Some("smb"), None, "2"),
                obs_dim(
                    "signups",
                    "2026-03-01",
                    "MONTH",
                    Some("enterprise"),
                    Some("adoption"),
                    "3",
                ),
                obs("signups", "2026-03-02", "DAY", "4"),
                obs("revenue", "2026-01-01", "MONTH", "5"),
                obs_dim(
                    "revenue",
                    "2026-04-01",
                    "QUARTER",
                    Some("smb"),
                    Some("retention"),
                    "6",
                ),
            ],
        )
        .await;

        let all = list(&app, json!({})).await;
        assert_eq!(all["totalCount"], 6);
        // Ordered by period start.
        let starts: Vec<&str> = all["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["periodStart"].as_str().unwrap())
            .collect();
        let mut sorted = starts.clone();
        sorted.sort();
        assert_eq!(starts, sorted);

        let sorted_values = |l: &Value| {
            let mut v = values(l);
            v.sort();
            v
        };
        let by_metric = list(&app, json!({ "metricKey": "revenue" })).await;
        assert_eq!(sorted_values(&by_metric), ["5", "6"]);
        let by_segment = list(&app, json!({ "segmentKey": "smb" })).await;
        assert_eq!(sorted_values(&by_segment), ["2", "6"]);
        let by_stage = list(&app, json!({ "stageKey": "adoption" })).await;
        assert_eq!(sorted_values(&by_stage), ["3"]);
        let by_granularity = list(&app, json!({ "granularity": "MONTH" })).await;
        assert_eq!(sorted_values(&by_granularity), ["1", "2", "3", "5"]);
        let by_range = list(&app, json!({ "from": "2026-02-01", "to": "2026-03-01" })).await;
        assert_eq!(sorted_values(&by_range), ["2", "3"]);
        let combined = list(
            &app,
            json!({ "metricKey": "signups", "from": "2026-03-01", "granularity": "DAY" }),
        )
        .await;
        assert_eq!(sorted_values(&combined), ["4"]);
        assert_eq!(combined["totalCount"], 1);

        for (filter, field) in [
            (json!({ "metricKey": "nope" }), "filter.metricKey"),
            (json!({ "segmentKey": "nope" }), "filter.segmentKey"),
            (json!({ "stageKey": "nope" }), "filter.stageKey"),
        ] {
            let body = app.gql("bi", LIST, json!({ "f": filter })).await;
            assert_bad_input(&body, field);
        }
    }
);

on_both_backends!(observation_relations_resolve, |app: TestApp| async move {
    define_metric(&app, "signups", "CUSTOMER", "SUM").await;
    create_segment(&app, "smb").await;
    let mut row = obs_dim(
        "signups",
        "2026-01-05",
        "WEEK",
        Some("smb"),
        Some("retention"),
        "7.25",
    );
    row["source"] = json!("warehouse");
    record(&app, vec![row, obs("signups", "2026-01-01", "MONTH", "30")]).await;

    let data = app
        .ok(
            "member",
            r#"{ observations(filter: { granularity: WEEK }) { nodes {
                 value source recordedBy periodStart periodEnd granularity
                 metric { key perspective } segment { key name } stage { key name position } } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        data["observations"]["nodes"][0],
        json!({
            "value": "7.25", "source": "warehouse", "recordedBy": "revops-user",
            "periodStart": "2026-01-05", "periodEnd": "2026-01-11", "granularity": "WEEK",
            "metric": { "key": "signups", "perspective": "CUSTOMER" },
            "segment": { "key": "smb", "name": "SMB" },
            "stage": { "key": "retention", "name": "Retention", "position": 3 }
        })
    );
    let total = app
        .ok(
            "member",
            "{ observations(filter: { granularity: MONTH }) { nodes { periodEnd segment { key } stage { key } source } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        total["observations"]["nodes"],
        json!([{ "periodEnd": "2026-01-31", "segment": null, "stage": null, "source": null }])
    );
});
