# Latchkey. `make help` lists the targets.

GO            ?= go
TOOLS         := $(CURDIR)/bin/tools
BUF_VERSION   := v1.75.0
PROTOC_GEN_GO_VERSION      := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.2
GHZ_VERSION   := v0.120.0
STATE         ?= .latchkey
FUZZTIME      ?= 5m

export PATH := $(TOOLS):$(PATH)

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build bin/latchkey
	$(GO) build -o bin/latchkey ./cmd/latchkey

.PHONY: run
run: build ## Start a local dev server (certificates, store and demo key under ./.latchkey)
	./bin/latchkey dev --state $(STATE)

.PHONY: test
test: ## Run every test (race detector on; fuzz corpora replayed; end-to-end with the real binary)
	$(GO) test -race -count=1 -timeout 12m ./...

.PHONY: test-interop
test-interop: ## Verify tokens with the npm `jose` package under Node.js (installs it, pinned)
	cd interop/node && npm ci --no-audit --no-fund
	$(GO) test -tags interop -count=1 ./interop/

.PHONY: test-crash
test-crash: ## Kill the server with SIGKILL under load 200 times; every acknowledged revocation must survive
	LATCHKEY_CRASH_ITERATIONS=200 $(GO) test -race -count=1 -timeout 60m -run '^TestCrashDurability$$' ./cmd/latchkey/

# Latchkey's CPU per call over the bare server's, and the bare server's
# durable exchange over its plain one, at 64 and 256 callers.
BARE_RATIOS := $(foreach c,64 256,\
	-ratio BenchmarkBareServer/c=$(c)/latchkey/exchange-audit=on:BenchmarkBareServer/c=$(c)/bare/exchange-durable \
	-ratio BenchmarkBareServer/c=$(c)/latchkey/exchange-audit=off:BenchmarkBareServer/c=$(c)/bare/exchange \
	-ratio BenchmarkBareServer/c=$(c)/latchkey/introspect-distinct:BenchmarkBareServer/c=$(c)/bare/introspect-distinct \
	-ratio BenchmarkBareServer/c=$(c)/bare/exchange-durable:BenchmarkBareServer/c=$(c)/bare/exchange)

.PHONY: bench
bench: build-bench $(TOOLS)/ghz ## The performance harness against a real server, ghz cross-check, the package benchmarks and the bare server (about 25 min on 2 cores); report in bench.md
	./bin/latchkey-bench --latchkey bin/latchkey --ghz $(TOOLS)/ghz --out bench-driver.md --json bench-driver.json
	$(GO) test -run '^$$' -bench 'Revocation|Introspect|StartupLoad|HealthCheck' -benchtime 3s -count 3 -timeout 20m ./server/ > bench.out
	# The audit trail's cost is a ratio of two runs: three invocations, each
	# with the trail off then on, keep the machine's drift off the ratio.
	for i in 1 2 3; do $(GO) test -run '^$$' -bench 'BenchmarkExchange' -benchtime 3s -count 1 -timeout 10m ./server/ >> bench.out || exit 1; done
	# Both servers alive at once, taking turns: the steadier measure of it.
	$(GO) test -run '^$$' -bench 'BenchmarkAuditPaired' -benchtime 240000x -count 5 -timeout 10m ./server/ >> bench.out
	# The bare server: the least a server does per call, beside Latchkey.
	$(GO) test -run '^$$' -bench 'BenchmarkBareServer' -benchtime 3s -count 3 -timeout 20m ./server/ > bench-bare.out
	$(GO) test -run '^$$' -bench 'BenchmarkVerify|BenchmarkSignatureFloor' -benchtime 2s -count 5 -timeout 10m ./verifier/ > bench-verify.out
	cp bench-driver.md bench.md
	$(GO) run ./cmd/benchreport -cmd "make bench (in-process)" -ratio 'BenchmarkExchange/audit=on:BenchmarkExchange/audit=off' \
		-ratio 'BenchmarkExchangeProcess/audit=on:BenchmarkExchangeProcess/audit=off' \
		-ratio 'BenchmarkIntrospect/revocations=1000000:BenchmarkIntrospect/revocations=0' < bench.out >> bench.md
	$(GO) run ./cmd/benchreport -cmd "make bench (bare server)" -baseline none $(BARE_RATIOS) < bench-bare.out >> bench.md
	$(GO) run ./cmd/benchreport -cmd "make bench (verifier)" -baseline BenchmarkSignatureFloor/EdDSA \
		-ratio BenchmarkVerify/EdDSA:BenchmarkSignatureFloor/EdDSA -ratio BenchmarkVerify/ES256:BenchmarkSignatureFloor/ES256 \
		-ratio BenchmarkVerify/RS256:BenchmarkSignatureFloor/RS256 < bench-verify.out >> bench.md
	$(GO) test -run '^$$' -bench 'BenchmarkScanTree|BenchmarkDetect' -benchtime 3x -count 3 ./scan/ > bench-scan.out
	$(GO) run ./cmd/benchreport -cmd "make bench (scanner)" -baseline BenchmarkScanTree/workers=1 \
		-ratio BenchmarkScanTree/workers=2:BenchmarkScanTree/workers=1 < bench-scan.out >> bench.md
	@cat bench.md

.PHONY: bench-quick
bench-quick: build-bench $(TOOLS)/ghz ## Check the performance harness end to end in under a minute (timings not judged)
	./bin/latchkey-bench --quick --latchkey bin/latchkey --ghz $(TOOLS)/ghz --out bench-quick.md
	# The bare-server benchmark, one call of each: that it runs, no timing judged.
	$(GO) test -run '^$$' -bench 'BenchmarkBareServer' -benchtime 1x -count 1 -timeout 5m ./server/ > bench-quick-bare.out \
		|| { cat bench-quick-bare.out; exit 1; }

.PHONY: build-bench
build-bench: build
	$(GO) build -o bin/latchkey-bench ./cmd/latchkey-bench

.PHONY: bench-scan
bench-scan: ## Leak-scanner throughput in MB/s, one worker and GOMAXPROCS workers
	$(GO) test -run '^$$' -bench 'BenchmarkScanTree|BenchmarkDetect' -benchtime 3x -count 3 ./scan/

# Every fuzz target, as package:function.
FUZZ_TARGETS = rootkey:FuzzParse issuer:FuzzVerify issuer:FuzzVerifyDifferential \
	issuer:FuzzCheckStrictObject issuer:FuzzClaimsDecoding policy:FuzzDecideScopes \
	policy:FuzzMatchIdentity policy:FuzzSPIFFEID store/badger:FuzzPageToken \
	store/badger:FuzzKeyWireFastMatchesJSON store/cache:FuzzHotDecode verifier:FuzzVerify verifier:FuzzVerifyAgainstReference \
	verifier:FuzzStrictObject scan:FuzzDetect audit:FuzzAppendEvent \
	audit/alert:FuzzVerifySignature audit/alert:FuzzLRU ratelimit:FuzzBucketMatchesRate \
	internal/jsonenc:FuzzString internal/b64url:FuzzDecode

.PHONY: fuzz
fuzz: ## Run each fuzz target for FUZZTIME (default 5m)
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t#*:}; \
		echo "$(GO) test -run '^$$' -fuzz '^$$fn$$' -fuzztime $(FUZZTIME) ./$$pkg"; \
		$(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) ./$$pkg; \
	done

.PHONY: lint
lint: tools ## gofmt, go vet, buf lint and the generated-code drift check
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^gen/')); \
		if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	buf lint
	$(MAKE) --no-print-directory generate-check

.PHONY: tools
tools: $(TOOLS)/buf $(TOOLS)/protoc-gen-go $(TOOLS)/protoc-gen-go-grpc ## Install pinned code generators into bin/tools

$(TOOLS)/buf:
	GOBIN=$(TOOLS) $(GO) install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
$(TOOLS)/protoc-gen-go:
	GOBIN=$(TOOLS) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
$(TOOLS)/protoc-gen-go-grpc:
	GOBIN=$(TOOLS) $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)
$(TOOLS)/ghz:
	GOBIN=$(TOOLS) $(GO) install github.com/bojand/ghz/cmd/ghz@$(GHZ_VERSION)

.PHONY: generate
generate: tools ## Regenerate gen/ from proto/
	buf generate

.PHONY: generate-check
generate-check: tools ## Fail when gen/ differs from what proto/ generates
	@tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; \
		buf generate --output $$tmp && \
		diff -r $$tmp/gen gen && echo "gen/ is up to date"
