# esrflow — one Makefile for the whole workspace. `make help` lists targets.
SHELL := /bin/bash
GO    ?= go
# Every module in go.work, as paths relative to the repository root.
MODULES := $(shell $(GO) list -m -f '{{.Dir}}' | sed "s|^$(CURDIR)/||")
# Every main package: the esrflow command and one binary per service.
CMDS := ./cmd/esrflow $(wildcard ./services/*/cmd/*)
BENCHTIME ?= 2s
FUZZTIME ?= 30s
BENCH_STAFF ?= 20000
BENCH_DAYS ?= 25
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)

.PHONY: help build test test-deps test-short vet check-standalone check-generated fuzz bench bench-api bench-national run demo-check tidy clean

help: ## list targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

build: ## build every binary into bin/
	@mkdir -p bin
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o bin/ $(CMDS)

test: vet test-deps ## run every module's tests with the race detector (the README's test command)
	$(GO) test -race -count=1 -timeout 45m work

# The registry's interop test drives it with a Confluent client written in
# another language (@kafkajs/confluent-schema-registry on Node). Install it from
# the committed lock file when npm is present; without Node the test skips
# and says so.
# The public topics' interop test (cmd/esrflow/interop_test.go) and
# scripts/read-events read them with librdkafka and Apache Avro from Debian
# (python3-confluent-kafka, python3-avro, for /usr/bin/python3): installed here
# with apt-get when missing (as root). Outside CI the test skips without them;
# in CI (CI=true) it fails.
# It also reads them with kafkajs (no codec plugin) from the committed lock
# file in $(INTEROP_KAFKAJS).
INTEROP_NODE := services/registry/testdata/interop-node
INTEROP_KAFKAJS := cmd/esrflow/testdata/interop-kafkajs
INTEROP_DEBS := python3-confluent-kafka python3-avro
# The api's webhook test checks signatures with the Standard Webhooks
# reference library (npm standardwebhooks), from the committed lock file.
WEBHOOK_VERIFIER := services/api/webhook/testdata/verifier
# The console's browser test checks each page with axe-core (npm), injected
# into headless Chromium, from the committed lock file.
CONSOLE_AXE := cmd/esrflow/testdata/axe
# The Helm chart's test (deploy/manifest) lints and renders deploy/helm/esrflow
# with helm, built from the Go module proxy into bin/tools (about 3 minutes
# the first time; the Go build cache makes later builds quick).
HELM_VERSION := v4.3.2
test-deps: ## install what the interop and chart tests need (npm packages; Debian's librdkafka + Avro for Python; helm)
	@[ -f bin/tools/helm-$(HELM_VERSION) ] || (echo "building helm $(HELM_VERSION) into bin/tools"; \
	  GOBIN=$(CURDIR)/bin/tools $(GO) install helm.sh/helm/v4/cmd/helm@$(HELM_VERSION) && touch bin/tools/helm-$(HELM_VERSION))
	@if command -v npm >/dev/null 2>&1; then \
	  [ -d $(INTEROP_NODE)/node_modules/@kafkajs ] || (cd $(INTEROP_NODE) && npm ci --no-audit --no-fund --silent); \
	  [ -d $(INTEROP_KAFKAJS)/node_modules/kafkajs ] || (cd $(INTEROP_KAFKAJS) && npm ci --no-audit --no-fund --silent); \
	  [ -d $(WEBHOOK_VERIFIER)/node_modules/standardwebhooks ] || (cd $(WEBHOOK_VERIFIER) && npm ci --no-audit --no-fund --silent); \
	  [ -d $(CONSOLE_AXE)/node_modules/axe-core ] || (cd $(CONSOLE_AXE) && npm ci --no-audit --no-fund --silent); \
	else echo "npm not found: the Node interop tests will skip (the kafkajs one fails in CI)"; fi
	@if ! /usr/bin/python3 -c 'import confluent_kafka, avro.io' >/dev/null 2>&1; then \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    echo "installing $(INTEROP_DEBS) (librdkafka reader of the interop test)"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(INTEROP_DEBS) >/dev/null \
	      || echo "apt-get could not install $(INTEROP_DEBS)"; \
	  else echo "$(INTEROP_DEBS) missing and apt-get unusable: the librdkafka interop reader will skip (fail in CI)"; fi; \
	fi

test-short: ## the tests without the race detector, for a quick loop
	$(GO) test -count=1 work

vet: ## go vet every module (and the bench-tagged load tests, which no test run compiles)
	$(GO) vet work
	$(GO) vet -tags bench ./services/api

check-standalone: ## build and vet each module on its own (GOWORK=off): no hidden workspace-only dependency
	@set -e; for m in $(MODULES); do echo "== $$m"; (cd $$m && GOWORK=off $(GO) build ./... && GOWORK=off $(GO) vet ./...); done

check-generated: ## regenerate Avro Go types and fail on drift
	cd schemas && $(GO) generate ./... && git diff --exit-code -- .

fuzz: ## run every fuzz target for FUZZTIME each (default 30s)
	@set -e; for pkg in $$(cd esr && $(GO) list ./...); do \
	  for f in $$(cd esr && $(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; (cd esr && $(GO) test -run='^$$' -fuzz="^$$f$$" -fuzztime=$(FUZZTIME) -fuzzminimizetime=10x $$pkg); done; done

bench: build ## Go benchmarks (parsers, generator), then the whole stack end to end vs a bare produce/consume
	$(GO) test -run='^$$' -bench=. -benchmem -benchtime=$(BENCHTIME) work
	./bin/esrflow bench --staff $(BENCH_STAFF) --days $(BENCH_DAYS)

# The national benchmark (esrflow bench-national, docs/benchmarks.md): a
# fraction BENCH_NATIONAL_FRACTION of the 1.6M national staff over ~200
# trusts, normalise, validate and publish as separate processes (the binaries
# `build` puts in bin/); the figures also go to BENCH_NATIONAL_OUT.
BENCH_NATIONAL_FRACTION ?= 0.02
BENCH_NATIONAL_OUT ?= $(CURDIR)/bin/bench-national.md
bench-national: build ## national region (a fraction) through separate service processes: RSS, CPU/row, restart, latency, vs a bare 4-hop ceiling
	./bin/esrflow bench-national --fraction $(BENCH_NATIONAL_FRACTION) --bin bin --out $(BENCH_NATIONAL_OUT)

# The api under load (services/api/bench_api_test.go, build tag bench, so
# never part of `make test`): BENCH_API_PEOPLE people, BENCH_API_CLIENTS
# concurrent clients, BENCH_API_DURATION per scenario; BENCH_API_DB=postgres
# runs it on a fresh schema of the tests' PostgreSQL (or give a URL of an
# empty database); the table also goes to BENCH_API_OUT.
BENCH_API_PEOPLE ?= 20000
BENCH_API_CLIENTS ?= 8
BENCH_API_DURATION ?= 10s
BENCH_API_OUT ?= $(CURDIR)/bin/bench-api.md
bench-api: ## the api on 127.0.0.1 under load: GET person and the events feed vs a static handler (req/s, p50, p99)
	@mkdir -p $(dir $(BENCH_API_OUT))
	BENCH_API_DB=$(BENCH_API_DB) BENCH_API_PEOPLE=$(BENCH_API_PEOPLE) BENCH_API_CLIENTS=$(BENCH_API_CLIENTS) BENCH_API_DURATION=$(BENCH_API_DURATION) \
	  BENCH_API_OUT=$(BENCH_API_OUT) $(GO) test -tags bench -run '^TestBenchAPI$$' -count=1 -timeout 15m ./services/api
	@cat $(BENCH_API_OUT)

run: build ## run the whole platform on embedded defaults with a demo trust (no Docker, nothing to install)
	./bin/esrflow up --data .esrflow --demo

demo-check: build ## run the demo on the real clock and compare its events, read by librdkafka + Apache Avro, with its truth.jsonl
	/usr/bin/python3 scripts/demo-check --esrflow bin/esrflow

tidy: ## go mod tidy in every module
	@set -e; for m in $(MODULES); do (cd $$m && GOWORK=off $(GO) mod tidy); done

clean: ## remove build output and local run data
	rm -rf bin .esrflow
