"""Imports as background jobs (DESIGN section 10): ``import_services.import_job_create``
stores the upload and queues ``customers.import_job_run`` after commit; ``import_job_run``
(the task's body) reads the file, streamed:

- the encoding (``import_reading.encoding_detect``) and the number of records;
- then every record in chunks of ``CHUNK_ROWS``, each chunk checked
  (``import_check.chunk_plan``: counts of created / updated / unchanged / rejected, the
  first errors and changes, every rejected record into the rejected CSV with an ``error``
  column). A dry run stops there, committing its progress (``rows_done``) per chunk.
- An import writes each chunk as soon as it is checked, only the records that change
  something: one ``INSERT … ON CONFLICT (external_id) DO UPDATE`` per batch of the mapped
  fields (and the owner), the owner assignments, contracts through
  ``contracts_bulk_upsert``, and the segment marks (``accounts_mark_changed``); all in ONE
  transaction. At the first rejected record (unless ``skip_invalid``) it stops writing,
  checks the rest so that every problem is reported, and rolls back: all-or-nothing.
  Its progress goes to the cache meanwhile (``import_job_progress`` reads it).

Memory stays bounded by a chunk: only the file's keys (for duplicates) are kept whole.
"""

import csv
import json
import logging
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any

from django.core.cache import cache
from django.core.files import File
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import JSONField
from django.db.models.expressions import RawSQL
from django.utils import timezone

from cs_platform.db import dialect, table_name
from cs_platform.spreadsheet import csv_writer

from .bulk_upsert import UPSERT_BATCH_SIZE, contracts_bulk_upsert
from .import_check import CREATE, REJECT, UNCHANGED, UPDATE, OwnerDirectory, PlannedRow, chunk_plan
from .import_models import ImportJob, ImportPhase, ImportStatus
from .import_profiles import KEY_TARGET
from .import_reading import (
    ImportFileError,
    MappedRow,
    ProfileReader,
    encoding_detect,
    records_count,
    text_open,
)
from .models import Account, AssignmentRole, Contract, CSMAssignment
from .services import accounts_mark_changed

logger = logging.getLogger(__name__)

# Records checked (and written) per chunk: two lookups of 2,000 keys and one upsert batch
# per chunk keep round trips few and memory flat (a chunk holds ~2,000 small dicts).
CHUNK_ROWS = 2_000
MAX_ERRORS_KEPT = 1_000
# An import that created this many accounts refreshes the table's planner statistics.
ANALYZE_AFTER_CREATED = 10_000
MAX_CHANGES_KEPT = 50
# Progress is published at most this often: a write of the file-based cache (the embedded
# default) costs ~20 ms, a tenth of a second per 10,000 rows if every chunk wrote it.
PROGRESS_EVERY_SECONDS = 0.5


class _WriteAborted(Exception):
    """A write refused a checked record (the data changed meanwhile)."""


def _update(job: ImportJob, **values: Any) -> None:
    for name, value in values.items():
        setattr(job, name, value)
    ImportJob.objects.filter(pk=job.pk).update(**values)


def import_job_run(*, job_id: int) -> None:
    """Run a queued job to the end (idempotent: a finished job is left as it is; a job
    interrupted mid-way runs again from the start, its writes having been rolled back)."""
    job = ImportJob.objects.select_related("profile").filter(pk=job_id).first()
    if job is None or job.status in (ImportStatus.DONE, ImportStatus.FAILED):
        return
    _update(job, status=ImportStatus.RUNNING, phase=ImportPhase.READING, started_at=timezone.now())
    try:
        with job.file.open("rb") as binary:
            _run(job, binary)
    except ImportFileError as exc:
        _update(
            job,
            status=ImportStatus.FAILED,
            phase=ImportPhase.FINISHED,
            message=exc.message + " Nothing was written.",
            errors=[{"row": 1, "column": exc.column, "message": exc.message}],
            finished_at=timezone.now(),
        )
    except (OperationalError, InterfaceError):
        # A transient database error (a terminated connection, a failover): the job's writes
        # were rolled back and it stays running; its task is retried and starts it over.
        raise
    except Exception:
        logger.exception("import job %s failed", job_id)
        _update(
            job,
            status=ImportStatus.FAILED,
            phase=ImportPhase.FINISHED,
            message="The import stopped on an internal error; nothing was written.",
            finished_at=timezone.now(),
        )
        raise


def _chunks(reader: ProfileReader, records: Any) -> Iterator[list[MappedRow]]:
    """Mapped records in chunks; a record's row is its place in a spreadsheet (header 1)."""
    chunk: list[MappedRow] = []
    for number, cells in enumerate(records, start=2):
        # A blank line is no record. Most records start with a filled cell: that one
        # test, not a generator over every cell, decides for them.
        if not (cells and cells[0].strip()) and not any(cell.strip() for cell in cells):
            continue
        chunk.append(reader.map(number, cells))
        if len(chunk) == CHUNK_ROWS:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@contextmanager
def _open_records(
    job: ImportJob, binary: IO[bytes], encoding: str
) -> Iterator[tuple[Any, ProfileReader]]:
    """The file's records after its header, and the profile's reader for that header."""
    text = text_open(binary, encoding)
    try:
        records = csv.reader(text)
        try:
            header = next(records, None)
        except csv.Error as exc:
            raise ImportFileError(f"The file is not a readable CSV: {exc}.") from None
        if not header or not any(h.strip() for h in header):
            raise ImportFileError("The file has no header row.")
        yield records, ProfileReader(job.profile, [h.strip() for h in header])
    finally:
        text.detach()  # the upload stays open for the next pass


def _run(job: ImportJob, binary: IO[bytes]) -> None:
    encoding = encoding_detect(binary)
    total = records_count(binary, encoding)
    _update(job, encoding=encoding, rows_total=total, phase=ImportPhase.CHECKING)
    if job.dry_run:
        outcome = _pass(job, binary, encoding, write=False)
        message = "Dry run: nothing was written."
    else:
        _update(job, phase=ImportPhase.WRITING)
        outcome = _Outcome()
        try:
            with transaction.atomic():
                outcome = _pass(job, binary, encoding, write=True)
                if outcome.aborted:
                    raise _RolledBack
        except _RolledBack:
            pass
        except _WriteAborted as exc:
            _update(
                job,
                status=ImportStatus.FAILED,
                phase=ImportPhase.FINISHED,
                message=f"{exc} Nothing was written.",
                finished_at=timezone.now(),
            )
            return
        if outcome.aborted:
            _update(job, **outcome.fields(written=False))
            _update(
                job,
                status=ImportStatus.FAILED,
                phase=ImportPhase.FINISHED,
                message=f"{job.rejected} row(s) rejected; nothing was written. Correct them, "
                "or import with skip_invalid to write the valid rows.",
                finished_at=timezone.now(),
            )
            return
        if outcome.created >= ANALYZE_AFTER_CREATED:
            # The planner's statistics still describe the tables before the import: the
            # lookups of the next import (and the segment sweep) would plan for them
            # (without statistics, the lookup of a chunk's current owners hashes every
            # owner assignment: 0.2 s a chunk at 100,000 accounts).
            with connection.cursor() as cursor:
                for model in (Account, CSMAssignment, Contract):
                    dialect().analyze(cursor, table_name(model))
        if outcome.created or outcome.updated:
            message = f"Imported: {outcome.created} created, {outcome.updated} updated."
        else:
            message = "Nothing to write: every row matches the stored accounts."
        if outcome.rejected:
            message += f" {outcome.rejected} rejected row(s) were skipped."
    _update(job, **outcome.fields(written=not job.dry_run and outcome.wrote))
    _update(
        job,
        status=ImportStatus.DONE,
        phase=ImportPhase.FINISHED,
        message=message,
        finished_at=timezone.now(),
    )


class _RolledBack(Exception):
    """Leaves the import's transaction so that nothing it wrote stays."""


@dataclass
class _Outcome:
    counts: dict[str, int] = field(
        default_factory=lambda: {CREATE: 0, UPDATE: 0, UNCHANGED: 0, REJECT: 0}
    )
    errors: list[dict[str, Any]] = field(default_factory=list)
    changes: list[dict[str, Any]] = field(default_factory=list)
    rows_done: int = 0
    aborted: bool = False
    wrote: bool = False
    rejected_file: str = ""

    created = property(lambda self: self.counts[CREATE])
    updated = property(lambda self: self.counts[UPDATE])
    rejected = property(lambda self: self.counts[REJECT])

    def fields(self, *, written: bool) -> dict[str, Any]:
        return {
            "created": self.counts[CREATE],
            "updated": self.counts[UPDATE],
            "unchanged": self.counts[UNCHANGED],
            "rejected": self.counts[REJECT],
            "errors": self.errors,
            "changes": self.changes,
            "rows_done": self.rows_done,
            "written": written,
            "rejected_file": self.rejected_file,
        }

    def add(self, plan: PlannedRow) -> None:
        self.counts[plan.action] += 1
        if plan.action == REJECT:
            self.errors.extend(
                {"row": plan.row.line, "column": column, "message": message}
                for column, message in plan.errors[: MAX_ERRORS_KEPT - len(self.errors)]
            )
        elif plan.action != UNCHANGED and len(self.changes) < MAX_CHANGES_KEPT:
            self.changes.append(
                {"row": plan.row.line, "key": plan.row.key, "action": plan.action,
                 "fields": plan.diff_plain()}
            )  # fmt: skip


def _error_text(plan: PlannedRow) -> str:
    return "; ".join(f"{column}: {message}" for column, message in plan.errors)


def progress_key(job_id: int) -> str:
    return f"import-job:{job_id}:rows_done"


def import_job_progress(job: ImportJob) -> ImportJob:
    """``job`` with the rows done so far: a running import's writes (and its progress
    column) are in a transaction nobody else sees until it ends, so the job publishes its
    progress in the cache meanwhile."""
    if job.status == ImportStatus.RUNNING:
        job.rows_done = max(job.rows_done, cache.get(progress_key(job.pk)) or 0)
    return job


def _progress(job: ImportJob, done: int, *, in_transaction: bool) -> None:
    done = min(done, job.rows_total)
    if in_transaction:
        cache.set(progress_key(job.pk), done, timeout=6 * 3600)
    else:
        _update(job, rows_done=done)


def _pass(job: ImportJob, binary: IO[bytes], encoding: str, *, write: bool) -> _Outcome:
    """Check every record (and with ``write``, write each chunk's changes); every
    rejected record goes to the rejected CSV. A write pass stops writing at the first
    rejected record unless ``skip_invalid`` (``aborted``; the caller rolls back), and
    checks on so that every problem is reported."""
    outcome = _Outcome()
    published = -PROGRESS_EVERY_SECONDS
    seen: dict[str, int] = {}
    owners = OwnerDirectory()
    with (
        tempfile.TemporaryFile("w+", encoding="utf-8", newline="") as rejected_file,
        _open_records(job, binary, encoding) as (records, reader),
    ):
        rejected_csv = csv_writer(rejected_file)
        rejected_csv.writerow([*reader.header, "error"])
        try:
            for chunk in _chunks(reader, records):
                plans = chunk_plan(reader, chunk, seen_keys=seen, owners=owners)
                for plan in plans:
                    outcome.add(plan)
                    if plan.action == REJECT:
                        rejected_csv.writerow([*plan.row.cells, _error_text(plan)])
                outcome.aborted = write and outcome.rejected > 0 and not job.skip_invalid
                if write and not outcome.aborted:
                    writes = [plan for plan in plans if plan.action in (CREATE, UPDATE)]
                    if writes:
                        _write_chunk(writes, reader)
                        outcome.wrote = True
                outcome.rows_done += len(chunk)
                if time.monotonic() - published >= PROGRESS_EVERY_SECONDS:
                    _progress(job, outcome.rows_done, in_transaction=write)
                    published = time.monotonic()
        except csv.Error as exc:
            raise ImportFileError(
                f"The file is not a readable CSV after record {outcome.rows_done + 1}: {exc}."
            ) from None
        outcome.rows_done = job.rows_total
        if outcome.rejected:
            rejected_file.seek(0)
            job.rejected_file.save(f"rejected-{job.pk}.csv", File(rejected_file), save=False)
            outcome.rejected_file = job.rejected_file.name
    return outcome


def _accounts_upsert(fields: list[str], rows: list[dict[str, Any]]) -> dict[str, int]:
    """``INSERT … SELECT … ON CONFLICT (external_id) DO UPDATE`` of rows that all carry
    ``fields`` (checked values), the rows of a batch sent as ONE JSON parameter
    (``Dialect.json_rows_select``): no model instance and no placeholder per value, which
    made ``bulk_create`` the slowest part of an import. A new account gets what a model
    instance would hold for the other columns; an existing one keeps them, only
    ``fields`` and ``updated_at`` are set. Returns the rows' ids by external_id (RETURNING:
    no second query to find them)."""
    meta = Account._meta
    now = timezone.now()
    fixed = {"created_at": now, "updated_at": now}
    # A column left out is NULL: what a nullable field without a default holds.
    fixed.update(
        (f.attname, f.get_default())
        for f in meta.concrete_fields
        if not f.primary_key
        and f.attname not in {*fields, *fixed}
        and not (f.null and f.get_default() is None)
    )
    by_name = {f.attname: f for f in meta.concrete_fields}
    columns = [*fields, *fixed]
    quote = connection.ops.quote_name
    updates = [name for name in fields if name != KEY_TARGET] + ["updated_at"]
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(map(quote, columns))}) "
        + dialect().json_rows_select(
            [(name, by_name[name].db_type(connection)) for name in columns]
        )
        + f" ON CONFLICT ({quote(KEY_TARGET)}) DO UPDATE SET "
        + ", ".join(f"{quote(name)} = EXCLUDED.{quote(name)}" for name in updates)
        + f" RETURNING {quote(KEY_TARGET)}, {quote('id')}"
    )
    constant = {name: _stored(by_name[name], value) for name, value in fixed.items()}
    fields_of = [(name, by_name[name]) for name in fields]
    ids: dict[str, int] = {}
    with connection.cursor() as cursor:
        for start in range(0, len(rows), UPSERT_BATCH_SIZE):
            batch = [
                {**{name: _stored(model_field, row[name]) for name, model_field in fields_of},
                 **constant}
                for row in rows[start : start + UPSERT_BATCH_SIZE]
            ]  # fmt: skip
            cursor.execute(sql, [json.dumps(batch, default=str)])
            ids.update(cursor.fetchall())
    return ids


# Values a JSON row carries as they are: the column stores them unchanged.
_PLAIN_TYPES = (str, int, bool)


def _stored(model_field: Any, value: Any) -> Any:
    """A value as the column stores it (dates, datetimes, decimals as their text)."""
    if value is None or type(value) in _PLAIN_TYPES or isinstance(model_field, JSONField):
        return value
    return model_field.get_db_prep_save(value, connection)


def _owners_assign(owner_ids: dict[int, int | None], *, existing: list[int]) -> None:
    """Close the current owner assignment of each account of ``existing`` (the accounts of
    ``owner_ids`` that were there before the import: a new one has none) and open one for
    each new owner (``owner_ids``: account id -> new owner id, None for no owner): two
    set-based statements, the ids and rows each bound as one parameter."""
    now = timezone.now()
    if existing:
        rows_sql, rows_params = dialect().id_rows(sorted(existing))
        CSMAssignment.objects.filter(
            account_id__in=RawSQL(rows_sql, rows_params),  # noqa: S611 (bound values)
            role=AssignmentRole.OWNER,
            ended_at__isnull=True,
        ).update(ended_at=now)
    started_at = CSMAssignment._meta.get_field("started_at").get_db_prep_save(now, connection)
    rows = [
        {"account_id": account_id, "user_id": user_id,
         "role": AssignmentRole.OWNER.value, "started_at": started_at}
        for account_id, user_id in owner_ids.items()
        if user_id is not None
    ]  # fmt: skip
    if not rows:
        return
    meta = CSMAssignment._meta
    columns = [(name, meta.get_field(name).db_type(connection)) for name in rows[0]]
    quote = connection.ops.quote_name
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(name) for name, _ in columns)}) "
        + dialect().json_rows_select(columns)
    )
    with connection.cursor() as cursor:
        for start in range(0, len(rows), UPSERT_BATCH_SIZE):
            cursor.execute(sql, [json.dumps(rows[start : start + UPSERT_BATCH_SIZE], default=str)])


def _write_chunk(plans: list[PlannedRow], reader: ProfileReader) -> None:
    """Write one chunk's checked records: accounts upserted set-based (the fields the
    profile maps, plus the owner), owner assignments, contracts."""
    reader.picklists.add_new_values()
    groups: dict[frozenset[str], list[dict[str, Any]]] = defaultdict(list)
    for plan in plans:
        if plan.account_changed or plan.owner_changed:
            row = dict(plan.account_row)
            if plan.owner_changed:
                row["owner_id"] = plan.owner_id
            groups[frozenset(row)].append(row)
    ids: dict[str, int] = {}
    for fields, rows in groups.items():
        ids.update(_accounts_upsert(sorted(fields), rows))
    owner_plans = [plan for plan in plans if plan.owner_changed]
    if owner_plans:
        _owners_assign(
            {ids[plan.row.key]: plan.owner_id for plan in owner_plans},
            existing=[ids[plan.row.key] for plan in owner_plans if plan.action == UPDATE],
        )
    accounts_mark_changed(account_ids=ids.values())
    contract_rows = [plan.contract_row for plan in plans if plan.contract_row]
    if contract_rows:
        result = contracts_bulk_upsert(rows=contract_rows, atomic=True)
        if result.errors:
            error = result.errors[0]
            raise _WriteAborted(f"A contract of {error.external_id!r} was refused: {error.errors}.")
