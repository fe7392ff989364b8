//! Bulk export at scale: loads 1,000,000 observations into a fresh PostgreSQL database,
//! starts the `tandem` server as a child process, streams `/export/observations.csv` and
//! `.ndjson`, and prints rows, bytes, seconds and the server's peak resident memory (VmHWM).
//!
//! Run: `cargo run --release -p tandem-bench -- export` (PostgreSQL from `TEST_DATABASE_URL`,
//! default `postgres://postgres@127.0.0.1:5432/test`).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use tandem_api::auth::Minter;
use tandem_domain::access::AccessRole;
use tandem_persistence::{Actor, Store};
use uuid::Uuid;

const ROWS: u64 = 1_000_000;
const METRICS: u64 = 10;
const SECRET: &str = "tandem-bench-export-secret-0123456789abcdef";
/// The goal for the server's peak resident memory while exporting.
const RSS_GOAL_KB: u64 = 100 * 1024;

/// Kills the server when the benchmark ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn vm_hwm_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The release `tandem` binary beside this benchmark, built first when missing.
fn tandem_binary() -> PathBuf {
    let dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("target/release"));
    let bin = dir.join("tandem");
    if !bin.exists() {
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "--release", "-p", "tandem-api", "--bin", "tandem"])
            .status()
            .expect("run cargo build");
        assert!(status.success(), "building the tandem binary failed");
    }
    bin
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Streams one export; returns (records, bytes, seconds).
async fn fetch(client: &reqwest::Client, url: &str, token: &str, csv: bool) -> (u64, u64, f64) {
    let start = Instant::now();
    let mut res = client
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .expect("export request");
    assert_eq!(res.status().as_u16(), 200, "export status");
    let (mut bytes, mut lines) = (0u64, 0u64);
    while let Some(chunk) = res.chunk().await.expect("export body") {
        bytes += chunk.len() as u64;
        lines += chunk.iter().filter(|b| **b == b'\n').count() as u64;
    }
    // The CSV header and the closing resume record are lines too; no value here holds a
    // line break.
    let records = if csv {
        lines.saturating_sub(2)
    } else {
        lines.saturating_sub(1)
    };
    (records, bytes, start.elapsed().as_secs_f64())
}

pub async fn run() {
    let admin_url = std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let name = format!("tandem_bench_export_{}", Uuid::new_v4().simple());
    let admin = Store::connect(&admin_url, 1)
        .await
        .expect("connect to PostgreSQL");
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .expect("create the bench database");
    let (base, _) = admin_url.rsplit_once('/').expect("database URL has a path");
    let url = format!("{base}/{name}");
    let result = tokio::spawn(bench(url.clone())).await;
    let _ = admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await;
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
}

async fn bench(url: String) {
    let store = Store::connect(&url, 2).await.expect("connect");
    store.migrate_up(None).await.expect("migrate");
    let org = store
        .create_organization(&Actor("bench".into()), "Bench")
        .await
        .expect("create org");

    let port = free_port();
    let data_dir = std::env::temp_dir().join(format!("tandem-bench-{}", Uuid::new_v4().simple()));
    let child = Command::new(tandem_binary())
        .arg("serve")
        .env("DATABASE_URL", &url)
        .env("TANDEM_JWT_SECRET", SECRET)
        .env("TANDEM_BIND", format!("127.0.0.1:{port}"))
        .env("TANDEM_DATA_DIR", &data_dir)
        .env("TANDEM_SYNC_SETTLE_MS", "0")
        .env("TANDEM_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("start tandem");
    let server = Server(child);
    let pid = server.0.id();
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = client.get(format!("{base}/readyz")).send().await;
        if ready.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        assert!(Instant::now() < deadline, "the server did not become ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let minter = Minter::new(SECRET.as_bytes(), None, None);
    let revops = minter
        .mint("bench", org.id, &[AccessRole::Revops], 3600)
        .expect("token");
    let bi = minter
        .mint("bench-bi", org.id, &[AccessRole::Bi], 3600)
        .expect("token");

    for m in 0..METRICS {
        let body: serde_json::Value = client
            .post(format!("{base}/graphql"))
            .bearer_auth(&revops)
            .json(&json!({ "query": r#"mutation($k: String!) { defineMetric(input: { key: $k, name: $k, definition: "bench", unit: COUNT,
                direction: HIGHER_IS_BETTER, perspective: CUSTOMER, kind: INPUT, aggregation: SUM }) { metric { id } } }"#,
                "variables": { "k": format!("metric_{m}") } }))
            .send()
            .await
            .expect("define metric")
            .json()
            .await
            .expect("json");
        assert!(body.get("errors").is_none(), "{body}");
    }

    // One SQL statement loads the rows (the GraphQL write path is measured elsewhere): 10
    // metrics x 100,000 days, values with four decimals, every tenth source quoted in CSV.
    let per_metric = ROWS / METRICS;
    let start = Instant::now();
    store
        .execute_unprepared(&format!(
            "INSERT INTO observations (org_id, id, metric_id, granularity, period_start, segment_id, stage_id,
                 dim_key, value, source, recorded_by, recorded_at, updated_at)
             SELECT '{org}', gen_random_uuid(), m.id, 'DAY', DATE '1800-01-01' + (g.i % {per_metric})::int,
                 NULL, NULL, '-|-', (g.i::numeric + (g.i % 10000)::numeric / 10000),
                 CASE WHEN g.i % 10 = 0 THEN 'crm, \"eu\"' END, 'bench', now(), now() + (g.i || ' microseconds')::interval
             FROM generate_series(0, {last}) AS g(i)
             JOIN (SELECT id, row_number() OVER (ORDER BY key) - 1 AS n FROM metrics WHERE org_id = '{org}') m
               ON m.n = g.i / {per_metric}",
            org = org.id,
            last = ROWS - 1,
        ))
        .await
        .expect("load observations");
    store
        .execute_unprepared("ANALYZE observations")
        .await
        .expect("analyze");
    let load = start.elapsed().as_secs_f64();
    let idle = vm_hwm_kb(pid).unwrap_or(0);
    println!(
        "PostgreSQL: loaded {ROWS} observations in {load:.1} s; server peak RSS before exporting: {} MB",
        idle / 1024
    );

    for (ext, csv) in [("csv", true), ("ndjson", false)] {
        let url = format!("{base}/export/observations.{ext}");
        let (rows, bytes, secs) = fetch(&client, &url, &bi, csv).await;
        assert_eq!(rows, ROWS, "every row exported once");
        let hwm = vm_hwm_kb(pid).unwrap_or(0);
        println!(
            "PostgreSQL: export observations.{ext}: {rows} rows, {:.1} MB in {secs:.1} s ({:.0} rows/s); server peak RSS (VmHWM) {:.1} MB (goal < {} MB): {}",
            bytes as f64 / 1e6,
            rows as f64 / secs,
            hwm as f64 / 1024.0,
            RSS_GOAL_KB / 1024,
            if hwm < RSS_GOAL_KB { "met" } else { "MISSED" }
        );
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&data_dir);
}
