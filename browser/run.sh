#!/usr/bin/env bash
# Headless-Chromium tests (browser/graphiql.mjs): GraphiQL served offline by `tandem serve`,
# and CORS from a page on another origin. Installs what is missing: Chromium (Debian packages
# chromium and chromium-driver), Node.js and the pinned playwright-core (npm ci).
# TANDEM_BIN names the binary to test; without it the debug build is built and used.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium > /dev/null; then
  echo "Chromium is missing; installing it"
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver < /dev/null
fi
if ! command -v npm > /dev/null; then
  echo "npm is missing; installing Node.js"
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y nodejs npm < /dev/null
fi
(cd browser && npm ci --no-audit --no-fund < /dev/null)

tandem="${TANDEM_BIN:-}"
if [ -z "$tandem" ]; then
  cargo build -q -p tandem-api
  tandem="${CARGO_TARGET_DIR:-target}/debug/tandem"
fi
TANDEM_BIN="$(realpath "$tandem")" CHROMIUM_PATH="$(command -v chromium)" \
  node browser/graphiql.mjs < /dev/null
