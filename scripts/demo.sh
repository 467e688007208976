#!/usr/bin/env bash
# make demo: start a real MLflow server on a free loopback port, create a demo
# model with two versions, validate and promote the challenger with the example
# policy, show a rerun is a no-op, then stop the server.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
mlflow=${MLREG_MLFLOW:-$root/.venv/bin/mlflow}
py=$root/.venv/bin/python
bin=$root/bin/mlreg-action
tmp=$(mktemp -d)
port=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

echo "==> starting MLflow $("$py" -c 'import mlflow; print(mlflow.__version__)') on 127.0.0.1:$port"
setsid "$mlflow" server --backend-store-uri "sqlite:///$tmp/mlflow.db" --default-artifact-root "$tmp/artifacts" \
  --host 127.0.0.1 --port "$port" --workers 1 >"$tmp/server.log" 2>&1 &
pid=$!
cleanup() { kill -- "-$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
for _ in $(seq 1 240); do
  "$py" -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$port/health', timeout=2)" 2>/dev/null && break
  kill -0 "$pid" 2>/dev/null || { cat "$tmp/server.log"; exit 1; }
  sleep 0.5
done
export MLFLOW_TRACKING_URI=http://127.0.0.1:$port

echo "==> creating demo-fraud v1 (@champion) and v2 (@challenger)"
"$py" "$root/scripts/demo_fixtures.py" "$MLFLOW_TRACKING_URI"

cd "$tmp"
args=(--model-name demo-fraud --version @challenger --target-alias champion --policy "$root/examples/mlreg-policy.yml")
echo; echo "==> mlreg-action validate ${args[*]}"
"$bin" validate "${args[@]}"
echo; echo "==> mlreg-action promote ${args[*]}"
"$bin" promote "${args[@]}"
echo; echo "==> rerun: promote again (a no-op)"
"$bin" promote "${args[@]}"
echo; echo "==> audit record in the registry"
"$py" - "$MLFLOW_TRACKING_URI" <<'PY'
import json, sys, urllib.request
m = json.load(urllib.request.urlopen(sys.argv[1] + "/api/2.0/mlflow/registered-models/get?name=demo-fraud"))["registered_model"]
print("aliases:", {a["alias"]: "v" + a["version"] for a in m.get("aliases", [])})
for t in m.get("tags", []):
    if t["key"].startswith("mlreg."):
        print(t["key"], "=", json.dumps(json.loads(t["value"]), indent=2))
PY
