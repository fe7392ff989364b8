//! Loads 5,000 accounts with 200,000 MRR movements and 1,000,000 observations, then times NRR
//! by segment for 12 months, ARR exposure and a 12-panel dashboard over real HTTP.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tandem_tests::{Backend, TestApp, spawn_app};

const ACCOUNTS: usize = 5_000;
const MOVEMENTS_PER_ACCOUNT: usize = 40;
const METRICS: usize = 92;
const DAYS: usize = 725;
const BATCH: usize = 10_000;
const RUNS: usize = 5;
const SEGMENTS: [&str; 3] = ["enterprise", "mid_market", "smb"];
const STAGES: [&str; 4] = ["acquisition", "adoption", "retention", "expansion"];

/// Day `n` counted from 2024-12-01 as `YYYY-MM-DD`.
fn day(n: usize) -> String {
    let lengths = |y: usize| {
        let feb = if y.is_multiple_of(4) { 29 } else { 28 };
        [31, feb, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    };
    let (mut year, mut month, mut left) = (2024, 11, n);
    loop {
        let len = lengths(year)[month];
        if left < len {
            return format!("{year}-{:02}-{:02}", month + 1, left + 1);
        }
        left -= len;
        month += 1;
        if month == 12 {
            month = 0;
            year += 1;
        }
    }
}

fn accounts() -> Value {
    let rows: Vec<Value> = (0..ACCOUNTS)
        .map(|a| {
            let risk = match a % 10 {
                0..=5 => "GREEN",
                6..=8 => "AMBER",
                _ => "RED",
            };
            json!({
                "externalId": format!("A{a}"), "name": format!("Account {a}"),
                "segmentKey": SEGMENTS[a % 3], "startedOn": day(0),
                "renewsOn": day(356 + a % 365), "arr": format!("{}.50", 12_000 + (a % 97) * 1_000),
                "healthScore": format!("{}", 40 + a % 60), "risk": risk
            })
        })
        .collect();
    json!({ "input": { "accounts": rows } })
}

/// 40 movements per account: NEW on day 0, then 39 expansions, contractions and (for one
/// account in 20) a final churn, about every 18 days.
fn movements(accounts: std::ops::Range<usize>) -> Value {
    let mut rows = Vec::with_capacity(accounts.len() * MOVEMENTS_PER_ACCOUNT);
    for a in accounts {
        let start = a % 30;
        rows.push(json!({
            "externalId": format!("M{a}-0"), "accountExternalId": format!("A{a}"),
            "effectiveOn": day(start), "kind": "NEW", "amount": format!("{}.00", 1_000 + (a % 97) * 100)
        }));
        for j in 1..MOVEMENTS_PER_ACCOUNT {
            let (kind, amount) = if j == MOVEMENTS_PER_ACCOUNT - 1 && a % 20 == 0 {
                ("CHURN", format!("{}.00", 1_000 + (a % 97) * 100 + 950))
            } else if j % 2 == 1 {
                ("EXPANSION", "75.00".to_owned())
            } else {
                ("CONTRACTION", "25.00".to_owned())
            };
            rows.push(json!({
                "externalId": format!("M{a}-{j}"), "accountExternalId": format!("A{a}"),
                "effectiveOn": day(start + j * 18), "kind": kind, "amount": amount
            }));
        }
    }
    json!({ "input": { "movements": rows } })
}

/// Observation `i` of 1,000,500: metric, day, and one of 15 dimension cells (3 segment totals
/// and 12 segment x stage cells).
fn observations(range: std::ops::Range<usize>) -> Value {
    let rows: Vec<Value> = range
        .map(|i| {
            let cell = i % 15;
            let d = (i / 15) % DAYS;
            let m = i / (15 * DAYS);
            let mut row = json!({
                "metricKey": format!("m{m}"), "periodStart": day(d), "granularity": "DAY",
                "segmentKey": SEGMENTS[cell % 3], "value": format!("{}.{:02}", 10 + (i * 7) % 500, i % 100)
            });
            if cell >= 3 {
                row["stageKey"] = json!(STAGES[(cell - 3) / 3]);
            }
            row
        })
        .collect();
    json!({ "o": rows })
}

fn dashboard() -> Value {
    let mut panels = Vec::new();
    for m in 0..6 {
        panels.push(
            json!({ "title": format!("m{m} by segment"), "metricKey": format!("m{m}"),
            "bySegment": true, "lastPeriods": 12, "granularity": "MONTH", "chart": "LINE" }),
        );
    }
    for m in 6..9 {
        panels.push(json!({ "title": format!("m{m} per m{}", m + 3), "formula": format!("m{m} / m{}", m + 3),
            "lastPeriods": 12, "granularity": "MONTH", "chart": "LINE" }));
    }
    for m in 9..12 {
        panels.push(
            json!({ "title": format!("m{m} by stage"), "metricKey": format!("m{m}"),
            "byStage": true, "lastPeriods": 4, "granularity": "QUARTER", "chart": "STACKED_BAR" }),
        );
    }
    json!({ "input": { "name": "Revenue and customers", "visibility": "ORGANIZATION", "panels": panels } })
}

async fn timed(app: &TestApp, role: &str, query: &str, vars: Value) -> (Duration, Value) {
    let start = Instant::now();
    let data = app.ok(role, query, vars).await;
    (start.elapsed(), data)
}

async fn median_of(app: &TestApp, query: &str, vars: Value) -> (Duration, Value) {
    let mut times = Vec::new();
    let mut last = Value::Null;
    for _ in 0..RUNS {
        let (t, data) = timed(app, "bi", query, vars.clone()).await;
        times.push(t);
        last = data;
    }
    times.sort();
    (times[times.len() / 2], last)
}

async fn load(app: &TestApp) -> Duration {
    let start = Instant::now();
    for seg in SEGMENTS {
        app.ok("revops", "mutation($k: String!) { createSegment(input: { key: $k, name: $k }) { segment { id } } }", json!({ "k": seg }))
            .await;
    }
    for m in 0..METRICS {
        app.ok(
            "revops",
            r#"mutation($k: String!) { defineMetric(input: { key: $k, name: $k, definition: "bench", unit: COUNT,
                direction: HIGHER_IS_BETTER, perspective: CUSTOMER, kind: INPUT, aggregation: SUM }) { metric { id } } }"#,
            json!({ "k": format!("m{m}") }),
        )
        .await;
    }
    let data = app
        .ok(
            "revops",
            "mutation($input: UpsertAccountsInput!) { upsertAccounts(input: $input) { created } }",
            accounts(),
        )
        .await;
    assert_eq!(data["upsertAccounts"]["created"], ACCOUNTS);
    let per_batch = BATCH / MOVEMENTS_PER_ACCOUNT;
    for first in (0..ACCOUNTS).step_by(per_batch) {
        let data = app
            .ok(
                "finance",
                "mutation($input: RecordRevenueMovementsInput!) { recordRevenueMovements(input: $input) { created } }",
                movements(first..(first + per_batch).min(ACCOUNTS)),
            )
            .await;
        assert_eq!(
            data["recordRevenueMovements"]["created"],
            per_batch * MOVEMENTS_PER_ACCOUNT
        );
    }
    let total = METRICS * DAYS * 15;
    for first in (0..total).step_by(BATCH) {
        app.ok(
            "revops",
            "mutation($o: [ObservationInput!]!) { recordObservations(input: { observations: $o }) { created } }",
            observations(first..(first + BATCH).min(total)),
        )
        .await;
    }
    start.elapsed()
}

/// Runs the revenue benchmark on one backend and prints its figures.
pub async fn run(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        println!("{backend:?}: revenue benchmark skipped (TEST_DATABASE_URL not set)");
        return;
    };
    let loading = load(&app).await;
    // What autovacuum does after a bulk load, done now so reads do not depend on its timing:
    // fresh statistics, and a visibility map that lets covering indexes answer alone.
    app.store
        .execute_unprepared("VACUUM ANALYZE")
        .await
        .expect("vacuum");
    let observations = METRICS * DAYS * 15;
    let movements = ACCOUNTS * MOVEMENTS_PER_ACCOUNT;
    println!(
        "{backend:?}: loaded {ACCOUNTS} accounts, {movements} movements, {observations} observations in {:.0} s",
        loading.as_secs_f64()
    );

    let nrr = r#"{ revenueRetention(input: { from: "2025-12-01", to: "2026-11-30", granularity: MONTH, bySegment: true }) {
        periodStart segment { key } startingMrr expansionMrr contractionMrr churnedMrr nrr grr } }"#;
    let (t_nrr, data) = median_of(&app, nrr, json!({})).await;
    let figures = data["revenueRetention"].as_array().map_or(0, Vec::len);
    assert_eq!(figures, 12 * 4, "12 months x (all + 3 segments)");

    let nrr_year = r#"{ revenueRetention(input: { from: "2025-12-01", to: "2026-11-30", bySegment: true }) { segment { key } nrr grr } }"#;
    let (t_year, _) = median_of(&app, nrr_year, json!({})).await;

    let exposure = r#"{ arrExposure(input: { asOf: "2026-11-22" }) { totalArr byRisk { risk arr accountCount
        accounts(first: 10) { nodes { name arr } }
        bySegment { segment { key } arr accountCount accounts(first: 10) { nodes { name arr } } }
        byRenewalWindow { days arr accountCount accounts(first: 10) { nodes { name arr renewsOn } } } } } }"#;
    let (t_exposure, data) = median_of(&app, exposure, json!({})).await;
    assert_eq!(
        data["arrExposure"]["byRisk"].as_array().map_or(0, Vec::len),
        3
    );

    let saved = app
        .ok(
            "revops",
            "mutation($input: SaveDashboardInput!) { saveDashboard(input: $input) { dashboard { id } } }",
            dashboard(),
        )
        .await;
    let id = saved["saveDashboard"]["dashboard"]["id"].clone();
    let read = r#"query($id: ID!) { dashboard(id: $id) { name data(asOf: "2026-11-22") { title points { periodStart segment { key } stage { key } value reason } } } }"#;
    let (t_dash, data) = median_of(&app, read, json!({ "id": id })).await;
    let panels = data["dashboard"]["data"].as_array().map_or(0, Vec::len);
    assert_eq!(panels, 12);
    let points: usize = data["dashboard"]["data"].as_array().map_or(0, |ps| {
        ps.iter()
            .map(|p| p["points"].as_array().map_or(0, Vec::len))
            .sum()
    });

    println!(
        "{backend:?}: NRR/GRR by segment, 12 monthly periods: {:.1} ms | NRR/GRR by segment over the 12 months as one period: {:.1} ms | ARR exposure by risk, segment and 30/60/90-day windows with top-10 accounts each: {:.1} ms | 12-panel dashboard ({points} points): {:.1} ms (median of {RUNS})",
        t_nrr.as_secs_f64() * 1e3,
        t_year.as_secs_f64() * 1e3,
        t_exposure.as_secs_f64() * 1e3,
        t_dash.as_secs_f64() * 1e3,
    );
}
