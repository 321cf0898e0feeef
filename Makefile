# tap-customerio-webhook: a Singer tap for Customer.io reporting webhooks,
# and the Singer targets target-postgres and target-sqlite.
.PHONY: help build run views test test-race test-faults fuzz fuzz-pipeline bench golden fmt vet tidy-check clean

GO       ?= go
BIN      ?= bin
FUZZTIME ?= 60s
# How long the pipeline fuzzer runs per target (make fuzz-pipeline).
PIPEFUZZ_DURATION ?= 10m
# Every fuzz target: package:Function. Their seed corpora also run in `make test`.
FUZZ_TARGETS = ./tap/event:FuzzClassify ./tap/event:FuzzSanitize ./tap/event:FuzzFastSchema ./tap/auth:FuzzVerify ./tap/spool:FuzzRecover \
               ./tap/receiver:FuzzHandler ./internal/singer:FuzzReader ./target:FuzzRun \
               ./internal/jsonlex:FuzzNumber ./internal/jsonlex:FuzzString ./internal/jsonlex:FuzzClean \
               ./internal/jsonlex:FuzzEachMember ./internal/jsonlex:FuzzValid \
               ./tap/event:FuzzFastDecode ./tap/event:FuzzOnePass ./tap/event:FuzzRemovePath ./internal/jsonconfig:FuzzObject ./tap/appapi:FuzzDecodePage \
               ./tap/kafkaspool:FuzzRecordHeaders ./target/sqliteload:FuzzNumericValue ./tap:FuzzLearnEvent \
               ./target:FuzzFill_LocatedMembers ./internal/jsonlex:FuzzPlainEnd

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## build every binary into bin/
	$(GO) build -o $(BIN)/ ./cmd/...

run: build ## receive webhooks on 127.0.0.1:8080 and load them into ./customerio.db
	@scripts/run-demo.sh

PGDSN  ?=
SCHEMA ?= customerio
PSQL   ?= psql
views: ## create or replace the analytics views in PostgreSQL: make views PGDSN=postgresql://... [SCHEMA=customerio]
	@test -n "$(PGDSN)" || { echo 'make views: set PGDSN (a libpq URL or key=value string)'; exit 2; }
	$(PSQL) "$(PGDSN)" -X -v ON_ERROR_STOP=1 -v schema=$(SCHEMA) -f analytics/postgres/webhook_views.sql
	$(PSQL) "$(PGDSN)" -X -v ON_ERROR_STOP=1 -v schema=$(SCHEMA) -f analytics/postgres/app_api_views.sql

test: ## every test, including PostgreSQL integration tests (starts a throwaway cluster)
	@unformatted=$$(gofmt -l .); test -z "$$unformatted" || { echo "gofmt would change: $$unformatted (make fmt)"; exit 1; }
	$(GO) vet ./...
	$(GO) test -race -shuffle=on -timeout 30m ./...

test-faults: ## long reliability suite: kill -9 crash loop, lost writes, full disk, PostgreSQL outage, hostile HTTP (minutes)
	RELIABILITY_FULL=1 $(GO) test -count=1 -v -timeout 60m ./reliability

fuzz: ## run each fuzz target for FUZZTIME (default 60s)
	@for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; fn=$${t##*:}; \
	  echo "== $$fn ($$pkg)"; \
	  $(GO) test -run='^$$' -fuzz="^$$fn$$" -fuzztime=$(FUZZTIME) $$pkg || exit 1; done

fuzz-pipeline: ## pipeline fuzzer: hostile bodies through tap | target for PIPEFUZZ_DURATION per target (PIPEFUZZ_SEED replays)
	PIPEFUZZ_DURATION=$(PIPEFUZZ_DURATION) $(GO) test -count=1 -v -timeout 0 -run '^TestPipelineFuzz$$' ./reliability

bench: build ## benchmarks: go test -bench, the HTTP ingest ratio and the target-postgres/psql ratio
	@mkdir -p .bench
	$(GO) test -run='^$$' -bench=. -benchmem ./tap/... ./internal/... ./target/... | tee .bench/go.txt
	scripts/bench-ingest.sh | tee .bench/ingest.txt
	scripts/bench-target-postgres.sh | tee .bench/target-postgres.txt
	scripts/bench-pipeline.sh | tee .bench/pipeline.txt

golden: ## rewrite golden files; review the diff before committing
	$(GO) test ./tap/ ./catalog/ -run Golden -update

fmt: ## gofmt
	gofmt -s -w .

vet: ## go vet
	$(GO) vet ./...

tidy-check: ## fail if go.mod/go.sum are not tidy
	$(GO) mod tidy && git diff --exit-code go.mod go.sum

clean: ## remove build outputs
	rm -rf $(BIN) .bench
