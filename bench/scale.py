"""Benchmark: EP at region scale against the same region at 1/1000, side by side.

Generates (once; kept for reuse) two PostgreSQL databases with set-based SQL: five years
of a region of 1,000,000 residents — about 3.0 M orders, 11.7 M results, 2.5 M lab
messages, 1.1 M notifications and inbox messages, 5 M PDL audit events, 2,000 staff — and
the same generator at 1/1000. Valid personnummer and order numbers, skew like real life
(5,000 heavy residents with ~90 orders each, a few busy staff writing most audit events,
ids rising with time), and the same *work* in both: the same number of reminders due,
results due, quarantined and unmatched lab messages and held STI orders.

Then, on both, it measures every page in-process (Flask test client: p95 and SQL
statements per request) and every batch with the real `ep batch …`, prints them side by
side, and prints the EXPLAIN of every statement that scans a table of more than 100,000
rows sequentially.

    .venv/bin/python bench/scale.py [--big-url URL] [--small-url URL] [--generate]
                                    [--requests 20] [--skip-batches] [--skip-pages]

Without --generate an existing database is reused (generated when missing). PURGE
deletes the oldest week each run, so every run purges the next week of history.
"""

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import timedelta
from functools import partial
from pathlib import Path

from flask_migrate import upgrade
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from stdnum import luhn  # noqa: E402

from bench.healthcheck import fresh_heartbeats  # noqa: E402
from bench.process import environment, run_measured  # noqa: E402
from ep import create_app  # noqa: E402
from ep.config import load_config  # noqa: E402
from ep.domain.demo import load_demo  # noqa: E402
from ep.domain.installation import ensure_installation  # noqa: E402
from ep.domain.reminders import refresh_due_again  # noqa: E402
from ep.extensions import db  # noqa: E402
from ep.identity.ordernumber import ALPHABET, RANDOM_LENGTH, _shown  # noqa: E402
from ep.instance import write_ini  # noqa: E402
from ep.models import Offer  # noqa: E402
from ep.timeutil import utcnow  # noqa: E402
from tests.pki import PKI  # noqa: E402

BIG = "postgresql+psycopg://postgres@127.0.0.1:5432/scale_big"
SMALL = "postgresql+psycopg://postgres@127.0.0.1:5432/scale_small"
EP_COMMAND = str(Path(sys.executable).with_name("ep"))
SPAN_DAYS = 5 * 365 + 1
# the same work in both databases, whatever their size
DUE_AGAIN = 50  # recurring offers due again, not yet reminded
NOT_ORDERED = 50  # one-time offers active and not ordered past the reminder delay
RELEASE_DUE = 50  # orders whose results are in and due for release
HELD = 30  # STI orders held for staff contact
UNMATCHED = 40  # unmatched lab messages waiting for staff
REJECTED = 40  # rejected lab messages (quarantined)
STAFF = 2000
SEQ_SCAN_ROWS = 100_000
COMPLETE = "EP bench/scale.py: generated"


# -- generation --------------------------------------------------------------------------


def personnummer(i: int) -> str:
    """A valid personnummer, unique per i (birth day by i, serial by i // days)."""
    born = BIRTH_START + timedelta(days=i % 28_000)
    serial = i // 28_000 + 1
    body = f"{born:%y%m%d}{serial:03d}"
    return f"{born:%Y%m%d}{serial:03d}{luhn.calc_check_digit(body)}"


def order_number(i: int) -> str:
    """A valid order number, unique per i (an odd multiplier scrambles i over 32^7)."""
    scrambled = (i * 2_654_435_761 + 12_345) % (32**RANDOM_LENGTH)
    body = ""
    for _ in range(RANDOM_LENGTH):
        scrambled, digit = divmod(scrambled, 32)
        body += ALPHABET[digit]
    return _shown(body + luhn.calc_check_digit(body, alphabet=ALPHABET))


BIRTH_START = utcnow().date().replace(year=1930, month=1, day=1)


def _copy(connection, table: str, rows) -> None:
    raw = connection.connection.driver_connection
    with raw.cursor() as cursor, cursor.copy(f"COPY {table} FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def sizes(scale: float) -> dict[str, int]:
    people = int(1_000_000 * scale)
    return dict(
        people=people,
        heavy=max(5, int(5_000 * scale)),
        recurring=max(DUE_AGAIN + 10, people // 20),
        random_orders=int(2_000_000 * scale),
        one_time_offers=max(NOT_ORDERED + 10, people // 10),
        audit=int(5_000_000 * scale),
        runs=max(100, int(100_000 * scale)),
        quarantine_history=max(5, int(5_000 * scale)),
    )


def generate(url: str, scale: float) -> None:
    """Create the database from nothing: migrations, the demo catalogue, then history."""
    name = make_url(url).database
    admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    with tempfile.TemporaryDirectory() as folder:
        ini = Path(folder) / "ep.ini"
        write_ini(ini, values={}, database_url=url)
        app = create_app(load_config(ini, environ={}))
        with app.app_context():
            upgrade(directory=app.extensions["migrate"].directory)
            load_demo(db.session, now=utcnow(), history=False)
            # installed when its history began, as `ep init` records it
            started = utcnow() - timedelta(days=SPAN_DAYS)
            ensure_installation(db.session, now=started, demo=False)
            db.session.commit()
            db.engine.dispose()
        app.extensions["ep_operator_engine"].dispose()
    n = sizes(scale)
    engine = create_engine(url)
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL synchronous_commit = off"))
        conn.execute(text("SET LOCAL maintenance_work_mem = '512MB'"))
        conn.execute(text("SET LOCAL work_mem = '256MB'"))
        conn.execute(text("CREATE TEMP TABLE gen_pnr (i int PRIMARY KEY, pnr text)"))
        _copy(conn, "gen_pnr", ((i, personnummer(i)) for i in range(1, n["people"] + 1)))
        total_orders = n["recurring"] * 20 + n["random_orders"] + RELEASE_DUE + HELD + 100
        conn.execute(text("CREATE TEMP TABLE gen_number (i int PRIMARY KEY, number text)"))
        numbers = ((i, order_number(i)) for i in range(1, total_orders + 1))
        _copy(conn, "gen_number", numbers)  # order id - 1000
        print(f"  identifiers: {time.perf_counter() - started:.0f} s", flush=True)
        # a bulk load: the foreign keys' triggers off (the generator keeps them true), and
        # the indexes no constraint needs built once at the end instead of row by row
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        indexes = _drop_secondary_indexes(conn)
        for step, sql in _history_sql(n):
            begun = time.perf_counter()
            conn.execute(text(sql))
            print(f"  {step}: {time.perf_counter() - begun:.0f} s", flush=True)
        begun = time.perf_counter()
        for definition in indexes:
            conn.execute(text(definition))
        print(f"  {len(indexes)} indexes: {time.perf_counter() - begun:.0f} s", flush=True)
        begun = time.perf_counter()
        # when each recurring offer comes due again, as EP keeps it on every change
        refresh_due_again(Session(bind=conn), Offer.recurrence_months.is_not(None))
        print(f"  offers due again: {time.perf_counter() - begun:.0f} s", flush=True)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
        conn.execute(text(f"COMMENT ON DATABASE \"{name}\" IS '{COMPLETE}'"))
    engine.dispose()
    print(f"  generated in {time.perf_counter() - started:.0f} s", flush=True)


def _drop_secondary_indexes(conn) -> list[str]:
    """Drop EP's indexes that back no constraint; the statements that make them again."""
    found = conn.execute(
        text(
            """
            SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
            FROM pg_index i
            JOIN pg_class t ON t.oid = i.indrelid
            JOIN pg_namespace s ON s.oid = t.relnamespace
            WHERE s.nspname = 'public'
              AND NOT EXISTS (SELECT FROM pg_constraint c WHERE c.conindid = i.indexrelid)
            """
        )
    ).all()
    for name, _definition in found:
        conn.execute(text(f"DROP INDEX {name}"))
    return [definition for _name, definition in found]


def _history_sql(n: dict[str, int]):
    """(step, SQL) pairs that write the history; ids are explicit, sequences set last."""
    people, heavy = n["people"], n["heavy"]
    step = n["recurring"] // DUE_AGAIN
    offered = f"(k::float / {n['one_time_offers']}) * interval '{SPAN_DAYS - 60} days'"
    start = f"(now() - interval '{SPAN_DAYS} days')"
    yield (
        "residents",
        f"""
        INSERT INTO person (id, personnummer, given_name, family_name, mobile, channel,
                            language, created_at)
        SELECT 1000 + i, pnr, 'Förnamn' || i, 'Efternamn', '+4670' || lpad(i::text, 7, '0'),
               NULL, CASE WHEN i % 10 = 0 THEN 'en' ELSE 'sv' END,
               {start} + (i::float / {people}) * interval '30 days'
        FROM gen_pnr
        """,
    )
    yield (
        "staff",
        f"""
        INSERT INTO "user" (id, hsa_id, name, active, care_unit_hsa_id, care_unit_name,
                            created_at)
        SELECT 1000 + i, 'SE2321000016-B' || lpad(i::text, 5, '0'), 'Personal ' || i,
               i % 50 <> 0, 'SE2321000016-VC' || lpad((i % 60)::text, 2, '0'),
               'Vårdcentral ' || (i % 60), {start}
        FROM generate_series(1, {STAFF}) i;
        INSERT INTO user_role (user_id, role)
        SELECT 1000 + i, 'staff' FROM generate_series(1, {STAFF}) i;
        INSERT INTO user_role (user_id, role)
        SELECT 1000 + i, 'admin' FROM generate_series(1, 33) i;
        INSERT INTO sampling_location (code, name, address, city, opening_hours,
                                       care_unit_hsa_id, active)
        SELECT 'LOC' || i, 'Provtagning ' || i, 'Gatan ' || i, 'Staden', 'Mån–fre',
               'SE2321000016-PL' || lpad(i::text, 2, '0'), true
        FROM generate_series(1, 40) i
        """,
    )
    # every order in one temporary table first, then inserted in time order (rising ids)
    yield (
        "orders (plan)",
        f"""
        CREATE TEMP TABLE gen_offer AS
        SELECT k, 1000 + 1 + (k * 20) % {people} AS person_id,
               k % {step} = 0 AND k <= {step * DUE_AGAIN} AS due
        FROM generate_series(1, {n["recurring"]}) k;
        INSERT INTO offer (id, person_id, package_id, assigned_by_id, valid_from, valid_until,
                           recurrence_months, status, created_at)
        SELECT 1000 + k, person_id, (SELECT id FROM package WHERE code = 'DIABETES'),
               1000 + 1 + k % 2000,
               {start}, now() + interval '365 days', 3, 'ordered', {start}
        FROM gen_offer;
        INSERT INTO offer (id, person_id, package_id, assigned_by_id, valid_from, valid_until,
                           recurrence_months, status, created_at)
        SELECT 1000 + {n["recurring"]} + k, 1000 + 1 + (k * 7919) % {people},
               (SELECT id FROM package WHERE code = 'THYROID'), 1000 + 1 + k % 2000,
               CASE WHEN k <= {NOT_ORDERED} THEN now() - interval '20 days'
                    ELSE {start} + {offered} END,
               CASE WHEN k <= {NOT_ORDERED} THEN now() + interval '40 days'
                    ELSE {start} + {offered} + interval '60 days' END,
               NULL, CASE WHEN k <= {NOT_ORDERED} THEN 'active' ELSE 'expired' END, {start}
        FROM generate_series(1, {n["one_time_offers"]}) k;
        CREATE TEMP TABLE gen_order (
            at timestamptz, person_id int, package text, offer_id int, status text,
            held bool DEFAULT false, resulted_offset interval DEFAULT interval '2 days');
        -- recurring offers: quarterly, the latest 1-85 days ago, or 100 for the due ones
        INSERT INTO gen_order (at, person_id, package, offer_id, status)
        SELECT now() - CASE WHEN o.due THEN interval '100 days'
                            ELSE (1 + o.k % 85) * interval '1 day' END
                     - (19 - j) * interval '91 days' - interval '2 days',
               o.person_id, 'DIABETES', 1000 + o.k, 'released'
        FROM gen_offer o, generate_series(0, 19) j;
        -- everything else: 15 % by the heavy residents, the rest by anyone
        INSERT INTO gen_order (at, person_id, package, status)
        SELECT at, person_id,
               (ARRAY['DIABETES','DIABETES','DIABETES','DIABETES','THYROID','THYROID',
                      'PK-WARAN','PSA','STI-HOME','STI-HOME'])[1 + (m * 31) % 10],
               CASE WHEN at > now() - interval '10 days' AND m % 3 = 0 THEN 'ordered'
                    WHEN m % 33 = 0 THEN 'cancelled'
                    WHEN m % 11 = 0 THEN 'expired'
                    ELSE 'released' END
        FROM (
            SELECT m, {start} + (m::float / {n["random_orders"]}) * interval '{SPAN_DAYS} days'
                          - interval '3 days' AS at,
                   -- the heavy residents in turn: each has the same share at any scale
                   1000 + CASE WHEN m % 20 < 3 THEN 1 + ((m / 20) * 3 + m % 20) % {heavy}
                               ELSE 1 + (m::bigint * 104729) % {people} END AS person_id
            FROM generate_series(1, {n["random_orders"]}) m
        ) r;
        -- the work both databases share: results due for release, STI positives held
        INSERT INTO gen_order (at, person_id, package, status, resulted_offset)
        SELECT now() - interval '3 days', 1000 + 1 + (m * 613) % {people}, 'DIABETES',
               'resulted', interval '2 days'
        FROM generate_series(1, {RELEASE_DUE}) m;
        INSERT INTO gen_order (at, person_id, package, status, held)
        SELECT now() - interval '4 days', 1000 + 1 + (m * 877) % {people}, 'STI-HOME',
               'resulted', true
        FROM generate_series(1, {HELD}) m;
        -- PSA results within their 24-hour delay: waiting, not due
        INSERT INTO gen_order (at, person_id, package, status, resulted_offset)
        SELECT now() - interval '1 day', 1000 + 1 + (m * 331) % {people}, 'PSA',
               'resulted', interval '20 hours'
        FROM generate_series(1, 100) m
        """,
    )
    yield (
        "orders",
        f"""
        CREATE TEMP TABLE gen_o AS
        SELECT 1000 + row_number() OVER (ORDER BY g.at) AS id, g.*, p.id AS package_id,
               p.home_kit, p.order_validity_days
        FROM gen_order g JOIN package p ON p.code = g.package;
        INSERT INTO kit (id, code, package_id, person_id, registered_at, created_at)
        SELECT id, 'KIT-' || id, package_id, person_id, at + interval '1 day', at
        FROM gen_o WHERE home_kit;
        INSERT INTO "order" (id, number, person_id, package_id, offer_id, location_id, kit_id,
                             home_kit, status, ordered_at, expires_at, sampled_at,
                             sampled_by_id, resulted_at, released_at, cancelled_at,
                             held_for_contact)
        SELECT o.id, n.number, o.person_id, o.package_id, o.offer_id,
               CASE WHEN o.home_kit THEN NULL ELSE (o.id % 42) + 1 END,
               CASE WHEN o.home_kit THEN o.id END, o.home_kit, o.status, o.at,
               o.at + o.order_validity_days * interval '1 day',
               CASE WHEN o.status IN ('released', 'resulted') THEN o.at + interval '1 day' END,
               CASE WHEN o.status IN ('released', 'resulted') AND NOT o.home_kit
                    THEN 1000 + 1 + CASE WHEN o.id % 4 = 0 THEN o.id % 40
                                         ELSE o.id % {STAFF} END END,
               CASE WHEN o.status IN ('released', 'resulted')
                    THEN o.at + o.resulted_offset END,
               CASE WHEN o.status = 'released' THEN o.at + interval '2 days' END,
               CASE WHEN o.status = 'cancelled' THEN o.at + interval '1 day' END,
               o.held
        FROM gen_o o JOIN gen_number n ON n.i = o.id - 1000;
        ALTER TABLE gen_o ADD PRIMARY KEY (id)
        """,
    )
    yield (
        "lab messages",
        f"""
        INSERT INTO lab_message (id, source, format, control_id, filename, payload, sha256,
                                 status, order_id, order_number, personnummer, received_at)
        SELECT o.id, 'KLINKEM_SUS', 'hl7v2', 'KK-' || o.id, 'KK-' || o.id || '.hl7',
               convert_to('MSH|^~\\&|KLINKEM|SUS|EP|REGION|' || o.id || '||ORU^R01|KK-'
                          || o.id || '|P|2.5.1' || chr(13) || 'PID|||' || p.personnummer
                          || chr(13) || 'OBR|1|' || r.number || chr(13), 'UTF8'),
               md5(o.id::text) || md5(r.number), 'imported', o.id, r.number,
               p.personnummer, o.at + o.resulted_offset
        FROM gen_o o JOIN "order" r ON r.id = o.id JOIN person p ON p.id = o.person_id
        WHERE o.status IN ('released', 'resulted');
        -- quarantine: a history of resolved ones, and the same open work in both
        INSERT INTO lab_message (id, source, format, control_id, payload, sha256, status,
                                 error, order_number, personnummer, received_at,
                                 resolved_at, resolved_by_id)
        SELECT 100000000 + q, 'KLINKEM_SUS', 'hl7v2', 'Q-' || q,
               convert_to('MSH|^~\\&|KLINKEM|SUS|EP|REGION|' || q || '||ORU^R01|Q-' || q,
                          'UTF8'),
               md5('q' || q) || md5(q::text),
               CASE WHEN q % 2 = 0 THEN 'unmatched' ELSE 'rejected' END,
               'no order EP-0000-0000', 'EP-0000-0000',
               (SELECT personnummer FROM person WHERE id = 1000 + 1 + (q * 17) % {people}),
               now() - (q % {SPAN_DAYS}) * interval '1 day',
               CASE WHEN q > {UNMATCHED + REJECTED}
                    THEN now() - (q % {SPAN_DAYS}) * interval '1 day' + interval '1 day' END,
               CASE WHEN q > {UNMATCHED + REJECTED} THEN 1001 END
        FROM generate_series(1, {n["quarantine_history"] + UNMATCHED + REJECTED}) q
        """,
    )
    yield (
        "results",
        """
        INSERT INTO result (order_id, analysis_code, analysis_id, value_text, value_numeric,
                            unit, flag, status, observed_at, received_at, released_at,
                            lab_message_id)
        SELECT o.id, a.codes[1 + (j - 1) % a.n], a.ids[1 + (j - 1) % a.n],
               CASE WHEN o.package = 'STI-HOME'
                    THEN CASE WHEN o.held AND j = 1 THEN 'Positiv' ELSE 'Negativ' END
                    ELSE to_char(4 + (o.id + j) % 5, 'FM9') || ',' || (o.id % 10) END,
               CASE WHEN o.package = 'STI-HOME' THEN NULL
                    ELSE 4 + (o.id + j) % 5 + (o.id % 10) / 10.0 END,
               a.units[1 + (j - 1) % a.n],
               CASE WHEN o.package = 'STI-HOME'
                    THEN CASE WHEN o.held AND j = 1 THEN 'POS' ELSE 'NEG' END
                    ELSE 'N' END,
               'F', o.at + interval '1 day', o.at + o.resulted_offset,
               CASE WHEN o.status = 'released' THEN o.at + interval '2 days' END, o.id
        FROM gen_o o
        CROSS JOIN LATERAL generate_series(1, 4 + (o.id % 4 = 0)::int) j
        CROSS JOIN (SELECT array_agg(id ORDER BY id) AS ids, array_agg(code ORDER BY id) AS codes,
                           array_agg(unit ORDER BY id) AS units, count(*)::int AS n
                    FROM analysis) a
        WHERE o.status IN ('released', 'resulted')
        """,
    )
    yield (
        "corrections",
        """
        -- statistics first: without them the join below may read the table once per row
        ANALYZE result;
        -- one order in a hundred had a result corrected: the old row superseded
        WITH corrected AS (
            INSERT INTO result (order_id, analysis_code, analysis_id, value_text,
                                value_numeric, unit, flag, status, observed_at, received_at,
                                released_at, lab_message_id)
            SELECT order_id, analysis_code, analysis_id, value_text, value_numeric, unit,
                   flag, 'C', observed_at, received_at + interval '1 hour', released_at,
                   lab_message_id
            FROM result r
            WHERE order_id % 100 = 7 AND analysis_id = (SELECT min(id) FROM analysis)
              AND released_at IS NOT NULL
            RETURNING id, order_id, analysis_id, received_at
        )
        UPDATE result r SET superseded_at = c.received_at, superseded_by_id = c.id
        FROM corrected c
        WHERE r.order_id = c.order_id AND r.analysis_id = c.analysis_id AND r.id <> c.id
          AND r.status = 'F'
        """,
    )
    yield (
        "notifications and inbox",
        """
        INSERT INTO notification (person_id, kind, channel, dedupe_key, language, subject,
                                  body, status, attempts, next_attempt_at, created_at, sent_at)
        SELECT o.person_id, 'result', 'inbox', 'result:' || o.id || ':' || o.id, 'sv',
               'Nytt provsvar', '', 'sent', 1, o.at + interval '2 days',
               o.at + interval '2 days', o.at + interval '2 days'
        FROM gen_o o WHERE o.status = 'released' AND o.id % 5 < 2;
        INSERT INTO inbox_message (person_id, dedupe_key, subject, body, order_id, created_at,
                                   read_at)
        SELECT o.person_id, 'result:' || o.id || ':' || o.id, 'Nytt provsvar',
               'Du har fått ett nytt provsvar i EP.', o.id, o.at + interval '2 days',
               CASE WHEN o.id % 3 = 0 THEN NULL ELSE o.at + interval '3 days' END
        FROM gen_o o WHERE o.status = 'released' AND o.id % 5 < 2
        """,
    )
    yield (
        "audit events",
        f"""
        INSERT INTO audit_event (at, actor_type, actor_id, actor_name, care_unit_hsa_id,
                                 care_unit_name, patient_personnummer, action, object_type,
                                 object_id, client_addr)
        SELECT now() - interval '{SPAN_DAYS - 1} days'
                     + (e::float / {n["audit"]}) * interval '{SPAN_DAYS - 1} days',
               'user', 'SE2321000016-B' || lpad(s::text, 5, '0'), 'Personal ' || s,
               'SE2321000016-VC' || lpad((s % 60)::text, 2, '0'), 'Vårdcentral ' || (s % 60),
               p.pnr,
               (ARRAY['read:patient','read:results','read:order','update:order'])[1 + e % 4],
               'order', (e % 1000000)::text, '10.0.' || (s % 250) || '.' || (e % 250)
        FROM (
            SELECT e, CASE WHEN e % 5 < 2 THEN 1 + e % 40 ELSE 1 + (e * 13) % {STAFF} END AS s,
                   CASE WHEN e % 10 < 2 THEN 1 + e % {heavy}
                        ELSE 1 + (e::bigint * 7919) % {people} END AS i
            FROM generate_series(1, {n["audit"]}) e
        ) x JOIN gen_pnr p ON p.i = x.i
        """,
    )
    yield (
        "batch history",
        f"""
        INSERT INTO batch_run (batch, host, pid, started_at, finished_at, status, dry_run,
                               processed, succeeded, failed, skipped)
        SELECT (ARRAY['NOTIFYRESULTS','IMPORTRESULTS','NOTIFYREMINDERS','EXPIREORDERS',
                      'PURGE'])[1 + r % 5],
               'app1', 1000 + r % 30000, now() - (({n["runs"]} - r) * interval '5 minutes'),
               now() - (({n["runs"]} - r) * interval '5 minutes') + interval '2 seconds',
               'succeeded', false, r % 7, r % 7, 0, 0
        FROM generate_series(1, {n["runs"]}) r
        """,
    )
    yield (
        "sequences",
        """
        SELECT setval(pg_get_serial_sequence('kit', 'id'), (SELECT max(id) FROM kit));
        SELECT setval(pg_get_serial_sequence('"order"', 'id'), (SELECT max(id) FROM "order"));
        SELECT setval(pg_get_serial_sequence('lab_message', 'id'),
                      (SELECT max(id) FROM lab_message));
        SELECT setval(pg_get_serial_sequence('person', 'id'), (SELECT max(id) FROM person));
        SELECT setval(pg_get_serial_sequence('"user"', 'id'), (SELECT max(id) FROM "user"));
        SELECT setval(pg_get_serial_sequence('offer', 'id'), (SELECT max(id) FROM offer))
        """,
    )


# -- measuring -----------------------------------------------------------------------------


class Statements:
    """The SQL statements an engine runs while counting."""

    def __init__(self, engine):
        self.engine = engine
        self.seen: list[tuple[str, object]] = []

    @contextmanager
    def counting(self):
        def record(_conn, _cursor, statement, parameters, _context, _many):
            self.seen.append((statement, parameters))

        self.seen = []
        event.listen(self.engine, "before_cursor_execute", record)
        try:
            yield self
        finally:
            event.remove(self.engine, "before_cursor_execute", record)


def _app(url: str, folder: Path, pki: PKI):
    # one file per database: write_ini keeps a file that exists, and a second database
    # measured through the first one's file would be the first database again
    ini = folder / f"{make_url(url).database}.ini"
    if not write_ini(ini, values={"CitizenLogin": "dev", **pki.settings()}, database_url=url):
        raise SystemExit(f"{ini} exists already")
    app = create_app(load_config(ini, environ={}))
    app.config["WTF_CSRF_ENABLED"] = False
    return app


def _targets(url: str) -> dict:
    """The rows the pages are asked about: the heaviest resident, a busy staff member."""
    engine = create_engine(url)
    with engine.connect() as conn:
        heavy = conn.execute(
            text(
                'SELECT p.id, p.personnummer FROM person p JOIN "order" o ON o.person_id = p.id '
                "WHERE p.id BETWEEN 1001 AND 1005 GROUP BY p.id ORDER BY count(*) DESC LIMIT 1"
            )
        ).one()
        order_id = conn.scalar(
            text(
                "SELECT max(o.id) FROM \"order\" o WHERE o.person_id = :p AND o.status = 'released'"
            ),
            {"p": heavy.id},
        )
        message_id = conn.scalar(
            text(
                "SELECT min(id) FROM lab_message WHERE status = 'unmatched' AND resolved_at IS NULL"
            )
        )
    engine.dispose()
    return dict(person_id=heavy.id, pnr=heavy.personnummer, order_id=order_id, message=message_id)


def pages(t: dict) -> list[tuple[str, str, str, dict | None]]:
    """(label, audience, path, form for a POST) of every page measured."""
    return [
        ("resident: start", "resident", "/", None),
        ("resident: my results", "resident", "/results", None),
        ("resident: orders", "resident", "/orders", None),
        ("resident: offers", "resident", "/offers", None),
        ("resident: inbox", "resident", "/inbox", None),
        ("resident: access log", "resident", "/access-log", None),
        ("staff: start", "staff", "/staff/", None),
        ("staff: find patient", "staff", "/staff/patients", {"personnummer": t["pnr"]}),
        ("staff: patient page", "staff", f"/staff/patients/{t['person_id']}", None),
        ("staff: STI worklist", "staff", "/staff/worklist", None),
        ("staff: unmatched results", "staff", "/staff/unmatched", None),
        ("staff: one unmatched", "staff", f"/staff/unmatched/{t['message']}", None),
        ("admin: users", "admin", "/EP.Admin/", None),
        ("admin: audit, no filter", "admin", "/EP.Admin/audit", {}),
        ("admin: audit, no filter, p.40", "admin", "/EP.Admin/audit", {"page": "40"}),
        ("admin: audit by user", "admin", "/EP.Admin/audit", {"hsa_id": "SE2321000016-B00001"}),
        ("admin: audit by patient", "admin", "/EP.Admin/audit", {"personnummer": t["pnr"]}),
        ("operator: detail page", "operator", "/OmniqOperator/", None),
        ("operator: /metrics", "operator", "/OmniqOperator/metrics", None),
        ("HealthCheckStatus", "operator", "/OmniqOperator/Operator/HealthCheckStatus", None),
    ]


def _explain_seq_scans(conn, seen, large_tables: set[str]) -> list[str]:
    """EXPLAIN each distinct statement; return those with a Seq Scan on a large table."""
    found = []
    done = set()
    for statement, parameters in seen:
        if statement in done or not statement.lstrip().upper().startswith(("SELECT", "WITH")):
            continue
        done.add(statement)
        raw = conn.connection.driver_connection
        try:
            with raw.cursor() as cursor:
                cursor.execute("EXPLAIN " + statement, parameters)
                plan = "\n".join(row[0] for row in cursor.fetchall())
        except Exception as exc:  # a statement EXPLAIN cannot take is reported, not fatal
            raw.rollback()
            found.append(f"(not explained: {exc})\n{statement[:300]}")
            continue
        raw.rollback()
        scanned = set(re.findall(r"Seq Scan on (\w+)", plan)) | set(
            re.findall(r'Seq Scan on "(\w+)"', plan)
        )
        if scanned & large_tables:
            found.append(f"{statement.strip()[:600]}\n{plan}")
    return found


def _request(client, path: str, form: dict | None, kwargs: dict, label: str):
    if form is None:
        response = client.get(path, **kwargs)
    else:
        response = client.post(path, data=form, **kwargs)
    assert response.status_code in (200, 302), f"{label}: {response.status_code}"
    return response


def measure_pages(url: str, requests: int, folder: Path, pki: PKI) -> dict:
    app = _app(url, folder, pki)
    t = _targets(url)
    with app.app_context():
        engine = db.engine
        with engine.connect() as conn:
            large = {
                row.relname
                for row in conn.execute(
                    text("SELECT relname FROM pg_stat_user_tables WHERE n_live_tup > :n"),
                    {"n": SEQ_SCAN_ROWS},
                )
            }
    # every batch ran a minute ago, so HealthCheckStatus answers OK as in production
    fresh_heartbeats(engine)
    counter = Statements(engine)
    operator_counter = Statements(app.extensions["ep_operator_engine"])
    headers = {
        role: pki.header(hsa_id)
        for role, hsa_id in (
            ("staff", "SE2321000016-B00001"),
            ("admin", "SE2321000016-B00002"),
            ("operator", "SE2321000016-EPO1"),
        )
    }
    resident = app.test_client()
    response = resident.post("/login", data={"personnummer": t["pnr"]})
    assert response.status_code == 302, f"resident login: {response.status_code}"
    staff_client = app.test_client()
    results = {}
    for label, audience, path, form in pages(t):
        client = resident if audience == "resident" else staff_client
        kwargs = {} if audience == "resident" else {"headers": headers[audience]}
        call = partial(_request, client, path, form, kwargs, label)
        call()  # warm caches and templates
        with counter.counting(), operator_counter.counting():
            call()
        seen = counter.seen + operator_counter.seen
        timings = []
        for _ in range(requests):
            began = time.perf_counter()
            call()
            timings.append((time.perf_counter() - began) * 1000)
        timings.sort()
        with engine.connect() as conn:
            scans = _explain_seq_scans(conn, seen, large)
        results[label] = dict(
            p95=timings[max(0, int(len(timings) * 0.95) - 1)],
            p50=statistics.median(timings),
            statements=len(seen),
            scans=scans,
        )
        print(f"    {label}: {results[label]['p95']:.1f} ms, {len(seen)} statements", flush=True)
    with app.app_context():
        db.engine.dispose()
    app.extensions["ep_operator_engine"].dispose()
    return results


def _retention_days(url: str) -> int:
    """RetainOrdersDays that makes the oldest week of closed orders due for PURGE."""
    engine = create_engine(url)
    with engine.connect() as conn:
        oldest = conn.scalar(
            text(
                'SELECT min(coalesce(released_at, cancelled_at, expires_at)) FROM "order" '
                "WHERE status IN ('released', 'cancelled', 'expired')"
            )
        )
    engine.dispose()
    return (utcnow() - oldest).days - 7


def _reset_work(url: str, since) -> None:
    """Undo what a measured batch did, so the next run finds the same work."""
    engine = create_engine(url)
    with engine.begin() as conn:
        released = 'SELECT id FROM "order" WHERE released_at >= :since'
        conn.execute(
            text(f"UPDATE result SET released_at = NULL WHERE order_id IN ({released})"),
            {"since": since},
        )
        conn.execute(
            text(
                "UPDATE \"order\" SET status = 'resulted', released_at = NULL "
                "WHERE released_at >= :since"
            ),
            {"since": since},
        )
        for table in ("notification", "inbox_message"):
            conn.execute(text(f"DELETE FROM {table} WHERE created_at >= :since"), {"since": since})
        # the due-again reminders just deleted are due again
        refresh_due_again(Session(bind=conn), Offer.recurrence_months.is_not(None))
    engine.dispose()


def measure_batches(url: str, folder: Path, purge_limit: int | None = None) -> dict:
    ini = folder / "batch.ini"
    days = _retention_days(url)
    write_ini(
        ini,
        values={
            "NotificationChannel": "file",
            "RetainOrdersDays": str(days),
            "RetainNotificationsDays": str(days),
            "RetainLabMessagesDays": str(days),
        },
        database_url=url,
    )
    for sub in ("inbox", "outbox/notifications", "outbox/ack"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    env = environment(ini)
    # the `ep` of the code this file belongs to (bench a checkout of the old code the same way)
    env["PYTHONPATH"] = str(ROOT)
    results = {}
    runs = [
        ("NOTIFYREMINDERS dry run", ["notify-reminders", "--dry-run"]),
        ("NOTIFYREMINDERS (100 due)", ["notify-reminders"]),
        ("NOTIFYRESULTS (50 due)", ["notify-results"]),
        ("NOTIFYRESULTS (nothing due)", ["notify-results"]),
        ("EXPIREORDERS", ["expire-orders"]),
        ("IMPORTRESULTS (empty inbox)", ["import-results"]),
        ("PURGE dry run", ["purge", "--dry-run"]),
        ("PURGE (a week)", ["purge", *(["--limit", str(purge_limit)] if purge_limit else [])]),
        ("ep check", None),
    ]
    since = utcnow() - timedelta(seconds=5)
    for label, args in runs:
        command = [EP_COMMAND, "check"] if args is None else [EP_COMMAND, "batch", *args]
        done = run_measured(command, env)
        output = done.stdout + done.stderr
        tail = output.strip().splitlines()[-3:]
        # the run's own time (the process start, about a second of imports, is not in it)
        run = re.search(r"succeeded in ([0-9.]+) s", output)
        results[label] = dict(
            seconds=done.seconds,
            run=float(run[1]) if run else None,
            rc=done.returncode,
            peak_rss_mb=done.peak_rss_mb,
            tail=tail,
        )
        print(
            f"    {label}: {done.seconds:.1f} s, peak RSS {done.peak_rss_mb:.0f} MB "
            f"(exit {done.returncode}) {' | '.join(tail)[:300]}"
        )
    _reset_work(url, since)
    return results


def _exists(url: str) -> bool:
    """Whether the database is there and complete; one being generated is never touched."""
    name = make_url(url).database
    admin = create_engine(make_url(url).set(database="postgres"))
    with admin.connect() as conn:
        found = conn.execute(
            text(
                "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = :n"
            ),
            {"n": name},
        ).all()
    admin.dispose()
    if found and found[0][0] != COMPLETE:
        sys.exit(f"{name} exists but is not complete (being generated?); --generate redoes it")
    return bool(found)


def _row_counts(url: str) -> dict[str, int]:
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT relname, n_live_tup FROM pg_stat_user_tables "
                "WHERE relname IN ('person','order','result','lab_message','notification',"
                "'inbox_message','audit_event','user','offer') ORDER BY relname"
            )
        ).all()
    engine.dispose()
    return dict(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big-url", default=BIG)
    parser.add_argument("--small-url", default=SMALL)
    parser.add_argument("--big-scale", type=float, default=1.0)
    parser.add_argument("--generate", action="store_true", help="generate even if present")
    parser.add_argument("--only-generate", action="store_true")
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--skip-pages", action="store_true")
    parser.add_argument("--skip-batches", action="store_true")
    parser.add_argument(
        "--purge-limit", type=int, help="PURGE at most this many rows a kind (the old code)"
    )
    parser.add_argument("--only", choices=("small", "big"), help="measure one database")
    parser.add_argument("--save", type=Path, help="write the measurements here as JSON")
    args = parser.parse_args()
    began = time.perf_counter()
    print(f"load average {os.getloadavg()} on {os.cpu_count()} CPUs", flush=True)
    databases = (
        ("small", args.small_url, args.big_scale / 1000),
        ("big", args.big_url, args.big_scale),
    )
    for label, url, scale in databases:
        if args.generate or not _exists(url):
            print(f"generating {label} (scale {scale}) …", flush=True)
            generate(url, scale)
        print(f"  {label}: {_row_counts(url)}", flush=True)
    if args.only_generate:
        return
    measured = {}
    with tempfile.TemporaryDirectory() as folder:
        pki = PKI(Path(folder) / "pki")
        for label, url, _scale in databases:
            if args.only and label != args.only:
                continue
            measured[label] = {}
            if not args.skip_pages:
                print(f"pages on {label} …", flush=True)
                measured[label]["pages"] = measure_pages(url, args.requests, Path(folder), pki)
            if not args.skip_batches:
                print(f"batches on {label} …", flush=True)
                sub = Path(folder) / label
                sub.mkdir()
                measured[label]["batches"] = measure_batches(url, sub, args.purge_limit)
    if args.save:
        args.save.write_text(json.dumps(measured, indent=1, default=str))
    if len(measured) == 2:
        report(measured)
    print(f"\ntotal {time.perf_counter() - began:.0f} s; load average {os.getloadavg()}")


def report(measured: dict) -> None:
    small, big = measured["small"], measured["big"]
    flat = True
    if "pages" in big:
        print("\n| page | small p95 ms | big p95 ms | statements small / big | flat? |")
        print("|---|---|---|---|---|")
        for label, b in big["pages"].items():
            s = small["pages"][label]
            ok = b["p95"] <= 1.5 * s["p95"] + 5 and b["statements"] == s["statements"]
            flat &= ok
            print(
                f"| {label} | {s['p95']:.1f} | {b['p95']:.1f} | "
                f"{s['statements']} / {b['statements']} | {'yes' if ok else 'NO'} |"
            )
        for label, b in big["pages"].items():
            for scan in b["scans"]:
                print(f"\nSequential scan of a large table, {label}:\n{scan}")
    if "batches" in big:
        print(
            "\n| batch | small: wall s (run's own s) | big: wall s (run's own s) "
            "| peak RSS MB small / big | flat? |"
        )
        print("|---|---|---|---|---|")
        for label, b in big["batches"].items():
            s = small["batches"][label]
            # the same work on both: time and memory within 1.5×; PURGE's week is bigger
            ok = label == "PURGE (a week)" or (
                b["seconds"] <= 1.5 * s["seconds"] and b["peak_rss_mb"] <= 1.5 * s["peak_rss_mb"]
            )
            flat &= ok
            print(
                f"| {label} | {_timed(s)} | {_timed(b)} | "
                f"{s['peak_rss_mb']:.0f} / {b['peak_rss_mb']:.0f} | {'yes' if ok else 'NO'} |"
            )
    print("\nflat everywhere: " + ("yes" if flat else "NO"))


def _timed(batch: dict) -> str:
    own = f" ({batch['run']:.1f})" if batch["run"] is not None else ""
    return f"{batch['seconds']:.1f}{own}"


if __name__ == "__main__":
    main()
