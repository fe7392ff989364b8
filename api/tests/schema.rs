//! The checked-in `schema.graphql` is what the server serves, and every type and field in it
//! is described for front-end teams.

use std::path::PathBuf;

use tandem_api::{Limits, build_schema};

fn checked_in_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../schema.graphql")
}

#[test]
fn checked_in_schema_matches_the_served_schema() {
    let served = build_schema(Limits::default()).sdl();
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(checked_in_path(), &served).expect("write schema.graphql");
    }
    let checked_in = std::fs::read_to_string(checked_in_path()).unwrap_or_default();
    assert!(
        checked_in == served,
        "schema.graphql differs from the served schema; run `cargo run -q -p tandem-api -- schema > schema.graphql` and review the diff"
    );
}

#[tokio::test]
async fn every_type_and_field_has_a_description() {
    // Run in-process without a token: introspection must be open to callers without one.
    let schema = build_schema(Limits {
        public_introspection: true,
        ..Limits::default()
    });
    let query = r#"{ __schema { types { name kind description
        fields(includeDeprecated: true) { name description args { name description } }
        inputFields { name description }
        enumValues(includeDeprecated: true) { name description } } } }"#;
    let response = schema.execute(query).await;
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    let data = response.data.into_json().expect("json");
    let mut missing = Vec::new();
    let empty = |v: &serde_json::Value| v.as_str().is_none_or(|s| s.trim().is_empty());
    for t in data["__schema"]["types"].as_array().expect("types") {
        let name = t["name"].as_str().unwrap_or_default();
        if name.starts_with("__") || ["String", "Int", "Float", "Boolean", "ID"].contains(&name) {
            continue;
        }
        if empty(&t["description"]) {
            missing.push(name.to_owned());
        }
        for list in ["fields", "inputFields", "enumValues"] {
            for f in t[list].as_array().into_iter().flatten() {
                if empty(&f["description"]) {
                    missing.push(format!("{name}.{}", f["name"].as_str().unwrap_or_default()));
                }
            }
        }
    }
    assert!(missing.is_empty(), "undescribed: {missing:#?}");
}
