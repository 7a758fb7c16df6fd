# Gatehouse. `make run` starts the portal in development mode; `make test`
# runs every check CI runs.
GO ?= go

.PHONY: run build test generate lint check bench bench-size e2e fleet faults fuzz

## run: build bin/gatehouse and start it with --dev (SQLite under ./.gatehouse, demo data).
## exec makes the portal the recipe's process: Ctrl-C reaches it directly, it
## shuts down gracefully and exits 0, so make reports no error.
run: build
	exec ./bin/gatehouse serve --dev

## build: the gatehouse binary in ./bin
build:
	CGO_ENABLED=0 $(GO) build -o bin/gatehouse ./cmd/gatehouse

## test: vet, formatting, generated code in sync, and every test with the race detector
test:
	$(GO) vet ./...
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	@$(MAKE) --no-print-directory check
	$(GO) test -race -count=1 -timeout 50m ./...

## generate: regenerate the templ components
generate:
	$(GO) tool templ generate

## lint: vet, gofmt, staticcheck and gosec (medium and high findings fail;
## each reviewed false positive carries `// #nosec RULE -- reason` at its line)
lint:
	$(GO) vet ./...
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) tool staticcheck ./...
	$(GO) tool gosec -quiet -exclude-generated -severity medium ./...

## check: fail if `templ generate` would change any generated file
check:
	@templ=$$($(GO) tool -n templ) && tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	cp -r views "$$tmp/views" && (cd "$$tmp" && "$$templ" generate >/dev/null 2>&1) && \
	if ! diff -r -q views "$$tmp/views"; then echo "generated templ files are stale: run 'make generate' and commit"; exit 1; fi

## bench: benchmarks (not part of make test); set GATEHOUSE_TEST_PG to include PostgreSQL
bench:
	$(GO) test -run '^$$' -bench 'DataPage' -benchtime=3000x -timeout 30m ./handlers/
	$(GO) test -run '^$$' -bench . -benchmem -timeout 90m ./models/...
	@if [ -n "$$GATEHOUSE_TEST_PG" ]; then $(MAKE) --no-print-directory bench-size; else echo "bench-size skipped: set GATEHOUSE_TEST_PG"; fi

## bench-size: a real serve --dev on kept databases of each size
## (GATEHOUSE_BENCH_SIZES, default 1k/100k,100k/100k workspaces/events;
## GATEHOUSE_BENCH_FULL=1 adds 1m/10m), generated once and reused: each
## staff page's time, the export, a sweeper pass, a retention run, start-up
## and the server's RSS, as a table. Needs GATEHOUSE_TEST_PG;
## GATEHOUSE_BENCH_ENGINES=postgres,sqlite adds SQLite.
bench-size:
	@test -n "$$GATEHOUSE_TEST_PG" || { echo "make bench-size needs GATEHOUSE_TEST_PG, e.g. postgres://postgres@127.0.0.1:5432/postgres"; exit 1; }
	$(GO) test -run '^$$' -bench '^BenchmarkSize$$' -benchtime=1x -timeout 600m ./bench/

## fleet: two real replicas (bin/gatehouse serve --dev) on one PostgreSQL,
## as a role with only the README's grants, behind a round-robin proxy:
## what one replica does, the other sees. Needs GATEHOUSE_TEST_PG.
fleet:
	@test -n "$$GATEHOUSE_TEST_PG" || { echo "make fleet needs GATEHOUSE_TEST_PG, e.g. postgres://postgres@127.0.0.1:5432/postgres"; exit 1; }
	GATEHOUSE_TEST_ALL=1 $(GO) test -count=1 -v -timeout 10m ./fleet/

## faults: the fault tests on a fleet (fleet/faults*_test.go): kill -9 a replica
## under load, stop and start PostgreSQL in immediate mode, end grants at
## random; then the figures of the run. Needs GATEHOUSE_TEST_PG, and restarts
## that server's cluster with pg_ctlcluster: never part of `make test`.
faults:
	@test -n "$$GATEHOUSE_TEST_PG" || { echo "make faults needs GATEHOUSE_TEST_PG, e.g. postgres://postgres@127.0.0.1:5432/postgres"; exit 1; }
	@start=$$(date +%s); report=$$(mktemp); \
	GATEHOUSE_FAULTS=1 GATEHOUSE_FAULTS_REPORT="$$report" GATEHOUSE_TEST_ALL=1 \
		$(GO) test -count=1 -v -run '^TestFaults' -timeout 30m ./fleet/; status=$$?; \
	echo; echo "# make faults: the figures of this run"; echo; cat "$$report"; rm -f "$$report"; \
	echo "wall time of the tests: $$(( $$(date +%s) - start )) s"; exit $$status

## e2e: only the browser tests
e2e:
	$(GO) test -count=1 -run 'Browser' ./...

## fuzz: every fuzz target for FUZZTIME (2m) each, one at a time with
## FUZZWORKERS (1) workers. New crashers land in the package's
## testdata/fuzz/<Target>; the committed seeds there run in `make test`.
FUZZTIME ?= 2m
FUZZWORKERS ?= 1
FUZZ_TARGETS = ./policy:FuzzParseCatalog ./handlers:FuzzSafeReturnTo ./handlers:FuzzRequestForm \
	./models:FuzzLinkTokens ./models:FuzzAuditEncoding ./cmd/gatehouse:FuzzConfig
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; echo "== $$name in $$pkg for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime=$(FUZZTIME) -fuzzminimizetime=10s -parallel=$(FUZZWORKERS) $$pkg; \
	done
