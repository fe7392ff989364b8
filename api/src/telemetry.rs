//! Operations telemetry: Prometheus metrics for `/metrics`, and logs plus optional
//! OpenTelemetry trace export.
//!
//! Metric labels never carry tenant data: operations are labelled by their GraphQL name
//! (sanitized, and capped in number), errors by their `extensions.code`.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context as _;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};
use tandem_persistence::PoolStatus;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::cli::LogFormat;

/// Label for requests without an operation name.
pub const ANONYMOUS: &str = "anonymous";
/// Label for operation names past [`MAX_OPERATION_LABELS`] distinct ones.
pub const OTHER: &str = "other";
/// Most distinct operation names labelled; later new names count as [`OTHER`].
pub const MAX_OPERATION_LABELS: usize = 200;
/// Longest operation name kept in a label.
const MAX_LABEL_CHARS: usize = 64;

/// The server's Prometheus metrics.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    errors: IntCounterVec,
    pool_connections: IntGaugeVec,
    pool_max: IntGauge,
    seen_operations: Mutex<HashSet<String>>,
}

impl Metrics {
    /// A fresh set of metrics in its own registry.
    pub fn new() -> anyhow::Result<Self> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "tandem_graphql_requests_total",
                "GraphQL requests by operation name and outcome (ok or error).",
            ),
            &["operation", "outcome"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "tandem_graphql_request_duration_seconds",
                "Time to answer a GraphQL request, by operation name.",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["operation"],
        )?;
        let errors = IntCounterVec::new(
            Opts::new(
                "tandem_graphql_errors_total",
                "GraphQL errors returned, by extensions.code.",
            ),
            &["code"],
        )?;
        let pool_connections = IntGaugeVec::new(
            Opts::new(
                "tandem_db_pool_connections",
                "Database pool connections by state (idle or in_use).",
            ),
            &["state"],
        )?;
        let pool_max = IntGauge::new(
            "tandem_db_pool_max_connections",
            "Most connections the database pool may open.",
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(errors.clone()))?;
        registry.register(Box::new(pool_connections.clone()))?;
        registry.register(Box::new(pool_max.clone()))?;
        Ok(Self {
            registry,
            requests,
            latency,
            errors,
            pool_connections,
            pool_max,
            seen_operations: Mutex::new(HashSet::new()),
        })
    }

    /// The label for an operation name: letters, digits and `_` only, at most 64 characters,
    /// [`ANONYMOUS`] without a name and [`OTHER`] once too many distinct names were seen.
    pub fn operation_label(&self, name: Option<&str>) -> String {
        let clean: String = name
            .unwrap_or_default()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(MAX_LABEL_CHARS)
            .collect();
        if clean.is_empty() {
            return ANONYMOUS.to_owned();
        }
        let Ok(mut seen) = self.seen_operations.lock() else {
            return OTHER.to_owned();
        };
        if seen.contains(&clean) {
            return clean;
        }
        if seen.len() >= MAX_OPERATION_LABELS {
            return OTHER.to_owned();
        }
        seen.insert(clean.clone());
        clean
    }

    /// Records one answered request: its operation, how long it took and its error codes.
    pub fn record(&self, operation: Option<&str>, elapsed: Duration, error_codes: &[&str]) {
        let label = self.operation_label(operation);
        let outcome = if error_codes.is_empty() {
            "ok"
        } else {
            "error"
        };
        self.requests.with_label_values(&[&label, outcome]).inc();
        self.latency
            .with_label_values(&[&label])
            .observe(elapsed.as_secs_f64());
        for code in error_codes {
            self.errors.with_label_values(&[code]).inc();
        }
    }

    /// The metrics in Prometheus' text format, with the pool gauges read now.
    pub fn render(&self, pool: PoolStatus) -> anyhow::Result<String> {
        self.pool_connections
            .with_label_values(&["idle"])
            .set(i64::from(pool.idle));
        self.pool_connections
            .with_label_values(&["in_use"])
            .set(i64::from(pool.in_use()));
        self.pool_max.set(i64::from(pool.max));
        let mut buffer = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buffer)
            .context("Failed to encode metrics")?;
        String::from_utf8(buffer).context("Metrics are not UTF-8")
    }
}

/// Where to send traces, when at all.
#[derive(Debug, Clone)]
pub struct OtlpSettings {
    /// Base URL of an OTLP/HTTP collector, e.g. `http://127.0.0.1:4318`; traces go to
    /// `<endpoint>/v1/traces`.
    pub endpoint: String,
    /// The `service.name` resource attribute.
    pub service_name: String,
}

/// Keeps trace export running; [`TelemetryGuard::shutdown`] flushes what is pending.
pub struct TelemetryGuard {
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl TelemetryGuard {
    /// Sends the spans still buffered and stops the exporter.
    pub fn shutdown(self) {
        if let Some(provider) = self.provider
            && let Err(e) = provider.shutdown()
        {
            eprintln!("trace export did not shut down cleanly: {e}");
        }
    }
}

/// The traces URL for an OTLP/HTTP base endpoint.
fn traces_url(endpoint: &str) -> String {
    let trimmed = endpoint.trim_end_matches('/');
    if trimmed.ends_with("/v1/traces") {
        trimmed.to_owned()
    } else {
        format!("{trimmed}/v1/traces")
    }
}

/// Starts logging on stderr (filtered by `TANDEM_LOG`) and, with `otlp`, exports spans to an
/// OpenTelemetry collector. Call it before starting the async runtime.
pub fn init(format: LogFormat, otlp: Option<&OtlpSettings>) -> anyhow::Result<TelemetryGuard> {
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_otlp::WithExportConfig as _;

    let filter = EnvFilter::try_from_env("TANDEM_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let fmt = match format {
        LogFormat::Json => fmt.json().with_filter(filter).boxed(),
        LogFormat::Text => fmt.with_filter(filter).boxed(),
    };
    let (otel, provider) = match otlp {
        None => (None, None),
        Some(settings) => {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_endpoint(traces_url(&settings.endpoint))
                .with_timeout(Duration::from_secs(10))
                .build()
                .context("Failed to set up OTLP trace export")?;
            let resource = opentelemetry_sdk::Resource::builder()
                .with_service_name(settings.service_name.clone())
                .build();
            let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .with_resource(resource)
                .build();
            let tracer = provider.tracer("tandem");
            // Spans of the request path only; the exporter's own HTTP client stays out.
            let targets = EnvFilter::new("tandem_api=info,tower_http=info,warn");
            let layer = tracing_opentelemetry::layer()
                .with_tracer(tracer)
                .with_filter(targets);
            (Some(layer), Some(provider))
        }
    };
    tracing_subscriber::registry()
        .with(fmt)
        .with(otel)
        .try_init()
        .context("Failed to start logging")?;
    Ok(TelemetryGuard { provider })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_labels_are_sanitized_and_capped() {
        let metrics = Metrics::new().expect("metrics");
        assert_eq!(metrics.operation_label(None), ANONYMOUS);
        assert_eq!(metrics.operation_label(Some("")), ANONYMOUS);
        assert_eq!(metrics.operation_label(Some("Get\"Me\n")), "GetMe");
        let long = "a".repeat(100);
        assert_eq!(metrics.operation_label(Some(&long)).len(), 64);
        for i in 0..MAX_OPERATION_LABELS {
            metrics.operation_label(Some(&format!("Op{i}")));
        }
        assert_eq!(metrics.operation_label(Some("OneMore")), OTHER);
        assert_eq!(metrics.operation_label(Some("Op0")), "Op0");
    }

    #[test]
    fn traces_go_to_the_v1_traces_path() {
        assert_eq!(
            traces_url("http://127.0.0.1:4318"),
            "http://127.0.0.1:4318/v1/traces"
        );
        assert_eq!(
            traces_url("http://c:4318/v1/traces/"),
            "http://c:4318/v1/traces"
        );
    }
}
