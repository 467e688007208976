#!/usr/bin/env bash
# Regenerate testdata/uc/uc_registry.subset.json: the rpcs of MLflow's Unity
# Catalog model registry service that mlreg-action calls (internal/testing/ucfake.RPCs),
# with their HTTP bindings and every message and enum they reach, taken from
# the pinned MLflow wheel's own proto definitions.
#
# The wheel ships no .proto files, only the generated modules that embed each
# file's serialized descriptor (mlflow/protos/databricks_uc_registry_*_pb2.py);
# scripts/dump_uc_protos.py loads them with MLflow's protobuf runtime, so no
# protoc is needed. It refuses an MLflow other than the pinned one
# (MLFLOW_VERSION in the Makefile), and the output records the version and the
# sha256 of both modules.
#
#   make venv && scripts/gen-uc-protos.sh
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
version=$(sed -n 's/^MLFLOW_VERSION ?= //p' "$root/Makefile")
py=${MLREG_PYTHON:-$root/.venv/bin/python}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$py" "$root/scripts/dump_uc_protos.py" "$version" >"$tmp/full.json"
cd "$root"
go run ./internal/testing/ucfake/gen -in "$tmp/full.json" -out testdata/uc/uc_registry.subset.json
