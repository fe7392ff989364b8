//! Formula metrics, metric values, the segment x stage matrix and metric trees: formulas are
//! checked when defined (syntax with its position, unknown keys, circles), computed exactly for
//! any period, segment and stage, and a value that cannot be computed is null with a reason.

use std::collections::BTreeMap;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::{Value, json};
use tandem_tests::{TestApp, error_code, error_field, on_both_backends};

use crate::support::{DEFINE_METRIC, create_segment, metric_input, obs_dim, record};

const VALUE: &str = r#"
query($input: MetricValueInput!) {
  metricValue(input: $input) { metric { key } periodStart periodEnd value reason }
}"#;

const MATRIX: &str = r#"
query($input: MetricMatrixInput!) {
  metricMatrix(input: $input) {
    periodStart periodEnd metrics { key }
    rows { segment { key } stage { key } values { metricKey value reason } }
  }
}"#;

const SERIES: &str = r#"
query($input: MetricSeriesInput!) {
  metricSeries(input: $input) {
    granularity sourceGranularity
    points { periodStart value observationCount segment { key } }
    gaps { periodStart periodEnd value reason segment { key } stage { key } }
  }
}"#;

const TREE: &str = r#"
query($input: MetricTreeInput!) {
  metricTree(input: $input) {
    ...node
    inputs { ...node inputs { ...node inputs { ...node } } }
  }
}
fragment node on MetricTreeNode {
  metric { key } rationale
  latest { periodStart value segment { key } }
  previous { periodStart value }
  trend { change changeRatio direction improving }
}"#;

const LINK: &str = r#"
mutation($input: LinkMetricsInput!) {
  linkMetrics(input: $input) { edge { input { key } output { key } rationale createdBy } }
}"#;

const UNLINK: &str = r#"
mutation($input: UnlinkMetricsInput!) { unlinkMetrics(input: $input) { removed } }"#;

/// Defines a metric, optionally a formula one, with the given direction.
async fn define(app: &TestApp, key: &str, direction: &str, formula: Option<&str>) -> Value {
    let mut input = metric_input(key, "FINANCIAL", "SUM");
    input["direction"] = json!(direction);
    input["formula"] = json!(formula);
    app.gql("revops", DEFINE_METRIC, json!({ "input": input }))
        .await
}

async fn define_ok(app: &TestApp, key: &str, formula: Option<&str>) -> String {
    let body = define(app, key, "HIGHER_IS_BETTER", formula).await;
    assert!(body.get("errors").is_none(), "{body:#}");
    body["data"]["defineMetric"]["metric"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// `a / b` exactly as rust_decimal computes and prints it.
fn div(a: &str, b: &str) -> String {
    (Decimal::from_str(a).unwrap() / Decimal::from_str(b).unwrap())
        .normalize()
        .to_string()
}

fn assert_bad_input(body: &Value, field: &str) {
    assert_eq!(
        error_code(body).as_deref(),
        Some("BAD_USER_INPUT"),
        "{body:#}"
    );
    assert_eq!(error_field(body).as_deref(), Some(field), "{body:#}");
}

fn message(body: &Value) -> &str {
    body["errors"][0]["message"].as_str().unwrap_or_default()
}

async fn value(app: &TestApp, input: Value) -> (Value, Value) {
    let data = app.ok("bi", VALUE, json!({ "input": input })).await;
    let v = &data["metricValue"];
    (v["value"].clone(), v["reason"].clone())
}

fn jan(metric: &str) -> Value {
    json!({ "metricKey": metric, "periodStart": "2026-01-01", "granularity": "MONTH" })
}

fn jan_in(metric: &str, segment: Option<&str>, stage: Option<&str>) -> Value {
    let mut v = jan(metric);
    v["segmentKey"] = json!(segment);
    v["stageKey"] = json!(stage);
    v
}

/// Worked table, January 2026 (monthly values by segment x journey stage), with
/// `margin = (revenue - costs) / revenue`, `arpu = revenue / customers` and the nested
/// `margin_pct = margin * 100`:
///
/// | segment    | stage       | revenue | costs | customers | margin          | arpu              |
/// |------------|-------------|---------|-------|-----------|-----------------|-------------------|
/// | enterprise | acquisition | 600     | 200   | 3         | 400/600         | 200               |
/// | enterprise | adoption    | 400     | 100   | 0         | 0.75            | division by zero  |
/// | smb        | acquisition | 300     | 300   | 6         | 0               | 50                |
/// | smb        | adoption    | -       | 50    | 2         | no revenue      | no revenue        |
///
/// | total      |             | revenue | costs | customers | margin          | arpu     | margin_pct |
/// |------------|-------------|---------|-------|-----------|-----------------|----------|------------|
/// | all        |             | 1,300   | 650   | 11        | 0.5             | 1,300/11 | 50         |
/// | enterprise |             | 1,000   | 300   | 3         | 0.7             | 1,000/3  | 70         |
/// | smb        |             | 300     | 350   | 8         | -50/300         | 37.5     | -50/300*100|
/// |            | acquisition | 900     | 500   | 9         | 400/900         | 100      |            |
/// |            | adoption    | 400     | 150   | 2         | 0.625           | 200      |            |
///
/// February: enterprise/acquisition revenue 200, costs 50 (margin 0.75; no customers, so arpu
/// has a gap). March: smb/acquisition costs 10 only (margin has a gap).
async fn seed(app: &TestApp) {
    create_segment(app, "enterprise").await;
    create_segment(app, "smb").await;
    for key in ["revenue", "costs", "customers"] {
        define_ok(app, key, None).await;
    }
    define_ok(app, "margin", Some("(revenue - costs) / revenue")).await;
    define_ok(app, "arpu", Some("revenue / customers")).await;
    define_ok(app, "margin_pct", Some("margin * 100")).await;
    let cell =
        |metric, start, seg, stage, v| obs_dim(metric, start, "MONTH", Some(seg), Some(stage), v);
    let jan = "2026-01-01";
    record(
        app,
        vec![
            cell("revenue", jan, "enterprise", "acquisition", "600"),
            cell("costs", jan, "enterprise", "acquisition", "200"),
            cell("customers", jan, "enterprise", "acquisition", "3"),
            cell("revenue", jan, "enterprise", "adoption", "400"),
            cell("costs", jan, "enterprise", "adoption", "100"),
            cell("customers", jan, "enterprise", "adoption", "0"),
            cell("revenue", jan, "smb", "acquisition", "300"),
            cell("costs", jan, "smb", "acquisition", "300"),
            cell("customers", jan, "smb", "acquisition", "6"),
            cell("costs", jan, "smb", "adoption", "50"),
            cell("customers", jan, "smb", "adoption", "2"),
            cell("revenue", "2026-02-01", "enterprise", "acquisition", "200"),
            cell("costs", "2026-02-01", "enterprise", "acquisition", "50"),
            cell("costs", "2026-03-01", "smb", "acquisition", "10"),
        ],
    )
    .await;
}

on_both_backends!(
    formulas_are_checked_when_defined,
    |app: TestApp| async move {
        define_ok(&app, "revenue", None).await;
        define_ok(&app, "costs", None).await;

        let body = define(
            &app,
            "margin",
            "HIGHER_IS_BETTER",
            Some("revenue + * costs"),
        )
        .await;
        assert_bad_input(&body, "input.formula");
        assert_eq!(
            message(&body),
            "input.formula: unexpected `*` at position 11"
        );

        let body = define(&app, "margin", "HIGHER_IS_BETTER", Some("(revenue - costs")).await;
        assert_bad_input(&body, "input.formula");
        assert!(message(&body).contains("position 17"), "{body:#}");

        let body = define(&app, "margin", "HIGHER_IS_BETTER", Some("revenue / Costs")).await;
        assert_bad_input(&body, "input.formula");
        assert!(message(&body).contains("lower-case"), "{body:#}");
        assert!(message(&body).contains("position 11"), "{body:#}");

        let body = define(&app, "margin", "HIGHER_IS_BETTER", Some("revenue / nope")).await;
        assert_bad_input(&body, "input.formula");
        assert_eq!(
            message(&body),
            "input.formula: unknown metric key `nope` at position 11"
        );

        let body = define(&app, "margin", "HIGHER_IS_BETTER", Some("margin + 1")).await;
        assert_bad_input(&body, "input.formula");
        assert!(message(&body).contains("margin -> margin"), "{body:#}");

        // Nothing above was saved.
        let keys = app
            .ok("bi", "{ metrics { nodes { key formula } } }", json!({}))
            .await;
        assert_eq!(
            keys["metrics"]["nodes"],
            json!([{ "key": "costs", "formula": null }, { "key": "revenue", "formula": null }])
        );

        // a = b + 1 is fine; then making b = a * 2 would close a circle and is refused.
        define_ok(&app, "b", None).await;
        define_ok(&app, "a", Some("b + 1")).await;
        let b = app
            .ok("bi", r#"{ metric(key: "b") { id version } }"#, json!({}))
            .await["metric"]
            .clone();
        let update = r#"mutation($input: UpdateMetricInput!) { updateMetric(input: $input) { metric { formula version } } }"#;
        let body = app
            .gql(
                "revops",
                update,
                json!({ "input": { "id": b["id"], "formula": "a * 2" } }),
            )
            .await;
        assert_bad_input(&body, "input.formula");
        assert!(message(&body).contains("circle"), "{body:#}");
        assert!(
            message(&body).contains("a -> b -> a") || message(&body).contains("b -> a -> b"),
            "{body:#}"
        );
        let after = app
            .ok(
                "bi",
                r#"{ metric(key: "b") { formula version } }"#,
                json!({}),
            )
            .await;
        assert_eq!(
            after["metric"],
            json!({ "formula": null, "version": b["version"] })
        );
        // A formula over other metrics is accepted on update too.
        let ok = app
            .ok(
                "revops",
                update,
                json!({ "input": { "id": b["id"], "formula": "revenue - costs" } }),
            )
            .await;
        assert_eq!(ok["updateMetric"]["metric"]["formula"], "revenue - costs");
    }
);

on_both_backends!(
    formula_values_for_a_period_segment_and_stage,
    |app: TestApp| async move {
        seed(&app).await;
        let (v, r) = value(&app, jan("margin")).await;
        assert_eq!((v, r), (json!("0.5"), Value::Null));
        let data = app.ok("bi", VALUE, json!({ "input": jan("arpu") })).await;
        assert_eq!(
            data["metricValue"],
            json!({ "metric": { "key": "arpu" }, "periodStart": "2026-01-01", "periodEnd": "2026-01-31",
                    "value": div("1300", "11"), "reason": null })
        );
        // A plain metric through the same query.
        assert_eq!(value(&app, jan("revenue")).await.0, "1300");

        let expected = [
            (Some("enterprise"), None, "margin", json!("0.7")),
            (Some("smb"), None, "margin", json!(div("-50", "300"))),
            (Some("enterprise"), None, "arpu", json!(div("1000", "3"))),
            (Some("smb"), None, "arpu", json!("37.5")),
            (
                None,
                Some("acquisition"),
                "margin",
                json!(div("400", "900")),
            ),
            (None, Some("adoption"), "arpu", json!("200")),
            (
                Some("enterprise"),
                Some("acquisition"),
                "margin",
                json!(div("400", "600")),
            ),
            (Some("smb"), Some("acquisition"), "margin", json!("0")),
        ];
        for (segment, stage, metric, want) in expected {
            let (v, r) = value(&app, jan_in(metric, segment, stage)).await;
            assert_eq!(v, want, "{metric} {segment:?} {stage:?}: {r}");
            assert!(r.is_null());
        }

        // Nested formulas: margin_pct = margin * 100.
        assert_eq!(value(&app, jan("margin_pct")).await.0, "50");
        assert_eq!(
            value(&app, jan_in("margin_pct", Some("enterprise"), None))
                .await
                .0,
            "70"
        );
        let smb_margin = (Decimal::from(-50) / Decimal::from(300)).normalize();
        assert_eq!(
            value(&app, jan_in("margin_pct", Some("smb"), None)).await.0,
            json!((smb_margin * Decimal::from(100)).normalize().to_string())
        );

        // Division by zero and a missing input: null with a reason.
        let (v, r) = value(&app, jan_in("arpu", Some("enterprise"), Some("adoption"))).await;
        assert!(v.is_null());
        assert_eq!(r, "division by zero: `customers` is 0");
        let (v, r) = value(&app, jan_in("margin", Some("smb"), Some("adoption"))).await;
        assert!(v.is_null());
        assert_eq!(r, "no value for `revenue`");
        let (v, r) = value(&app, jan_in("margin_pct", Some("smb"), Some("adoption"))).await;
        assert!(v.is_null());
        assert_eq!(r, "no value for `margin`");
        // No data at all in the period.
        let (v, r) = value(
            &app,
            json!({ "metricKey": "margin", "periodStart": "2026-06-01", "granularity": "MONTH" }),
        )
        .await;
        assert!(v.is_null());
        assert_eq!(r, "no values recorded for `margin` in this period");

        // A quarter adds January to March inputs before dividing:
        // revenue 1,300 + 200 = 1,500; costs 650 + 50 + 10 = 710.
        let (v, _) = value(
            &app,
            json!({ "metricKey": "margin", "periodStart": "2026-01-01", "granularity": "QUARTER" }),
        )
        .await;
        assert_eq!(v, json!(div("790", "1500")));

        // Input checks.
        let body = app.gql("bi", VALUE, json!({ "input": jan("nope") })).await;
        assert_bad_input(&body, "input.metricKey");
        let body = app
            .gql(
                "bi",
                VALUE,
                json!({ "input": { "metricKey": "margin", "periodStart": "2026-01-15", "granularity": "MONTH" } }),
            )
            .await;
        assert_bad_input(&body, "input.periodStart");
        let body = app
            .gql(
                "bi",
                VALUE,
                json!({ "input": jan_in("margin", Some("nope"), None) }),
            )
            .await;
        assert_bad_input(&body, "input.segmentKey");
        let body = app
            .gql(
                "bi",
                VALUE,
                json!({ "input": jan_in("margin", None, Some("nope")) }),
            )
            .await;
        assert_bad_input(&body, "input.stageKey");

        // Another organization knows none of these metrics; the HR sync account reads nothing.
        let other = app.create_org("Globex").await;
        let token = app.token_for(other, "bi-globex", &["bi"]);
        let body = app
            .gql_with(Some(&token), VALUE, json!({ "input": jan("margin") }))
            .await;
        assert_bad_input(&body, "input.metricKey");
        let body = app
            .gql("hr_sync", VALUE, json!({ "input": jan("margin") }))
            .await;
        assert_eq!(error_code(&body).as_deref(), Some("FORBIDDEN"));
    }
);

on_both_backends!(
    series_of_formula_metrics_have_points_and_gaps,
    |app: TestApp| async move {
        seed(&app).await;
        let series = |metric: &str, by_segment: bool| {
            let app = &app;
            let metric = metric.to_owned();
            async move {
                app.ok(
                    "bi",
                    SERIES,
                    json!({ "input": { "metricKey": metric, "from": "2026-01-01", "to": "2026-03-31",
                        "granularity": "MONTH", "bySegment": by_segment } }),
                )
                .await["metricSeries"]
                    .clone()
            }
        };
        let margin = series("margin", false).await;
        assert_eq!(margin["granularity"], "MONTH");
        assert_eq!(margin["sourceGranularity"], "MONTH");
        assert_eq!(
            margin["points"],
            json!([
                { "periodStart": "2026-01-01", "value": "0.5", "observationCount": 0, "segment": null },
                { "periodStart": "2026-02-01", "value": "0.75", "observationCount": 0, "segment": null },
            ])
        );
        assert_eq!(
            margin["gaps"],
            json!([{ "periodStart": "2026-03-01", "periodEnd": "2026-03-31", "value": null,
                     "reason": "no value for `revenue`", "segment": null, "stage": null }])
        );
        let arpu = series("arpu", false).await;
        assert_eq!(arpu["points"][0]["value"], div("1300", "11"));
        assert_eq!(arpu["points"].as_array().unwrap().len(), 1);
        assert_eq!(
            arpu["gaps"],
            json!([{ "periodStart": "2026-02-01", "periodEnd": "2026-02-28", "value": null,
                     "reason": "no value for `customers`", "segment": null, "stage": null }])
        );
        let nested = series("margin_pct", false).await;
        let values: Vec<&Value> = nested["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| &p["value"])
            .collect();
        assert_eq!(values, [&json!("50"), &json!("75")]);
        assert_eq!(nested["gaps"][0]["reason"], "no value for `margin`");

        let by_segment = series("margin", true).await;
        let points: Vec<(String, String, String)> = by_segment["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["periodStart"].as_str().unwrap().to_owned(),
                    p["segment"]["key"].as_str().unwrap().to_owned(),
                    p["value"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let mut sorted = points.clone();
        sorted.sort();
        assert_eq!(
            sorted,
            vec![
                ("2026-01-01".into(), "enterprise".into(), "0.7".into()),
                ("2026-01-01".into(), "smb".into(), div("-50", "300")),
                ("2026-02-01".into(), "enterprise".into(), "0.75".into()),
            ]
        );
        assert_eq!(
            by_segment["gaps"],
            json!([{ "periodStart": "2026-03-01", "periodEnd": "2026-03-31", "value": null,
                     "reason": "no value for `revenue`", "segment": { "key": "smb" }, "stage": null }])
        );
        // A plain metric never has gaps.
        assert_eq!(series("costs", false).await["gaps"], json!([]));
    }
);

on_both_backends!(
    the_matrix_lays_out_metrics_by_segment_and_stage,
    |app: TestApp| async move {
        seed(&app).await;
        let data = app
            .ok(
                "bi",
                MATRIX,
                json!({ "input": { "metricKeys": ["revenue", "margin", "arpu"],
                    "periodStart": "2026-01-01", "granularity": "MONTH" } }),
            )
            .await;
        let m = &data["metricMatrix"];
        assert_eq!(m["periodStart"], "2026-01-01");
        assert_eq!(m["periodEnd"], "2026-01-31");
        assert_eq!(
            m["metrics"],
            json!([{ "key": "revenue" }, { "key": "margin" }, { "key": "arpu" }])
        );
        let rows = m["rows"].as_array().unwrap();
        // The overall row first, then segment rows, then stage rows, then cells.
        let kind = |r: &Value| match (r["segment"].is_null(), r["stage"].is_null()) {
            (true, true) => 0,
            (false, true) => 1,
            (true, false) => 2,
            (false, false) => 3,
        };
        let kinds: Vec<i32> = rows.iter().map(kind).collect();
        assert_eq!(kinds, [0, 1, 1, 2, 2, 3, 3, 3, 3]);
        for r in rows {
            let keys: Vec<&Value> = r["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| &v["metricKey"])
                .collect();
            assert_eq!(keys, [&json!("revenue"), &json!("margin"), &json!("arpu")]);
        }
        let cell = |v: &Value| match v["value"].as_str() {
            Some(s) => s.to_owned(),
            None => format!("({})", v["reason"].as_str().unwrap()),
        };
        let got: BTreeMap<(String, String), Vec<String>> = rows
            .iter()
            .map(|r| {
                (
                    (
                        r["segment"]["key"].as_str().unwrap_or("*").to_owned(),
                        r["stage"]["key"].as_str().unwrap_or("*").to_owned(),
                    ),
                    r["values"].as_array().unwrap().iter().map(cell).collect(),
                )
            })
            .collect();
        let row = |seg: &str, stage: &str, values: [String; 3]| {
            ((seg.to_owned(), stage.to_owned()), values.to_vec())
        };
        let s = |v: &str| v.to_owned();
        let want: BTreeMap<(String, String), Vec<String>> = [
            row("*", "*", [s("1300"), s("0.5"), div("1300", "11")]),
            row("enterprise", "*", [s("1000"), s("0.7"), div("1000", "3")]),
            row("smb", "*", [s("300"), div("-50", "300"), s("37.5")]),
            row("*", "acquisition", [s("900"), div("400", "900"), s("100")]),
            row("*", "adoption", [s("400"), s("0.625"), s("200")]),
            row(
                "enterprise",
                "acquisition",
                [s("600"), div("400", "600"), s("200")],
            ),
            row(
                "enterprise",
                "adoption",
                [
                    s("400"),
                    s("0.75"),
                    s("(division by zero: `customers` is 0)"),
                ],
            ),
            row("smb", "acquisition", [s("300"), s("0"), s("50")]),
            row(
                "smb",
                "adoption",
                [
                    s("(no values recorded)"),
                    s("(no value for `revenue`)"),
                    s("(no value for `revenue`)"),
                ],
            ),
        ]
        .into_iter()
        .collect();
        assert_eq!(got, want);

        // A period without data still has the overall row, with reasons.
        let empty = app
            .ok(
                "bi",
                MATRIX,
                json!({ "input": { "metricKeys": ["margin"], "periodStart": "2025-01-01", "granularity": "YEAR" } }),
            )
            .await;
        assert_eq!(
            empty["metricMatrix"]["rows"],
            json!([{ "segment": null, "stage": null,
                     "values": [{ "metricKey": "margin", "value": null, "reason": "no values recorded" }] }])
        );

        for (keys, field) in [
            (json!(["revenue", "nope"]), "input.metricKeys[1]"),
            (json!(["Bad Key"]), "input.metricKeys[0]"),
            (json!([]), "input.metricKeys"),
        ] {
            let body = app
                .gql(
                    "bi",
                    MATRIX,
                    json!({ "input": { "metricKeys": keys, "periodStart": "2026-01-01", "granularity": "MONTH" } }),
                )
                .await;
            assert_bad_input(&body, field);
        }
        // The HR-sync service account reads nothing; another organization sees only its own
        // (empty) figures.
        let input = json!({ "input": { "metricKeys": ["margin"], "periodStart": "2026-01-01", "granularity": "MONTH" } });
        let body = app.gql("hr_sync", MATRIX, input.clone()).await;
        assert_eq!(error_code(&body).as_deref(), Some("FORBIDDEN"));
        let other = app.create_org("Other").await;
        let token = app.token_for(other, "bi-other", &["bi"]);
        let body = app.gql_with(Some(&token), MATRIX, input).await;
        assert_eq!(
            error_field(&body).as_deref(),
            Some("input.metricKeys[0]"),
            "{body}"
        );
    }
);

/// Records monthly totals and smb values for January and February 2026.
async fn seed_tree(app: &TestApp) {
    create_segment(app, "smb").await;
    for (key, direction) in [
        ("net_revenue", "HIGHER_IS_BETTER"),
        ("churn_rate", "LOWER_IS_BETTER"),
        ("expansion", "HIGHER_IS_BETTER"),
        ("csat", "HIGHER_IS_BETTER"),
    ] {
        let body = define(app, key, direction, None).await;
        assert!(body.get("errors").is_none(), "{body:#}");
    }
    // | metric      | direction | Jan   | Feb   | change | ratio | trend            |
    // |-------------|-----------|-------|-------|--------|-------|------------------|
    // | net_revenue | higher    | 1,000 | 1,100 | 100    | 0.1   | UP, improving    |
    // | churn_rate  | lower     | 5     | 4     | -1     | -0.2  | DOWN, improving  |
    // | expansion   | higher    | 50    | 50    | 0      | 0     | FLAT, not        |
    // | csat        | higher    | 80    | 76    | -4     | -0.05 | DOWN, not        |
    // | net_revenue | smb       | 300   | 270   | -30    | -0.1  | DOWN, not        |
    let mut rows = Vec::new();
    for (key, jan, feb) in [
        ("net_revenue", "1000", "1100"),
        ("churn_rate", "5", "4"),
        ("expansion", "50", "50"),
        ("csat", "80", "76"),
    ] {
        rows.push(obs_dim(key, "2026-01-01", "MONTH", None, None, jan));
        rows.push(obs_dim(key, "2026-02-01", "MONTH", None, None, feb));
    }
    rows.push(obs_dim(
        "net_revenue",
        "2026-01-01",
        "MONTH",
        Some("smb"),
        None,
        "300",
    ));
    rows.push(obs_dim(
        "net_revenue",
        "2026-02-01",
        "MONTH",
        Some("smb"),
        None,
        "270",
    ));
    record(app, rows).await;
}

fn link_input(input: &str, output: &str, rationale: Option<&str>) -> Value {
    json!({ "input": { "inputMetricKey": input, "outputMetricKey": output, "rationale": rationale } })
}

on_both_backends!(
    metric_trees_link_refuse_cycles_and_show_trends,
    |app: TestApp| async move {
        seed_tree(&app).await;
        let data = app
            .ok(
                "revops",
                LINK,
                link_input("churn_rate", "net_revenue", Some("churn erodes revenue")),
            )
            .await;
        assert_eq!(
            data["linkMetrics"]["edge"],
            json!({ "input": { "key": "churn_rate" }, "output": { "key": "net_revenue" },
                    "rationale": "churn erodes revenue", "createdBy": "revops-user" })
        );
        app.ok("admin", LINK, link_input("expansion", "net_revenue", None))
            .await;
        app.ok(
            "revops",
            LINK,
            link_input("csat", "churn_rate", Some("happy customers stay")),
        )
        .await;

        // A link that would close a circle, or a metric into itself, is refused.
        for (input, output) in [
            ("net_revenue", "csat"),
            ("churn_rate", "csat"),
            ("csat", "csat"),
        ] {
            let body = app
                .gql("revops", LINK, link_input(input, output, None))
                .await;
            assert_eq!(
                error_code(&body).as_deref(),
                Some("CONFLICT"),
                "{input}->{output}: {body:#}"
            );
        }
        let body = app
            .gql("revops", LINK, link_input("nope", "csat", None))
            .await;
        assert_bad_input(&body, "input.inputMetricKey");
        let body = app
            .gql("revops", LINK, link_input("csat", "nope", None))
            .await;
        assert_bad_input(&body, "input.outputMetricKey");

        let tree = app
            .ok(
                "bi",
                TREE,
                json!({ "input": { "metricKey": "net_revenue", "asOf": "2026-02-15" } }),
            )
            .await["metricTree"]
            .clone();
        assert_eq!(tree["metric"]["key"], "net_revenue");
        assert!(tree["rationale"].is_null());
        assert_eq!(
            tree["latest"],
            json!({ "periodStart": "2026-02-01", "value": "1100", "segment": null })
        );
        assert_eq!(
            tree["previous"],
            json!({ "periodStart": "2026-01-01", "value": "1000" })
        );
        assert_eq!(
            tree["trend"],
            json!({ "change": "100", "changeRatio": "0.1", "direction": "UP", "improving": true })
        );
        let inputs = tree["inputs"].as_array().unwrap();
        assert_eq!(inputs.len(), 2);
        let churn = &inputs[0];
        assert_eq!(churn["metric"]["key"], "churn_rate");
        assert_eq!(churn["rationale"], "churn erodes revenue");
        // Lower churn is good news.
        assert_eq!(
            churn["trend"],
            json!({ "change": "-1", "changeRatio": "-0.2", "direction": "DOWN", "improving": true })
        );
        let expansion = &inputs[1];
        assert_eq!(expansion["metric"]["key"], "expansion");
        assert!(expansion["rationale"].is_null());
        assert_eq!(
            expansion["trend"],
            json!({ "change": "0", "changeRatio": "0", "direction": "FLAT", "improving": false })
        );
        assert_eq!(expansion["inputs"], json!([]));
        // Depth 2: csat under churn_rate.
        let csat = &churn["inputs"][0];
        assert_eq!(csat["metric"]["key"], "csat");
        assert_eq!(csat["rationale"], "happy customers stay");
        assert_eq!(
            csat["trend"],
            json!({ "change": "-4", "changeRatio": "-0.05", "direction": "DOWN", "improving": false })
        );
        assert_eq!(csat["inputs"], json!([]));

        // Read as of March (no March data): the latest is still February.
        let march = app
            .ok(
                "bi",
                TREE,
                json!({ "input": { "metricKey": "net_revenue", "asOf": "2026-03-20" } }),
            )
            .await["metricTree"]
            .clone();
        assert_eq!(march["latest"]["value"], "1100");
        assert_eq!(march["trend"]["direction"], "UP");
        // Read as of January: no previous period, so no trend.
        let january = app
            .ok(
                "bi",
                TREE,
                json!({ "input": { "metricKey": "net_revenue", "asOf": "2026-01-31" } }),
            )
            .await["metricTree"]
            .clone();
        assert_eq!(january["latest"]["value"], "1000");
        assert!(january["previous"].is_null() && january["trend"].is_null());

        // One segment's values.
        let smb = app
            .ok(
                "bi",
                TREE,
                json!({ "input": { "metricKey": "net_revenue", "asOf": "2026-02-15", "segmentKey": "smb" } }),
            )
            .await["metricTree"]
            .clone();
        assert_eq!(
            smb["latest"],
            json!({ "periodStart": "2026-02-01", "value": "270", "segment": { "key": "smb" } })
        );
        assert_eq!(
            smb["trend"],
            json!({ "change": "-30", "changeRatio": "-0.1", "direction": "DOWN", "improving": false })
        );
        assert!(smb["inputs"][0]["latest"].is_null(), "{smb:#}");
        assert!(smb["inputs"][0]["trend"].is_null());

        // A subtree reads from its own root.
        let sub = app
            .ok(
                "bi",
                TREE,
                json!({ "input": { "metricKey": "churn_rate", "asOf": "2026-02-15" } }),
            )
            .await["metricTree"]
            .clone();
        assert!(sub["rationale"].is_null());
        assert_eq!(sub["inputs"][0]["metric"]["key"], "csat");

        // Linking again updates the rationale; unlinking removes the edge once.
        let again = app
            .ok(
                "revops",
                LINK,
                link_input("csat", "churn_rate", Some("detractors churn")),
            )
            .await;
        assert_eq!(
            again["linkMetrics"]["edge"]["rationale"],
            "detractors churn"
        );
        let unlink =
            json!({ "input": { "inputMetricKey": "csat", "outputMetricKey": "churn_rate" } });
        assert_eq!(
            app.ok("revops", UNLINK, unlink.clone()).await["unlinkMetrics"]["removed"],
            true
        );
        assert_eq!(
            app.ok("admin", UNLINK, unlink.clone()).await["unlinkMetrics"]["removed"],
            false
        );
        let after = app
            .ok(
                "bi",
                TREE,
                json!({ "input": { "metricKey": "net_revenue", "asOf": "2026-02-15" } }),
            )
            .await["metricTree"]
            .clone();
        assert_eq!(after["inputs"][0]["inputs"], json!([]));
        // With the edge gone, the reverse link that closed a circle before is allowed.
        app.ok("revops", LINK, link_input("churn_rate", "csat", None))
            .await;

        let body = app
            .gql("bi", TREE, json!({ "input": { "metricKey": "nope" } }))
            .await;
        assert_bad_input(&body, "input.metricKey");
    }
);

on_both_backends!(
    only_revops_and_admin_change_the_metric_tree,
    |app: TestApp| async move {
        seed_tree(&app).await;
        for role in ["admin", "revops"] {
            app.ok(role, LINK, link_input("csat", "net_revenue", Some(role)))
                .await;
        }
        let unlink =
            json!({ "input": { "inputMetricKey": "csat", "outputMetricKey": "net_revenue" } });
        for role in [
            "finance",
            "executive",
            "hr",
            "manager",
            "member",
            "bi",
            "hr_sync",
        ] {
            let body = app
                .gql(role, LINK, link_input("churn_rate", "net_revenue", None))
                .await;
            assert_eq!(error_code(&body).as_deref(), Some("FORBIDDEN"), "{role}");
            let body = app.gql(role, UNLINK, unlink.clone()).await;
            assert_eq!(error_code(&body).as_deref(), Some("FORBIDDEN"), "{role}");
        }
        // Every role but the HR sync account reads the tree.
        for role in ["executive", "finance", "member", "manager", "hr", "bi"] {
            let data = app
                .ok(
                    role,
                    TREE,
                    json!({ "input": { "metricKey": "net_revenue", "asOf": "2026-02-15" } }),
                )
                .await;
            assert_eq!(
                data["metricTree"]["inputs"][0]["rationale"], "revops",
                "{role}"
            );
        }
        let body = app
            .gql(
                "hr_sync",
                TREE,
                json!({ "input": { "metricKey": "net_revenue" } }),
            )
            .await;
        assert_eq!(error_code(&body).as_deref(), Some("FORBIDDEN"));
        assert_eq!(
            app.ok("revops", UNLINK, unlink).await["unlinkMetrics"]["removed"],
            true
        );

        // Another organization's tree is its own.
        let other = app.create_org("Globex").await;
        let token = app.token_for(other, "revops-globex", &["revops"]);
        let body = app
            .gql_with(Some(&token), LINK, link_input("csat", "net_revenue", None))
            .await;
        assert_bad_input(&body, "input.inputMetricKey");
    }
);
