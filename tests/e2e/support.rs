//! Helpers shared by the end-to-end test files: seeding metrics, segments and observations,
//! and running a test body on both backends with custom limits.

use serde_json::{Value, json};
use tandem_tests::TestApp;

/// Defines a metric; returns its global id.
pub const DEFINE_METRIC: &str = r#"
mutation($input: DefineMetricInput!) {
  defineMetric(input: $input) { metric { id key status perspective aggregation } }
}"#;

/// Records a batch of observations; returns the counts.
pub const RECORD: &str = r#"
mutation($o: [ObservationInput!]!, $dry: Boolean! = false) {
  recordObservations(input: { observations: $o, dryRun: $dry }) { created updated unchanged dryRun }
}"#;

/// Creates a segment; returns it.
pub const CREATE_SEGMENT: &str = r#"
mutation($input: CreateSegmentInput!) {
  createSegment(input: $input) { segment { id key name description } }
}"#;

/// The input of a `COUNT` metric with the given key, perspective and aggregation.
pub fn metric_input(key: &str, perspective: &str, aggregation: &str) -> Value {
    json!({
        "key": key, "name": key, "definition": format!("Test metric {key}"),
        "unit": "COUNT", "direction": "HIGHER_IS_BETTER", "perspective": perspective,
        "kind": "OUTPUT", "aggregation": aggregation
    })
}

/// Defines a metric as `revops`; returns its global id.
pub async fn define_metric(
    app: &TestApp,
    key: &str,
    perspective: &str,
    aggregation: &str,
) -> String {
    let data = app
        .ok(
            "revops",
            DEFINE_METRIC,
            json!({ "input": metric_input(key, perspective, aggregation) }),
        )
        .await;
    data["defineMetric"]["metric"]["id"]
        .as_str()
        .expect("metric id")
        .to_owned()
}

/// Creates a segment as `revops`; returns its global id.
pub async fn create_segment(app: &TestApp, key: &str) -> String {
    let data = app
        .ok(
            "revops",
            CREATE_SEGMENT,
            json!({ "input": { "key": key, "name": key.to_uppercase() } }),
        )
        .await;
    data["createSegment"]["segment"]["id"]
        .as_str()
        .expect("segment id")
        .to_owned()
}

/// One observation row.
pub fn obs(metric: &str, start: &str, granularity: &str, value: &str) -> Value {
    json!({ "metricKey": metric, "periodStart": start, "granularity": granularity, "value": value })
}

/// One observation row for a segment and/or stage.
pub fn obs_dim(
    metric: &str,
    start: &str,
    granularity: &str,
    segment: Option<&str>,
    stage: Option<&str>,
    value: &str,
) -> Value {
    let mut row = obs(metric, start, granularity, value);
    if let Some(segment) = segment {
        row["segmentKey"] = json!(segment);
    }
    if let Some(stage) = stage {
        row["stageKey"] = json!(stage);
    }
    row
}

/// Records rows as `role`, failing on any error; returns the payload.
pub async fn record_as(app: &TestApp, role: &str, rows: Vec<Value>) -> Value {
    let data = app.ok(role, RECORD, json!({ "o": rows })).await;
    data["recordObservations"].clone()
}

/// Records rows as `revops`, failing on any error; returns the payload.
pub async fn record(app: &TestApp, rows: Vec<Value>) -> Value {
    record_as(app, "revops", rows).await
}

/// How many observations the organization holds.
pub async fn observation_count(app: &TestApp) -> i64 {
    let data = app
        .ok("admin", "{ observations { totalCount } }", json!({}))
        .await;
    data["observations"]["totalCount"]
        .as_i64()
        .expect("totalCount")
}

/// How many audit events the organization holds.
pub async fn audit_count(app: &TestApp) -> i64 {
    let data = app
        .ok("admin", "{ auditEvents { totalCount } }", json!({}))
        .await;
    data["auditEvents"]["totalCount"]
        .as_i64()
        .expect("totalCount")
}

/// Like `tandem_tests::on_both_backends!`, for a server started with custom limits and body
/// size.
macro_rules! on_both_backends_with {
    ($name:ident, $limits:expr, $max_body:expr, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let app =
                    tandem_tests::spawn_app_with(tandem_tests::Backend::Sqlite, $limits, $max_body)
                        .await
                        .expect("sqlite app");
                ($body)(app).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[cfg_attr(
                tandem_no_postgres,
                ignore = "set TEST_DATABASE_URL to run on PostgreSQL"
            )]
            async fn postgres() {
                let app = tandem_tests::spawn_postgres_app_with($limits, $max_body).await;
                ($body)(app).await;
            }
        }
    };
}
pub(crate) use on_both_backends_with;
