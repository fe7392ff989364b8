//! OpenTelemetry export end to end: the `tandem` binary, started with
//! `TANDEM_OTLP_ENDPOINT`, sends its request spans to an OTLP/HTTP collector (a stand-in
//! on the loopback interface that records what it receives).

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

type Received = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

async fn collect(State(received): State<Received>, headers: HeaderMap, body: Bytes) {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    received
        .lock()
        .expect("lock")
        .push((content_type, body.to_vec()));
}

/// Sends one HTTP/1.1 request and returns the response's status line and body.
async fn http(port: u16, request: String) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.ok()?;
    Some(response)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_spans_reach_the_configured_otlp_collector() {
    let received: Received = Arc::default();
    let collector = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind collector");
    let collector_port = collector.local_addr().expect("addr").port();
    let app = Router::new()
        .route("/v1/traces", post(collect))
        .with_state(Arc::clone(&received));
    tokio::spawn(async move {
        let _ = axum::serve(collector, app).await;
    });

    let data_dir = std::env::temp_dir().join(format!("tandem-otlp-{}", uuid::Uuid::new_v4()));
    let port = free_port();
    let mut server = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .env("TANDEM_DATA_DIR", &data_dir)
        .env_remove("DATABASE_URL")
        .env_remove("TANDEM_JWT_SECRET")
        .env(
            "TANDEM_OTLP_ENDPOINT",
            format!("http://127.0.0.1:{collector_port}"),
        )
        .env("TANDEM_OTLP_SERVICE_NAME", "tandem-otlp-test")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start tandem");

    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = http(
            port,
            "GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_owned(),
        )
        .await;
        if ready.is_some_and(|r| r.starts_with("HTTP/1.1 200")) {
            break;
        }
        assert!(Instant::now() < deadline, "tandem did not become ready");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let body = r#"{"query":"query PingForTraces { __typename }"}"#;
    let response = http(
        port,
        format!(
            "POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
    .await
    .expect("graphql response");
    assert!(response.contains(r#""__typename":"Query""#), "{response}");

    // A graceful stop flushes the spans still buffered.
    let stopped = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .expect("kill");
    assert!(stopped.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.try_wait().expect("wait").is_none() {
        assert!(Instant::now() < deadline, "tandem did not stop");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = std::fs::remove_dir_all(&data_dir);

    let received = received.lock().expect("lock").clone();
    assert!(!received.is_empty(), "the collector received nothing");
    assert!(
        received
            .iter()
            .all(|(content_type, _)| content_type == "application/x-protobuf"),
        "{:?}",
        received.iter().map(|(c, _)| c).collect::<Vec<_>>()
    );
    let all: Vec<u8> = received.into_iter().flat_map(|(_, body)| body).collect();
    assert!(contains(&all, b"/graphql"), "no HTTP request span");
    assert!(
        contains(&all, b"graphql.operation.name") && contains(&all, b"PingForTraces"),
        "no GraphQL span with the operation's name"
    );
    assert!(contains(&all, b"tandem-otlp-test"), "no service name");
}
