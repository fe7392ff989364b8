//! Token claims over every entrance (GraphQL over HTTP, bulk export, WebSocket): a configured
//! issuer and audience must be present, `nbf` is honoured on every algorithm, `aud` may be a
//! list, the scheme is matched in any case, and a deleted organization or a deactivated person
//! loses access at once.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tandem_api::auth::{KeySource, Verifier};
use tandem_tests::{AppOptions, Backend, SECRET, TestApp, error_code, spawn_app_with_options};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use uuid::Uuid;

use crate::people::UPSERT_PERSON;
use crate::support::{define_metric, obs, record};

/// Key pairs made for tests only (shared with `api/tests/token_keys.rs`).
const RSA_PRIVATE: &str = include_str!("../../api/tests/fixtures/rs256-private.pem");
const RSA_PUBLIC: &str = include_str!("../../api/tests/fixtures/rs256-public.pem");
const EC_PRIVATE: &str = include_str!("../../api/tests/fixtures/es256-private.pem");
const EC_PUBLIC: &str = include_str!("../../api/tests/fixtures/es256-public.pem");

const READ: &str = "{ metrics { totalCount } }";
const OBSERVATIONS: &str = "subscription { observationRecorded { observations { value } } }";

/// Runs a scenario on SQLite and PostgreSQL with a server built from `options`.
macro_rules! on_both_backends_with_options {
    ($name:ident, $options:expr, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let app = spawn_app_with_options(Backend::Sqlite, $options)
                    .await
                    .expect("sqlite app");
                ($body)(app).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                match spawn_app_with_options(Backend::Postgres, $options).await {
                    Some(app) => ($body)(app).await,
                    None => eprintln!("TEST_DATABASE_URL not set; skipping the PostgreSQL run"),
                }
            }
        }
    };
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Claims of an admin of `org`, valid for an hour, plus `extra`.
fn claims(org: Uuid, sub: &str, extra: Value) -> Value {
    let mut c =
        json!({ "sub": sub, "org": org.to_string(), "roles": ["admin"], "exp": now() + 3600 });
    if let (Some(c), Some(extra)) = (c.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            c.insert(k.clone(), v.clone());
        }
    }
    c
}

fn sign(algorithm: Algorithm, claims: &Value) -> String {
    let key = match algorithm {
        Algorithm::HS256 => EncodingKey::from_secret(SECRET),
        Algorithm::RS256 => EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).expect("rsa key"),
        Algorithm::ES256 => EncodingKey::from_ec_pem(EC_PRIVATE.as_bytes()).expect("ec key"),
        other => panic!("no key for {other:?}"),
    };
    jsonwebtoken::encode(&Header::new(algorithm), claims, &key).expect("sign")
}

fn verifier(algorithm: Algorithm, issuer: Option<&str>, audience: Option<&str>) -> Verifier {
    let source = match algorithm {
        Algorithm::HS256 => KeySource::Secret(SECRET.to_vec()),
        Algorithm::RS256 => KeySource::RsaPublicPem(RSA_PUBLIC.as_bytes().to_vec()),
        Algorithm::ES256 => KeySource::EcPublicPem(EC_PUBLIC.as_bytes().to_vec()),
        other => panic!("no key for {other:?}"),
    };
    Verifier::new(&source, issuer, audience).expect("verifier")
}

fn with_issuer_and_audience() -> AppOptions {
    AppOptions {
        verifier: Some(verifier(Algorithm::HS256, Some("tandem"), Some("api"))),
        ..AppOptions::default()
    }
}

/// How one entrance answered a token.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Accepted,
    Refused,
}

/// GraphQL over HTTP with a raw `Authorization` value.
async fn over_http(app: &TestApp, authorization: &str) -> (Outcome, Value) {
    let res = app
        .client()
        .post(app.url("/graphql"))
        .header("Authorization", authorization)
        .json(&json!({ "query": READ }))
        .send()
        .await
        .expect("request");
    let body: Value = res.json().await.expect("json");
    match error_code(&body).as_deref() {
        None => (Outcome::Accepted, body),
        Some("UNAUTHENTICATED") => {
            assert!(body["data"].is_null(), "{body}");
            (Outcome::Refused, body)
        }
        Some(other) => panic!("unexpected {other}: {body}"),
    }
}

/// A bulk export with a raw `Authorization` value.
async fn over_export(app: &TestApp, authorization: &str) -> (Outcome, String) {
    let res = app
        .client()
        .get(app.url("/export/goals.ndjson"))
        .header("Authorization", authorization)
        .send()
        .await
        .expect("request");
    let status = res.status().as_u16();
    let challenge = res
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = res.text().await.expect("body");
    match status {
        200 => (Outcome::Accepted, body),
        401 => {
            assert_eq!(challenge.as_deref(), Some("Bearer"), "{body}");
            assert!(body.contains("UNAUTHENTICATED"), "{body}");
            (Outcome::Refused, body)
        }
        other => panic!("unexpected status {other}: {body}"),
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open_socket(app: &TestApp) -> Socket {
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

/// The next text message as JSON, or the close code.
async fn next_message(socket: &mut Socket) -> Result<Value, Option<u16>> {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("an answer within 10 s");
        match message {
            Some(Ok(Message::Text(text))) => {
                return Ok(serde_json::from_str(text.as_str()).expect("json"));
            }
            Some(Ok(Message::Close(frame))) => return Err(frame.map(|f| u16::from(f.code))),
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return Err(None),
        }
    }
}

/// A WebSocket `connection_init` with `{"Authorization": authorization}`; the open socket
/// when acknowledged.
async fn over_websocket(app: &TestApp, authorization: &str) -> (Outcome, Option<Socket>) {
    let mut socket = open_socket(app).await;
    let init = json!({ "type": "connection_init", "payload": { "Authorization": authorization } });
    socket
        .send(Message::text(init.to_string()))
        .await
        .expect("send init");
    match next_message(&mut socket).await {
        Ok(v) => {
            assert_eq!(v["type"], "connection_ack", "{v}");
            (Outcome::Accepted, Some(socket))
        }
        Err(code) => {
            assert_eq!(code, Some(4403), "refusals close with 4403");
            (Outcome::Refused, None)
        }
    }
}

/// Asserts every entrance answers `token` (sent as `<scheme> <token>`) the same way.
async fn everywhere(app: &TestApp, scheme: &str, token: &str, expected: Outcome, what: &str) {
    let authorization = format!("{scheme} {token}");
    let (http, body) = over_http(app, &authorization).await;
    assert_eq!(http, expected, "HTTP, {what}: {body}");
    let (export, body) = over_export(app, &authorization).await;
    assert_eq!(export, expected, "export, {what}: {body}");
    let (ws, _) = over_websocket(app, &authorization).await;
    assert_eq!(ws, expected, "WebSocket, {what}");
}

on_both_backends_with_options!(
    a_configured_issuer_and_audience_must_be_present_and_right,
    with_issuer_and_audience(),
    |app: TestApp| async move {
        let org = app.org_id;
        let token = |extra: Value| sign(Algorithm::HS256, &claims(org, "admin-user", extra));
        let cases = [
            (
                json!({ "iss": "tandem", "aud": "api" }),
                Outcome::Accepted,
                "right issuer and audience",
            ),
            (json!({ "aud": "api" }), Outcome::Refused, "no issuer"),
            (json!({ "iss": "tandem" }), Outcome::Refused, "no audience"),
            (json!({}), Outcome::Refused, "neither"),
            (
                json!({ "iss": "other", "aud": "api" }),
                Outcome::Refused,
                "wrong issuer",
            ),
            (
                json!({ "iss": "tandem", "aud": "web" }),
                Outcome::Refused,
                "wrong audience",
            ),
            (
                json!({ "iss": "tandem", "aud": ["web", "api"] }),
                Outcome::Accepted,
                "audience list holding ours",
            ),
            (
                json!({ "iss": "tandem", "aud": ["web", "mobile"] }),
                Outcome::Refused,
                "audience list without ours",
            ),
        ];
        for (extra, expected, what) in cases {
            everywhere(&app, "Bearer", &token(extra), expected, what).await;
        }
        let (_, body) =
            over_http(&app, &format!("Bearer {}", token(json!({ "aud": "api" })))).await;
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .unwrap_or("")
                .contains("`iss`"),
            "the refusal names the missing claim: {body}"
        );
    }
);

on_both_backends_with_options!(
    the_bearer_scheme_is_matched_in_any_case,
    AppOptions::default(),
    |app: TestApp| async move {
        let token = app.token(&["admin"]);
        for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
            everywhere(&app, scheme, &token, Outcome::Accepted, scheme).await;
        }
        for scheme in ["Basic", "Token", "Bearer:"] {
            everywhere(&app, scheme, &token, Outcome::Refused, scheme).await;
        }
    }
);

/// A token not valid for another ten minutes is refused; one valid since a minute ago is not.
async fn not_before_is_honoured(app: TestApp, algorithm: Algorithm) {
    let later = sign(
        algorithm,
        &claims(app.org_id, "admin-user", json!({ "nbf": now() + 600 })),
    );
    everywhere(
        &app,
        "Bearer",
        &later,
        Outcome::Refused,
        "nbf in ten minutes",
    )
    .await;
    let (_, body) = over_http(&app, &format!("Bearer {later}")).await;
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap_or("")
            .contains("not valid yet"),
        "{body}"
    );
    let earlier = sign(
        algorithm,
        &claims(app.org_id, "admin-user", json!({ "nbf": now() - 60 })),
    );
    everywhere(
        &app,
        "Bearer",
        &earlier,
        Outcome::Accepted,
        "nbf a minute ago",
    )
    .await;
}

fn keyed(algorithm: Algorithm) -> AppOptions {
    AppOptions {
        verifier: Some(verifier(algorithm, None, None)),
        ..AppOptions::default()
    }
}

on_both_backends_with_options!(
    a_token_not_valid_yet_is_refused_on_hs256,
    keyed(Algorithm::HS256),
    |app: TestApp| not_before_is_honoured(app, Algorithm::HS256)
);

on_both_backends_with_options!(
    a_token_not_valid_yet_is_refused_on_rs256,
    keyed(Algorithm::RS256),
    |app: TestApp| not_before_is_honoured(app, Algorithm::RS256)
);

on_both_backends_with_options!(
    a_token_not_valid_yet_is_refused_on_es256,
    keyed(Algorithm::ES256),
    |app: TestApp| not_before_is_honoured(app, Algorithm::ES256)
);

on_both_backends_with_options!(
    a_deactivated_persons_token_is_refused_everywhere_and_ends_their_subscriptions,
    AppOptions::default(),
    |app: TestApp| async move {
        define_metric(&app, "arr", "FINANCIAL", "SUM").await;
        let person = |active: bool| json!({ "input": { "externalId": "P1", "name": "Ana", "subject": "ana", "active": active } });
        app.ok("hr", UPSERT_PERSON, person(true)).await;
        let ana = app.token_for(app.org_id, "ana", &["manager"]);
        everywhere(&app, "Bearer", &ana, Outcome::Accepted, "active person").await;

        // A subscription opened while active.
        let (_, socket) = over_websocket(&app, &format!("Bearer {ana}")).await;
        let mut socket = socket.expect("open socket");
        let subscribe =
            json!({ "id": "s", "type": "subscribe", "payload": { "query": OBSERVATIONS } });
        socket
            .send(Message::text(subscribe.to_string()))
            .await
            .expect("send");
        // The ping answered means the subscribe before it was read and started.
        socket
            .send(Message::text(json!({ "type": "ping" }).to_string()))
            .await
            .expect("send");
        assert_eq!(
            next_message(&mut socket).await.expect("pong")["type"],
            "pong"
        );

        app.ok("hr", UPSERT_PERSON, person(false)).await;
        everywhere(&app, "Bearer", &ana, Outcome::Refused, "deactivated person").await;
        let (_, body) = over_http(&app, &format!("Bearer {ana}")).await;
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .unwrap_or("")
                .contains("deactivated"),
            "{body}"
        );
        // The next event ends the running subscription instead of reaching them.
        record(&app, vec![obs("arr", "2026-01-01", "MONTH", "1")]).await;
        let v = next_message(&mut socket).await.expect("an answer");
        assert_eq!(v["type"], "next", "{v}");
        assert!(v["payload"]["data"].is_null(), "{v}");
        assert_eq!(
            v["payload"]["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
            "{v}"
        );
        let v = next_message(&mut socket).await.expect("complete");
        assert_eq!(v["type"], "complete", "{v}");

        // Other subjects (service accounts, people still active) are unaffected.
        everywhere(
            &app,
            "Bearer",
            &app.token(&["admin"]),
            Outcome::Accepted,
            "service account",
        )
        .await;
    }
);

/// An id as a SQL literal of the backend's uuid column.
fn uuid_literal(app: &TestApp, id: Uuid) -> String {
    match app.backend {
        Backend::Sqlite => format!("X'{}'", id.simple()),
        Backend::Postgres => format!("'{id}'"),
    }
}

on_both_backends_with_options!(
    a_deleted_organizations_tokens_stop_working_at_once,
    AppOptions::default(),
    |app: TestApp| async move {
        let gone = app.create_org("Gone").await;
        let token = app.token_for(gone, "admin-user", &["admin"]);
        // Served (and, before, remembered as known) while it exists.
        everywhere(
            &app,
            "Bearer",
            &token,
            Outcome::Accepted,
            "existing organization",
        )
        .await;
        let (_, socket) = over_websocket(&app, &format!("Bearer {token}")).await;
        let mut socket = socket.expect("open socket");

        // No command deletes an organization; an operator would, in the database.
        let id = uuid_literal(&app, gone);
        for table in ["audit_events", "journey_stages", "organizations"] {
            let column = if table == "organizations" {
                "id"
            } else {
                "org_id"
            };
            app.store
                .execute_unprepared(&format!("DELETE FROM {table} WHERE {column} = {id}"))
                .await
                .expect("delete");
        }
        everywhere(
            &app,
            "Bearer",
            &token,
            Outcome::Refused,
            "deleted organization",
        )
        .await;
        // A connection opened before cannot start anything either.
        let subscribe =
            json!({ "id": "s", "type": "subscribe", "payload": { "query": OBSERVATIONS } });
        socket
            .send(Message::text(subscribe.to_string()))
            .await
            .expect("send");
        let v = next_message(&mut socket).await.expect("an answer");
        assert_eq!(
            v["payload"]["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
            "{v}"
        );
        // The organization the app started with is unaffected.
        everywhere(
            &app,
            "Bearer",
            &app.token(&["admin"]),
            Outcome::Accepted,
            "other organization",
        )
        .await;
    }
);
