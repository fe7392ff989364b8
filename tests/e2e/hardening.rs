//! Hostile and heavy requests: the admission gate refuses explosive documents before any
//! validation or authentication work, prices queries by what they can return, keeps each
//! caller to a budget (429 with `Retry-After`), stops requests that run too long, and keeps
//! `/healthz` answering meanwhile. Introspection as GraphQL tools send it works.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tandem_api::Limits;
use tandem_tests::{TestApp, error_code, on_both_backends};

use crate::support::{define_metric, on_both_backends_with};

/// graphql-js's `getIntrospectionQuery()`, as GraphiQL, codegen, Rover and schemathesis send it.
const INTROSPECTION: &str = include_str!("fixtures/introspection.graphql");

fn limit_of(body: &Value) -> Option<&str> {
    body["errors"][0]["extensions"]["limit"].as_str()
}

/// `levels` fragments, each spreading the next twice: 2^levels expansions in 40 bytes a level.
fn fragment_bomb(levels: usize) -> String {
    let mut query = "query { ...F0 }".to_owned();
    for i in 0..levels {
        query.push_str(&format!(
            " fragment F{i} on Query {{ ...F{} ...F{} }}",
            i + 1,
            i + 1
        ));
    }
    query.push_str(&format!(" fragment F{levels} on Query {{ __typename }}"));
    query
}

/// Posts a raw GraphQL request; returns status, headers and body.
async fn post(
    app: &TestApp,
    token: Option<&str>,
    query: &str,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut req = app
        .client()
        .post(app.url("/graphql"))
        .json(&json!({ "query": query }));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let res = req.send().await.expect("request");
    let status = res.status();
    let headers = res.headers().clone();
    (status, headers, res.json().await.expect("json"))
}

on_both_backends!(
    an_anonymous_fragment_bomb_is_refused_before_validation,
    |app: TestApp| async move {
        let bomb = fragment_bomb(22);
        assert!(bomb.len() < 1_000, "{} bytes", bomb.len());
        let started = Instant::now();
        let (status, _, body) = post(&app, None, &bomb).await;
        let took = started.elapsed();
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            error_code(&body).as_deref(),
            Some("BAD_USER_INPUT"),
            "{body:#}"
        );
        assert_eq!(limit_of(&body), Some("fragmentSpreads"), "{body:#}");
        assert_eq!(body["errors"][0]["extensions"]["maximum"], 500, "{body:#}");
        assert!(body.get("data").is_none(), "{body:#}");
        // Before the gate this took seconds and doubled per level; it now stops counting at
        // the limit. A generous bound, so a busy machine does not fail the test.
        assert!(took < Duration::from_secs(2), "took {took:?}");

        // The same fan-out inside a selection of a real field is refused the same way.
        let nested = "{ metrics { nodes { ...A } } } fragment A on Metric { ...B ...B ...B ...B } \
            fragment B on Metric { ...C ...C ...C ...C } fragment C on Metric { ...D ...D ...D ...D } \
            fragment D on Metric { ...E ...E ...E ...E } fragment E on Metric { ...F ...F ...F ...F } \
            fragment F on Metric { key name }";
        let (_, _, body) = post(&app, Some(&app.token(&["member"])), nested).await;
        assert_eq!(limit_of(&body), Some("fragmentSpreads"), "{body:#}");
    }
);

on_both_backends!(
    healthz_answers_while_hostile_documents_arrive,
    |app: TestApp| async move {
        let bomb = fragment_bomb(30);
        let mut attackers = Vec::new();
        for _ in 0..8 {
            let client = app.client().clone();
            let url = app.url("/graphql");
            let bomb = bomb.clone();
            attackers.push(tokio::spawn(async move {
                for _ in 0..20 {
                    let res = client
                        .post(&url)
                        .json(&json!({ "query": bomb }))
                        .send()
                        .await
                        .expect("request");
                    let body: Value = res.json().await.expect("json");
                    assert_eq!(
                        body["errors"][0]["extensions"]["limit"], "fragmentSpreads",
                        "{body:#}"
                    );
                }
            }));
        }
        for _ in 0..10 {
            let started = Instant::now();
            let res = app
                .client()
                .get(app.url("/healthz"))
                .send()
                .await
                .expect("healthz");
            assert_eq!(res.status(), StatusCode::OK);
            // Two such requests used to block /healthz for 15 s.
            assert!(
                started.elapsed() < Duration::from_secs(3),
                "{:?}",
                started.elapsed()
            );
        }
        for attacker in attackers {
            attacker.await.expect("attacker");
        }
    }
);

on_both_backends!(
    aliases_operations_root_fields_and_nesting_are_bounded,
    |app: TestApp| async move {
        let member = app.token(&["member"]);
        let aliases: String = (0..201).map(|i| format!("a{i}: __typename ")).collect();
        let (_, _, body) = post(&app, Some(&member), &format!("{{ {aliases} }}")).await;
        assert_eq!(limit_of(&body), Some("aliases"), "{body:#}");
        assert_eq!(body["errors"][0]["extensions"]["actual"], 201, "{body:#}");

        let operations: String = (0..11)
            .map(|i| format!("query Q{i} {{ __typename }} "))
            .collect();
        let (_, _, body) = post(&app, Some(&member), &operations).await;
        assert_eq!(limit_of(&body), Some("operations"), "{body:#}");

        let roots: String = (0..51)
            .map(|i| format!("m{i}: metrics {{ totalCount }} "))
            .collect();
        let (_, _, body) = post(&app, Some(&member), &format!("{{ {roots} }}")).await;
        // Aliases allow 200, root fields 50.
        assert_eq!(limit_of(&body), Some("rootFields"), "{body:#}");

        let fields = "__typename ".repeat(2_001);
        let (_, _, body) = post(&app, Some(&member), &format!("{{ {fields} }}")).await;
        assert_eq!(limit_of(&body), Some("fields"), "{body:#}");

        // Brackets nested deeper than the parser should recurse are refused on the raw text.
        let deep = format!("{}{}", "{ a ".repeat(5_000), "}".repeat(5_000));
        let (status, _, body) = post(&app, None, &deep).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(limit_of(&body), Some("textNesting"), "{body:#}");

        // A query within every bound runs.
        let ok = app
            .ok(
                "member",
                "{ a: metrics { totalCount } b: metrics { totalCount } }",
                json!({}),
            )
            .await;
        assert_eq!(ok["a"]["totalCount"], 0);
    }
);

on_both_backends!(
    the_standard_introspection_query_runs_while_data_queries_keep_their_depth_limit,
    |app: TestApp| async move {
        let (status, _, body) = post(&app, Some(&app.token(&["member"])), INTROSPECTION).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.get("errors").is_none(), "{:#}", body["errors"]);
        let types = body["data"]["__schema"]["types"].as_array().expect("types");
        assert!(types.iter().any(|t| t["name"] == "Metric"));
        assert!(
            body["extensions"]["cost"]["requestedQueryCost"]
                .as_u64()
                .is_some()
        );

        // Without a token, and with public introspection off (the default outside local
        // mode), introspection needs a token.
        let (_, _, body) = post(&app, None, INTROSPECTION).await;
        assert_eq!(
            error_code(&body).as_deref(),
            Some("UNAUTHENTICATED"),
            "{body:#}"
        );
        assert!(
            body.get("data").is_none() || body["data"].is_null(),
            "{body:#}"
        );

        // Data queries still stop at depth 12 (13 levels here).
        let deep = format!(
            "{{ goals {{ nodes {{ {} id {} }} }} }}",
            "parent { ".repeat(10),
            "} ".repeat(10)
        );
        let body = app.gql("member", &deep, json!({})).await;
        assert_eq!(limit_of(&body), Some("queryDepth"), "{body:#}");

        // Introspection that re-enters whole types again and again is refused.
        let nested =
            "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }";
        let body = app.gql("member", nested, json!({})).await;
        assert_eq!(limit_of(&body), Some("introspectionNesting"), "{body:#}");
    }
);

on_both_backends_with!(
    public_introspection_lets_anonymous_tools_read_the_schema,
    Limits {
        public_introspection: true,
        ..Limits::default()
    },
    8 * 1024 * 1024,
    |app: TestApp| async move {
        let (status, _, body) = post(&app, None, INTROSPECTION).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.get("errors").is_none(), "{body:#}");
        assert!(body["data"]["__schema"]["queryType"]["name"] == "Query");
        // Data still needs a token.
        let (_, _, body) = post(&app, None, "{ metrics { totalCount } }").await;
        assert_eq!(
            error_code(&body).as_deref(),
            Some("UNAUTHENTICATED"),
            "{body:#}"
        );
    }
);

on_both_backends_with!(
    cost_grows_with_page_sizes_list_arguments_and_report_size,
    // Budgets off: this test is about the figures, and spends more than one bucket. A cost
    // limit of 50,000 (GitHub's node limit is 500,000).
    Limits {
        rate_limit_bucket: 0,
        max_cost: 50_000,
        ..Limits::default()
    },
    8 * 1024 * 1024,
    |app: TestApp| async move {
        define_metric(&app, "arr", "FINANCIAL", "SUM").await;
        let cost = |body: &Value| body["extensions"]["cost"]["requestedQueryCost"].as_u64();
        let one = app
            .gql(
                "member",
                "{ metrics(first: 1) { nodes { key } } }",
                json!({}),
            )
            .await;
        let many = app
            .gql(
                "member",
                "{ metrics(first: 500) { nodes { key } } }",
                json!({}),
            )
            .await;
        assert_eq!(cost(&one), Some(2), "{one:#}");
        assert_eq!(cost(&many), Some(501), "{many:#}");
        // What came back is what was spent: one metric in both cases.
        assert_eq!(many["extensions"]["cost"]["actualQueryCost"], 2, "{many:#}");

        // Nested connections multiply.
        let nested = app
            .gql(
                "member",
                "{ metrics(first: 20) { nodes { versions(first: 10) { nodes { version } } } } }",
                json!({}),
            )
            .await;
        assert_eq!(cost(&nested), Some(1 + 20 * (1 + 1 + 10)), "{nested:#}");

        // A list argument multiplies by its length.
        let ids: Vec<String> = (0..100).map(|i| format!("\"m{i}\"")).collect();
        let nodes = app
            .gql(
                "member",
                &format!("{{ nodes(ids: [{}]) {{ id }} }}", ids.join(",")),
                json!({}),
            )
            .await;
        assert_eq!(cost(&nodes), Some(100), "{nodes:#}");

        // A report's price follows the periods and segments it computes: ten years of
        // months by segment cost more than one year of quarters.
        let small = app
            .gql(
                "finance",
                r#"{ revenueRetention(input: { from: "2026-01-01", to: "2026-12-31", granularity: QUARTER }) { nrr } }"#,
                json!({}),
            )
            .await;
        assert!(small.get("errors").is_none(), "{small:#}");
        let big_query = r#"{ revenueRetention(input: { from: "2016-01-01", to: "2025-12-31", granularity: MONTH, bySegment: true }) { nrr } }"#;
        let big = app.gql("finance", big_query, json!({})).await;
        assert!(big.get("errors").is_none(), "{big:#}");
        assert!(
            cost(&big) > cost(&small).map(|c| c * 50),
            "{big:#} {small:#}"
        );

        // 10,000 aliases of it are refused before anything runs (they once ran 14 s).
        let aliases: String = (0..10_000)
            .map(|i| format!("r{i}: revenueRetention(input: {{ from: \"2016-01-01\", to: \"2025-12-31\", granularity: MONTH, bySegment: true }}) {{ nrr }} "))
            .collect();
        let (_, _, body) = post(
            &app,
            Some(&app.token(&["finance"])),
            &format!("{{ {aliases} }}"),
        )
        .await;
        assert_eq!(
            error_code(&body).as_deref(),
            Some("BAD_USER_INPUT"),
            "{body:#}"
        );
        assert!(body.get("data").is_none(), "{body:#}");

        // Within the alias limit, the total cost is what refuses it.
        let priced: String = (0..40)
            .map(|i| format!("r{i}: revenueRetention(input: {{ from: \"2016-01-01\", to: \"2025-12-31\", granularity: MONTH, bySegment: true }}) {{ nrr }} "))
            .collect();
        let (_, _, body) = post(
            &app,
            Some(&app.token(&["finance"])),
            &format!("{{ {priced} }}"),
        )
        .await;
        assert_eq!(limit_of(&body), Some("queryCost"), "{body:#}");
        assert_eq!(
            body["errors"][0]["extensions"]["maximum"], 50_000,
            "{body:#}"
        );
    }
);

on_both_backends_with!(
    a_caller_over_budget_gets_429_and_nothing_runs,
    Limits {
        rate_limit_bucket: 1_000,
        rate_limit_restore: 1,
        ..Limits::default()
    },
    8 * 1024 * 1024,
    |app: TestApp| async move {
        // 300 teams (written by another caller), so a page of them really costs ~301 points.
        let teams: Vec<Value> = (0..300)
            .map(|i| json!({ "externalId": format!("T{i}"), "name": format!("Team {i}") }))
            .collect();
        app.ok(
            "hr_sync",
            "mutation($t: [TeamInput!]!) { syncHr(input: { teams: $t }) { changed } }",
            json!({ "t": teams }),
        )
        .await;
        let admin = app.token(&["admin"]);
        let page = "{ teams(first: 500) { nodes { name } } }";
        let (status, headers, body) = post(&app, Some(&admin), page).await;
        assert_eq!(status, StatusCode::OK, "{body:#}");
        assert_eq!(headers["ratelimit-limit"], "1000");
        let cost = &body["extensions"]["cost"];
        assert_eq!(cost["requestedQueryCost"], 501, "{body:#}");
        assert_eq!(cost["actualQueryCost"], 301, "{body:#}");
        let throttle = &cost["throttleStatus"];
        assert_eq!(throttle["maximumAvailable"], 1_000, "{body:#}");
        assert_eq!(throttle["restoreRate"], 1, "{body:#}");
        // Charged 501, given back the 200 the response did not use.
        let left = throttle["currentlyAvailable"].as_u64().expect("available");
        assert!((699..=701).contains(&left), "{body:#}");
        assert_eq!(headers["ratelimit-remaining"], left.to_string().as_str());

        // Three more pages: the third runs on the last points and leaves the bucket in debt.
        for _ in 0..3 {
            let (status, _, body) = post(&app, Some(&admin), page).await;
            assert_eq!(status, StatusCode::OK, "{body:#}");
        }
        // In debt: refused, with the wait it needs, whatever the cost.
        let (status, headers, body) = post(&app, Some(&admin), "{ metrics { totalCount } }").await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body:#}");
        assert_eq!(error_code(&body).as_deref(), Some("THROTTLED"), "{body:#}");
        assert!(body.get("data").is_none(), "{body:#}");
        let retry: u64 = headers["retry-after"]
            .to_str()
            .expect("retry-after")
            .parse()
            .expect("seconds");
        // About 200 points of debt at 1 per second.
        assert!((150..=260).contains(&retry), "{retry}");
        assert_eq!(body["errors"][0]["extensions"]["retryAfter"], retry);
        assert_eq!(headers["ratelimit-remaining"], "0");

        // A refused mutation writes nothing.
        let (status, _, body) = post(
            &app,
            Some(&admin),
            r#"mutation { createSegment(input: { key: "a", name: "A" }) { segment { key } } }"#,
        )
        .await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body:#}");
        let data = app
            .ok("member", "{ segments { totalCount } }", json!({}))
            .await;
        assert_eq!(data["segments"]["totalCount"], 0, "{data:#}");

        // Another caller has a budget of their own.
        let (status, headers, _) = post(&app, Some(&app.token(&["finance"])), page).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers["ratelimit-limit"], "1000");
    }
);

on_both_backends_with!(
    a_request_running_past_the_timeout_is_stopped_with_a_code,
    Limits {
        request_timeout: Duration::from_nanos(1),
        ..Limits::default()
    },
    8 * 1024 * 1024,
    |app: TestApp| async move {
        // Fifty reads, each waiting on the database: far longer than the limit.
        let reads: String = (0..50)
            .map(|i| format!("m{i}: metrics {{ totalCount }} "))
            .collect();
        let res = app
            .client()
            .post(app.url("/graphql"))
            .bearer_auth(app.token(&["member"]))
            .json(&json!({ "query": format!("{{ {reads} }}") }))
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body: Value = res.json().await.expect("json");
        assert_eq!(error_code(&body).as_deref(), Some("TIMEOUT"), "{body:#}");
        assert_eq!(limit_of(&body), Some("requestTimeout"), "{body:#}");
        assert!(body["data"].is_null(), "{body:#}");
    }
);

/// Two servers (two replicas with their own Redis connections) on one database share each
/// caller's budget through Redis: what one spends, the other sees.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_budgets_through_redis() {
    let redis_url =
        std::env::var("TANDEM_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let limits = Limits {
        rate_limit_bucket: 1_000,
        rate_limit_restore: 1,
        ..Limits::default()
    };
    let app = tandem_tests::spawn_app_with(tandem_tests::Backend::Sqlite, limits, 1 << 20)
        .await
        .expect("app");
    let mut replicas = Vec::new();
    for _ in 0..2 {
        let limiter = tandem_api::throttle::RateLimiter::redis(&redis_url, 1_000, 1)
            .await
            .expect("Redis answers at TANDEM_TEST_REDIS_URL (default redis://127.0.0.1:6379)");
        let verifier = tandem_api::auth::Verifier::new(
            &tandem_api::auth::KeySource::Secret(tandem_tests::SECRET.to_vec()),
            None,
            None,
        )
        .expect("verifier");
        let state = tandem_api::server::AppState::new(app.store.clone(), verifier, limits, 1 << 20)
            .with_rate_limiter(std::sync::Arc::new(limiter));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, tandem_api::server::router(state)).await;
        });
        replicas.push(addr);
    }
    let token = app.token(&["member"]);
    let remaining = |addr: std::net::SocketAddr, query: &'static str| {
        let client = app.client().clone();
        let token = token.clone();
        async move {
            let res = client
                .post(format!("http://{addr}/graphql"))
                .bearer_auth(token)
                .json(&json!({ "query": query }))
                .send()
                .await
                .expect("request");
            let status = res.status();
            let left: u64 = res.headers()["ratelimit-remaining"]
                .to_str()
                .expect("header")
                .parse()
                .expect("number");
            (status, left)
        }
    };
    // 300 teams, so that a page of them costs about 300 points actually spent.
    let teams: Vec<Value> = (0..300)
        .map(|i| json!({ "externalId": format!("T{i}"), "name": format!("Team {i}") }))
        .collect();
    app.ok(
        "hr_sync",
        "mutation($t: [TeamInput!]!) { syncHr(input: { teams: $t }) { changed } }",
        json!({ "t": teams }),
    )
    .await;
    let page = "{ teams(first: 500) { nodes { name } } }";
    let (status, first) = remaining(replicas[0], page).await;
    assert_eq!(status, StatusCode::OK);
    assert!((690..=700).contains(&first), "{first}");
    let (status, second) = remaining(replicas[1], page).await;
    assert_eq!(status, StatusCode::OK);
    // The second replica charged the same bucket (1 point restored per second at most).
    assert!((390..=402).contains(&second), "{first} then {second}");
    // Two more pages put the shared bucket in debt; then either replica refuses.
    for addr in [replicas[0], replicas[1]] {
        let (status, _) = remaining(addr, page).await;
        assert_eq!(status, StatusCode::OK);
    }
    for addr in [replicas[1], replicas[0]] {
        let (status, left) = remaining(addr, "{ metrics { totalCount } }").await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(left, 0);
    }
}

on_both_backends_with!(
    exports_are_charged_to_the_callers_budget,
    Limits {
        rate_limit_bucket: 150,
        rate_limit_restore: 1,
        ..Limits::default()
    },
    8 * 1024 * 1024,
    |app: TestApp| async move {
        let bi = app.token(&["bi"]);
        let get = || {
            app.client()
                .get(app.url("/export/observations.csv"))
                .bearer_auth(&bi)
                .send()
        };
        let res = get().await.expect("export");
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["ratelimit-limit"], "150");
        assert_eq!(res.headers()["ratelimit-remaining"], "50");
        let _ = res.text().await.expect("body");
        // 50 left: the next export runs and leaves the budget in debt; the one after waits.
        let res = get().await.expect("export");
        assert_eq!(res.status(), StatusCode::OK);
        let _ = res.text().await.expect("body");
        let res = get().await.expect("export");
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(res.headers().contains_key("retry-after"));
        let body: Value = res.json().await.expect("json");
        assert_eq!(error_code(&body).as_deref(), Some("THROTTLED"), "{body:#}");
    }
);

on_both_backends!(
    syntax_errors_and_enum_typos_read_as_one_line_with_the_fix,
    |app: TestApp| async move {
        let body = app
            .gql("member", "{ metrics(first: 1) { nodes { key } }", json!({}))
            .await;
        let message = body["errors"][0]["message"].as_str().expect("message");
        assert_eq!(
            message, "syntax error at line 1, column 38: expected selection",
            "{body:#}"
        );
        assert_eq!(error_code(&body).as_deref(), Some("BAD_USER_INPUT"));

        let body = app
            .gql(
                "revops",
                r#"mutation { defineMetric(input: { key: "x", name: "x", definition: "x",
                    unit: CURENCY, direction: HIGHER_IS_BETTER, perspective: FINANCIAL,
                    kind: OUTPUT, aggregation: LAST }) { metric { id } } }"#,
                json!({}),
            )
            .await;
        let message = body["errors"][0]["message"].as_str().expect("message");
        assert!(message.contains("\"CURENCY\""), "{body:#}");
        assert!(
            message.ends_with("valid values: CURRENCY, PERCENT, COUNT, DAYS, RATIO, SCORE"),
            "{body:#}"
        );
        assert_eq!(
            body["errors"][0]["extensions"]["field"], "input.unit",
            "{body:#}"
        );
    }
);
