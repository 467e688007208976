#!/usr/bin/env bash
# make test-container: prove the action's image without a Docker engine or a
# registry (README, "How CI proves the image").
#
#  1. Build ./Dockerfile with buildah, for linux/amd64 and linux/arm64, against a
#     local stand-in for the pinned golang builder (busybox + this machine's Go
#     toolchain, mounted read-only). Nothing is pulled; the `go mod download`
#     layer fetches modules through the Go proxy into a fresh module cache.
#  2. Check each image (tools/imgcheck): compressed size within budget, no USER,
#     the entrypoint, exactly the CA bundle and the binary, a static stripped
#     binary for the right architecture with the version stamped in.
#  3. Run the amd64 image with podman + runc in the runner's layout (tools/ghrunner:
#     /github/workspace and /github/file_commands owned by uid 1001, GITHUB_OUTPUT
#     and friends, INPUT_* variables) against a real MLflow server on loopback,
#     and check exit status, outputs, job summary, report file, masking.
#  4. Measure start to first request of the image's binary (tools/startbench).
#
# Needs root, buildah, podman, runc and busybox-static (.ci/run installs them),
# Go, and the venv's mlflow (make venv). Everything lives in a temporary
# directory that is removed at the end; nothing is cached across runs.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
: "${TOOLS_BIN:?set TOOLS_BIN to the directory with the tools/ binaries (make tools)}"
VERSION=${VERSION:-dev}
MAX_COMPRESSED=${MAX_COMPRESSED:-8000000}   # bytes; README "Container image"
START_BUDGET=${START_BUDGET:-20ms}
mlflow=${MLREG_MLFLOW:-$root/.venv/bin/mlflow}
py=$root/.venv/bin/python
img=localhost/mlreg-action:ci
standin=localhost/mlreg-ci-standin/golang:1.26

passed=0
log() { printf 'container-test: %s\n' "$*"; }
ok() { passed=$((passed + 1)); log "$@"; }
die() { printf 'container-test: FAIL: %s\n' "$*" >&2; printf 'container-test: %d passed, 1 failed\n' "$passed"; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }

[ "$(id -u)" = 0 ] || die "needs root (buildah and podman run rootful here, chroot for the benchmark)"
for c in buildah podman go; do command -v "$c" >/dev/null || die "$c is not installed"; done
runc_bin=$(command -v runc) || runc_bin=/usr/sbin/runc   # root's PATH may lack sbin
[ -x "$runc_bin" ] || die "runc is not installed"
[ -x /bin/busybox ] || die "busybox-static is not installed"
[ -x "$mlflow" ] || die "no mlflow at $mlflow (make venv)"

T=$(mktemp -d /tmp/mlreg-container-test.XXXXXX)
mlflow_pid=
B=(buildah --storage-driver vfs --root "$T/store" --runroot "$T/run")
P=(podman --root "$T/store" --runroot "$T/run" --storage-driver vfs --cgroup-manager cgroupfs
  --events-backend file --runtime "$runc_bin" --tmpdir "$T/podman-tmp")
cleanup() {
  local rc=$?
  if [ -n "$mlflow_pid" ]; then kill -- "-$mlflow_pid" 2>/dev/null || true; wait "$mlflow_pid" 2>/dev/null || true; fi
  "${P[@]}" rm --all --force >/dev/null 2>&1 || true
  "${B[@]}" rm --all >/dev/null 2>&1 || true
  "${B[@]}" umount --all >/dev/null 2>&1 || true
  if [ "$rc" != 0 ] && [ -f "$T/mlflow.log" ]; then log "MLflow server log (tail):"; tail -n 20 "$T/mlflow.log" || true; fi
  rm -rf "$T" 2>/dev/null || { sleep 1; rm -rf "$T" || log "could not remove $T"; }
  exit "$rc"
}
trap cleanup EXIT
t_all=$(now)
log "$(buildah --version), $(podman --version), $("$runc_bin" --version | head -n1), $(go version)"

# --- 1. build -------------------------------------------------------------------------------------
t=$(now)
c=$("${B[@]}" from scratch)
m=$("${B[@]}" mount "$c")
mkdir -p "$m"/{bin,usr/local/go,etc/ssl/certs,tmp,go,root/.cache}
cp /bin/busybox "$m/bin/"
for a in sh env cat ls mkdir cp rm mv chmod; do ln -s busybox "$m/bin/$a"; done
cp /etc/ssl/certs/ca-certificates.crt "$m/etc/ssl/certs/"
echo 'root:x:0:0:root:/root:/bin/sh' >"$m/etc/passwd"
chmod 1777 "$m/tmp"
"${B[@]}" umount "$c" >/dev/null
"${B[@]}" config --os linux --arch amd64 --env GOPATH=/go --env GOTOOLCHAIN=local \
  --env "GOPROXY=$(go env GOPROXY)" --env "GOSUMDB=$(go env GOSUMDB)" \
  --env PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$c"
"${B[@]}" commit -q "$c" "$standin" >/dev/null
"${B[@]}" rm "$c" >/dev/null
log "stand-in builder $standin: busybox, CA bundle, $(go env GOVERSION) from $(go env GOROOT) mounted read-only ($(since "$t"))"

# A fresh Go build and module cache for this run, shared by both architectures.
mkdir -p "$T/gocache" "$T/gomod"
build() { # build ARCH TAG
  local arch=$1 tag=$2 t
  t=$(now)
  "${B[@]}" bud --pull=never --isolation chroot --network host --layers=false --quiet \
    --platform "linux/$arch" \
    --build-arg GO_IMAGE="$standin" --build-arg BUILDPLATFORM=linux/amd64 \
    --build-arg TARGETOS=linux --build-arg TARGETARCH="$arch" --build-arg VERSION="$VERSION" \
    --volume "$(go env GOROOT):/usr/local/go:ro" \
    --volume "$T/gocache:/root/.cache/go-build" --volume "$T/gomod:/go/pkg/mod" \
    --tag "$tag" --file Dockerfile . >"$T/build-$arch.log" 2>&1 || { cat "$T/build-$arch.log"; die "buildah bud linux/$arch failed"; }
  ok "built Dockerfile for linux/$arch as $tag, image $("${B[@]}" inspect --type image --format '{{.FromImageID}}' "$tag" | cut -c1-12) ($(since "$t"))"
}
build amd64 "$img"
build arm64 "$img-arm64"

# --- 2. check the images --------------------------------------------------------------------------
for arch in amd64 arm64; do
  ref=$img; [ "$arch" = amd64 ] || ref=$img-$arch
  "${B[@]}" push -q "$ref" "oci:$T/oci-$arch:ci" >/dev/null
  extract=(); [ "$arch" = amd64 ] && extract=(-extract "$T/rootfs")
  "$TOOLS_BIN/imgcheck" -layout "$T/oci-$arch" -tag ci -arch "$arch" -version "$VERSION" \
    -max-compressed "$MAX_COMPRESSED" "${extract[@]}" || die "image check failed for linux/$arch"
  passed=$((passed + 1))
done

# --- 3. run it as the runner would ----------------------------------------------------------------
port=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
t=$(now)
setsid "$mlflow" server --backend-store-uri "sqlite:///$T/mlflow.db" --default-artifact-root "$T/artifacts" \
  --host 127.0.0.1 --port "$port" --workers 1 >"$T/mlflow.log" 2>&1 &
mlflow_pid=$!
for _ in $(seq 1 240); do
  "$py" -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$port/health', timeout=2)" 2>/dev/null && break
  kill -0 "$mlflow_pid" 2>/dev/null || die "MLflow server exited"
  sleep 0.5
done
uri=http://127.0.0.1:$port
"$py" scripts/demo_fixtures.py "$uri" >"$T/fixtures.log" 2>&1 || { cat "$T/fixtures.log"; die "demo fixtures failed"; }
log "MLflow $("$mlflow" --version | awk '{print $NF}') on $uri with demo-fraud v1 @champion, v2 @challenger ($(since "$t"))"

# step NAME WANT_EXIT [ghrunner env args...] -- [ghrunner check args...]
# Runs the image once in a fresh runner layout and checks what it left.
step() {
  local name=$1 want=$2; shift 2
  local envargs=() checkargs=() d="$T/runner-$name" rc t
  while [ $# -gt 0 ] && [ "$1" != -- ]; do envargs+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  checkargs=("$@")
  mapfile -t runargs < <("$TOOLS_BIN/ghrunner" env -action action.yml -dir "$d" \
    -copy .github/mlreg-policy.yml=examples/mlreg-policy.yml "${envargs[@]}")
  t=$(now)
  set +e
  "${P[@]}" run --rm --pull=never --network host --log-driver none \
    --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
    "${runargs[@]}" "$img" >"$d.stdout" 2>"$d.stderr"
  rc=$?
  set -e
  log "run '$name': podman run (runc) exit $rc in $(since "$t"); step log:"
  sed 's/^/    | /' "$d.stdout" "$d.stderr"
  "$TOOLS_BIN/ghrunner" check -dir "$d" -stdout "$d.stdout" -exit "$rc" -want-exit "$want" "${checkargs[@]}" \
    || die "run '$name' did not do what a workflow step expects"
  [ "$(stat -c %u:%g "$d/_temp/_runner_file_commands")" = "$runnerid" ] || die "file_commands changed owner"
  passed=$((passed + 1))
}
runnerid=1001:1001
with=(-with "tracking-uri=$uri" -with model-name=demo-fraud -with version=@challenger -with target-alias=champion
  -with deployment=never -with pr-comment=never)
digest='^sha256:[0-9a-f]{64}$'

step promote 0 "${with[@]}" -- \
  -want verdict=pass -want model-version=2 -want previous-version=1 -want changed=true \
  -want model-uri=models:/demo-fraud/2 -want alias-uri=models:/demo-fraud@champion -match "plan-digest=$digest" \
  -workspace-file report-path -summary-has demo-fraud -summary-has champion
step rerun 0 "${with[@]}" -- \
  -want verdict=pass -want model-version=2 -want changed=false -match "plan-digest=$digest" -summary-has demo-fraud
step blocked 1 "${with[@]}" -with command=validate -with version=1 -- \
  -want verdict=fail -want model-version=1 -want changed=false -summary-has demo-fraud
t=$(now)
v=$("${P[@]}" run --rm --pull=never --network none --log-driver none \
  --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 "$img" version)
[ "$v" = "mlreg-action $VERSION" ] || die "version prints '$v', want 'mlreg-action $VERSION'"
ok "run 'version': $v ($(since "$t"))"
holder=$("$py" -c "import json, urllib.request as u; print(json.load(u.urlopen('$uri/api/2.0/mlflow/registered-models/alias?name=demo-fraud&alias=champion'))['model_version']['version'])")
[ "$holder" = 2 ] || die "@champion is v$holder in MLflow, want v2"
ok "MLflow confirms demo-fraud@champion = v$holder"

# --- 4. start-time benchmark ----------------------------------------------------------------------
"$TOOLS_BIN/startbench" -bin /mlreg-action -rootfs "$T/rootfs" -policy examples/mlreg-policy.yml \
  -n 51 -budget "$START_BUDGET" || die "start-time budget"
passed=$((passed + 1))

log "PASS: Dockerfile built for linux/amd64 and linux/arm64, images checked, 4 container runs against MLflow, start time within budget ($(since "$t_all") in all)"
log "$passed passed, 0 failed"
