//! Request limits: query depth, query complexity and body size are bounded and reported
//! with a code clients can act on; health and readiness probes answer.

use serde_json::{Value, json};
use tandem_api::Limits;
use tandem_tests::{TestApp, error_code, on_both_backends};

use crate::support::{define_metric, on_both_backends_with};

const DEEP: &str = "{ metrics { nodes { versions { nodes { version } } } } }";
const SHALLOW: &str = "{ metrics { totalCount } }";
const WIDE: &str = "{ metrics { totalCount nodes { key name definition unit currency direction perspective kind aggregation status } } }";

fn limit_of(body: &Value) -> Option<&str> {
    body["errors"][0]["extensions"]["limit"].as_str()
}

on_both_backends_with!(
    queries_deeper_than_the_limit_are_refused,
    Limits {
        max_depth: 3,
        ..Limits::default()
    },
    8 * 1024 * 1024,
    |app: TestApp| async move {
        define_metric(&app, "arr", "FINANCIAL", "SUM").await;
        let ok = app.ok("member", SHALLOW, json!({})).await;
        assert_eq!(ok["metrics"]["totalCount"], 1);
        let body = app.gql("member", DEEP, json!({})).await;
        assert_eq!(
            error_code(&body).as_deref(),
            Some("BAD_USER_INPUT"),
            "{body:#}"
        );
        assert_eq!(limit_of(&body), Some("queryDepth"), "{body:#}");
        assert!(body["data"].is_null(), "{body:#}");
        // The limit applies before authentication: an anonymous deep query is refused the
        // same way and learns nothing.
        let body = app.gql_with(None, DEEP, json!({})).await;
        assert_eq!(
            error_code(&body).as_deref(),
            Some("BAD_USER_INPUT"),
            "{body:#}"
        );
        assert_eq!(limit_of(&body), Some("queryDepth"), "{body:#}");
    }
);

on_both_backends_with!(
    queries_more_complex_than_the_limit_are_refused,
    Limits {
        max_cost: 8,
        ..Limits::default()
    },
    8 * 1024 * 1024,
    |app: TestApp| async move {
        define_metric(&app, "arr", "FINANCIAL", "SUM").await;
        let ok = app.ok("member", SHALLOW, json!({})).await;
        assert_eq!(ok["metrics"]["totalCount"], 1);
        let body = app.gql("member", WIDE, json!({})).await;
        assert_eq!(
            error_code(&body).as_deref(),
            Some("BAD_USER_INPUT"),
            "{body:#}"
        );
        assert_eq!(limit_of(&body), Some("queryCost"), "{body:#}");
        assert!(body["data"].is_null(), "{body:#}");
    }
);

on_both_backends!(
    default_limits_allow_ordinary_queries,
    |app: TestApp| async move {
        define_metric(&app, "arr", "FINANCIAL", "SUM").await;
        let data = app.ok("member", DEEP, json!({})).await;
        assert_eq!(
            data["metrics"]["nodes"][0]["versions"]["nodes"][0]["version"],
            1
        );
        let data = app.ok("member", WIDE, json!({})).await;
        assert_eq!(data["metrics"]["nodes"][0]["key"], "arr");
    }
);

on_both_backends_with!(
    bodies_larger_than_the_limit_get_413_with_a_graphql_error,
    Limits::default(),
    1024,
    |app: TestApp| async move {
        let token = app.token(&["member"]);
        // A small request is served.
        let res = app
            .client()
            .post(app.url("/graphql"))
            .bearer_auth(&token)
            .json(&json!({ "query": SHALLOW }))
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.expect("json");
        assert!(body.get("errors").is_none(), "{body:#}");

        let padding = "x".repeat(4096);
        let res = app
            .client()
            .post(app.url("/graphql"))
            .bearer_auth(&token)
            .json(&json!({ "query": SHALLOW, "variables": { "padding": padding } }))
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), 413);
        let content_type = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let text = res.text().await.expect("body");
        assert!(
            content_type.starts_with("application/json"),
            "content-type {content_type:?}, body {text:?}"
        );
        let body: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("413 body is not JSON ({e}): {text:?}"));
        assert_eq!(
            error_code(&body).as_deref(),
            Some("BAD_USER_INPUT"),
            "{body:#}"
        );
    }
);

on_both_backends!(
    health_and_readiness_probes_answer,
    |app: TestApp| async move {
        let res = app
            .client()
            .get(app.url("/healthz"))
            .send()
            .await
            .expect("healthz");
        assert_eq!(res.status(), 200);
        let res = app
            .client()
            .get(app.url("/readyz"))
            .send()
            .await
            .expect("readyz");
        assert_eq!(res.status(), 200);
        assert_eq!(res.text().await.expect("body"), "ready");
    }
);
