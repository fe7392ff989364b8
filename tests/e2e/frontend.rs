//! What front-end tools meet: response fields in selection-set order (over HTTP and in
//! subscription events), CORS for the origins an operator lists and no grant for others, and
//! GraphiQL served from the binary under a strict Content-Security-Policy.

use std::net::SocketAddr;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tandem_api::Limits;
use tandem_api::auth::{KeySource, Verifier};
use tandem_api::server::{AppState, router};
use tandem_tests::{SECRET, TestApp, on_both_backends};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::support::{create_segment, define_metric, obs_dim, record};

/// A second server over the app's database, configured by `configure` (tokens minted by the
/// app are valid on it).
async fn serve_with(app: &TestApp, configure: impl FnOnce(AppState) -> AppState) -> SocketAddr {
    let verifier =
        Verifier::new(&KeySource::Secret(SECRET.to_vec()), None, None).expect("verifier");
    let state = configure(AppState::new(
        app.store.clone(),
        verifier,
        Limits::default(),
        8 * 1024 * 1024,
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router(state)).await;
    });
    addr
}

/// The keys of a JSON object in the order the text has them (`serde_json::Value` sorts them;
/// async-graphql's value keeps them).
fn keys(text: &str, path: &[&str]) -> Vec<String> {
    let mut value: async_graphql::Value = serde_json::from_str(text).expect("json");
    for step in path {
        value = match value {
            async_graphql::Value::Object(mut map) => map
                .swap_remove(*step)
                .unwrap_or_else(|| panic!("no `{step}` in {text}")),
            async_graphql::Value::List(mut items) if *step == "0" && !items.is_empty() => {
                items.swap_remove(0)
            }
            other => panic!("cannot step into `{step}` of {other}"),
        };
    }
    match value {
        async_graphql::Value::Object(map) => map.keys().map(|k| k.to_string()).collect(),
        other => panic!("not an object at {path:?}: {other}"),
    }
}

/// Resolvers that finish at different times: database reads (the glossary, a count, a data
/// loader) between fields answered at once (`__typename`, the caller).
const MIXED_ORDER: &str = r#"{
  zObservations: observations(first: 5) { totalCount }
  zMetrics: metrics(first: 5) {
    zTotal: totalCount
    yPage: pageInfo { hasNextPage }
    xNodes: nodes { zKey: key yType: __typename xName: name }
  }
  yType: __typename
  xOrganization: organization { zName: name yType: __typename xId: id }
  wViewer: viewer { zSubject: subject yRoles: roles }
  vSegments: segments(first: 5) { totalCount }
}"#;

on_both_backends!(
    response_fields_follow_the_selection_set_over_http,
    |app: TestApp| async move {
        define_metric(&app, "arr", "FINANCIAL", "SUM").await;
        define_metric(&app, "nps", "CUSTOMER", "AVERAGE").await;
        create_segment(&app, "smb").await;
        let token = app.token(&["admin"]);
        for _ in 0..10 {
            let text = app
                .client()
                .post(app.url("/graphql"))
                .bearer_auth(&token)
                .json(&json!({ "query": MIXED_ORDER }))
                .send()
                .await
                .expect("request")
                .text()
                .await
                .expect("body");
            assert!(!text.contains("\"errors\""), "{text}");
            assert_eq!(
                keys(&text, &["data"]),
                [
                    "zObservations",
                    "zMetrics",
                    "yType",
                    "xOrganization",
                    "wViewer",
                    "vSegments"
                ],
                "{text}"
            );
            assert_eq!(
                keys(&text, &["data", "zMetrics"]),
                ["zTotal", "yPage", "xNodes"]
            );
            assert_eq!(
                keys(&text, &["data", "zMetrics", "xNodes", "0"]),
                ["zKey", "yType", "xName"]
            );
            assert_eq!(
                keys(&text, &["data", "xOrganization"]),
                ["zName", "yType", "xId"]
            );
            assert_eq!(keys(&text, &["data", "wViewer"]), ["zSubject", "yRoles"]);
        }
    }
);

/// Fields of an event in reverse alphabetical order, mixing data-loader reads (metric,
/// segment) with values at hand.
const EVENT: &str = r#"subscription {
  observationRecorded(metricKey: "arr") {
    observations {
      zValue: value
      yMetric: metric { zKey: key yName: name }
      xStart: periodStart
      wSegment: segment { key }
      vGranularity: granularity
    }
  }
}"#;

on_both_backends!(
    subscription_events_follow_the_selection_set,
    |app: TestApp| async move {
        define_metric(&app, "arr", "FINANCIAL", "SUM").await;
        create_segment(&app, "smb").await;
        let mut request = format!("ws://{}/graphql", app.addr)
            .into_client_request()
            .expect("request");
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            "graphql-transport-ws".parse().expect("header"),
        );
        let (mut socket, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("websocket upgrade");
        let token = app.token(&["bi"]);
        let init = json!({ "type": "connection_init",
                           "payload": { "Authorization": format!("Bearer {token}") } });
        socket
            .send(Message::text(init.to_string()))
            .await
            .expect("init");
        let subscribe = json!({ "id": "1", "type": "subscribe", "payload": { "query": EVENT } });
        socket
            .send(Message::text(subscribe.to_string()))
            .await
            .expect("subscribe");

        // Record until the subscription (started asynchronously) delivers an event.
        let mut event = None;
        for month in 0..24 {
            let start = format!("{}-{:02}-01", 2024 + month / 12, month % 12 + 1);
            record(
                &app,
                vec![obs_dim("arr", &start, "MONTH", Some("smb"), None, "7.5")],
            )
            .await;
            let deadline = tokio::time::Instant::now() + Duration::from_millis(500);
            while let Ok(Some(message)) = tokio::time::timeout_at(deadline, socket.next()).await {
                if let Message::Text(text) = message.expect("message") {
                    let v: Value = serde_json::from_str(text.as_str()).expect("json");
                    if v["type"] == "next" {
                        event = Some(text.to_string());
                        break;
                    }
                }
            }
            if event.is_some() {
                break;
            }
        }
        let event = event.expect("an observation event");
        let path = [
            "payload",
            "data",
            "observationRecorded",
            "observations",
            "0",
        ];
        assert_eq!(
            keys(&event, &path),
            ["zValue", "yMetric", "xStart", "wSegment", "vGranularity"],
            "{event}"
        );
        let mut metric = path.to_vec();
        metric.push("yMetric");
        assert_eq!(keys(&event, &metric), ["zKey", "yName"], "{event}");
    }
);

const ALLOWED: &str = "http://localhost:5173";

/// A preflight as a browser sends it before a cross-origin `POST` with a token.
async fn preflight(client: &reqwest::Client, url: &str, origin: &str) -> reqwest::Response {
    client
        .request(reqwest::Method::OPTIONS, url)
        .header("Origin", origin)
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "authorization,content-type",
        )
        .send()
        .await
        .expect("preflight")
}

fn header<'a>(res: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    res.headers().get(name).and_then(|v| v.to_str().ok())
}

on_both_backends!(
    listed_origins_get_cors_grants_on_graphql_and_exports,
    |app: TestApp| async move {
        let addr = serve_with(&app, |state| {
            state
                .with_cors_origins(&[ALLOWED.to_owned(), "https://app.example.com/".to_owned()])
                .expect("valid origins")
        })
        .await;
        let client = app.client();

        for path in ["/graphql", "/export/observations.csv"] {
            let res = preflight(client, &format!("http://{addr}{path}"), ALLOWED).await;
            assert!(res.status().is_success(), "{path}: {}", res.status());
            assert_eq!(header(&res, "access-control-allow-origin"), Some(ALLOWED));
            let methods = header(&res, "access-control-allow-methods").unwrap_or_default();
            for method in ["GET", "POST", "OPTIONS"] {
                assert!(methods.contains(method), "{path}: {methods}");
            }
            let headers = header(&res, "access-control-allow-headers")
                .unwrap_or_default()
                .to_ascii_lowercase();
            for name in ["authorization", "content-type", "accept"] {
                assert!(headers.contains(name), "{path}: {headers}");
            }
            assert_eq!(header(&res, "access-control-allow-credentials"), None);
        }
        // The second listed origin, written with a trailing slash, is granted as an origin.
        let res = preflight(
            client,
            &format!("http://{addr}/graphql"),
            "https://app.example.com",
        )
        .await;
        assert_eq!(
            header(&res, "access-control-allow-origin"),
            Some("https://app.example.com")
        );

        let res = client
            .post(format!("http://{addr}/graphql"))
            .header("Origin", ALLOWED)
            .bearer_auth(app.token(&["member"]))
            .json(&json!({ "query": "{ viewer { subject } }" }))
            .send()
            .await
            .expect("post");
        assert_eq!(header(&res, "access-control-allow-origin"), Some(ALLOWED));
        let exposed = header(&res, "access-control-expose-headers")
            .unwrap_or_default()
            .to_ascii_lowercase();
        for name in [
            "ratelimit-limit",
            "ratelimit-remaining",
            "ratelimit-reset",
            "retry-after",
        ] {
            assert!(exposed.contains(name), "{exposed}");
        }
        assert!(
            res.headers()
                .get_all("vary")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .any(|v| v.to_ascii_lowercase().contains("origin")),
            "responses vary by origin"
        );
        let body: Value = res.json().await.expect("json");
        assert_eq!(body["data"]["viewer"]["subject"], "member-user", "{body}");
    }
);

on_both_backends!(
    unlisted_origins_and_other_paths_get_no_cors_grant,
    |app: TestApp| async move {
        let addr = serve_with(&app, |state| {
            state
                .with_cors_origins(&[ALLOWED.to_owned()])
                .expect("valid origins")
        })
        .await;
        let client = app.client();
        for origin in ["http://localhost:5174", "https://localhost:5173", "null"] {
            let res = preflight(client, &format!("http://{addr}/graphql"), origin).await;
            assert_eq!(
                header(&res, "access-control-allow-origin"),
                None,
                "{origin}"
            );
            let res = client
                .post(format!("http://{addr}/graphql"))
                .header("Origin", origin)
                .bearer_auth(app.token(&["member"]))
                .json(&json!({ "query": "{ viewer { subject } }" }))
                .send()
                .await
                .expect("post");
            assert_eq!(
                header(&res, "access-control-allow-origin"),
                None,
                "{origin}"
            );
        }
        // Only the API paths are shared with listed origins.
        for path in ["/metrics", "/healthz", "/graphiql/tandem-graphiql.js"] {
            let res = client
                .get(format!("http://{addr}{path}"))
                .header("Origin", ALLOWED)
                .send()
                .await
                .expect("get");
            assert_eq!(header(&res, "access-control-allow-origin"), None, "{path}");
        }
        // Without TANDEM_CORS_ORIGINS (the default) nobody gets a grant.
        let res = preflight(client, &app.url("/graphql"), ALLOWED).await;
        assert_eq!(header(&res, "access-control-allow-origin"), None);
        let res = client
            .post(app.url("/graphql"))
            .header("Origin", ALLOWED)
            .bearer_auth(app.token(&["member"]))
            .json(&json!({ "query": "{ viewer { subject } }" }))
            .send()
            .await
            .expect("post");
        assert_eq!(header(&res, "access-control-allow-origin"), None);
        assert!(res.status().is_success());
    }
);

#[tokio::test]
async fn cors_origins_that_are_not_origins_are_refused() {
    {
        let app = tandem_tests::spawn_app(tandem_tests::Backend::Sqlite)
            .await
            .expect("app");
        for bad in [
            "localhost:5173",
            "*",
            "http://",
            "http://a.example/app",
            "ftp://a.example",
        ] {
            let verifier =
                Verifier::new(&KeySource::Secret(SECRET.to_vec()), None, None).expect("verifier");
            let state = AppState::new(app.store.clone(), verifier, Limits::default(), 1024);
            let err = state
                .with_cors_origins(&[bad.to_owned()])
                .err()
                .unwrap_or_else(|| panic!("`{bad}` accepted"));
            assert!(
                err.to_string().contains("TANDEM_CORS_ORIGINS"),
                "{bad}: {err}"
            );
        }
    }
}

/// The files the GraphiQL page loads, from its HTML.
fn page_references(html: &str) -> Vec<String> {
    let mut refs = Vec::new();
    for attr in ["src=\"", "href=\""] {
        let mut rest = html;
        while let Some(at) = rest.find(attr) {
            rest = &rest[at + attr.len()..];
            let end = rest.find('"').expect("closed attribute");
            refs.push(rest[..end].to_owned());
            rest = &rest[end..];
        }
    }
    refs
}

async fn graphiql_page(
    client: &reqwest::Client,
    url: &str,
) -> (reqwest::header::HeaderMap, String) {
    let res = client
        .get(url)
        .header(
            "Accept",
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        )
        .send()
        .await
        .expect("page");
    assert_eq!(res.status(), 200);
    let headers = res.headers().clone();
    (headers, res.text().await.expect("html"))
}

on_both_backends!(
    graphiql_is_served_from_the_binary_under_a_strict_policy,
    |app: TestApp| async move {
        let client = app.client();
        let (headers, html) = graphiql_page(client, &app.url("/graphql")).await;
        let get = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        assert!(get("content-type").starts_with("text/html"), "{headers:?}");
        assert_eq!(get("cache-control"), "no-store");
        let csp = get("content-security-policy");
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "connect-src 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(directive), "{csp}");
        }
        assert!(!csp.contains("http") && !csp.contains("unsafe"), "{csp}");
        // Nothing from another host, no inline script.
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "{html}"
        );
        assert!(!html.contains("<script>"), "{html}");
        // Outside local mode the header editor asks for a token.
        assert!(
            html.contains(
                "data-headers=\"{\n  &quot;Authorization&quot;: &quot;Bearer &quot;\n}\""
            ),
            "{html}"
        );

        // No favicon request: the icon is an empty `data:` URL.
        let mut refs = page_references(&html);
        assert!(refs.iter().any(|r| r == "data:,"), "{refs:?}");
        refs.retain(|r| r != "data:,");
        assert!(refs.len() >= 6, "{refs:?}");
        for reference in &refs {
            assert!(reference.starts_with("/graphiql/"), "{reference}");
            let res = client.get(app.url(reference)).send().await.expect("asset");
            assert_eq!(res.status(), 200, "{reference}");
            let content_type = header(&res, "content-type").unwrap_or_default().to_owned();
            let cache = header(&res, "cache-control").unwrap_or_default().to_owned();
            assert_eq!(header(&res, "x-content-type-options"), Some("nosniff"));
            let body = res.bytes().await.expect("body");
            let file = reference.trim_start_matches("/graphiql/");
            let on_disk = std::fs::read(format!(
                "{}/../api/assets/graphiql/{file}",
                env!("CARGO_MANIFEST_DIR")
            ))
            .expect("vendored file");
            assert_eq!(body.as_ref(), on_disk.as_slice(), "{reference}");
            if file.ends_with(".js") {
                assert_eq!(
                    content_type, "text/javascript; charset=utf-8",
                    "{reference}"
                );
            } else {
                assert_eq!(content_type, "text/css; charset=utf-8", "{reference}");
            }
            if file.starts_with("tandem-") {
                assert_eq!(cache, "no-cache", "{reference}");
            } else {
                assert_eq!(cache, "public, max-age=31536000, immutable", "{reference}");
            }
        }
        let res = client
            .get(app.url("/graphiql/graphiql-3.9.0.LICENSE"))
            .send()
            .await
            .expect("licence");
        assert_eq!(
            header(&res, "content-type"),
            Some("text/plain; charset=utf-8")
        );
        for missing in ["/graphiql/nope.js", "/graphiql/..%2FCargo.toml"] {
            let res = client.get(app.url(missing)).send().await.expect("get");
            assert_eq!(res.status(), 404, "{missing}");
        }

        // A server given the local mode's token prefills the header editor with it.
        let addr = serve_with(&app, |state| {
            state.with_graphiql_token(Some("local.demo.token"))
        })
        .await;
        let (_, html) = graphiql_page(client, &format!("http://{addr}/graphql")).await;
        assert!(
            html.contains("&quot;Authorization&quot;: &quot;Bearer local.demo.token&quot;"),
            "{html}"
        );
        // A client asking for JSON still gets GraphQL, not the page.
        let res = client
            .get(app.url("/graphql"))
            .header("Accept", "application/json")
            .send()
            .await
            .expect("get");
        assert_ne!(
            header(&res, "content-type").unwrap_or_default(),
            "text/html; charset=utf-8"
        );
    }
);
