# daihuo: `make run` starts the service with demo data, `make test` runs every test.
GO        ?= go
# gin's msgpack binding (ugorji/go/codec) is the slowest package to compile
# and daihuo speaks only JSON: leave it out.
GOFLAGS   += -tags=nomsgpack
export GOFLAGS
BIN       := .bin/daihuo
TEST_TIMEOUT ?= 9m
# A count, not a duration: Go 1.26's fuzz coordinator can fail a target with
# a bare "context deadline exceeded" as a -fuzztime duration ends
# (go.dev/issue/75804, fixed in 1.27); a count has no deadline to race.
FUZZTIME  ?= 300x

.PHONY: run build test test-go fuzz lint fmt bench deps clean

run: build ## start the whole service with demo data on embedded defaults
	@scripts/deps.sh run
	$(BIN) serve --demo

build: ## build the daihuo binary into .bin/
	$(GO) build -o $(BIN) ./cmd/daihuo

test: deps ## run every test under the race detector (unit, storage, api, streaming, browser, fuzz seeds), then a short fuzzing pass
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./...
	$(MAKE) --no-print-directory fuzz

fuzz: ## run each fuzz target for $(FUZZTIME) inputs
	@set -e; for t in $$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -r -n1 dirname | sort -u); do \
		for f in $$(grep -h '^func Fuzz' $$t/*_test.go | sed 's/func \(Fuzz[A-Za-z0-9_]*\).*/\1/'); do \
			echo "fuzz $$t $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$t; \
		done; \
	done

lint: ## go vet and staticcheck
	$(GO) vet ./...
	$(GO) tool staticcheck ./...
	@files="$$(git ls-files '*.go')" && test -n "$$files" || { echo "lint: git ls-files listed no Go files"; exit 1; }; \
	unformatted="$$(gofmt -l $$files)" || exit 1; \
	test -z "$$unformatted" || { echo "$$unformatted"; echo "gofmt needed"; exit 1; }

fmt: ## format the code
	gofmt -w $$(git ls-files '*.go')

bench: build ## benchmark programs that print figures against a naive baseline
	@scripts/deps.sh run
	$(BIN) bench all

deps: ## install missing system packages and test tools (PostgreSQL 15, chromium, playwright-core)
	@scripts/deps.sh test

clean:
	rm -rf .bin
