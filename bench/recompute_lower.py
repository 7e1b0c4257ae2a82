"""The hand-written lower bounds bench/recompute.py measures the engine against: the same
work in plain SQL, with the segments' predicates written by hand
(``recompute_segments.SegmentSpec.sql``), no ORM, no ranges, one transaction."""

from typing import Any

from recompute_segments import SegmentSpec

BITS = 63


# The secondary indexes of the membership and event tables, as the migrations create
# them: a load into the empty tables drops them first and builds them after.
SECONDARY_INDEXES = {
    "membership_account_segment": "segments_membership (account_id, segment_id)",
    "event_member_history": "segments_membershipevent (segment_id, account_id, at, id) "
    "INCLUDE (kind)",
    "segments_me_account_96599a_idx": "segments_membershipevent (account_id, at)",
    "segments_me_segment_f0cff6_idx": "segments_membershipevent (segment_id, at)",
}


def first_computation(cursor: Any, specs: list[SegmentSpec], segments: list[Any]) -> int:
    """Every segment's members and entry events inserted from empty, as PostgreSQL's
    "Populating a Database" advises: the secondary indexes dropped, one statement per
    segment (its target set materialized once, two INSERTs from it), the indexes built
    after the load, all in one transaction."""
    for name in SECONDARY_INDEXES:
        cursor.execute(f"DROP INDEX IF EXISTS {name}")
    rows = 0
    for spec, segment in zip(specs, segments, strict=True):
        sql = f"SELECT a.id FROM customers_account a WHERE {spec.sql}"
        if spec.rank_by:
            sql += f" ORDER BY a.{spec.rank_by} DESC NULLS LAST, a.id LIMIT {spec.rank_limit}"
        cursor.execute(
            f"WITH t AS MATERIALIZED ({sql}), "
            "ins AS (INSERT INTO segments_membership "
            "(segment_id, account_id, entered_at, version_id) "
            "SELECT %s, id, now(), %s FROM t) "
            "INSERT INTO segments_membershipevent "
            "(segment_id, account_id, kind, at, version_id) "
            "SELECT %s, id, 'entered', now(), %s FROM t",
            [segment.pk, segment.current_version_id] * 2,
        )
        rows += cursor.rowcount
    cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
    for name, definition in SECONDARY_INDEXES.items():
        cursor.execute(f"CREATE INDEX {name} ON {definition}")
    cursor.execute("ANALYZE segments_membership")
    cursor.execute("ANALYZE segments_membershipevent")
    return rows


def one_pass(
    cursor: Any, specs: list[SegmentSpec], segments: list[Any], *, only_marked: bool = False
) -> tuple[int, int]:
    """The recompute of every unranked segment in one pass over the accounts (or over the
    marked ones, deleting their marks: a sweep): per account bitmask words of the
    hand-written predicates, compared with a bit_or of its stored memberships; each
    segment's count and ARR from FILTER aggregates; the diff's events, deletes and
    inserts. Returns (diff rows, segments counted)."""
    pairs = [(spec, segment) for spec, segment in zip(specs, segments, strict=True)]
    pairs = [(spec, segment) for spec, segment in pairs if not spec.rank_by]
    words = range((len(pairs) - 1) // BITS + 1)
    bit = {segment.pk: (i // BITS, 1 << (i % BITS)) for i, (_, segment) in enumerate(pairs)}
    wanted = ", ".join(
        " + ".join(
            f"CASE WHEN {spec.sql} THEN {bit[segment.pk][1]} ELSE 0 END"
            for spec, segment in pairs
            if bit[segment.pk][0] == word
        )
        + f" AS w{word}"
        for word in words
    )
    top = max(segment.pk for _, segment in pairs)
    arrays = [[0] * top for _ in words]
    for _, segment in pairs:
        word, value = bit[segment.pk]
        arrays[word][segment.pk - 1] = value
    marked = "WHERE a.id IN (SELECT account_id FROM customers_pendingevaluation)"
    held_marked = "WHERE m.account_id IN (SELECT account_id FROM customers_pendingevaluation)"
    cursor.execute("SET LOCAL jit = off")
    cursor.execute("SET LOCAL work_mem = '256MB'")
    cursor.execute("DROP TABLE IF EXISTS lb_w")
    cursor.execute(
        f"CREATE TEMPORARY TABLE lb_w ON COMMIT DROP AS SELECT a.id AS account_id, "
        f"(a.arr * 100)::bigint AS cents, {wanted} FROM customers_account a "
        f"{marked if only_marked else ''}",
    )
    cursor.execute("ANALYZE lb_w")
    aggregates = ", ".join(
        f"COUNT(*) FILTER (WHERE (w{bit[s.pk][0]} & {bit[s.pk][1]}) <> 0), "
        f"SUM(cents) FILTER (WHERE (w{bit[s.pk][0]} & {bit[s.pk][1]}) <> 0)"
        for _, s in pairs
    )
    cursor.execute(f"SELECT {aggregates} FROM lb_w")
    cursor.fetchone()
    held = ", ".join(
        f"COALESCE(bit_or((%s::bigint[])[m.segment_id]), 0) AS h{word}" for word in words
    )
    columns = ", ".join(
        f"COALESCE(w.w{word}, 0) AS w{word}, COALESCE(h.h{word}, 0) AS h{word}" for word in words
    )
    differs = " OR ".join(f"COALESCE(w.w{w}, 0) <> COALESCE(h.h{w}, 0)" for w in words)
    cases = " ".join(f"WHEN {w} THEN x.w{w}" for w in words)
    xors = " ".join(f"WHEN {w} THEN x.w{w} # x.h{w}" for w in words)
    cursor.execute("DROP TABLE IF EXISTS lb_diff")
    cursor.execute(
        f"CREATE TEMPORARY TABLE lb_diff ON COMMIT DROP AS "
        f"WITH h AS (SELECT m.account_id, {held} FROM segments_membership m "
        f"{held_marked if only_marked else ''} GROUP BY m.account_id), "
        f"x AS MATERIALIZED (SELECT COALESCE(w.account_id, h.account_id) AS account_id, "
        f"{columns} FROM lb_w w FULL JOIN h ON h.account_id = w.account_id WHERE {differs}) "
        f"SELECT b.segment_id, b.version_id, x.account_id, "
        f"((CASE b.word {cases} END) & b.bit) <> 0 AS entering "
        f"FROM x CROSS JOIN unnest(%s::bigint[], %s::bigint[], %s::int[], %s::bigint[]) "
        f"AS b(segment_id, version_id, word, bit) "
        f"WHERE ((CASE b.word {xors} END) & b.bit) <> 0",
        [
            *arrays,
            [s.pk for _, s in pairs],
            [s.current_version_id for _, s in pairs],
            [bit[s.pk][0] for _, s in pairs],
            [bit[s.pk][1] for _, s in pairs],
        ],
    )
    diff_rows = cursor.rowcount
    if diff_rows:
        cursor.execute(
            "INSERT INTO segments_membershipevent (segment_id, account_id, kind, at, version_id) "
            "SELECT segment_id, account_id, CASE WHEN entering THEN 'entered' ELSE 'exited' END, "
            "now(), version_id FROM lb_diff ORDER BY segment_id, entering, account_id"
        )
        cursor.execute(
            "DELETE FROM segments_membership m USING lb_diff d WHERE NOT d.entering "
            "AND m.segment_id = d.segment_id AND m.account_id = d.account_id"
        )
        cursor.execute(
            "INSERT INTO segments_membership (segment_id, account_id, entered_at, version_id) "
            "SELECT segment_id, account_id, now(), version_id FROM lb_diff WHERE entering"
        )
    if only_marked:
        cursor.execute("DELETE FROM customers_pendingevaluation")
    return diff_rows, len(pairs)
