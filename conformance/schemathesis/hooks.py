"""Schemathesis hooks for Tandem: strategies for its custom scalars, and a check that fails
on any GraphQL error with `extensions.code: INTERNAL` (HTTP 5xx fail through the built-in
`not_a_server_error` check)."""

import schemathesis

@schemathesis.check
def no_internal_error(ctx, response, case):
    """Fails on any GraphQL error whose extensions.code is INTERNAL."""
    try:
        body = response.json()
    except Exception:
        return None
    for error in (body or {}).get("errors") or []:
        code = ((error or {}).get("extensions") or {}).get("code")
        if code == "INTERNAL":
            raise AssertionError(f"INTERNAL error: {error.get('message')}")
    return None

from hypothesis import strategies as st
from schemathesis.graphql import nodes

schemathesis.graphql.scalar(
    "Date", st.dates().map(lambda d: nodes.String(d.isoformat()))
)
schemathesis.graphql.scalar(
    "DateTime",
    st.datetimes(timezones=st.just(__import__("datetime").timezone.utc)).map(
        lambda d: nodes.String(d.isoformat().replace("+00:00", "Z"))
    ),
)
schemathesis.graphql.scalar(
    "Decimal",
    st.one_of(
        st.decimals(allow_nan=False, allow_infinity=False, places=6).map(str),
        st.text(max_size=40),
    ).map(nodes.String),
)
schemathesis.graphql.scalar(
    "JSON", st.one_of(st.text(max_size=20).map(nodes.String), st.integers().map(nodes.Int))
)
