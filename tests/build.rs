//! Decides at compile time whether the PostgreSQL variants of the end-to-end tests run.
//!
//! Rust's test harness cannot skip a test at run time, so a PostgreSQL test without a
//! database would either fail or pass having done nothing. Instead: when `TEST_DATABASE_URL`
//! is not set (and `CI` is not set), this sets the `tandem_no_postgres` cfg, and every
//! PostgreSQL test carries `#[cfg_attr(tandem_no_postgres, ignore = "...")]`: `cargo test`
//! lists it as `ignored`, never as `ok`. When `CI` is set the tests are never ignored, so a
//! missing database fails the run loudly. A PostgreSQL test that runs without the variable
//! anyway (`--include-ignored`) fails with a message saying what is missing.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=TEST_DATABASE_URL");
    println!("cargo::rerun-if-env-changed=CI");
    println!("cargo::rustc-check-cfg=cfg(tandem_no_postgres)");
    let configured = std::env::var("TEST_DATABASE_URL").is_ok_and(|url| !url.is_empty());
    let ci = std::env::var("CI").is_ok_and(|ci| !ci.is_empty() && ci != "false");
    if !configured && !ci {
        println!("cargo::rustc-cfg=tandem_no_postgres");
        println!(
            "cargo::warning=TEST_DATABASE_URL is not set: the PostgreSQL end-to-end tests are \
             marked ignored (set it to a PostgreSQL URL to run them)"
        );
    }
}
