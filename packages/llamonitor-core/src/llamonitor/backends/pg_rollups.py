"""PostgreSQL rollups: per-day aggregates kept by a trigger, so summaries do not scan every event.

A summary over a million events needs six full scans and four million-row sorts (exact
percentiles) -- seconds on a small server. Three side tables hold what the dashboard asks for,
kept by one ``AFTER INSERT ... FOR EACH STATEMENT`` trigger that reads the statement's
transition table (``REFERENCING NEW TABLE``):

- ``<table>_r_day``: per UTC day, operation, model and agent: events, errors, tokens, cost
  sums and counts, duration sum / min / max, first start and last end, and a sparse latency
  histogram (``{"bin": count}`` JSONB; logarithmic bins of ratio :data:`GAMMA`, so a bin's
  values are within 2 % of each other) merged by ``<table>_r_merge`` on conflict;
- ``<table>_r_trace``: one row per ``(session_id, trace_id)`` with its events, errors, first start,
  last end and cost -- a session's traces are an index range scan;
- ``<table>_r_session``: per session: events, errors, traces (its rows in ``_r_trace``), first
  start, last end, tokens and cost -- the sessions list, most recent first, is an index scan;
- ``<table>_r_state``: the layout version, whether the rollups are stale, and the
  **generation**, a counter every insert (and every update / delete) bumps in its own
  transaction: the query layer's cache key (:mod:`llamonitor.query.cache`). Each day row records
  the generation that last changed it (``gen``), so a reader keeps the rows it has and fetches
  only those changed since (:class:`llamonitor.query.rollups.RollupReader`).

Rows per day stay few (one per operation x model x agent seen that day), so a trigger run
upserts tens of rows, not one per latency bin.

Why a trigger: it runs in the inserting transaction and sees exactly the rows that were
inserted -- a batch COPYed, or the rows an ``INSERT ... ON CONFLICT DO NOTHING`` re-delivery
really added -- so the rollups count every stored event once, whoever wrote it, at no cost to
the writer's Python thread. Upserts take their rows in key order, trace rows first, then session
rows, then the state row, then day rows, so concurrent writers lock in the same order (no
deadlocks) and wait for each other only on the few rows they share, just before committing.
``UPDATE``, ``DELETE`` and ``TRUNCATE`` on the event table mark the rollups stale
(``<table>_r_state``); the query layer then answers from the events until :func:`rebuild` runs
(``llamonitor`` never updates or deletes events itself).

Creating the rollups on a table that already holds events backfills them in the same
transaction, under a lock that holds concurrent writers back until it commits.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from llamonitor.schema.projection import NONE_LABEL

#: ratio between consecutive latency bin edges (bin b holds durations in [GAMMA**b, GAMMA**(b+1)))
GAMMA = 1.02
#: the bin of durations that are zero, negative, NaN or infinite
SPECIAL_BIN = -2_147_483_648
#: rollup layout version (stored in the state table; another version is dropped and rebuilt)
ROLLUP_VERSION = 5
NS_PER_DAY = 86_400_000_000_000


def _q(name: str) -> str:
    return f'"{name}"'


def _unqualified(qualified: str) -> str:
    """``name`` of ``"schema"."name"``."""
    return qualified.rsplit(".", 1)[-1].strip('"')


@dataclass(frozen=True)
class RollupNames:
    """The rollup objects of one event table (quoted, schema-qualified)."""

    day: str
    trace: str
    session: str
    state: str
    function: str
    insert_trigger: str
    change_trigger: str
    change_function: str
    merge_function: str

    @classmethod
    def of(cls, schema: str, table: str) -> RollupNames:
        """Names for ``schema.table``; long table names are shortened with a hash (63-byte limit)."""
        tag = hashlib.blake2b(table.encode(), digest_size=4).hexdigest()
        base = table if len(table) <= 48 else f"{table[:38]}_{tag}"

        def name(suffix: str) -> str:
            return f"{_q(schema)}.{_q(base + suffix)}"

        return cls(day=name("_r_day"), trace=name("_r_trace"), session=name("_r_session"), state=name("_r_state"),
                   function=name("_r_fn"),
                   insert_trigger=_q(base + "_r_ins"), change_trigger=_q(base + "_r_chg"),
                   change_function=name("_r_chg_fn"), merge_function=name("_r_merge"))


# The day number floors (PostgreSQL's integer division truncates toward zero).
_DAY = "(start_time_ns / 86400000000000 - CASE WHEN start_time_ns < 0 AND start_time_ns % 86400000000000 <> 0 " \
       "THEN 1 ELSE 0 END)"
# NaN compares above every number in PostgreSQL, so "< Infinity" also keeps NaN out of ln().
_BIN = (f"CASE WHEN duration_ms > 0 AND duration_ms < 'Infinity'::float8 "
        f"THEN floor(ln(duration_ms) / ln({GAMMA}))::integer ELSE {SPECIAL_BIN} END")
_KEYS = f"{_DAY}, operation_name, COALESCE(model, '{NONE_LABEL}'), COALESCE(agent_name, '{NONE_LABEL}')"
_DAY_COLUMNS = ("day, operation_name, model, agent_name, events, errors, input_tokens, output_tokens, "
                "cost_input, cost_input_n, cost_output, cost_output_n, cost_total, cost_total_n, "
                "duration_sum, duration_min, duration_max, first_ns, last_ns, latency, gen")
# Two steps in one statement: aggregate by (keys, latency bin), then by keys, turning the
# per-bin counts into the sparse histogram {"bin": count} of each key.
_BY_BIN = (f"SELECT {_KEYS}, {_BIN} AS bin, COUNT(*) AS events, COUNT(*) FILTER (WHERE error) AS errors, "
           "COALESCE(SUM(COALESCE(usage_input_tokens, text_input_tokens)), 0) AS tin, "
           "COALESCE(SUM(COALESCE(usage_output_tokens, text_output_tokens)), 0) AS tout, "
           "COALESCE(SUM(cost_input_cost_usd), 0) AS cin, COUNT(cost_input_cost_usd) AS cin_n, "
           "COALESCE(SUM(cost_output_cost_usd), 0) AS cout, COUNT(cost_output_cost_usd) AS cout_n, "
           "COALESCE(SUM(cost_total_cost_usd), 0) AS cost, COUNT(cost_total_cost_usd) AS cost_n, "
           "SUM(duration_ms) AS dsum, MIN(duration_ms) AS dmin, MAX(duration_ms) AS dmax, "
           "MIN(start_time_ns) AS first_ns, MAX(end_time_ns) AS last_ns FROM {source} GROUP BY 1, 2, 3, 4, 5")
_BY_KEY = ("SELECT b.day, b.operation_name, b.model, b.agent_name, SUM(events), SUM(errors), SUM(tin), SUM(tout), "
           "SUM(cin), SUM(cin_n), SUM(cout), SUM(cout_n), SUM(cost), SUM(cost_n), SUM(dsum), MIN(dmin), MAX(dmax), "
           "MIN(first_ns), MAX(last_ns), jsonb_object_agg(bin::text, events), {gen} "
           "FROM ({by_bin}) AS b(day, operation_name, model, agent_name, bin, events, errors, tin, tout, cin, cin_n, "
           "cout, cout_n, cost, cost_n, dsum, dmin, dmax, first_ns, last_ns) GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4")
_ADD = ("events", "errors", "input_tokens", "output_tokens", "cost_input", "cost_input_n", "cost_output",
        "cost_output_n", "cost_total", "cost_total_n", "duration_sum")


def _day_upsert(names: RollupNames, source: str, gen: str) -> str:
    """Add ``source``'s per-day sums into the day rows, stamping each changed row with ``gen``."""
    adds = ", ".join(f"{c} = r.{c} + EXCLUDED.{c}" for c in _ADD)
    select = _BY_KEY.format(by_bin=_BY_BIN.format(source=source), gen=gen)
    return (f"INSERT INTO {names.day} AS r ({_DAY_COLUMNS}) {select} "
            f"ON CONFLICT (day, operation_name, model, agent_name) DO UPDATE SET {adds}, gen = EXCLUDED.gen, "
            "duration_min = LEAST(r.duration_min, EXCLUDED.duration_min), "
            "duration_max = GREATEST(r.duration_max, EXCLUDED.duration_max), "
            "first_ns = LEAST(r.first_ns, EXCLUDED.first_ns), last_ns = GREATEST(r.last_ns, EXCLUDED.last_ns), "
            f"latency = {names.merge_function}(r.latency, EXCLUDED.latency)")


_SESSION_COLUMNS = ("session_id, events, errors, traces, first_ns, last_ns, input_tokens, output_tokens, cost_total, "
                    "cost_total_n")
_SESSION_ADD = ("events", "errors", "traces", "input_tokens", "output_tokens", "cost_total", "cost_total_n")
_TRACE_COLUMNS = "session_id, trace_id, events, errors, first_ns, last_ns, cost_total, cost_total_n"


def _trace_session_upsert(names: RollupNames, source: str) -> str:
    """Add ``source``'s per-trace sums and its sessions' sums.

    The traces the upsert really created (``xmax = 0`` in ``RETURNING``: a row inserted, not
    updated) are what each session's trace count grows by, so a trace seen again -- in a later
    batch, or by a concurrent writer that committed first -- is counted once.
    """
    session_adds = ", ".join(f"{c} = r.{c} + EXCLUDED.{c}" for c in _SESSION_ADD)
    trace_adds = ", ".join(f"{c} = r.{c} + EXCLUDED.{c}" for c in ("events", "errors", "cost_total", "cost_total_n"))
    return (f"WITH t AS (INSERT INTO {names.trace} AS r ({_TRACE_COLUMNS}) SELECT session_id, trace_id, COUNT(*), "
            "COUNT(*) FILTER (WHERE error), MIN(start_time_ns), MAX(end_time_ns), "
            f"COALESCE(SUM(cost_total_cost_usd), 0), COUNT(cost_total_cost_usd) FROM {source} GROUP BY 1, 2 "
            f"ORDER BY 1, 2 ON CONFLICT (session_id, trace_id) DO UPDATE SET {trace_adds}, "
            "first_ns = LEAST(r.first_ns, EXCLUDED.first_ns), last_ns = GREATEST(r.last_ns, EXCLUDED.last_ns) "
            "RETURNING r.session_id, (r.xmax = 0) AS created), "
            "n AS (SELECT session_id, COUNT(*) FILTER (WHERE created) AS traces FROM t GROUP BY session_id), "
            "s AS (SELECT session_id, COUNT(*) AS events, COUNT(*) FILTER (WHERE error) AS errors, "
            "MIN(start_time_ns) AS first_ns, MAX(end_time_ns) AS last_ns, "
            "COALESCE(SUM(COALESCE(usage_input_tokens, text_input_tokens)), 0) AS tin, "
            "COALESCE(SUM(COALESCE(usage_output_tokens, text_output_tokens)), 0) AS tout, "
            "COALESCE(SUM(cost_total_cost_usd), 0) AS cost, COUNT(cost_total_cost_usd) AS cost_n "
            f"FROM {source} GROUP BY session_id) "
            f"INSERT INTO {names.session} AS r ({_SESSION_COLUMNS}) SELECT s.session_id, s.events, s.errors, "
            "COALESCE(n.traces, 0), s.first_ns, s.last_ns, s.tin, s.tout, s.cost, s.cost_n "
            "FROM s LEFT JOIN n ON n.session_id = s.session_id ORDER BY 1 "
            f"ON CONFLICT (session_id) DO UPDATE SET {session_adds}, first_ns = LEAST(r.first_ns, EXCLUDED.first_ns), "
            "last_ns = GREATEST(r.last_ns, EXCLUDED.last_ns)")


def ddl(names: RollupNames, events_table: str) -> list[str]:
    """Statements creating the rollup tables, functions and triggers (without the backfill)."""
    key = 'text COLLATE "C" NOT NULL'
    base = _unqualified(names.session).removesuffix("_r_session")
    recent = base + "_r_recent"
    return [
        f"CREATE TABLE IF NOT EXISTS {names.day} (day bigint NOT NULL, operation_name {key}, model {key}, "
        f"agent_name {key}, events bigint NOT NULL, errors bigint NOT NULL, input_tokens bigint NOT NULL, "
        "output_tokens bigint NOT NULL, cost_input double precision NOT NULL, cost_input_n bigint NOT NULL, "
        "cost_output double precision NOT NULL, cost_output_n bigint NOT NULL, "
        "cost_total double precision NOT NULL, cost_total_n bigint NOT NULL, duration_sum double precision, "
        "duration_min double precision, duration_max double precision, first_ns bigint NOT NULL, "
        "last_ns bigint NOT NULL, latency jsonb NOT NULL, gen bigint NOT NULL, "
        "PRIMARY KEY (day, operation_name, model, agent_name))",
        f"CREATE INDEX IF NOT EXISTS {_q(base + '_r_day_gen')} ON {names.day} (gen)",
        f"CREATE TABLE IF NOT EXISTS {names.trace} (session_id {key}, trace_id {key}, events bigint NOT NULL, "
        "errors bigint NOT NULL, first_ns bigint NOT NULL, last_ns bigint NOT NULL, "
        "cost_total double precision NOT NULL, cost_total_n bigint NOT NULL, PRIMARY KEY (session_id, trace_id))",
        f"CREATE TABLE IF NOT EXISTS {names.session} (session_id {key} PRIMARY KEY, events bigint NOT NULL, "
        "errors bigint NOT NULL, traces bigint NOT NULL, first_ns bigint NOT NULL, last_ns bigint NOT NULL, "
        "input_tokens bigint NOT NULL, output_tokens bigint NOT NULL, cost_total double precision NOT NULL, "
        "cost_total_n bigint NOT NULL)",
        # the sessions list: most recent last event first, ties by id
        f"CREATE INDEX IF NOT EXISTS {_q(recent)} ON {names.session} (last_ns DESC, session_id)",
        f"CREATE TABLE IF NOT EXISTS {names.state} (id integer PRIMARY KEY CHECK (id = 1), "
        "version integer NOT NULL, stale boolean NOT NULL, generation bigint NOT NULL DEFAULT 0)",
        f"CREATE OR REPLACE FUNCTION {names.merge_function}(a jsonb, b jsonb) RETURNS jsonb LANGUAGE sql "
        "IMMUTABLE AS $fn$ SELECT COALESCE(jsonb_object_agg(key, n), '{}'::jsonb) FROM (SELECT key, "
        "SUM(value::bigint) AS n FROM (SELECT * FROM jsonb_each_text(a) UNION ALL SELECT * FROM jsonb_each_text(b)) "
        "AS e GROUP BY key) AS s $fn$",
        # Traces first: concurrent inserts (a batch copied over several connections, several
        # writers) add different traces in parallel and queue only for the few session rows, the
        # state row and the day rows they share, which they take last, just before committing.
        f"CREATE OR REPLACE FUNCTION {names.function}() RETURNS trigger LANGUAGE plpgsql AS $fn$ "
        f"DECLARE g bigint; BEGIN {_trace_session_upsert(names, 'new_rows')}; "
        f"UPDATE {names.state} SET generation = generation + 1 WHERE id = 1 RETURNING generation INTO g; "
        f"{_day_upsert(names, 'new_rows', 'g')}; RETURN NULL; END $fn$",
        f"CREATE OR REPLACE FUNCTION {names.change_function}() RETURNS trigger LANGUAGE plpgsql AS $fn$ BEGIN "
        f"UPDATE {names.state} SET stale = true, generation = generation + 1 WHERE id = 1; RETURN NULL; END $fn$",
        f"DROP TRIGGER IF EXISTS {names.insert_trigger} ON {events_table}",
        f"CREATE TRIGGER {names.insert_trigger} AFTER INSERT ON {events_table} REFERENCING NEW TABLE AS new_rows "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {names.function}()",
        f"DROP TRIGGER IF EXISTS {names.change_trigger} ON {events_table}",
        f"CREATE TRIGGER {names.change_trigger} AFTER UPDATE OR DELETE OR TRUNCATE ON {events_table} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {names.change_function}()",
    ]


async def install(conn: Any, names: RollupNames, events_table: str) -> bool:
    """Create the rollups of ``events_table`` if missing (backfilling stored events); ``True`` if created.

    Runs in its own transaction; the event table is locked against writes while the rollups are
    created and filled, so no insert slips between the backfill and the trigger.
    """
    exists = await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", names.state)
    if exists:
        version = await conn.fetchval(f"SELECT version FROM {names.state} WHERE id = 1")
        if version == ROLLUP_VERSION:
            return False
    async with conn.transaction():
        await conn.execute(f"LOCK TABLE {events_table} IN SHARE ROW EXCLUSIVE MODE")
        for table in (names.day, names.trace, names.session, names.state):
            await conn.execute(f"DROP TABLE IF EXISTS {table}")
        for statement in ddl(names, events_table):
            await conn.execute(statement)
        await _fill(conn, names, events_table)
        await conn.execute(f"INSERT INTO {names.state} (id, version, stale) VALUES (1, {ROLLUP_VERSION}, false)")
    return True


async def _fill(conn: Any, names: RollupNames, events_table: str, gen: str = "0") -> None:
    for statement in (_trace_session_upsert(names, events_table), _day_upsert(names, events_table, gen)):
        await conn.execute(statement)


async def rebuild(conn: Any, names: RollupNames, events_table: str) -> None:
    """Recompute the rollups from the stored events (after events were deleted or updated)."""
    async with conn.transaction():
        await conn.execute(f"LOCK TABLE {events_table} IN SHARE ROW EXCLUSIVE MODE")
        await conn.execute(f"TRUNCATE {names.day}, {names.trace}, {names.session}")
        await conn.execute(f"UPDATE {names.state} SET stale = false, version = {ROLLUP_VERSION}, "
                           "generation = generation + 1 WHERE id = 1")
        await _fill(conn, names, events_table, f"(SELECT generation FROM {names.state} WHERE id = 1)")
