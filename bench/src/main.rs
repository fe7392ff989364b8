//! Times the bulk observation write, nested reads and the HR sync over real HTTP, on SQLite
//! and (when `TEST_DATABASE_URL` is set) PostgreSQL, and prints the figures.
//!
//! Run: `cargo run --release -p tandem-bench [observations|hr|export|revenue]`; `export` and
//! `revenue` run on PostgreSQL only, and only when named: `export` streams 1,000,000
//! observations and reports the server's peak memory, `revenue` times retention, exposure and a
//! 12-panel dashboard over 5,000 accounts, 200,000 movements and 1,000,000 observations.

mod export;
mod revenue;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tandem_tests::{Backend, TestApp, spawn_app};

const ROWS: usize = 10_000;
const METRICS: usize = 20;
const RUNS: usize = 3;

fn batch(value_offset: usize) -> Value {
    let segments = ["enterprise", "mid_market", "smb"];
    let stages = ["acquisition", "adoption", "retention", "expansion"];
    let mut rows = Vec::with_capacity(ROWS);
    let mut i = 0;
    'outer: for m in 0..METRICS {
        for day in 0..365 {
            for seg in segments {
                for stage in stages {
                    if i == ROWS {
                        break 'outer;
                    }
                    let date = chrono_like_date(day);
                    rows.push(json!({
                        "metricKey": format!("metric_{m}"), "periodStart": date, "granularity": "DAY",
                        "segmentKey": seg, "stageKey": stage,
                        "value": format!("{}.{:04}", i + value_offset, i % 10_000)
                    }));
                    i += 1;
                }
            }
        }
    }
    json!({ "o": rows })
}

/// Day `n` of 2026 as `YYYY-MM-DD`, without a date library.
fn chrono_like_date(n: usize) -> String {
    let lengths = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let mut day = n % 365;
    for (m, len) in lengths.iter().enumerate() {
        if day < *len {
            return format!("2026-{:02}-{:02}", m + 1, day + 1);
        }
        day -= len;
    }
    "2026-12-31".to_owned()
}

async fn setup(app: &TestApp) {
    for seg in ["enterprise", "mid_market", "smb"] {
        app.ok("revops", "mutation($k: String!) { createSegment(input: { key: $k, name: $k }) { segment { id } } }", json!({ "k": seg }))
            .await;
    }
    for m in 0..METRICS {
        app.ok(
            "revops",
            r#"mutation($k: String!) { defineMetric(input: { key: $k, name: $k, definition: "bench", unit: COUNT,
                direction: HIGHER_IS_BETTER, perspective: CUSTOMER, kind: INPUT, aggregation: SUM }) { metric { id } } }"#,
            json!({ "k": format!("metric_{m}") }),
        )
        .await;
    }
}

const RECORD: &str = "mutation($o: [ObservationInput!]!) { recordObservations(input: { observations: $o }) { created updated unchanged } }";

async fn timed(app: &TestApp, query: &str, vars: Value) -> (Duration, Value) {
    let start = Instant::now();
    let data = app.ok("revops", query, vars).await;
    (start.elapsed(), data)
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

async fn run(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        println!("{backend:?}: skipped (TEST_DATABASE_URL not set)");
        return;
    };
    setup(&app).await;
    let (first, data) = timed(&app, RECORD, batch(0)).await;
    assert_eq!(data["recordObservations"]["created"], ROWS);
    let mut resend = Vec::new();
    let mut update = Vec::new();
    for run in 0..RUNS {
        let (t, data) = timed(&app, RECORD, batch(run * ROWS)).await;
        if run == 0 {
            assert_eq!(data["recordObservations"]["unchanged"], ROWS);
            resend.push(t);
        }
        let (t, data) = timed(&app, RECORD, batch((run + 1) * ROWS)).await;
        assert_eq!(data["recordObservations"]["updated"], ROWS);
        update.push(t);
    }
    let nested = "{ observations(first: 500) { edges { node { value metric { key } segment { key } stage { key } } } } }";
    let mut reads = Vec::new();
    for _ in 0..RUNS {
        reads.push(timed(&app, nested, json!({})).await.0);
    }
    let series = r#"{ metricSeries(input: { metricKey: "metric_0", from: "2026-01-01", to: "2026-12-31", granularity: MONTH, bySegment: true, byStage: true }) { points { value } } }"#;
    let mut series_times = Vec::new();
    for _ in 0..RUNS {
        series_times.push(timed(&app, series, json!({})).await.0);
    }
    println!(
        "{backend:?}: record {ROWS} new: {:.0} ms | re-send unchanged: {:.0} ms | update all: {:.0} ms (median of {RUNS}) | nested page of 500: {:.1} ms | monthly series by segment x stage over 365 days: {:.1} ms",
        first.as_secs_f64() * 1e3,
        median(resend).as_secs_f64() * 1e3,
        median(update).as_secs_f64() * 1e3,
        median(reads).as_secs_f64() * 1e3,
        median(series_times).as_secs_f64() * 1e3,
    );
}

const PEOPLE: usize = 10_000;
const ROLES: usize = 50;
const TEAMS: usize = 50;

const SYNC: &str = "mutation($input: HrSyncInput!) { syncHr(input: $input) { changed people { created updated unchanged deactivated } assignments { created unchanged } } }";

/// A roster of 10,000 people in 50 teams under a management tree (each manager has up to 10
/// reports), 50 roles, and a 4-KPI assignment per role.
fn roster(name_suffix: &str) -> Value {
    let teams: Vec<Value> = (0..TEAMS)
        .map(|t| json!({ "externalId": format!("T{t}"), "name": format!("Team {t}") }))
        .collect();
    let roles: Vec<Value> = (0..ROLES)
        .map(|r| json!({ "key": format!("role_{r}"), "name": format!("Role {r}") }))
        .collect();
    let people: Vec<Value> = (0..PEOPLE)
        .map(|p| {
            let mut person = json!({
                "externalId": format!("E{p}"), "name": format!("Person {p}{name_suffix}"),
                "email": format!("person{p}@acme.test"), "subject": format!("user-{p}"),
                "teamExternalId": format!("T{}", p % TEAMS), "roleKeys": [format!("role_{}", p % ROLES)]
            });
            if p > 0 {
                person["managerExternalId"] = json!(format!("E{}", (p - 1) / 10));
            }
            person
        })
        .collect();
    let assignments: Vec<Value> = (0..ROLES)
        .map(|r| {
            json!({ "roleKey": format!("role_{r}"), "items": [
                { "metricKey": "metric_0", "weight": "0.4", "target": "100", "green": "100", "amber": "90" },
                { "metricKey": "metric_1", "weight": "0.3", "target": "50", "green": "50", "amber": "40" },
                { "metricKey": "metric_2", "weight": "0.2", "target": "10", "green": "10", "amber": "8" },
                { "metricKey": "metric_3", "weight": "0.1", "target": "5", "green": "5", "amber": "4" }
            ] })
        })
        .collect();
    json!({ "teams": teams, "roles": roles, "people": people, "assignments": assignments })
}

async fn run_hr_sync(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        println!("{backend:?}: HR sync skipped (TEST_DATABASE_URL not set)");
        return;
    };
    setup(&app).await;
    let payload = json!({ "input": roster("") });
    let (first, data) = timed_as(&app, "hr_sync", SYNC, payload.clone()).await;
    assert_eq!(data["syncHr"]["people"]["created"], PEOPLE);
    let (again, data) = timed_as(&app, "hr_sync", SYNC, payload).await;
    assert_eq!(data["syncHr"]["changed"], false);
    let mut renamed = roster(" (renamed)");
    renamed["dryRun"] = json!(true);
    let (dry, data) = timed_as(&app, "hr_sync", SYNC, json!({ "input": renamed })).await;
    assert_eq!(data["syncHr"]["people"]["updated"], PEOPLE);
    let (update, data) = timed_as(
        &app,
        "hr_sync",
        SYNC,
        json!({ "input": roster(" (renamed)") }),
    )
    .await;
    assert_eq!(data["syncHr"]["people"]["updated"], PEOPLE);
    println!(
        "{backend:?}: HR sync of {PEOPLE} people, {ROLES} roles, {TEAMS} teams: first {:.0} ms | same again (unchanged) {:.0} ms | dry run with every name changed {:.0} ms | every name changed {:.0} ms",
        first.as_secs_f64() * 1e3,
        again.as_secs_f64() * 1e3,
        dry.as_secs_f64() * 1e3,
        update.as_secs_f64() * 1e3,
    );
}

async fn timed_as(app: &TestApp, role: &str, query: &str, vars: Value) -> (Duration, Value) {
    let start = Instant::now();
    let data = app.ok(role, query, vars).await;
    (start.elapsed(), data)
}

#[tokio::main]
async fn main() {
    let only = std::env::args().nth(1);
    if only.as_deref() == Some("export") {
        export::run().await;
        return;
    }
    if only.as_deref() == Some("revenue") {
        revenue::run(Backend::Postgres).await;
        return;
    }
    if only.as_deref() != Some("hr") {
        run(Backend::Sqlite).await;
        run(Backend::Postgres).await;
    }
    if only.as_deref() != Some("observations") {
        run_hr_sync(Backend::Sqlite).await;
        run_hr_sync(Backend::Postgres).await;
    }
}
