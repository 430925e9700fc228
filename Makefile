# leads-flow: the two commands are `make demo` and `make test`.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
ROWS    ?= 1000000
export PYTHONPATH := $(CURDIR)/plugins:$(CURDIR)

.PHONY: venv demo test test-java lint format test-unit test-fast bench bench-phone bench-incremental bench-rekey bench-deletes bench-history ui ui-stop clean system-deps-demo system-deps-test

## Debian packages (scripts/system-deps.sh): installed with apt-get when missing and run as root, else one line
## says what to run. Nothing is fetched on a machine that has them all.
system-deps-demo system-deps-test: system-deps-%:
	@PY=$(PY) bash scripts/system-deps.sh $*

# The venv serves the demo and the tests: the product's requirements.txt plus requirements-dev.txt.
$(BIN)/.installed: requirements.txt requirements-dev.txt
	@PY=$(PY) bash scripts/system-deps.sh demo
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(BIN)/.installed

## Run the DAG end to end on an embedded SQLite setup with generated leads, then print a summary.
demo: venv
	$(BIN)/python scripts/demo.py

## Unit, integration (MariaDB + SQLite), DAG and end-to-end backfill tests.
## system-deps-test comes first: on a clean machine one apt-get installs the venv's packages and the tests'.
test: system-deps-test venv lint
	$(BIN)/python -m pytest -q

## The Java conformance kit (java/, docs/interfaces.md "Java conformance kit"): javac (JDK 17) and Debian's
## libphonenumber jar, judging phones by the Python pin's metadata (exported first); the phone and field-rule
## vectors, then 120,000 generated legacy rows mapped by Python and by Java must agree. Builds into JAVA_BUILD.
## Then the repository (java/src/leadsflow/LeadsFlowRepository.java, Debian's libmariadb-java): its JUnit 5 suite
## on the MariaDB at 127.0.0.1:3306 (Debian's junit5 console launcher), the compiled adapter examples (java/examples)
## and the Python/Java agreement of submit_lead and the lookups (tests/integration/test_java_repository.py).
JAVA_BUILD      ?= .java-build
PHONENUMBER_JAR ?= /usr/share/java/libphonenumber.jar
MARIADB_JAR     ?= /usr/share/java/mariadb-java-client.jar
JUNIT_JAR       ?= /usr/share/java/junit-platform-console-standalone.jar
JAVA_DEPS_CP    := $(PHONENUMBER_JAR):$(MARIADB_JAR)
test-java: system-deps-test venv
	rm -rf $(JAVA_BUILD)/classes $(JAVA_BUILD)/test-classes $(JAVA_BUILD)/examples && mkdir -p $(JAVA_BUILD)
	javac -Xlint:all -Werror -d $(JAVA_BUILD)/classes -cp $(JAVA_DEPS_CP) $$(find java/src -name '*.java')
	javac -Xlint:all -Werror -d $(JAVA_BUILD)/examples -cp $(JAVA_BUILD)/classes:$(JAVA_DEPS_CP) $$(find java/examples -name '*.java')
	javac -Xlint:all -Werror -d $(JAVA_BUILD)/test-classes -cp $(JAVA_BUILD)/classes:$(JAVA_BUILD)/examples:$(JAVA_DEPS_CP):$(JUNIT_JAR) \
	  $$(find java/test -name '*.java')
	$(BIN)/python java/tools/export_phone_metadata.py $(JAVA_BUILD)/phone_metadata.json
	$(BIN)/python java/tools/export_sql.py $(JAVA_BUILD)/sql-classpath
	java -cp $(JAVA_BUILD)/classes:$(PHONENUMBER_JAR) leadsflow.ConformanceRunner \
	  --metadata $(JAVA_BUILD)/phone_metadata.json vectors tests/vectors/phone_crypto.json tests/vectors/field_rules.json
	java -jar $(JUNIT_JAR) --disable-banner --fail-if-no-tests --details=summary \
	  --class-path $(JAVA_BUILD)/classes:$(JAVA_BUILD)/examples:$(JAVA_BUILD)/test-classes:$(JAVA_BUILD)/sql-classpath:$(JAVA_DEPS_CP) --scan-class-path
	LEADS_REQUIRE_JAVA=1 LEADS_PHONENUMBER_JAR=$(PHONENUMBER_JAR) LEADS_MARIADB_JAR=$(MARIADB_JAR) $(BIN)/python -m pytest -q \
	  tests/integration/test_java_agreement.py tests/integration/test_java_repository.py

## The repository as a library: $(JAVA_BUILD)/leads-flow-java-$(JAVA_VERSION).jar (classes plus MySQL's text of
## include/sql's statements, which it runs, exported by java/tools/export_sql.py) and beside it leads-flow-java-$(JAVA_VERSION).deps: one line per
## jar it needs at run time (Debian package, version, path); the manifest's Class-Path names the same paths.
JAVA_VERSION    ?= 0.1.0
JAVA_JAR        := $(JAVA_BUILD)/leads-flow-java-$(JAVA_VERSION).jar
.PHONY: java-jar bench-java
java-jar: system-deps-test venv
	rm -rf $(JAVA_BUILD)/jar && mkdir -p $(JAVA_BUILD)/jar/classes
	javac -Xlint:all -Werror --release 17 -d $(JAVA_BUILD)/jar/classes -cp $(JAVA_DEPS_CP) $$(find java/src -name '*.java')
	$(BIN)/python java/tools/export_sql.py $(JAVA_BUILD)/jar/classes
	printf 'Implementation-Title: leads-flow-java\nImplementation-Version: %s\nClass-Path: %s %s\n' \
	  $(JAVA_VERSION) $(PHONENUMBER_JAR) $(MARIADB_JAR) > $(JAVA_BUILD)/jar/MANIFEST.MF
	jar --create --file $(JAVA_JAR) --manifest $(JAVA_BUILD)/jar/MANIFEST.MF -C $(JAVA_BUILD)/jar/classes .
	for j in $(PHONENUMBER_JAR) $(MARIADB_JAR); do \
	  f=$$(readlink -f $$j); p=$$(dpkg -S $$f | cut -d: -f1); \
	  echo "$$p $$(dpkg-query -W -f='$${Version}' $$p) $$j"; \
	done > $(JAVA_BUILD)/leads-flow-java-$(JAVA_VERSION).deps
	@echo "built $(JAVA_JAR)"; cat $(JAVA_BUILD)/leads-flow-java-$(JAVA_VERSION).deps

## LeadsFlowRepository on the local MariaDB, in a database of its own: BENCH_JAVA_ROWS generated leads through
## submitLead from 8 threads (rows/s, p50/p99), then findByPhone p50/p99 on that table with the EXPLAIN of its
## blind-index query (java/bench/leadsflow/RepositoryBench.java); then the Python paths (reads.submit_lead,
## find_by_phone) on the same leads (benchmarks/bench_repository_python.py). At most 200,000 rows go through
## submitLead; BENCH_JAVA_FILL further rows added by SQL before Java's lookups (random blind indexes, filler
## tokens; the indexes rebuilt after) measure findByPhone on a large table: BENCH_JAVA_FILL=9950000 for 10M rows.
BENCH_JAVA_ROWS ?= 50000
BENCH_JAVA_FILL ?= 0
bench-java: system-deps-test venv
	rm -rf $(JAVA_BUILD)/bench-classes && mkdir -p $(JAVA_BUILD)
	$(BIN)/python java/tools/export_sql.py $(JAVA_BUILD)/sql-classpath
	javac -Xlint:all -Werror -d $(JAVA_BUILD)/bench-classes -cp $(JAVA_DEPS_CP) \
	  $$(find java/src java/bench -name '*.java')
	java -cp $(JAVA_BUILD)/bench-classes:$(JAVA_BUILD)/sql-classpath:$(JAVA_DEPS_CP) leadsflow.RepositoryBench $(BENCH_JAVA_ROWS) 8 5000 $(BENCH_JAVA_FILL)
	$(BIN)/python benchmarks/bench_repository_python.py $(BENCH_JAVA_ROWS) 8 5000

## ruff (pyproject.toml): lint and format check, first step of `make test`. `make format` applies the format.
lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff format .

test-fast: system-deps-test venv lint
	$(BIN)/python -m pytest -q -m "not slow"

## Pipeline vs stock path vs server-side floor, on ROWS generated legacy rows in MariaDB (KEYRING=kms: KMS mode).
bench: venv
	$(BIN)/python benchmarks/bench_pipeline.py --rows $(ROWS) --keyring $(or $(KEYRING),plain)

bench-phone: venv
	$(BIN)/python benchmarks/bench_phone.py

bench-incremental: venv
	$(BIN)/python benchmarks/bench_incremental.py

## Key rotation (leads_flow_rekey) on ROWS generated leads_flow rows under kid 1, moved to kid 2: rows/s, peak RSS.
bench-rekey: venv
	$(BIN)/python benchmarks/bench_rekey.py --rows $(ROWS)

## The daily hard-delete watch (leads_flow_hard_deletes) on DELETE_ROWS legacy rows, 1 in 1000 deleted: time, RSS.
DELETE_ROWS ?= 10000000
bench-deletes: venv
	$(BIN)/python benchmarks/bench_deletes.py --rows $(DELETE_ROWS)

## The history import as users run it: HISTORY_ROWS legacy rows over HISTORY_DAYS days, ONE manual date-range run
## of leads_flow_sync through a real scheduler (LocalExecutor, PostgreSQL metadata on 127.0.0.1:5432, pool
## leads_legacy 2 slots), beside the server-side floor, the bulk floor (primary key only, then the secondary
## indexes) and dlt (own virtualenv .bench-venvs/dlt; with leads_flow's keys added after its load) on the same rows.
## All on a private MariaDB started by the script (own datadir, loopback port and socket, removed at the end)
## with innodb_buffer_pool_size POOL (a comma-separated list measures each: POOL=128M,1G). HISTORY_ONLY picks paths
## (e.g. "bulk_floor airflow" for the 10M-row scale run, where the floor and dlt would take hours); HISTORY_DLT
## picks dlt's configurations (rows, arrow; default both, the faster reported as dlt).
HISTORY_ROWS ?= 2000000
HISTORY_DAYS ?= 20
POOL         ?= 128M
HISTORY_ONLY ?=
HISTORY_DLT  ?=
bench-history: venv
	$(BIN)/python benchmarks/bench_history.py --rows $(HISTORY_ROWS) --days $(HISTORY_DAYS) --pool $(POOL) \
		$(foreach p,$(HISTORY_ONLY),--only $(p)) $(foreach c,$(HISTORY_DLT),--dlt-config $(c))

## The Airflow UI on http://127.0.0.1:8080 (api-server, scheduler, dag-processor, triggerer; SQLite metadata under
## .demo/; sized for the machine). Ctrl-C, or `make ui-stop` from another shell, stops every process it started.
ui: venv
	$(BIN)/python scripts/demo.py --setup-only
	bash scripts/ui.sh

ui-stop:
	bash scripts/ui.sh stop

## Boot docker-compose.yaml for real on a private Docker engine and check it end to end (as root; minutes;
## not part of `make test`): scripts/test-compose.sh, docs/docker-compose.md.
.PHONY: test-compose
test-compose: venv
	bash scripts/test-compose.sh

clean:
	rm -rf .demo .pytest_cache
