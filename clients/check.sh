#!/usr/bin/env bash
# The front-end gate, run by .ci/run:
#   1. installs the pinned tools (npm ci --engine-strict, from package-lock.json: a package
#      that does not support this Node.js fails the install instead of warning);
#   2. generates typed document nodes from ../schema.graphql and operations/**/*.graphql
#      (one operation per file; graphql-codegen's client preset;
#      an operation that does not match the schema fails here);
#   3. type-checks src/ and examples/ against them with `tsc --noEmit` (strict);
#   4. compares ../schema.graphql with released/schema.graphql, the last released schema, and
#      fails on any breaking change except the removal of a field or enum value that the
#      released schema already marked @deprecated;
#   5. proves step 4 on temporary copies: removing a field that was not deprecated fails,
#      removing one that was deprecated in the release passes.
set -euo pipefail
cd "$(dirname "$0")"

export CI=true
export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false

step() { printf '\n== %s\n' "$*"; }

step "npm ci"
npm ci --engine-strict --no-audit --no-fund < /dev/null

step "codegen: schema.graphql + operations/**/*.graphql -> generated/ (typed document nodes)"
rm -rf generated
npx --no-install graphql-codegen --config codegen.ts --silent < /dev/null
ls generated

step "tsc --noEmit (src/ and examples/)"
npx --no-install tsc --noEmit -p tsconfig.json

# Breaking changes fail the diff; the removal of what the old schema deprecated is allowed.
diff_schemas() {
  npx --no-install graphql-inspector diff "$1" "$2" --rule suppressRemovalOfDeprecatedField < /dev/null
}

step "schema compatibility: released/schema.graphql -> ../schema.graphql"
diff_schemas released/schema.graphql ../schema.graphql

step "proof: the compatibility check catches what it must"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
edit() { node scripts/schema-edit.mjs "$@"; }
passed=0
failed=0
expect() {
  local want="$1" name="$2" old="$3" new="$4"
  local got=pass
  diff_schemas "$old" "$new" > "$tmp/out.txt" 2>&1 || got=fail
  # A failure counts only when it is a detected breaking change, not a crash or a bad file.
  if [[ "$got" == fail ]] && ! grep -q 'Detected [0-9]* breaking change' "$tmp/out.txt"; then
    got="error"
  fi
  if [[ "$got" == "$want" ]]; then
    echo "ok: $name ($got, as expected)"
    passed=$((passed + 1))
  else
    echo "NOT OK: $name: expected $want, got $got" >&2
    cat "$tmp/out.txt" >&2
    failed=$((failed + 1))
  fi
}

# A field that was never deprecated disappears: breaking.
edit released/schema.graphql "$tmp/no-field.graphql" remove-field Goal.hasCustomerLink
expect fail "removing a field that was not deprecated" released/schema.graphql "$tmp/no-field.graphql"

# An enum value that was never deprecated disappears: breaking.
edit released/schema.graphql "$tmp/no-value.graphql" remove-enum-value Cadence.WEEKLY
expect fail "removing an enum value that was not deprecated" released/schema.graphql "$tmp/no-value.graphql"

# Deprecating without removing is safe.
edit released/schema.graphql "$tmp/deprecated.graphql" deprecate-field Metric.formula
expect pass "deprecating a field" released/schema.graphql "$tmp/deprecated.graphql"

# The release deprecated the field; the next schema removes it: allowed.
edit "$tmp/deprecated.graphql" "$tmp/removed.graphql" remove-field Metric.formula
expect pass "removing a field deprecated in the release" "$tmp/deprecated.graphql" "$tmp/removed.graphql"

# Deprecated and removed in the same release (the old schema did not deprecate it): breaking.
expect fail "deprecating and removing a field in one release" released/schema.graphql "$tmp/removed.graphql"

# The same for an enum value.
edit released/schema.graphql "$tmp/deprecated-value.graphql" deprecate-enum-value Cadence.WEEKLY
edit "$tmp/deprecated-value.graphql" "$tmp/removed-value.graphql" remove-enum-value Cadence.WEEKLY
expect pass "removing an enum value deprecated in the release" "$tmp/deprecated-value.graphql" "$tmp/removed-value.graphql"

echo "schema-compatibility: $passed passed, $failed failed"
[[ "$failed" -eq 0 ]]
