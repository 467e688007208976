# mlreg-action: build, test and demo. `make help` lists the targets.
MLFLOW_VERSION ?= 3.17.2
PYTHON ?= python3
VENV ?= .venv
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
export MLREG_MLFLOW := $(abspath $(VENV))/bin/mlflow

.PHONY: help build venv test unit demo fmt vet clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

build: ## build the static binary into bin/
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags="-s -w -X main.version=$(VERSION)" -o bin/mlreg-action .

venv: $(VENV)/.mlflow-$(MLFLOW_VERSION) ## Python virtual environment with the pinned mlflow server

$(VENV)/.mlflow-$(MLFLOW_VERSION):
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check mlflow==$(MLFLOW_VERSION)
	touch $@

vet: ## gofmt and go vet
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo 'gofmt needed'; exit 1; }
	$(GO) vet ./...

unit: ## unit tests only (no MLflow server)
	$(GO) test -count=1 -short ./...

test: venv vet ## everything: unit, integration against a real MLflow server, end to end
	$(GO) test -race -count=1 -shuffle=on -timeout=20m ./...

demo: venv build ## start MLflow, register a demo model, validate and promote it, print the report
	./scripts/demo.sh

clean:
	rm -rf bin .mlreg
