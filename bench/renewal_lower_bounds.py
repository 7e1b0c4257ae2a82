"""Hand-written lower bounds of the renewal queue builds, for bench/renewals.py: plain
PostgreSQL doing the same work as the product, with everything the product has to find out
known in advance (the windows written into the SQL, the tables known empty on a first
build, the day's crossings known from the dates), each in one statement. They write the
same rows (entries, tasks with the same texts, history) and return their counts, so that
the bench can check that both sides did the same work.

Each function returns (SQL, parameters) for one statement, run in a transaction with the
settings the product's build uses (``renewal_queue.BUILD_SETTINGS``, JIT off).
"""

from datetime import date, datetime, timedelta
from typing import Any

DUE_IN_DAYS = 14  # playbooks.renewal_queue.RENEWAL_TASK_DUE_IN_DAYS

ENTRY = "playbooks_renewalqueueentry"
TASK = "playbooks_task"
CHANGE = "playbooks_taskstatuschange"
CONTRACT = "customers_contract"
ACCOUNT = "customers_account"


def _windows_values(windows: list[tuple[int, int, str]], today: date) -> str:
    """``(VALUES ...) w(id, days, label, first_day, last_day, tight_from)`` with the
    overdue row; a row is its contract's tightest when end_date >= tight_from (the windows
    are nested: [today, today + N])."""
    rows = []
    previous = None
    for window_id, days, label in sorted(windows, key=lambda w: w[1]):
        tight_from = today if previous is None else today + timedelta(days=previous + 1)
        rows.append(
            f"({window_id}::bigint, {days}, '{label}', DATE '{today}', "
            f"DATE '{today + timedelta(days=days)}', DATE '{tight_from}')"
        )
        previous = days
    rows.append(
        f"(NULL::bigint, -1, '', DATE '0001-01-01', DATE '{today - timedelta(days=1)}', "
        "DATE '0001-01-01')"
    )
    return f"(VALUES {', '.join(rows)}) w(id, days, label, first_day, last_day, tight_from)"


def _task_select(today: date, now: datetime, source: str) -> tuple[str, list[Any]]:
    """The task columns of the rows ``s`` of ``source`` as the product writes them."""
    due = today + timedelta(days=DUE_IN_DAYS)
    renews = "to_char(s.end_date, 'YYYY-MM-DD')"
    arr = "to_char(s.arr, 'FM999,999,999,999,990')"
    days_left = f"(s.end_date - DATE '{today}')"
    sql = f"""
SELECT s.account_id, s.owner_id,
  CASE WHEN s.window_id IS NULL THEN 'Overdue renewal: ' ELSE 'Renewal prep: ' END || s.name
    || CASE WHEN s.window_id IS NULL THEN ', ended ' ELSE ', renews ' END || {renews}
    || ', $' || {arr} || ' ARR',
  'Account: ' || s.name || E'\\n' || 'Renewal date: ' || {renews} || ' ('
    || CASE WHEN s.window_id IS NULL THEN (-{days_left})::text || ' days overdue'
       ELSE {days_left}::text || ' days left, window ' || s.label END
    || ')' || E'\\nARR: $' || {arr} || E'\\nHealth score: '
    || COALESCE(s.health_score::text, 'unknown') || E'\\nOpen tickets: '
    || s.open_tickets::text || E'\\nAuto-renew: ' || CASE WHEN s.auto_renew THEN 'yes' ELSE 'no' END,
  CASE WHEN s.window_id IS NULL THEN DATE '{today}' WHEN s.end_date < DATE '{due}'
    THEN s.end_date ELSE DATE '{due}' END,
  'open', 'renewal', s.contract_id, s.window_id, %s, %s
FROM {source}"""
    return sql, [now, now]


TASK_COLUMNS = (
    "account_id, assignee_id, title, description, due_date, status, source, contract_id, "
    "window_id, created_at, updated_at"
)
ENTRY_COLUMNS = (
    "contract_id, account_id, window_id, csm_id, arr, renewal_date, overdue, computed_at"
)


def _wanted(windows: list[tuple[int, int, str]], today: date, extra: str = "") -> str:
    widest = today + timedelta(days=max((w[1] for w in windows), default=-1))
    return f"""
SELECT c.id AS contract_id, c.account_id, w.id AS window_id, w.days, w.label, w.tight_from,
  a.owner_id, c.arr, c.end_date, c.auto_renew, a.name, a.health_score, a.open_tickets
FROM {CONTRACT} c
JOIN {_windows_values(windows, today)} ON c.end_date >= w.first_day AND c.end_date <= w.last_day
JOIN {ACCOUNT} a ON a.id = c.account_id
WHERE c.status = 'active' AND c.end_date <= DATE '{widest}'{extra}"""


def first_build(
    windows: list[tuple[int, int, str]], today: date, now: datetime
) -> tuple[str, list[Any]]:
    """Every entry, and one task per renewal (its tightest row), into empty tables: no
    existence probe, no tighter-task probe, nothing to close."""
    tasks, task_params = _task_select(today, now, "wanted s WHERE s.end_date >= s.tight_from")
    sql = f"""
WITH wanted AS MATERIALIZED ({_wanted(windows, today)}),
e AS (INSERT INTO {ENTRY} ({ENTRY_COLUMNS})
  SELECT contract_id, account_id, window_id, owner_id, arr, end_date, window_id IS NULL, %s
  FROM wanted RETURNING 1),
t AS (INSERT INTO {TASK} ({TASK_COLUMNS}) {tasks} RETURNING 1)
SELECT (SELECT count(*) FROM e), (SELECT count(*) FROM t)"""
    return sql, [now, *task_params]


def rediff(windows: list[tuple[int, int, str]], today: date) -> tuple[str, list[Any]]:
    """What a full re-diff must read at least: the wanted rows joined once to the
    entries, counting the rows that differ (none, when nothing changed)."""
    sql = f"""
SELECT count(*) FROM ({_wanted(windows, today)}) s
FULL JOIN {ENTRY} e ON e.contract_id = s.contract_id
  AND COALESCE(e.window_id, 0) = COALESCE(s.window_id, 0)
WHERE e.id IS NULL OR s.contract_id IS NULL OR e.csm_id IS DISTINCT FROM s.owner_id
  OR e.arr <> s.arr OR e.renewal_date <> s.end_date OR e.account_id <> s.account_id"""
    return sql, []


def daily_delta(
    windows: list[tuple[int, int, str]],
    *,
    last_day: date,
    today: date,
    since: datetime,
    now: datetime,
) -> tuple[str, list[Any]]:
    """The next day with no row changed: look for changed rows (the updated_at indexes);
    the contracts entering a window get their entry and, when it is their tightest, their
    task; the contracts that became overdue lose their window entries and get an overdue
    entry and task, their open window task closed with a history row."""
    crossing = " OR ".join(
        f"(c.end_date > DATE '{last_day + timedelta(days=d)}' "
        f"AND c.end_date <= DATE '{today + timedelta(days=d)}' AND w.id = {i})"
        for i, d, _ in windows
    )
    overdue = f"(w.id IS NULL AND c.end_date >= DATE '{last_day}' AND c.end_date < DATE '{today}')"
    new_rows = _wanted(windows, today, extra=f" AND ({crossing or 'false'} OR {overdue})")
    tasks, task_params = _task_select(
        today,
        now,
        f"new_rows s WHERE s.end_date >= s.tight_from AND NOT EXISTS (SELECT 1 FROM {TASK} x "
        "WHERE x.contract_id = s.contract_id AND x.source = 'renewal' "
        "AND COALESCE(x.window_id, 0) = COALESCE(s.window_id, 0)) AND NOT EXISTS ("
        f"SELECT 1 FROM {TASK} z LEFT JOIN playbooks_renewalwindow zw ON zw.id = z.window_id "
        "WHERE z.contract_id = s.contract_id AND z.source = 'renewal' "
        "AND z.status IN ('open', 'snoozed') AND COALESCE(zw.days, -1) < s.days)",
    )
    sql = f"""
WITH changed AS (
  SELECT id FROM {CONTRACT} WHERE updated_at >= %s
  UNION ALL SELECT c.id FROM {ACCOUNT} a JOIN {CONTRACT} c ON c.account_id = a.id
  WHERE a.updated_at >= %s),
new_rows AS MATERIALIZED ({new_rows}),
gone AS (DELETE FROM {ENTRY} e USING new_rows n
  WHERE n.window_id IS NULL AND e.contract_id = n.contract_id AND e.window_id IS NOT NULL
  RETURNING 1),
e AS (INSERT INTO {ENTRY} ({ENTRY_COLUMNS})
  SELECT contract_id, account_id, window_id, owner_id, arr, end_date, window_id IS NULL, %s
  FROM new_rows RETURNING 1),
t AS (INSERT INTO {TASK} ({TASK_COLUMNS}) {tasks} RETURNING contract_id, window_id),
superseded AS MATERIALIZED (
  SELECT x.id, x.status, t.window_id FROM t JOIN {TASK} x ON x.contract_id = t.contract_id
  WHERE x.source = 'renewal' AND x.status IN ('open', 'snoozed')),
h AS (INSERT INTO {CHANGE} (task_id, from_status, to_status, by_id, at, note)
  SELECT s.id, s.status, 'cancelled', NULL, %s, 'Closed: the renewal moved into '
    || COALESCE(NULLIF(w.name, ''), 'T-' || w.days, 'the overdue stage')
    || ', which has its own task.'
  FROM superseded s LEFT JOIN playbooks_renewalwindow w ON w.id = s.window_id RETURNING 1),
closed AS (UPDATE {TASK} x SET status = 'cancelled', snoozed_until = NULL, updated_at = %s
  FROM superseded s WHERE x.id = s.id RETURNING 1)
SELECT (SELECT count(*) FROM changed), (SELECT count(*) FROM gone), (SELECT count(*) FROM e),
  (SELECT count(*) FROM t), (SELECT count(*) FROM closed), (SELECT count(*) FROM h)"""
    return sql, [since, since, now, *task_params, now, now]
