# framegate — the two commands a new machine needs are `make dev` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

GO        ?= go
FUNCTIONS := $(notdir $(wildcard functions/*))
BUILD_DIR := build
# Lambda flags (same as sam build with BuildMethod go1.x, see README).
LAMBDA_ENV   := GOOS=linux GOARCH=arm64 CGO_ENABLED=0
LAMBDA_FLAGS := -tags lambda.norpc -trimpath -buildvcs=false -ldflags "-s -w"

TS        := clients/typescript

.PHONY: help deps dev test test-short lint unit build bench fuzz chaos clean tools browser-tools ts-deps ts-generate

help:
	@echo "make dev    run the API locally on http://127.0.0.1:3000/v1 and print a key to try"
	@echo "make test   gofmt, vet, cfn-lint, the spec's lint, unit and integration tests, docs and the TypeScript client"
	@echo "make test-short  the pure tier: go test -short, no emulator"
	@echo "make build  build every function's arm64 bootstrap into $(BUILD_DIR)/ and report sizes"
	@echo "make bench  benchmarks: authorizer vs a bare UpdateItem, checksum, cold init, webhook latency, render speed and size vs x264 veryfast, the worst accepted spec's peak RSS per format"
	@echo "make fuzz   run each fuzz target for FUZZTIME (default 20s)"
	@echo "make browser-tools  install chromium (apt) and playwright-core (npm) for the console's browser test"
	@echo "make chaos  CHAOS_RENDERS (60) renders on the local stack under injected faults; prints what survived"
	@echo "make ts-generate  regenerate clients/typescript/src/schema.ts from openapi.yaml"

# tools installs what a fresh machine lacks, and says what it cannot install.
tools:
	@bash scripts/ensure-tools.sh

deps: tools ts-deps
	@$(GO) mod download

# The TypeScript client and the OpenAPI linter come from npm, pinned by
# package-lock.json; npm ci runs again only when the lock file changes.
ts-deps: $(TS)/node_modules/.package-lock.json

$(TS)/node_modules/.package-lock.json: $(TS)/package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "missing: Node.js 18+ with npm (apt-get install nodejs npm, or https://nodejs.org)" >&2; exit 1; }
	@echo "== npm ci ($(TS))"; cd $(TS) && npm ci --no-audit --no-fund --loglevel=error

ts-generate: ts-deps
	@cd $(TS) && npm run -s generate

dev: deps
	$(GO) run ./cmd/framegate dev $(DEV_FLAGS)

lint: tools ts-deps
	@echo "== gofmt"; out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@echo "== go vet"; $(GO) vet ./...
	@echo "== cfn-lint"; PATH="$$PWD/.venv/bin:$$PATH" cfn-lint template.yaml
	@echo "== openapi.yaml: redocly lint, recommended rules, warnings are errors"; cd $(TS) && npm run -s lint:spec
	@echo "== clients/typescript: generated types match openapi.yaml"; cd $(TS) && npm run -s check:generated

# browser-tools installs what the console's browser test drives: Debian's
# chromium (never a browser download) and playwright-core from npm, pinned
# by pkg/console/testdata/browser/package-lock.json.
browser-tools:
	@bash scripts/ensure-browser.sh

unit: deps browser-tools
	@echo "== go test"; PATH="$$PWD/.venv/bin:$$PATH" $(GO) test -count=1 -timeout 8m ./...

test: lint unit

# The pure tier: every test that needs no emulator (go test -short).
test-short: deps
	@$(GO) test -short -count=1 ./...

build:
	@mkdir -p $(BUILD_DIR)
	@for f in $(FUNCTIONS); do \
	  $(LAMBDA_ENV) $(GO) build $(LAMBDA_FLAGS) -o $(BUILD_DIR)/$$f/bootstrap ./functions/$$f || exit 1; \
	  printf "%-14s %s\n" "$$f" "$$(du -h $(BUILD_DIR)/$$f/bootstrap | cut -f1) ($$(stat -c %s $(BUILD_DIR)/$$f/bootstrap) bytes, $$(file -b $(BUILD_DIR)/$$f/bootstrap 2>/dev/null | cut -d, -f1-2))"; \
	done

bench: deps
	@bash bench/report.sh

FUZZTIME ?= 20s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./pkg/apikey
	$(GO) test -run '^$$' -fuzz '^FuzzParseSession$$' -fuzztime $(FUZZTIME) ./pkg/apikey
	$(GO) test -run '^$$' -fuzz '^FuzzExtractSession$$' -fuzztime $(FUZZTIME) ./pkg/authorizer
	$(GO) test -run '^$$' -fuzz '^FuzzParseLinkToken$$' -fuzztime $(FUZZTIME) ./pkg/keystore
	$(GO) test -run '^$$' -fuzz '^FuzzExtractKey$$' -fuzztime $(FUZZTIME) ./pkg/authorizer
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeJSON$$' -fuzztime $(FUZZTIME) ./pkg/apierr
	$(GO) test -run '^$$' -fuzz '^FuzzText$$' -fuzztime $(FUZZTIME) ./pkg/apierr
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./pkg/movie
	$(GO) test -run '^$$' -fuzz '^FuzzSniff$$' -fuzztime $(FUZZTIME) ./pkg/assets
	$(GO) test -run '^$$' -fuzz '^FuzzParseNotification$$' -fuzztime $(FUZZTIME) ./pkg/assets
	$(GO) test -run '^$$' -fuzz '^FuzzVerify$$' -fuzztime $(FUZZTIME) ./pkg/webhooksig
	$(GO) test -run '^$$' -short -fuzz '^FuzzParseAWSTarget$$' -fuzztime $(FUZZTIME) ./pkg/webhooks
	$(GO) test -run '^$$' -short -fuzz '^FuzzRenderLinks$$' -fuzztime $(FUZZTIME) ./pkg/webhooks
	$(GO) test -run '^$$' -fuzz '^FuzzFind$$' -fuzztime $(FUZZTIME) ./pkg/apikey
	$(GO) test -run '^$$' -fuzz '^FuzzParseReport$$' -fuzztime $(FUZZTIME) ./pkg/keysapi
	$(GO) test -run '^$$' -fuzz '^FuzzParseRate$$' -fuzztime $(FUZZTIME) ./pkg/samtemplate
	$(GO) test -run '^$$' -fuzz '^FuzzShellBlocks$$' -fuzztime $(FUZZTIME) ./cmd/framegate
	$(GO) test -run '^$$' -fuzz '^FuzzPlainJSON$$' -fuzztime $(FUZZTIME) ./cmd/framegate
	@# The create path end to end (handler, store, queue) on the emulator.
	PATH="$$PWD/.venv/bin:$$PATH" $(GO) test -run '^$$' -fuzz '^FuzzCreateNumbers$$' -fuzztime $(FUZZTIME) ./pkg/videos
	PATH="$$PWD/.venv/bin:$$PATH" $(GO) test -run '^$$' -fuzz '^FuzzCreateBody$$' -fuzztime $(FUZZTIME) ./pkg/videos

# The chaos harness (pkg/videos/chaos_test.go): the local stack behind a
# fault-injecting proxy, ffmpeg and workers killed, duplicate deliveries.
CHAOS_RENDERS ?= 60
chaos: deps
	@PATH="$$PWD/.venv/bin:$$PATH" FRAMEGATE_CHAOS_RENDERS=$(CHAOS_RENDERS) $(GO) test -count=1 -run '^TestChaos$$' -timeout 30m -v ./pkg/videos \
	  | grep -E '^(chaos:|--- |ok|FAIL|panic)|chaos_test.go'; exit $${PIPESTATUS[0]}

clean:
	rm -rf $(BUILD_DIR) .aws-sam
