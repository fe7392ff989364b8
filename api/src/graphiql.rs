//! GraphiQL, served from the binary itself: a page at `GET /graphql` (for a browser asking for
//! HTML) and its files under `/graphiql/<file>`. The page loads nothing from another host, so
//! it works offline and under its own strict Content-Security-Policy. The React, ReactDOM and
//! GraphiQL builds are pinned production files from the npm registry, kept in
//! `api/assets/graphiql/` (`fetch.sh` there re-fetches and checks them).

use axum::body::Body;
use axum::extract::Path;
use axum::http::{HeaderValue, Response, StatusCode, header};
use axum::response::IntoResponse;

/// Where the page's files are served from.
pub const ASSET_PREFIX: &str = "/graphiql";

/// The policy of the page: its own scripts, styles and connections only (`'self'` covers the
/// WebSocket subscriptions use); GraphiQL's fonts and icons are `data:` URLs in its CSS.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; font-src 'self' data:; img-src 'self' data:; connect-src 'self'; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// One file the page loads.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
    /// Pinned files carry their version in the name and never change; Tandem's own start-up
    /// script changes with Tandem, so browsers revalidate it.
    immutable: bool,
}

macro_rules! asset {
    ($name:literal, $type:expr, $immutable:literal) => {
        Asset {
            name: $name,
            content_type: $type,
            bytes: include_bytes!(concat!("../assets/graphiql/", $name)),
            immutable: $immutable,
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

static ASSETS: &[Asset] = &[
    asset!("react-18.3.1.production.min.js", JS, true),
    asset!("react-dom-18.3.1.production.min.js", JS, true),
    asset!("graphiql-3.9.0.min.js", JS, true),
    asset!("graphiql-3.9.0.min.css", CSS, true),
    asset!("react-18.3.1.LICENSE", TEXT, true),
    asset!("graphiql-3.9.0.LICENSE", TEXT, true),
    asset!("tandem-graphiql.js", JS, false),
    asset!("tandem-graphiql.css", CSS, false),
];

/// The GraphiQL page. `headers` prefills the header editor (JSON text).
pub fn page(headers: &str) -> Response<Body> {
    let html = format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tandem GraphiQL</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{p}/graphiql-3.9.0.min.css">
<link rel="stylesheet" href="{p}/tandem-graphiql.css">
</head>
<body>
<div id="graphiql" data-endpoint="/graphql" data-headers="{headers}">Loading GraphiQL…</div>
<script src="{p}/react-18.3.1.production.min.js"></script>
<script src="{p}/react-dom-18.3.1.production.min.js"></script>
<script src="{p}/graphiql-3.9.0.min.js"></script>
<script src="{p}/tandem-graphiql.js"></script>
</body>
</html>
"#,
        p = ASSET_PREFIX,
        headers = escape_attribute(headers),
    );
    let mut res = (StatusCode::OK, html).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    // The page may carry a token: never stored, never framed.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::VARY, HeaderValue::from_static("Accept"));
    res
}

/// The header editor's starting text: the bearer token when one is given, else a
/// placeholder to complete.
pub fn headers_json(token: Option<&str>) -> String {
    let value = format!("Bearer {}", token.unwrap_or_default());
    let mut map = serde_json::Map::new();
    map.insert("Authorization".to_owned(), serde_json::Value::String(value));
    serde_json::to_string_pretty(&serde_json::Value::Object(map))
        .unwrap_or_else(|_| r#"{"Authorization": "Bearer "}"#.to_owned())
}

/// `GET /graphiql/{file}`: one of the page's files, cached by browsers.
pub async fn asset(Path(file): Path<String>) -> Response<Body> {
    let Some(asset) = ASSETS.iter().find(|a| a.name == file) else {
        return (StatusCode::NOT_FOUND, "no such GraphiQL file\n").into_response();
    };
    let mut res = (StatusCode::OK, asset.bytes).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if asset.immutable {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        }),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    res
}

/// Escapes text for a double-quoted HTML attribute.
fn escape_attribute(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_text_cannot_close_the_attribute() {
        assert_eq!(
            escape_attribute(r#"{"a": "<b>&'"}"#),
            "{&quot;a&quot;: &quot;&lt;b&gt;&amp;&#39;&quot;}"
        );
    }

    #[test]
    fn the_header_editor_starts_with_the_token_or_a_placeholder() {
        assert_eq!(
            headers_json(Some("abc")),
            "{\n  \"Authorization\": \"Bearer abc\"\n}"
        );
        assert_eq!(headers_json(None), "{\n  \"Authorization\": \"Bearer \"\n}");
    }
}
