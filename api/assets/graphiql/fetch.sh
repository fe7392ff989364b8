#!/usr/bin/env bash
# Re-fetches GraphiQL's browser files from the npm registry at the versions pinned in
# sources.lock, checks each tarball against its pinned integrity and each extracted file
# against SHA256SUMS, and copies them here. `--update-sums` rewrites SHA256SUMS instead of
# checking it (after changing a version in sources.lock on purpose).
# The files are compiled into the binary (api/src/graphiql.rs); rebuild after running this.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
update_sums=false
[ "${1:-}" = "--update-sums" ] && update_sums=true

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

declare -A fetched=()
while read -r spec integrity inner name; do
  case "$spec" in '' | '#'*) continue ;; esac
  tarball_dir="$work/${spec//[@\/]/_}"
  if [ -z "${fetched[$spec]:-}" ]; then
    mkdir -p "$tarball_dir"
    tarball="$(cd "$tarball_dir" && npm pack "$spec" --silent)"
    actual="sha512-$(openssl dgst -sha512 -binary "$tarball_dir/$tarball" | base64 -w0)"
    if [ "$actual" != "$integrity" ]; then
      echo "$spec: tarball integrity $actual, expected $integrity" >&2
      exit 1
    fi
    tar -xzf "$tarball_dir/$tarball" -C "$tarball_dir"
    fetched[$spec]=1
  fi
  cp "$tarball_dir/package/$inner" "$work/$name"
  echo "$name" >> "$work/names"
done < "$here/sources.lock"

if $update_sums; then
  (cd "$work" && sha256sum $(cat names)) > "$here/SHA256SUMS"
else
  (cd "$work" && sha256sum --check --quiet "$here/SHA256SUMS")
fi
while read -r name; do
  cp "$work/$name" "$here/$name"
done < "$work/names"
(cd "$here" && sha256sum --check --quiet SHA256SUMS)
echo "GraphiQL files match sources.lock and SHA256SUMS"
