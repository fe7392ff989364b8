//! Reads are batched: the number of SQL statements a nested list query runs does not grow
//! with the number of rows it returns.

use serde_json::json;
use tandem_tests::{TestApp, on_both_backends};

const NESTED: &str = r#"
query {
  observations(first: 200) {
    totalCount
    edges {
      node {
        value
        metric { key versions { totalCount nodes { version change } } }
        segment { key name }
        stage { key name }
      }
    }
  }
}"#;

// A separate request: two top-level lists resolve concurrently, and a relation both of them
// reach could then be fetched once or twice depending on timing.
const METRICS: &str = r#"
query { metrics(first: 200) { nodes { key versions { nodes { version } } } } }"#;

/// Defines `metrics` metrics, `segments` segments, and one observation per metric, segment
/// and default stage.
async fn seed(app: &TestApp, metrics: usize, segments: usize) {
    for s in 0..segments {
        app.ok(
            "revops",
            "mutation($k: String!) { createSegment(input: { key: $k, name: $k }) { segment { id } } }",
            json!({ "k": format!("seg{s}") }),
        )
        .await;
    }
    let mut rows = Vec::new();
    for m in 0..metrics {
        let key = format!("metric_{m}");
        app.ok(
            "revops",
            r#"mutation($k: String!) { defineMetric(input: { key: $k, name: $k, definition: "d", unit: COUNT,
                direction: HIGHER_IS_BETTER, perspective: CUSTOMER, kind: INPUT, aggregation: SUM }) { metric { id } } }"#,
            json!({ "k": key }),
        )
        .await;
        for s in 0..segments {
            for stage in ["acquisition", "adoption"] {
                rows.push(json!({
                    "metricKey": key, "periodStart": "2026-01-01", "granularity": "MONTH",
                    "segmentKey": format!("seg{s}"), "stageKey": stage, "value": format!("{m}.{s}")
                }));
            }
        }
    }
    app.ok(
        "revops",
        "mutation($o: [ObservationInput!]!) { recordObservations(input: { observations: $o }) { created } }",
        json!({ "o": rows }),
    )
    .await;
}

/// Statements run by the nested observation query and by the metric list, after a warm-up
/// request, and the number of observation rows returned.
async fn statements_for_nested_query(app: &TestApp) -> (u64, u64, usize) {
    app.ok("bi", "{ viewer { subject } }", json!({})).await;
    let before = app.statements();
    let data = app.ok("bi", NESTED, json!({})).await;
    let nested = app.statements() - before;
    let rows = data["observations"]["edges"].as_array().map_or(0, Vec::len);
    let before = app.statements();
    app.ok("bi", METRICS, json!({})).await;
    (nested, app.statements() - before, rows)
}

on_both_backends!(
    nested_list_statement_count_does_not_grow_with_rows,
    |small: TestApp| async move {
        seed(&small, 2, 1).await;
        let (few_statements, few_metric_statements, few_rows) =
            statements_for_nested_query(&small).await;
        assert_eq!(few_rows, 4);

        // A second organization on the same server with many more rows.
        let big = tandem_tests::spawn_app(small.backend)
            .await
            .expect("second app");
        seed(&big, 12, 4).await;
        let (many_statements, many_metric_statements, many_rows) =
            statements_for_nested_query(&big).await;
        assert_eq!(many_rows, 96);

        assert_eq!(
            few_statements, many_statements,
            "statements grew with rows: {few_statements} for {few_rows} rows, {many_statements} for {many_rows} rows"
        );
        assert_eq!(few_metric_statements, many_metric_statements);
        // The caller's standing (organization and subject, read once per request), count and
        // page, then one batch per relation (metric, versions, segment, stage).
        assert_eq!(many_statements, 7, "observations query");
        // Standing, count and page, then one batch of versions.
        assert_eq!(many_metric_statements, 4, "metrics query");
    }
);
