//! Metric series: roll-ups over time by the metric's aggregation, breakdowns by segment and
//! journey stage, and input checks.

use serde_json::{Value, json};
use tandem_tests::{TestApp, error_code, error_field, on_both_backends};

use crate::support::{create_segment, define_metric, obs, obs_dim, record};

const SERIES: &str = r#"
query($input: MetricSeriesInput!) {
  metricSeries(input: $input) {
    metric { key }
    granularity sourceGranularity from to
    points { periodStart periodEnd value observationCount segment { key } stage { key } }
  }
}"#;

async fn series(app: &TestApp, input: Value) -> Value {
    app.ok("bi", SERIES, json!({ "input": input })).await["metricSeries"].clone()
}

fn input(metric: &str, from: &str, to: &str, granularity: &str) -> Value {
    json!({ "metricKey": metric, "from": from, "to": to, "granularity": granularity })
}

/// `(periodStart, value)` of each point.
fn points(series: &Value) -> Vec<(String, String)> {
    series["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["periodStart"].as_str().unwrap().to_owned(),
                p["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

on_both_backends!(sum_rolls_days_up_into_months, |app: TestApp| async move {
    define_metric(&app, "signups", "CUSTOMER", "SUM").await;
    record(
        &app,
        vec![
            obs("signups", "2026-01-01", "DAY", "1.5"),
            obs("signups", "2026-01-31", "DAY", "2.25"),
            obs("signups", "2026-02-01", "DAY", "10"),
            obs("signups", "2026-02-28", "DAY", "-3"),
            obs("signups", "2026-04-10", "DAY", "7"),
        ],
    )
    .await;
    let s = series(&app, input("signups", "2026-01-10", "2026-04-02", "MONTH")).await;
    assert_eq!(s["metric"]["key"], "signups");
    assert_eq!(s["granularity"], "MONTH");
    assert_eq!(s["sourceGranularity"], "DAY");
    // The range is widened to whole months; April 10 is inside the widened range.
    assert_eq!(s["from"], "2026-01-01");
    assert_eq!(s["to"], "2026-04-30");
    assert_eq!(
        points(&s),
        pairs(&[
            ("2026-01-01", "3.75"),
            ("2026-02-01", "7"),
            ("2026-04-01", "7")
        ])
    );
    let first = &s["points"][0];
    assert_eq!(first["periodEnd"], "2026-01-31");
    assert_eq!(first["observationCount"], 2);
    assert!(first["segment"].is_null() && first["stage"].is_null());

    // A range that covers none of the values has no points and no source granularity.
    let empty = series(&app, input("signups", "2025-01-01", "2025-12-31", "MONTH")).await;
    assert_eq!(empty["points"], json!([]));
    assert!(empty["sourceGranularity"].is_null(), "{empty:#}");
});

on_both_backends!(
    months_roll_into_quarters_by_each_aggregation,
    |app: TestApp| async move {
        let expected = [
            ("q_sum", "SUM", "60", "5"),
            ("q_average", "AVERAGE", "20", "5"),
            ("q_min", "MIN", "10", "5"),
            ("q_max", "MAX", "30", "5"),
            ("q_last", "LAST", "20", "5"),
        ];
        let mut rows = Vec::new();
        for (key, aggregation, _, _) in expected {
            define_metric(&app, key, "CUSTOMER", aggregation).await;
            rows.push(obs(key, "2026-01-01", "MONTH", "10"));
            rows.push(obs(key, "2026-02-01", "MONTH", "30"));
            rows.push(obs(key, "2026-03-01", "MONTH", "20"));
            rows.push(obs(key, "2026-04-01", "MONTH", "5"));
        }
        record(&app, rows).await;
        for (key, aggregation, q1, q2) in expected {
            let s = series(&app, input(key, "2026-01-01", "2026-06-30", "QUARTER")).await;
            assert_eq!(s["sourceGranularity"], "MONTH", "{aggregation}");
            assert_eq!(
                points(&s),
                pairs(&[("2026-01-01", q1), ("2026-04-01", q2)]),
                "{aggregation}"
            );
            assert_eq!(s["points"][0]["periodEnd"], "2026-03-31", "{aggregation}");
            assert_eq!(s["points"][0]["observationCount"], 3, "{aggregation}");
        }

        // An average that does not divide evenly stays exact to the decimal's precision.
        define_metric(&app, "thirds", "CUSTOMER", "AVERAGE").await;
        record(
            &app,
            vec![
                obs("thirds", "2026-01-01", "MONTH", "1"),
                obs("thirds", "2026-02-01", "MONTH", "0"),
                obs("thirds", "2026-03-01", "MONTH", "0"),
            ],
        )
        .await;
        let s = series(&app, input("thirds", "2026-01-01", "2026-03-31", "QUARTER")).await;
        let value = s["points"][0]["value"].as_str().unwrap();
        assert!(value.starts_with("0.3333333333"), "{value}");
    }
);

on_both_backends!(
    by_segment_returns_one_point_per_segment,
    |app: TestApp| async move {
        define_metric(&app, "mrr", "FINANCIAL", "SUM").await;
        create_segment(&app, "smb").await;
        create_segment(&app, "enterprise").await;
        create_segment(&app, "mid_market").await;
        record(
            &app,
            vec![
                obs("mrr", "2026-01-01", "MONTH", "1000"),
                obs_dim("mrr", "2026-01-01", "MONTH", Some("smb"), None, "100"),
                obs_dim("mrr", "2026-02-01", "MONTH", Some("smb"), None, "150"),
                obs_dim(
                    "mrr",
                    "2026-01-01",
                    "MONTH",
                    Some("enterprise"),
                    None,
                    "700",
                ),
            ],
        )
        .await;
        let mut i = input("mrr", "2026-01-01", "2026-03-31", "QUARTER");
        i["bySegment"] = json!(true);
        let s = series(&app, i).await;
        let mut got: Vec<(String, String, i64)> = s["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                assert_eq!(p["periodStart"], "2026-01-01");
                assert!(p["stage"].is_null());
                (
                    p["segment"]["key"]
                        .as_str()
                        .expect("segment key")
                        .to_owned(),
                    p["value"].as_str().unwrap().to_owned(),
                    p["observationCount"].as_i64().unwrap(),
                )
            })
            .collect();
        got.sort();
        // The unsegmented total is not a segment; a segment without values has no point.
        assert_eq!(
            got,
            vec![
                ("enterprise".to_owned(), "700".to_owned(), 1),
                ("smb".to_owned(), "250".to_owned(), 2),
            ]
        );
    }
);

on_both_backends!(
    without_breakdown_totals_prefer_unsegmented_rows,
    |app: TestApp| async move {
        define_metric(&app, "mrr", "FINANCIAL", "SUM").await;
        create_segment(&app, "smb").await;
        create_segment(&app, "enterprise").await;
        record(
            &app,
            vec![
                // January: the organization's own total and the segments.
                obs("mrr", "2026-01-01", "MONTH", "1000"),
                obs_dim("mrr", "2026-01-01", "MONTH", Some("smb"), None, "100"),
                obs_dim(
                    "mrr",
                    "2026-01-01",
                    "MONTH",
                    Some("enterprise"),
                    None,
                    "700",
                ),
                // February: segments only.
                obs_dim("mrr", "2026-02-01", "MONTH", Some("smb"), None, "150"),
                obs_dim(
                    "mrr",
                    "2026-02-01",
                    "MONTH",
                    Some("enterprise"),
                    None,
                    "800",
                ),
            ],
        )
        .await;
        let jan = series(&app, input("mrr", "2026-01-01", "2026-01-31", "MONTH")).await;
        assert_eq!(points(&jan), pairs(&[("2026-01-01", "1000")]));
        assert_eq!(jan["points"][0]["observationCount"], 1);
        let feb = series(&app, input("mrr", "2026-02-01", "2026-02-28", "MONTH")).await;
        assert_eq!(points(&feb), pairs(&[("2026-02-01", "950")]));
        assert_eq!(feb["points"][0]["observationCount"], 2);
    }
);

on_both_backends!(
    a_months_total_does_not_depend_on_the_requested_range,
    |app: TestApp| async move {
        define_metric(&app, "mrr", "FINANCIAL", "SUM").await;
        create_segment(&app, "smb").await;
        create_segment(&app, "enterprise").await;
        record(
            &app,
            vec![
                obs("mrr", "2026-01-01", "MONTH", "1000"),
                obs_dim("mrr", "2026-01-01", "MONTH", Some("smb"), None, "100"),
                obs_dim("mrr", "2026-02-01", "MONTH", Some("smb"), None, "150"),
                obs_dim(
                    "mrr",
                    "2026-02-01",
                    "MONTH",
                    Some("enterprise"),
                    None,
                    "800",
                ),
            ],
        )
        .await;
        let feb_alone = series(&app, input("mrr", "2026-02-01", "2026-02-28", "MONTH")).await;
        assert_eq!(points(&feb_alone), pairs(&[("2026-02-01", "950")]));
        // February has no unsegmented total, so it is the sum of its segments whether or not
        // January (which has one) is in the range.
        let both = series(&app, input("mrr", "2026-01-01", "2026-02-28", "MONTH")).await;
        assert_eq!(
            points(&both),
            pairs(&[("2026-01-01", "1000"), ("2026-02-01", "950")]),
            "{both:#}"
        );
    }
);

on_both_backends!(
    by_stage_returns_one_point_per_stage,
    |app: TestApp| async move {
        define_metric(&app, "accounts", "CUSTOMER", "SUM").await;
        create_segment(&app, "smb").await;
        record(
            &app,
            vec![
                obs_dim(
                    "accounts",
                    "2026-01-01",
                    "MONTH",
                    None,
                    Some("adoption"),
                    "10",
                ),
                obs_dim(
                    "accounts",
                    "2026-02-01",
                    "MONTH",
                    None,
                    Some("adoption"),
                    "5",
                ),
                obs_dim(
                    "accounts",
                    "2026-01-01",
                    "MONTH",
                    None,
                    Some("retention"),
                    "3",
                ),
                obs("accounts", "2026-01-01", "MONTH", "99"),
            ],
        )
        .await;
        let mut i = input("accounts", "2026-01-01", "2026-03-31", "QUARTER");
        i["byStage"] = json!(true);
        let s = series(&app, i).await;
        let mut got: Vec<(String, String)> = s["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                assert!(p["segment"].is_null());
                (
                    p["stage"]["key"].as_str().expect("stage key").to_owned(),
                    p["value"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        got.sort();
        assert_eq!(
            got,
            vec![
                ("adoption".to_owned(), "15".to_owned()),
                ("retention".to_owned(), "3".to_owned()),
            ]
        );

        // By segment and stage together.
        record(
            &app,
            vec![
                obs_dim(
                    "accounts",
                    "2026-01-01",
                    "MONTH",
                    Some("smb"),
                    Some("adoption"),
                    "4",
                ),
                obs_dim(
                    "accounts",
                    "2026-03-01",
                    "MONTH",
                    Some("smb"),
                    Some("adoption"),
                    "6",
                ),
            ],
        )
        .await;
        let mut i = input("accounts", "2026-01-01", "2026-03-31", "QUARTER");
        i["byStage"] = json!(true);
        i["bySegment"] = json!(true);
        let s = series(&app, i).await;
        let point = &s["points"];
        assert_eq!(point.as_array().unwrap().len(), 1, "{s:#}");
        assert_eq!(point[0]["segment"]["key"], "smb");
        assert_eq!(point[0]["stage"]["key"], "adoption");
        assert_eq!(point[0]["value"], "10");
    }
);

on_both_backends!(
    week_series_rolls_days_into_iso_weeks,
    |app: TestApp| async move {
        define_metric(&app, "logins", "CUSTOMER", "SUM").await;
        record(
            &app,
            vec![
                obs("logins", "2026-01-05", "DAY", "1"),      // Monday
                obs("logins", "2026-01-11", "DAY", "2"),      // Sunday, same week
                obs("logins", "2026-01-12", "DAY", "4"),      // next Monday
                obs("logins", "2026-01-01", "MONTH", "1000"), // months never roll into weeks
            ],
        )
        .await;
        let s = series(&app, input("logins", "2026-01-07", "2026-01-13", "WEEK")).await;
        assert_eq!(s["sourceGranularity"], "DAY");
        assert_eq!(s["from"], "2026-01-05");
        assert_eq!(s["to"], "2026-01-18");
        assert_eq!(
            points(&s),
            pairs(&[("2026-01-05", "3"), ("2026-01-12", "4")])
        );
        assert_eq!(s["points"][0]["periodEnd"], "2026-01-11");

        // Recorded weekly values are used as they are.
        define_metric(&app, "weekly", "CUSTOMER", "MAX").await;
        record(
            &app,
            vec![
                obs("weekly", "2025-12-29", "WEEK", "8"),
                obs("weekly", "2026-01-05", "WEEK", "9"),
            ],
        )
        .await;
        let s = series(&app, input("weekly", "2026-01-01", "2026-01-10", "WEEK")).await;
        assert_eq!(s["sourceGranularity"], "WEEK");
        assert_eq!(
            points(&s),
            pairs(&[("2025-12-29", "8"), ("2026-01-05", "9")])
        );
    }
);

on_both_backends!(
    coarsest_recorded_granularity_is_used_and_reported,
    |app: TestApp| async move {
        define_metric(&app, "signups", "CUSTOMER", "SUM").await;
        record(
            &app,
            vec![
                obs("signups", "2026-01-05", "DAY", "1"),
                obs("signups", "2026-01-06", "DAY", "2"),
                obs("signups", "2026-01-01", "MONTH", "100"),
            ],
        )
        .await;
        let monthly = series(&app, input("signups", "2026-01-01", "2026-01-31", "MONTH")).await;
        assert_eq!(monthly["sourceGranularity"], "MONTH");
        assert_eq!(points(&monthly), pairs(&[("2026-01-01", "100")]));
        let daily = series(&app, input("signups", "2026-01-01", "2026-01-31", "DAY")).await;
        assert_eq!(daily["sourceGranularity"], "DAY");
        assert_eq!(
            points(&daily),
            pairs(&[("2026-01-05", "1"), ("2026-01-06", "2")])
        );
    }
);

on_both_backends!(bad_series_input_is_refused, |app: TestApp| async move {
    define_metric(&app, "signups", "CUSTOMER", "SUM").await;
    let body = app
        .gql(
            "bi",
            SERIES,
            json!({ "input": input("signups", "2026-03-01", "2026-01-01", "MONTH") }),
        )
        .await;
    assert_eq!(
        error_code(&body).as_deref(),
        Some("BAD_USER_INPUT"),
        "{body:#}"
    );
    assert!(
        error_field(&body).is_some_and(|f| f == "input.to" || f == "input.from"),
        "{body:#}"
    );
    let body = app
        .gql(
            "bi",
            SERIES,
            json!({ "input": input("no_such_metric", "2026-01-01", "2026-03-31", "MONTH") }),
        )
        .await;
    assert_eq!(
        error_code(&body).as_deref(),
        Some("BAD_USER_INPUT"),
        "{body:#}"
    );
    assert_eq!(error_field(&body).as_deref(), Some("input.metricKey"));
    let body = app
        .gql(
            "bi",
            SERIES,
            json!({ "input": input("signups", "2026-13-01", "2026-03-31", "MONTH") }),
        )
        .await;
    assert_eq!(
        error_code(&body).as_deref(),
        Some("BAD_USER_INPUT"),
        "{body:#}"
    );
    let body = app
        .gql(
            "hr_sync",
            SERIES,
            json!({ "input": input("signups", "2026-01-01", "2026-03-31", "MONTH") }),
        )
        .await;
    assert_eq!(error_code(&body).as_deref(), Some("FORBIDDEN"), "{body:#}");
});
