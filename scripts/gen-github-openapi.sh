#!/usr/bin/env bash
# Regenerate testdata/github/api.github.com.subset.json: the operations that
# mlreg-action calls (internal/testing/githubfake.Operations), with every schema they
# reference, taken from GitHub's official OpenAPI description, the npm package
# @octokit/openapi (file generated/api.github.com.json).
#
# The version is pinned, and so is the sha256 of its tarball. To move to a
# newer description:
#   npm view @octokit/openapi versions
#   OCTOKIT_OPENAPI_VERSION=<ver> OCTOKIT_OPENAPI_SHA256=<sha256 of the .tgz> scripts/gen-github-openapi.sh
# then update the two pins below and run the tests.
set -euo pipefail

VERSION="${OCTOKIT_OPENAPI_VERSION:-23.0.2}"
SHA256="${OCTOKIT_OPENAPI_SHA256:-71a18407dd5e8464f4e0525daf03deabbe65abd9287d6adc7b5d98f516cd0d0c}"

root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

(cd "$tmp" && npm pack --silent "@octokit/openapi@${VERSION}" >/dev/null)
tgz="$tmp/octokit-openapi-${VERSION}.tgz"
got=$(sha256sum "$tgz" | cut -d' ' -f1)
if [ "$got" != "$SHA256" ]; then
  echo "gen-github-openapi: sha256 of @octokit/openapi@${VERSION} is $got, want $SHA256" >&2
  exit 1
fi
tar -xzf "$tgz" -C "$tmp" package/generated/api.github.com.json

cd "$root"
go run ./internal/testing/githubfake/gen \
  -in "$tmp/package/generated/api.github.com.json" \
  -source "@octokit/openapi@${VERSION} generated/api.github.com.json (tgz sha256 ${SHA256})" \
  -out testdata/github/api.github.com.subset.json
