//! The WebSocket endpoint's limits and graphql-transport-ws close codes: the body limit
//! applies to each message, subscriptions per connection and connections per caller are
//! capped, and protocol violations close with the protocol's codes.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tandem_api::LiveSettings;
use tandem_tests::{AppOptions, Backend, TestApp, spawn_app_with_options};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const OBSERVATIONS: &str = "subscription { observationRecorded { observations { value } } }";

macro_rules! on_both_backends_live {
    ($name:ident, $settings:expr, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            fn options() -> AppOptions {
                AppOptions {
                    live: Some($settings),
                    ..AppOptions::default()
                }
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let app = spawn_app_with_options(Backend::Sqlite, options())
                    .await
                    .expect("sqlite app");
                ($body)(app).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                match spawn_app_with_options(Backend::Postgres, options()).await {
                    Some(app) => ($body)(app).await,
                    None => eprintln!("TEST_DATABASE_URL not set; skipping the PostgreSQL run"),
                }
            }
        }
    };
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open(app: &TestApp) -> Socket {
    let mut request = format!("ws://{}/graphql", app.addr)
        .into_client_request()
        .expect("request");
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().expect("header"),
    );
    tokio_tungstenite::connect_async(request)
        .await
        .expect("websocket upgrade")
        .0
}

async fn send(socket: &mut Socket, message: Value) {
    socket
        .send(Message::text(message.to_string()))
        .await
        .expect("send");
}

/// The next text message, or the close frame's code and reason.
async fn next(socket: &mut Socket) -> Result<Value, (Option<u16>, String)> {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(15), socket.next())
            .await
            .expect("an answer within 15 s");
        match message {
            Some(Ok(Message::Text(text))) => {
                return Ok(serde_json::from_str(text.as_str()).expect("json"));
            }
            Some(Ok(Message::Close(frame))) => {
                return Err((
                    frame.as_ref().map(|f| u16::from(f.code)),
                    frame.map(|f| f.reason.to_string()).unwrap_or_default(),
                ));
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err((None, e.to_string())),
            None => return Err((None, "closed".to_owned())),
        }
    }
}

async fn closed_with(socket: &mut Socket) -> (Option<u16>, String) {
    loop {
        match next(socket).await {
            Ok(_) => {}
            Err(close) => return close,
        }
    }
}

/// An acknowledged connection as `token`.
async fn connected(app: &TestApp, token: &str) -> Socket {
    let mut socket = open(app).await;
    send(
        &mut socket,
        json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } }),
    )
    .await;
    let ack = next(&mut socket).await.expect("ack");
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    socket
}

fn subscribe(id: &str) -> Value {
    json!({ "id": id, "type": "subscribe", "payload": { "query": OBSERVATIONS } })
}

/// Sends a ping and waits for its pong: everything sent before it was read.
async fn settled(socket: &mut Socket) -> Vec<Value> {
    send(socket, json!({ "type": "ping" })).await;
    let mut before = Vec::new();
    loop {
        let v = next(socket).await.expect("message");
        if v["type"] == "pong" {
            return before;
        }
        before.push(v);
    }
}

fn small() -> LiveSettings {
    LiveSettings {
        max_subscriptions_per_connection: 3,
        max_connections_per_caller: 2,
        connection_init_timeout: Duration::from_millis(300),
    }
}

on_both_backends_live!(
    protocol_violations_close_with_graphql_transport_ws_codes,
    LiveSettings::default(),
    |app: TestApp| async move {
        let token = app.token(&["bi"]);

        // Subscribe before connection_init: 4401 Unauthorized.
        let mut socket = open(&app).await;
        send(&mut socket, subscribe("early")).await;
        assert_eq!(closed_with(&mut socket).await.0, Some(4401));

        // A second connection_init: 4429.
        let mut socket = connected(&app, &token).await;
        send(
            &mut socket,
            json!({ "type": "connection_init", "payload": {} }),
        )
        .await;
        assert_eq!(closed_with(&mut socket).await.0, Some(4429));

        // A subscription id already running: 4409.
        let mut socket = connected(&app, &token).await;
        send(&mut socket, subscribe("one")).await;
        settled(&mut socket).await;
        send(&mut socket, subscribe("one")).await;
        let (code, reason) = closed_with(&mut socket).await;
        assert_eq!(code, Some(4409), "{reason}");
        assert!(reason.contains("one"), "{reason}");

        // Not JSON, or not a protocol message: 4400.
        for bad in [
            "not json",
            r#"{"type":"subscribe"}"#,
            r#"{"type":"launch","id":"x"}"#,
        ] {
            let mut socket = connected(&app, &token).await;
            socket.send(Message::text(bad)).await.expect("send");
            assert_eq!(closed_with(&mut socket).await.0, Some(4400), "{bad}");
        }

        // A completed subscription's id may be used again.
        let mut socket = connected(&app, &token).await;
        send(&mut socket, subscribe("again")).await;
        send(&mut socket, json!({ "id": "again", "type": "complete" })).await;
        send(&mut socket, subscribe("again")).await;
        settled(&mut socket).await;
    }
);

on_both_backends_live!(
    a_message_over_the_body_limit_closes_with_1009,
    LiveSettings::default(),
    |app: TestApp| async move {
        let mut socket = connected(&app, &app.token(&["bi"])).await;
        // 9 MB of query text, over the 8 MiB body limit.
        let padding = " ".repeat(9 * 1000 * 1000);
        let huge = json!({ "id": "big", "type": "subscribe",
                           "payload": { "query": format!("{OBSERVATIONS}{padding}") } });
        send(&mut socket, huge).await;
        let (code, reason) = closed_with(&mut socket).await;
        assert_eq!(code, Some(1009), "{reason}");
        assert!(reason.contains("too big"), "{reason}");
        // A message under the limit is served as before.
        let mut socket = connected(&app, &app.token(&["bi"])).await;
        let padding = " ".repeat(1000 * 1000);
        send(
            &mut socket,
            json!({ "id": "ok", "type": "subscribe",
                                  "payload": { "query": format!("{OBSERVATIONS}{padding}") } }),
        )
        .await;
        assert!(settled(&mut socket).await.is_empty());
    }
);

on_both_backends_live!(
    a_connection_without_connection_init_closes_with_4408,
    small(),
    |app: TestApp| async move {
        let mut socket = open(&app).await;
        let (code, reason) = closed_with(&mut socket).await;
        assert_eq!(code, Some(4408), "{reason}");
    }
);

on_both_backends_live!(
    subscriptions_per_connection_are_capped,
    small(),
    |app: TestApp| async move {
        let mut socket = connected(&app, &app.token(&["bi"])).await;
        for id in ["a", "b", "c"] {
            send(&mut socket, subscribe(id)).await;
        }
        assert!(settled(&mut socket).await.is_empty());
        send(&mut socket, subscribe("d")).await;
        let refused = settled(&mut socket).await;
        assert_eq!(refused.len(), 1, "{refused:?}");
        assert_eq!(refused[0]["id"], "d");
        assert_eq!(refused[0]["type"], "error");
        assert_eq!(
            refused[0]["payload"][0]["extensions"]["limit"],
            "subscriptionsPerConnection"
        );
        // The connection stays open; completing one makes room.
        send(&mut socket, json!({ "id": "a", "type": "complete" })).await;
        send(&mut socket, subscribe("d")).await;
        let answers = settled(&mut socket).await;
        assert!(
            answers
                .iter()
                .all(|v| v["type"] == "complete" && v["id"] == "a"),
            "{answers:?}"
        );
    }
);

on_both_backends_live!(
    connections_per_caller_are_capped,
    small(),
    |app: TestApp| async move {
        let token = app.token(&["bi"]);
        let first = connected(&app, &token).await;
        let _second = connected(&app, &token).await;
        let mut third = open(&app).await;
        send(
            &mut third,
            json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } }),
        )
        .await;
        let (code, reason) = closed_with(&mut third).await;
        assert_eq!(code, Some(1008), "{reason}");
        assert!(reason.contains("at most 2"), "{reason}");
        // Another caller is not affected.
        connected(&app, &app.token(&["admin"])).await;
        // A closed connection gives its place back (the server notices the close shortly).
        drop(first);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let mut socket = open(&app).await;
            send(
                &mut socket,
                json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } }),
            )
            .await;
            match next(&mut socket).await {
                Ok(v) if v["type"] == "connection_ack" => break,
                other => assert!(
                    tokio::time::Instant::now() < deadline,
                    "the place never came back: {other:?}"
                ),
            }
        }
    }
);
