//! Relay conventions: cursor pagination with `first/after` and `last/before`, bounded page
//! sizes, and fetching any object by its global id.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use tandem_tests::{TestApp, error_code, error_field, on_both_backends};
use uuid::Uuid;

use crate::support::{create_segment, define_metric, obs_dim, record};

const PAGE: &str = r#"
query($first: Int, $after: String, $last: Int, $before: String) {
  metrics(first: $first, after: $after, last: $last, before: $before) {
    totalCount
    edges { cursor node { key } }
    nodes { key }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}"#;

const NODE: &str = r#"
query($id: ID!) {
  node(id: $id) {
    __typename id
    ... on Metric { key }
    ... on Segment { key }
    ... on JourneyStage { key }
    ... on Observation { value metric { key } }
    ... on Organization { name }
  }
}"#;

/// Keys defined in an order that is not key order.
const KEYS: [&str; 7] = ["m_g", "m_c", "m_a", "m_e", "m_b", "m_f", "m_d"];

async fn seed_metrics(app: &TestApp) {
    for key in KEYS {
        define_metric(app, key, "CUSTOMER", "SUM").await;
    }
}

async fn page(app: &TestApp, args: Value) -> Value {
    app.ok("member", PAGE, args).await["metrics"].clone()
}

fn page_keys(page: &Value) -> Vec<String> {
    page["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["key"].as_str().unwrap().to_owned())
        .collect()
}

fn sorted_keys() -> Vec<String> {
    let mut keys: Vec<String> = KEYS.iter().map(|k| (*k).to_owned()).collect();
    keys.sort();
    keys
}

fn assert_bad_input(body: &Value, field: &str) {
    assert_eq!(
        error_code(body).as_deref(),
        Some("BAD_USER_INPUT"),
        "{body:#}"
    );
    assert_eq!(error_field(body).as_deref(), Some(field), "{body:#}");
}

on_both_backends!(
    forward_pagination_visits_every_metric_once_in_key_order,
    |app: TestApp| async move {
        seed_metrics(&app).await;
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        let mut pages = 0;
        loop {
            let p = page(&app, json!({ "first": 3, "after": after })).await;
            pages += 1;
            assert_eq!(p["totalCount"], 7);
            let keys = page_keys(&p);
            // Edges and nodes agree, and the page info names the edges' cursors.
            let edge_keys: Vec<&str> = p["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["node"]["key"].as_str().unwrap())
                .collect();
            assert_eq!(edge_keys, keys);
            let edges = p["edges"].as_array().unwrap();
            assert_eq!(p["pageInfo"]["startCursor"], edges[0]["cursor"]);
            assert_eq!(p["pageInfo"]["endCursor"], edges[edges.len() - 1]["cursor"]);
            assert_eq!(p["pageInfo"]["hasPreviousPage"], json!(after.is_some()));
            seen.extend(keys);
            if p["pageInfo"]["hasNextPage"] == json!(false) {
                break;
            }
            assert!(pages < 10, "pagination does not end");
            after = Some(p["pageInfo"]["endCursor"].as_str().unwrap().to_owned());
        }
        assert_eq!(pages, 3);
        assert_eq!(seen, sorted_keys());

        // Past the end: an empty page with no next page.
        let end = page(&app, json!({ "first": 3, "after": after })).await;
        let last_cursor = end["pageInfo"]["endCursor"].clone();
        assert!(end["pageInfo"]["hasNextPage"] == json!(false), "{end:#}");
        let past = page(&app, json!({ "first": 3, "after": last_cursor })).await;
        assert_eq!(past["nodes"], json!([]));
        assert_eq!(past["pageInfo"]["hasNextPage"], false);
        assert_eq!(past["totalCount"], 7);
    }
);

on_both_backends!(
    backward_pagination_takes_the_last_items,
    |app: TestApp| async move {
        seed_metrics(&app).await;
        let all = sorted_keys();
        let tail = page(&app, json!({ "last": 2 })).await;
        assert_eq!(page_keys(&tail), all[5..]);
        assert_eq!(tail["totalCount"], 7);
        assert_eq!(tail["pageInfo"]["hasPreviousPage"], true);
        assert_eq!(tail["pageInfo"]["hasNextPage"], false);

        let before = tail["pageInfo"]["startCursor"].clone();
        let prev = page(&app, json!({ "last": 2, "before": before })).await;
        assert_eq!(page_keys(&prev), all[3..5]);
        assert_eq!(prev["pageInfo"]["hasPreviousPage"], true);

        let prev2 = page(
            &app,
            json!({ "last": 10, "before": prev["pageInfo"]["startCursor"].clone() }),
        )
        .await;
        assert_eq!(page_keys(&prev2), all[..3]);
        assert_eq!(prev2["pageInfo"]["hasPreviousPage"], false);

        // `after` and `before` together bound a window.
        let first = page(&app, json!({ "first": 1 })).await;
        let window = page(
        &app,
        json!({ "after": first["pageInfo"]["endCursor"].clone(), "before": before, "first": 100 }),
    )
    .await;
        assert_eq!(page_keys(&window), all[1..5]);
    }
);

on_both_backends!(page_arguments_are_validated, |app: TestApp| async move {
    seed_metrics(&app).await;
    let body = app.gql("member", PAGE, json!({ "first": 501 })).await;
    assert_bad_input(&body, "first");
    let body = app.gql("member", PAGE, json!({ "last": 501 })).await;
    assert_bad_input(&body, "last");
    let body = app.gql("member", PAGE, json!({ "first": -1 })).await;
    assert_bad_input(&body, "first");
    let body = app
        .gql("member", PAGE, json!({ "first": 2, "last": 2 }))
        .await;
    assert_eq!(
        error_code(&body).as_deref(),
        Some("BAD_USER_INPUT"),
        "{body:#}"
    );
    for garbage in ["garbage", "Y3Vyc29yOmFiYw", "", "%%%"] {
        let body = app
            .gql("member", PAGE, json!({ "first": 2, "after": garbage }))
            .await;
        assert_bad_input(&body, "after");
        let body = app
            .gql("member", PAGE, json!({ "last": 2, "before": garbage }))
            .await;
        assert_bad_input(&body, "before");
    }
    // The limit itself is allowed.
    let p = page(&app, json!({ "first": 500 })).await;
    assert_eq!(page_keys(&p).len(), 7);
    let p = page(&app, json!({ "first": 0 })).await;
    assert_eq!(p["nodes"], json!([]));
    assert_eq!(p["totalCount"], 7);

    // Other connections follow the same rules.
    let body = app
        .gql(
            "member",
            "{ segments(first: 501) { totalCount } }",
            json!({}),
        )
        .await;
    assert_bad_input(&body, "first");
    let body = app
        .gql(
            "member",
            r#"{ observations(first: 1, after: "nope") { totalCount } }"#,
            json!({}),
        )
        .await;
    assert_bad_input(&body, "after");
    let stages = app
        .ok(
            "member",
            "{ journeyStages(first: 2) { pageInfo { endCursor } } }",
            json!({}),
        )
        .await;
    let cursor = stages["journeyStages"]["pageInfo"]["endCursor"].clone();
    let rest = app
        .ok(
            "member",
            "query($c: String) { journeyStages(first: 2, after: $c) { nodes { key } pageInfo { hasNextPage } } }",
            json!({ "c": cursor }),
        )
        .await;
    assert_eq!(
        rest["journeyStages"]["nodes"],
        json!([{ "key": "retention" }, { "key": "expansion" }])
    );
    assert_eq!(rest["journeyStages"]["pageInfo"]["hasNextPage"], false);
});

on_both_backends!(
    node_resolves_every_kind_by_global_id,
    |app: TestApp| async move {
        let metric_id = define_metric(&app, "signups", "CUSTOMER", "SUM").await;
        let segment_id = create_segment(&app, "smb").await;
        record(
            &app,
            vec![obs_dim(
                "signups",
                "2026-01-01",
                "MONTH",
                Some("smb"),
                Some("adoption"),
                "12.5",
            )],
        )
        .await;
        let ids = app
            .ok(
                "member",
                r#"{ organization { id } journeyStages(first: 1) { nodes { id } }
                 observations { nodes { id } } }"#,
                json!({}),
            )
            .await;
        let org_id = ids["organization"]["id"].as_str().unwrap().to_owned();
        let stage_id = ids["journeyStages"]["nodes"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let observation_id = ids["observations"]["nodes"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned();

        let cases = [
            (
                &metric_id,
                json!({ "__typename": "Metric", "key": "signups" }),
            ),
            (
                &segment_id,
                json!({ "__typename": "Segment", "key": "smb" }),
            ),
            (
                &stage_id,
                json!({ "__typename": "JourneyStage", "key": "acquisition" }),
            ),
            (
                &observation_id,
                json!({ "__typename": "Observation", "value": "12.5", "metric": { "key": "signups" } }),
            ),
            (
                &org_id,
                json!({ "__typename": "Organization", "name": "Acme" }),
            ),
        ];
        for (id, mut expected) in cases.clone() {
            expected["id"] = json!(id);
            let data = app.ok("bi", NODE, json!({ "id": id })).await;
            assert_eq!(data["node"], expected, "node({id})");
        }

        // Global ids are opaque and distinct across kinds.
        let mut all: Vec<&String> = cases.iter().map(|(id, _)| *id).collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 5);

        // nodes(ids:) keeps the order given, with null for ids that resolve to nothing.
        let missing = URL_SAFE_NO_PAD.encode(format!("Metric:{}", Uuid::now_v7()));
        let unknown_kind = URL_SAFE_NO_PAD.encode(format!("Widget:{}", Uuid::now_v7()));
        let data = app
            .ok(
                "bi",
                "query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }",
                json!({ "ids": [segment_id, missing, metric_id, unknown_kind, org_id] }),
            )
            .await;
        assert_eq!(
            data["nodes"],
            json!([
                { "__typename": "Segment", "id": segment_id },
                null,
                { "__typename": "Metric", "id": metric_id },
                null,
                { "__typename": "Organization", "id": org_id },
            ])
        );

        // The audit events are nodes too, for those who may read them.
        let audit = app
            .ok(
                "admin",
                "{ auditEvents(first: 1) { nodes { id operation } } }",
                json!({}),
            )
            .await;
        let audit_id = audit["auditEvents"]["nodes"][0]["id"].clone();
        let data = app
            .ok(
                "admin",
                "query($id: ID!) { node(id: $id) { __typename ... on AuditEvent { operation } } }",
                json!({ "id": audit_id }),
            )
            .await;
        assert_eq!(data["node"]["__typename"], "AuditEvent");
        assert_eq!(
            data["node"]["operation"],
            audit["auditEvents"]["nodes"][0]["operation"]
        );
        let body = app
            .gql(
                "member",
                "query($id: ID!) { node(id: $id) { id } }",
                json!({ "id": audit_id }),
            )
            .await;
        assert_eq!(error_code(&body).as_deref(), Some("FORBIDDEN"), "{body:#}");
    }
);

on_both_backends!(
    undecodable_global_ids_are_bad_user_input,
    |app: TestApp| async move {
        let not_a_uuid = URL_SAFE_NO_PAD.encode("Metric:not-a-uuid");
        for bad in ["!!!", "not base64 at all", "", not_a_uuid.as_str()] {
            let body = app
                .gql(
                    "member",
                    "query($id: ID!) { node(id: $id) { id } }",
                    json!({ "id": bad }),
                )
                .await;
            assert_eq!(
                error_code(&body).as_deref(),
                Some("BAD_USER_INPUT"),
                "{bad}: {body:#}"
            );
            let body = app
                .gql(
                    "member",
                    "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
                    json!({ "ids": [bad] }),
                )
                .await;
            assert_eq!(
                error_code(&body).as_deref(),
                Some("BAD_USER_INPUT"),
                "{bad}: {body:#}"
            );
        }
        // Asking for too many ids at once is refused.
        let many: Vec<String> = (0..501)
            .map(|_| URL_SAFE_NO_PAD.encode(format!("Metric:{}", Uuid::now_v7())))
            .collect();
        let body = app
            .gql(
                "member",
                "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
                json!({ "ids": many }),
            )
            .await;
        assert_bad_input(&body, "ids");
        // Reading by id still needs a reading role.
        let body = app
            .gql(
                "hr_sync",
                "query($id: ID!) { node(id: $id) { id } }",
                json!({ "id": URL_SAFE_NO_PAD.encode(format!("Metric:{}", Uuid::now_v7())) }),
            )
            .await;
        assert_eq!(error_code(&body).as_deref(), Some("FORBIDDEN"), "{body:#}");
    }
);
