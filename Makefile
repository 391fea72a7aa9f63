# EP: `make run` serves the demo, `make test` runs the tests. Both set everything up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export EP_CONFIG ?= $(CURDIR)/instance/ep.ini

.PHONY: run test test-clock lint format venv init clean translations browser-deps oidc-deps wheel constraints

venv: $(STAMP) translations

# compile each audience's catalogue (ep/translations/<audience>/en/LC_MESSAGES/*.po); each
# .mo is written aside and renamed into place, so a test run that reads it while another
# make compiles it (CI runs two at once) never sees half a file
translations: $(STAMP)
	@for po in ep/translations/*/*/LC_MESSAGES/messages.po; do \
		[ -e "$$po" ] || continue; \
		$(BIN)/pybabel compile -d "$${po%/*/LC_MESSAGES/messages.po}" -i "$$po" \
			-o "$${po%.po}.mo.$$$$" && mv "$${po%.po}.mo.$$$$" "$${po%.po}.mo" || exit 1; \
	done

# the versions in constraints.txt, as CI and deployments install them
$(STAMP): setup.cfg pyproject.toml setup.py constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

# the wheel a region installs (dist/ep-*.whl): migrations and compiled catalogues inside
wheel: $(STAMP)
	$(BIN)/pip wheel --quiet --no-deps -w dist .

# constraints.txt again from setup.cfg's ranges: the newest versions that fit, in a fresh venv
constraints:
	rm -rf .constraints-venv
	$(PYTHON) -m venv .constraints-venv
	.constraints-venv/bin/pip install --quiet '.[test]'
	{ sed -n '1,3p' constraints.txt; .constraints-venv/bin/pip freeze --exclude-editable \
		| grep -v '^ep[= @]'; } > constraints.txt.new
	mv constraints.txt.new constraints.txt
	rm -rf .constraints-venv

# axe-core for the browser tests (tests/browser), pinned by its package-lock.json
AXE := tests/browser/node_modules/axe-core/axe.min.js
browser-deps: $(AXE)

$(AXE): tests/browser/package.json tests/browser/package-lock.json
	cd tests/browser && npm ci --no-audit --no-fund --loglevel=error
	touch $(AXE)

# a real OpenID provider (npm oidc-provider) for the resident login tests (tests/oidc)
OIDC_PROVIDER := tests/oidc/node_modules/oidc-provider/package.json
oidc-deps: $(OIDC_PROVIDER)

$(OIDC_PROVIDER): tests/oidc/package.json tests/oidc/package-lock.json
	cd tests/oidc && npm ci --no-audit --no-fund --loglevel=error
	touch $(OIDC_PROVIDER)

init: venv
	$(BIN)/ep init --demo --instance $(CURDIR)/instance

run: init
	@echo
	@echo "EP is starting on https://127.0.0.1:8443/  (Ctrl-C stops it)"
	@echo "  resident start page: https://127.0.0.1:8443/  (demo CA: instance/certs/ca.pem)"
	@echo "  browsers: import instance/certs/SE2321000016-EPO1.p12 (password ep-demo) for /OmniqOperator/"
	@echo "  health check, as a monitor calls it:"
	@echo "    curl --cacert $(CURDIR)/instance/certs/ca.pem --cert $(CURDIR)/instance/certs/SE2321000016-EPO1.pem --key $(CURDIR)/instance/certs/SE2321000016-EPO1.key https://127.0.0.1:8443/OmniqOperator/Operator/HealthCheckStatus"
	@echo
	$(BIN)/gunicorn -c deploy/gunicorn.conf.py wsgi:app

# The suite runs on SQLite. With EP_TEST_DATABASE_URL set (CI sets it) every test that uses
# the test database runs on that PostgreSQL database too (--database-tests-only,
# tests/conftest.py); the tests that would only repeat themselves there (no database, or a
# browser) run once, on SQLite (--other-tests-only). The three parts then run at once: much
# of the suite waits on servers, subprocesses and the browser, so they share the cores
# well. The SQLite database tests print as they go; the other two parts' output follows.
PG_LOG := test-artifacts/pytest-postgresql.log
OTHERS_LOG := test-artifacts/pytest-others.log
test: venv browser-deps oidc-deps
	@mkdir -p test-artifacts; \
	if [ -z "$$EP_TEST_DATABASE_URL" ]; then \
		echo "== the suite on SQLite"; exec $(BIN)/pytest; \
	fi; \
	echo "== alongside: the tests that use the database on PostgreSQL, $$EP_TEST_DATABASE_URL ($(PG_LOG)), and the others on SQLite ($(OTHERS_LOG))"; \
	$(BIN)/pytest -p no:cacheprovider --database-tests-only > $(PG_LOG) 2>&1 & pg=$$!; \
	env -u EP_TEST_DATABASE_URL $(BIN)/pytest -p no:cacheprovider --other-tests-only \
		> $(OTHERS_LOG) 2>&1 & others=$$!; \
	echo "== the tests that use the database, on SQLite"; \
	env -u EP_TEST_DATABASE_URL $(BIN)/pytest --database-tests-only; sqlite=$$?; \
	wait $$others; other=$$?; wait $$pg; postgresql=$$?; \
	echo "== the tests that use no database, and the browser tests, on SQLite"; cat $(OTHERS_LOG); \
	echo "== the tests that use the database, on PostgreSQL: $$EP_TEST_DATABASE_URL"; cat $(PG_LOG); \
	[ $$sqlite -eq 0 ] && [ $$other -eq 0 ] && [ $$postgresql -eq 0 ]

# The date-sensitive tests again at 23:30 UTC in winter and in summer (Stockholm's day is
# then already tomorrow) and just before both DST changes, on SQLite (tests/conftest.py
# test_clock; CI runs this after `make test`)
CLOCK_TESTS := tests/web tests/domain tests/models tests/healthcheck/test_checks.py \
	tests/batches/test_notify_reminders.py tests/batches/test_expire_orders.py \
	tests/batches/test_purge.py tests/batches/test_runner.py tests/batches/test_notify_results.py
# ... but not those that judge no day, age or due date: access by certificate (validity and
# CRL dates are instants, UTC), logins and redirects, CSRF and header hygiene, rate limits,
# writers taking turns, ids, language, the catalogues, user administration, one PDL event
# per read: 103 of 357 tests and 36 % of a clock's CPU (141 -> 87 s), each paid four times
CLOCK_SKIP := tests/web/test_access.py tests/web/citizen/test_login.py \
	tests/web/citizen/test_redirects.py tests/web/staff/test_access_to_staff_pages.py \
	tests/web/citizen/test_hygiene.py tests/web/staff/test_hygiene.py tests/web/admin/test_hygiene.py \
	tests/web/citizen/test_rate_limits.py tests/web/staff/test_rate_limits.py \
	tests/web/citizen/test_beside_a_writer.py tests/web/staff/test_beside_a_writer.py \
	tests/models/test_write_turn.py tests/web/test_database_ids.py \
	tests/web/staff/test_staff_language.py tests/web/test_catalogues.py \
	tests/web/test_admin_users.py tests/web/citizen/test_own_reads.py
CLOCKS := 2026-01-15T23:30:00+00:00 2026-07-15T23:30:00+00:00 \
	2026-03-29T00:30:00+00:00 2026-10-25T00:30:00+00:00
# The four clocks run at once, each into its own log, printed in order when all are done.
test-clock: venv
	@mkdir -p test-artifacts; pids=; \
	for clock in $(CLOCKS); do \
		env -u EP_TEST_DATABASE_URL EP_TEST_CLOCK=$$clock $(BIN)/pytest -q -p no:cacheprovider \
			-m "not browser and not slow" $(addprefix --ignore=,$(CLOCK_SKIP)) $(CLOCK_TESTS) \
			> "test-artifacts/clock-$$clock.log" 2>&1 & \
		pids="$$pids $$!"; \
	done; \
	failed=0; for pid in $$pids; do wait $$pid || failed=1; done; \
	for clock in $(CLOCKS); do \
		echo "== date-sensitive tests at $$clock"; cat "test-artifacts/clock-$$clock.log"; \
	done; \
	exit $$failed

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python migrations/lint.py  # squawk over every migration's PostgreSQL SQL
	$(BIN)/mypy  # ep/ and tests/, as pyproject.toml [tool.mypy] configures it

format: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
