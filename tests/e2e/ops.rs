//! Operations features of `/graphql` and `/metrics`: automatic persisted queries over POST
//! and GET, the query cost in every response, GraphQL-over-HTTP rules (GET runs queries
//! only, media types and their status codes, GraphiQL for browsers), and Prometheus metrics
//! by operation name and error code.

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, ALLOW, CONTENT_TYPE};
use serde_json::{Value, json};
use tandem_api::Limits;
use tandem_tests::{TestApp, error_code, on_both_backends};

use crate::support::{define_metric, metric_input, on_both_backends_with};

/// A query sent as an automatic persisted query in the tests.
const METRICS_QUERY: &str = "query Metrics { metrics { totalCount } }";
/// `sha256(METRICS_QUERY)` in hex, as clients compute it.
const METRICS_QUERY_SHA256: &str =
    "5f8b7f91613d68d7db7572ef7f7547eb6594def4ae5a86155150dc70a8dc2bd1";
/// A mutation sent as an automatic persisted query in the tests.
const DEFINE_QUERY: &str = "mutation Define($input: DefineMetricInput!) { defineMetric(input: $input) { metric { key } } }";
/// `sha256(DEFINE_QUERY)` in hex.
const DEFINE_QUERY_SHA256: &str =
    "276daaedf9f522dd0f7b7f6f94d783c75241a10face2fa92cb5d2a561899cfcf";

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";

fn persisted(hash: &str) -> Value {
    json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } })
}

/// POSTs a raw JSON body with an optional token; returns status, content type and body.
async fn post(
    app: &TestApp,
    token: Option<&str>,
    accept: Option<&str>,
    body: &Value,
) -> (StatusCode, String, Value) {
    let mut req = app.client().post(app.url("/graphql")).json(body);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    if let Some(accept) = accept {
        req = req.header(ACCEPT, accept);
    }
    read(req.send().await.expect("request")).await
}

/// GETs `/graphql` with URL parameters; returns status, content type and body.
async fn get(
    app: &TestApp,
    token: Option<&str>,
    accept: Option<&str>,
    params: &[(&str, String)],
) -> (StatusCode, String, Value) {
    let mut req = app.client().get(app.url("/graphql")).query(params);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    if let Some(accept) = accept {
        req = req.header(ACCEPT, accept);
    }
    read(req.send().await.expect("request")).await
}

async fn read(res: reqwest::Response) -> (StatusCode, String, Value) {
    let status = res.status();
    let content_type = res
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = res.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, content_type, body)
}

async fn metrics_text(app: &TestApp, token: Option<&str>) -> (StatusCode, String) {
    let mut req = app.client().get(app.url("/metrics"));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let res = req.send().await.expect("metrics request");
    let status = res.status();
    (status, res.text().await.expect("metrics body"))
}

/// The value of the metric line that starts with `series` (name and labels), if any.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
}

on_both_backends!(
    persisted_queries_round_trip_over_post_and_get,
    |app: TestApp| async move {
        define_metric(&app, "arr", "FINANCIAL", "SUM").await;
        let member = app.token(&["member"]);

        // 1. The hash alone, before the server has seen the query: not found.
        let hash_only = json!({ "extensions": persisted(METRICS_QUERY_SHA256) });
        let (status, _, body) = post(&app, Some(&member), None, &hash_only).await;
        assert_eq!(status, StatusCode::OK, "{body:#}");
        assert_eq!(
            error_code(&body).as_deref(),
            Some("PERSISTED_QUERY_NOT_FOUND"),
            "{body:#}"
        );
        assert_eq!(body["errors"][0]["message"], "PersistedQueryNotFound");
        assert!(body.get("data").is_none(), "{body:#}");

        // 2. Hash and query: runs and is remembered.
        let (_, _, body) = post(
            &app,
            Some(&member),
            None,
            &json!({ "query": METRICS_QUERY, "extensions": persisted(METRICS_QUERY_SHA256) }),
        )
        .await;
        assert!(body.get("errors").is_none(), "{body:#}");
        assert_eq!(body["data"]["metrics"]["totalCount"], 1);

        // 3. The hash alone now runs the remembered query, over POST and over GET.
        let (_, _, body) = post(&app, Some(&member), None, &hash_only).await;
        assert!(body.get("errors").is_none(), "{body:#}");
        assert_eq!(body["data"]["metrics"]["totalCount"], 1);
        let (status, _, body) = get(
            &app,
            Some(&member),
            None,
            &[("extensions", persisted(METRICS_QUERY_SHA256).to_string())],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body:#}");
        assert_eq!(body["data"]["metrics"]["totalCount"], 1, "{body:#}");

        // A persisted query still needs a token: without one it is UNAUTHENTICATED.
        let (_, _, body) = post(&app, None, None, &hash_only).await;
        assert_eq!(
            error_code(&body).as_deref(),
            Some("UNAUTHENTICATED"),
            "{body:#}"
        );

        // A hash that does not match the query is refused and nothing runs.
        let (_, _, body) = post(
            &app,
            Some(&member),
            None,
            &json!({ "query": "{ metrics { totalCount } }", "extensions": persisted(METRICS_QUERY_SHA256) }),
        )
        .await;
        assert_eq!(
            error_code(&body).as_deref(),
            Some("BAD_USER_INPUT"),
            "{body:#}"
        );
        assert!(body.get("data").is_none(), "{body:#}");

        // A persisted mutation runs over POST, but its hash over GET is refused with 405.
        let revops = app.token(&["revops"]);
        let (_, _, body) = post(
            &app,
            Some(&revops),
            None,
            &json!({
                "query": DEFINE_QUERY,
                "variables": { "input": metric_input("nrr", "CUSTOMER", "LAST") },
                "extensions": persisted(DEFINE_QUERY_SHA256),
            }),
        )
        .await;
        assert_eq!(
            body["data"]["defineMetric"]["metric"]["key"], "nrr",
            "{body:#}"
        );
        let (status, _, body) = get(
            &app,
            Some(&revops),
            None,
            &[
                ("extensions", persisted(DEFINE_QUERY_SHA256).to_string()),
                (
                    "variables",
                    json!({ "input": metric_input("gone", "CUSTOMER", "LAST") }).to_string(),
                ),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body:#}");
        let data = app
            .ok("member", "{ metrics { totalCount } }", json!({}))
            .await;
        assert_eq!(data["metrics"]["totalCount"], 2, "the GET must not write");
    }
);

on_both_backends!(every_response_reports_its_cost, |app: TestApp| async move {
    define_metric(&app, "arr", "FINANCIAL", "SUM").await;
    let cost_of = |body: &Value| body["extensions"]["cost"].clone();

    let small = app
        .gql(
            "member",
            "{ metrics(first: 10) { nodes { key } } }",
            json!({}),
        )
        .await;
    assert!(small.get("errors").is_none(), "{small:#}");
    let small = cost_of(&small);
    assert_eq!(small["maxComplexity"], 5_000_000, "{small:#}");
    assert_eq!(small["maxDepth"], 12, "{small:#}");
    assert_eq!(small["depth"], 3, "{small:#}");
    // The connection (1) and ten possible items (1 each); scalars are free.
    assert_eq!(small["complexity"], 11, "{small:#}");
    assert_eq!(small["requestedQueryCost"], 11, "{small:#}");
    // One metric came back: the connection and one item.
    assert_eq!(small["actualQueryCost"], 2, "{small:#}");

    // A bigger page costs more; more scalars do not.
    let big = app
        .gql(
            "member",
            "{ metrics(first: 100) { totalCount nodes { key name } } }",
            json!({}),
        )
        .await;
    let big = cost_of(&big);
    assert_eq!(big["complexity"], 101, "{big:#}");

    // Errors carry it too: a resolver error has the figures, a syntax error only the limits.
    let forbidden = app
        .gql(
            "member",
            DEFINE_QUERY,
            json!({ "input": metric_input("x", "FINANCIAL", "SUM") }),
        )
        .await;
    assert_eq!(error_code(&forbidden).as_deref(), Some("FORBIDDEN"));
    assert!(cost_of(&forbidden)["complexity"].as_u64().is_some());
    let broken = app.gql("member", "{ metrics {", json!({})).await;
    assert_eq!(error_code(&broken).as_deref(), Some("BAD_USER_INPUT"));
    assert!(cost_of(&broken)["complexity"].is_null(), "{broken:#}");
    assert_eq!(cost_of(&broken)["maxComplexity"], 5_000_000);
});

on_both_backends_with!(
    the_cost_reports_the_configured_limits_when_a_query_is_refused,
    Limits {
        max_cost: 3,
        ..Limits::default()
    },
    8 * 1024 * 1024,
    |app: TestApp| async move {
        let body = app
            .gql("member", "{ metrics { nodes { key name } } }", json!({}))
            .await;
        assert_eq!(
            body["errors"][0]["extensions"]["limit"], "queryCost",
            "{body:#}"
        );
        let cost = &body["extensions"]["cost"];
        assert_eq!(cost["maxComplexity"], 3, "{body:#}");
        assert!(cost["complexity"].is_null(), "{body:#}");
    }
);

on_both_backends!(
    get_runs_queries_and_refuses_mutations_with_405,
    |app: TestApp| async move {
        define_metric(&app, "arr", "FINANCIAL", "SUM").await;
        let member = app.token(&["member"]);
        let revops = app.token(&["revops"]);

        // A query with variables in the URL runs.
        let (status, content_type, body) = get(
            &app,
            Some(&member),
            None,
            &[
                (
                    "query",
                    "query One($k: String!) { metric(key: $k) { key } }".to_owned(),
                ),
                ("variables", json!({ "k": "arr" }).to_string()),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body:#}");
        assert!(
            content_type.starts_with("application/json"),
            "{content_type}"
        );
        assert_eq!(body["data"]["metric"]["key"], "arr", "{body:#}");

        // Roles apply over GET as over POST: hr_sync may not read the glossary.
        let hr_sync = app.token(&["hr_sync"]);
        let (_, _, body) = get(
            &app,
            Some(&hr_sync),
            None,
            &[("query", "{ metrics { totalCount } }".to_owned())],
        )
        .await;
        assert_eq!(error_code(&body).as_deref(), Some("FORBIDDEN"), "{body:#}");

        // A mutation over GET is refused with 405 and `Allow: POST`, even for a role that
        // may run it over POST, and nothing is written.
        let res = app
            .client()
            .get(app.url("/graphql"))
            .bearer_auth(&revops)
            .query(&[
                ("query", DEFINE_QUERY.to_owned()),
                (
                    "variables",
                    json!({ "input": metric_input("viaget", "FINANCIAL", "SUM") }).to_string(),
                ),
            ])
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(
            res.headers().get(ALLOW).and_then(|v| v.to_str().ok()),
            Some("POST")
        );
        let body: Value = res.json().await.expect("json");
        assert_eq!(error_code(&body).as_deref(), Some("BAD_USER_INPUT"));
        let data = app
            .ok("member", "{ metrics { totalCount } }", json!({}))
            .await;
        assert_eq!(data["metrics"]["totalCount"], 1);

        // Browsers get GraphiQL; other clients without a query get 400.
        let res = app
            .client()
            .get(app.url("/graphql"))
            .header(ACCEPT, "text/html,application/xhtml+xml,*/*;q=0.8")
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.text().await.expect("html").contains("GraphiQL"));
        let (status, _, body) = get(&app, None, Some("application/json"), &[]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body:#}");
    }
);

on_both_backends!(
    media_types_and_status_codes_follow_graphql_over_http,
    |app: TestApp| async move {
        let member = app.token(&["member"]);
        let ok = json!({ "query": "{ metrics { totalCount } }" });

        let (status, content_type, body) =
            post(&app, Some(&member), Some(GRAPHQL_RESPONSE_JSON), &ok).await;
        assert_eq!(status, StatusCode::OK, "{body:#}");
        assert!(
            content_type.starts_with(GRAPHQL_RESPONSE_JSON),
            "{content_type}"
        );
        assert_eq!(body["data"]["metrics"]["totalCount"], 0);
        let (_, content_type, _) = post(&app, Some(&member), Some("*/*"), &ok).await;
        assert!(
            content_type.starts_with("application/json"),
            "{content_type}"
        );

        // A document that does not parse or validate: 400 without `data` for the new media
        // type, 200 for application/json.
        for query in ["{ metrics {", "{ noSuchField }"] {
            let bad = json!({ "query": query });
            let (status, _, body) =
                post(&app, Some(&member), Some(GRAPHQL_RESPONSE_JSON), &bad).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body:#}");
            assert!(body.get("data").is_none(), "{body:#}");
            assert_eq!(error_code(&body).as_deref(), Some("BAD_USER_INPUT"));
            let (status, _, body) = post(&app, Some(&member), Some("application/json"), &bad).await;
            assert_eq!(status, StatusCode::OK, "{query}: {body:#}");
            assert_eq!(error_code(&body).as_deref(), Some("BAD_USER_INPUT"));
        }

        // A field error is not a request error: 200 with either media type.
        let (status, _, body) = post(
            &app,
            Some(&member),
            Some(GRAPHQL_RESPONSE_JSON),
            &json!({ "query": DEFINE_QUERY, "variables": { "input": metric_input("x", "FINANCIAL", "SUM") } }),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body:#}");
        assert_eq!(error_code(&body).as_deref(), Some("FORBIDDEN"), "{body:#}");

        // Bodies that are not a GraphQL request.
        let res = app
            .client()
            .post(app.url("/graphql"))
            .bearer_auth(&member)
            .header(CONTENT_TYPE, "text/plain")
            .body(ok.to_string())
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        for raw in [
            "{ \"not json",
            "[]",
            "{\"query\": 1}",
            "{\"query\": \"{ a }\", \"variables\": \"x\"}",
        ] {
            let res = app
                .client()
                .post(app.url("/graphql"))
                .bearer_auth(&member)
                .header(CONTENT_TYPE, "application/json")
                .body(raw)
                .send()
                .await
                .expect("request");
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{raw}");
            let body: Value = res.json().await.expect("json");
            assert_eq!(
                error_code(&body).as_deref(),
                Some("BAD_USER_INPUT"),
                "{raw}"
            );
        }
    }
);

on_both_backends!(
    metrics_count_operations_and_errors_by_code,
    |app: TestApp| async move {
        let member = app.token(&["member"]);
        for _ in 0..2 {
            let (_, _, body) = post(
                &app,
                Some(&member),
                None,
                &json!({ "query": "query ListMetrics { metrics { totalCount } }" }),
            )
            .await;
            assert!(body.get("errors").is_none(), "{body:#}");
        }
        let (_, _, body) = post(
            &app,
            Some(&member),
            None,
            &json!({
                "query": DEFINE_QUERY,
                "variables": { "input": metric_input("x", "FINANCIAL", "SUM") },
            }),
        )
        .await;
        assert_eq!(error_code(&body).as_deref(), Some("FORBIDDEN"));
        app.gql_with(None, "{ metrics { totalCount } }", json!({}))
            .await;

        let (status, text) = metrics_text(&app, None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            sample(
                &text,
                r#"tandem_graphql_requests_total{operation="ListMetrics",outcome="ok"}"#
            ),
            Some(2.0),
            "{text}"
        );
        assert_eq!(
            sample(
                &text,
                r#"tandem_graphql_request_duration_seconds_count{operation="ListMetrics"}"#
            ),
            Some(2.0),
            "{text}"
        );
        assert_eq!(
            sample(
                &text,
                r#"tandem_graphql_requests_total{operation="Define",outcome="error"}"#
            ),
            Some(1.0),
            "{text}"
        );
        assert_eq!(
            sample(
                &text,
                r#"tandem_graphql_requests_total{operation="anonymous",outcome="error"}"#
            ),
            Some(1.0),
            "{text}"
        );
        assert_eq!(
            sample(&text, r#"tandem_graphql_errors_total{code="FORBIDDEN"}"#),
            Some(1.0),
            "{text}"
        );
        assert_eq!(
            sample(
                &text,
                r#"tandem_graphql_errors_total{code="UNAUTHENTICATED"}"#
            ),
            Some(1.0),
            "{text}"
        );
        // The pool gauges: the test server's pool holds at most 5 connections.
        assert_eq!(
            sample(&text, "tandem_db_pool_max_connections"),
            Some(5.0),
            "{text}"
        );
        let idle = sample(&text, r#"tandem_db_pool_connections{state="idle"}"#);
        let in_use = sample(&text, r#"tandem_db_pool_connections{state="in_use"}"#);
        assert!(idle.is_some_and(|n| (0.0..=5.0).contains(&n)), "{text}");
        assert!(in_use.is_some_and(|n| (0.0..=5.0).contains(&n)), "{text}");
        // No tenant data in labels.
        assert!(!text.contains(&app.org_id.to_string()), "{text}");
    }
);

async fn metrics_token_guards_metrics(backend: tandem_tests::Backend) {
    if backend == tandem_tests::Backend::Postgres {
        tandem_tests::require_postgres_url();
    }
    let app = tandem_tests::spawn_app_with_metrics_token(backend, "scrape-secret")
        .await
        .expect("app");
    let (status, _) = metrics_text(&app, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = metrics_text(&app, Some("wrong-secret")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // A tenant's API token is not the metrics token.
    let admin = app.token(&["admin"]);
    let (status, _) = metrics_text(&app, Some(&admin)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, text) = metrics_text(&app, Some("scrape-secret")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(text.contains("tandem_db_pool_max_connections"), "{text}");
}

mod metrics_token_guards_metrics_when_configured {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        metrics_token_guards_metrics(tandem_tests::Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[cfg_attr(
        tandem_no_postgres,
        ignore = "set TEST_DATABASE_URL to run on PostgreSQL"
    )]
    async fn postgres() {
        metrics_token_guards_metrics(tandem_tests::Backend::Postgres).await;
    }
}
