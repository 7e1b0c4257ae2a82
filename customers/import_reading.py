"""Reading a CRM export for an import job: the text encoding (UTF-8 with or without BOM,
else Windows-1252 / Latin-1, else refused), the header against the profile, and one CSV
record turned into an account row through the profile's mappings. Streams: nothing here
holds more than one block of the file or one record."""

import codecs
import csv
import datetime as dt
import functools
import io
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from typing import IO, Any

from django.db import models

from .field_values import PicklistValues
from .import_models import ImportProfile
from .import_profiles import CONTRACT_PREFIX, KEY_TARGET, TRAIT_PREFIX, target_kind
from .models import Account, AttributeDefinition, Contract

READ_BLOCK_BYTES = 1 << 20

_BOOLEAN_TEXT = {
    "true": True, "yes": True, "y": True, "1": True, "t": True,
    "false": False, "no": False, "n": False, "0": False, "f": False,
}  # fmt: skip


class ImportFileError(Exception):
    """The file as a whole cannot be imported (nothing is written); ``column`` names the
    column when the problem is one (a missing key column)."""

    def __init__(self, message: str, *, column: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.column = column


def encoding_detect(binary: IO[bytes]) -> str:
    """``utf-8-sig`` (UTF-8, BOM or not) or ``cp1252`` (Windows-1252, which reads Latin-1
    text the same for every printable character); anything else is refused. The whole
    file is checked, a block at a time, and ``binary`` is rewound."""
    binary.seek(0)
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    try:
        while block := binary.read(READ_BLOCK_BYTES):
            decoder.decode(block)
            offset += len(block)
        decoder.decode(b"", final=True)
        return "utf-8-sig"
    except UnicodeDecodeError as exc:
        bad_offset = offset + exc.start
    if _has_utf8_sequence(binary, bad_offset):
        raise ImportFileError(
            f"The file mixes UTF-8 with another encoding (byte {bad_offset + 1} is not "
            "UTF-8). Save it again as 'CSV UTF-8' and upload that file."
        )
    binary.seek(0)
    decoder = codecs.getincrementaldecoder("cp1252")()
    offset = 0
    try:
        while block := binary.read(READ_BLOCK_BYTES):
            decoder.decode(block)
            offset += len(block)
    except UnicodeDecodeError as exc:
        raise ImportFileError(
            f"The file is neither UTF-8 nor Windows-1252/Latin-1 text (byte {offset + exc.start + 1}"
            " cannot be read). Save it as 'CSV UTF-8' and upload that file."
        ) from None
    binary.seek(0)
    return "cp1252"


def _has_utf8_sequence(binary: IO[bytes], end: int) -> bool:
    """Whether the bytes before ``end`` (which decoded as UTF-8) hold a multi-byte
    character: then the file is UTF-8 with a stray foreign byte, not Latin-1."""
    binary.seek(0)
    remaining = end
    while remaining > 0:
        block = binary.read(min(READ_BLOCK_BYTES, remaining))
        if not block:
            break
        if not block.isascii():
            return True
        remaining -= len(block)
    return False


def text_open(binary: IO[bytes], encoding: str) -> io.TextIOWrapper:
    binary.seek(0)
    return io.TextIOWrapper(binary, encoding=encoding, newline="")  # type: ignore[arg-type]


def records_count(binary: IO[bytes], encoding: str) -> int:
    """Data records in the file (the header excluded), read as the import will."""
    text = text_open(binary, encoding)
    try:
        count = sum(1 for _ in csv.reader(text)) - 1
    except csv.Error as exc:
        raise ImportFileError(f"The file is not a readable CSV: {exc}.") from None
    finally:
        text.detach()
    return max(count, 0)


@dataclass(frozen=True)
class ColumnMapping:
    column: str
    target: str
    kind: str
    values: dict[str, str]
    values_folded: dict[str, str]
    keep_if_blank: bool
    value_kind: str = "text"


@dataclass
class MappedRow:
    """One record mapped: account fields (``traits`` apart), the owner's text, contract
    fields, and cell problems by source column."""

    line: int
    cells: list[str]
    account: dict[str, Any] = field(default_factory=dict)
    traits: dict[str, Any] = field(default_factory=dict)
    owner: str | None = None
    owner_given: bool = False
    contract: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)

    @functools.cached_property
    def key(self) -> str:
        # Read several times per record; the record is not changed once mapped.
        return str(self.account.get(KEY_TARGET) or "").strip()


class ProfileReader:
    """Maps the records of one file through one profile."""

    def __init__(self, profile: ImportProfile, header: list[str]) -> None:
        self.profile = profile
        self.header = header
        positions = {name.strip().lower(): i for i, name in enumerate(header)}
        self.mappings: list[tuple[int, ColumnMapping]] = []
        for spec in profile.columns:
            position = positions.get(spec["column"].strip().lower())
            if position is None:
                if spec["target"] == KEY_TARGET:
                    raise ImportFileError(
                        f"The key column {spec['column']!r} (the upsert key, external_id) is "
                        f"missing from the file's header; profile {profile.name!r} needs it.",
                        column=spec["column"],
                    )
                continue  # exports leave out columns nobody filled in
            values = spec.get("values") or {}
            self.mappings.append(
                (
                    position,
                    ColumnMapping(
                        column=header[position],
                        target=spec["target"],
                        kind=target_kind(spec["target"]) or "",
                        values=values,
                        values_folded={k.strip().lower(): v for k, v in values.items()},
                        keep_if_blank=spec.get("keep_if_blank", True),
                    ),
                )
            )
        self.column_of_target = {m.target: m.column for _, m in self.mappings}
        self.definitions = {d.key: d for d in AttributeDefinition.objects.all()}
        self.mappings = [
            (position, replace(mapping, value_kind=self._value_kind(mapping)))
            for position, mapping in self.mappings
        ]
        # Read once per pass: a picklist's unknown values are only remembered here (the
        # bulk upsert adds them when it writes), so a check adds nothing.
        self.picklists = PicklistValues()

    @property
    def account_fields(self) -> list[str]:
        return [m.target for _, m in self.mappings if m.kind == "account"]

    @property
    def has_traits(self) -> bool:
        return any(m.kind == "trait" for _, m in self.mappings)

    @property
    def has_owner(self) -> bool:
        return any(m.kind == "owner" for _, m in self.mappings)

    @property
    def has_contract(self) -> bool:
        return any(m.kind == "contract" for _, m in self.mappings)

    def column_for(self, name: str) -> str:
        """The source column of an account field (what an error names)."""
        if name == "traits":
            return next((m.column for _, m in self.mappings if m.kind == "trait"), name)
        return self.column_of_target.get(name, name)

    def map(self, line: int, cells: list[str]) -> MappedRow:
        row = MappedRow(line=line, cells=cells)
        if len(cells) > len(self.header):
            row.errors["(row)"] = ["The row has more cells than the header has columns."]
        width = len(cells)
        for position, mapping in self.mappings:
            text = cells[position].strip() if position < width else ""
            if text and mapping.values:
                text = mapping.values.get(text) or mapping.values_folded.get(text.lower(), text)
            if not text:
                if mapping.keep_if_blank or mapping.target == KEY_TARGET:
                    continue
                value: Any = None
            elif mapping.value_kind == "text":
                value = text
            else:
                try:
                    value = self._typed(mapping.value_kind, text)
                except ValueError as exc:
                    row.errors.setdefault(mapping.column, []).append(str(exc))
                    continue
            if mapping.kind == "account":
                row.account[mapping.target] = value
            elif mapping.kind == "trait":
                row.traits[mapping.target.removeprefix(TRAIT_PREFIX)] = value
            elif mapping.kind == "owner":
                row.owner, row.owner_given = value, True
            else:
                row.contract[mapping.target.removeprefix(CONTRACT_PREFIX)] = value
        return row

    def _value_kind(self, mapping: ColumnMapping) -> str:
        """How a cell of this column is read: text, boolean, date, integer or money."""
        if mapping.kind == "owner":
            return "text"
        if mapping.kind == "trait":
            definition = self.definitions.get(mapping.target.removeprefix(TRAIT_PREFIX))
            return definition.type if definition else "text"
        model = Account if mapping.kind == "account" else Contract
        model_field = model._meta.get_field(mapping.target.removeprefix(CONTRACT_PREFIX))
        if isinstance(model_field, models.BooleanField):
            return "boolean"
        if isinstance(model_field, models.DateField):
            return "date"
        if isinstance(model_field, models.IntegerField):
            return "integer"
        if isinstance(model_field, models.DecimalField):
            return "money"
        return "text"

    def _typed(self, kind: str, text: str) -> Any:
        if kind == "boolean":
            if text.lower() not in _BOOLEAN_TEXT:
                raise ValueError(f"Expected true or false, got {text!r}.")
            return _BOOLEAN_TEXT[text.lower()]
        if kind == "date":
            return self._date(text).isoformat()
        if kind == "integer":
            number = _number(text)
            if number is None or number != number.to_integral_value():
                raise ValueError(f"Expected a whole number, got {text!r}.")
            return int(number)
        if kind in ("number", "money"):
            number = _number(text)
            if number is None:
                raise ValueError(f"Expected a number, got {text!r}.")
            return str(number)
        return text

    def _date(self, text: str) -> dt.date:
        return _date_parse(self.profile.date_format, text)


@functools.lru_cache(maxsize=8192)
def _date_parse(date_format: str, text: str) -> dt.date:
    """A date cell (exports repeat the same dates many times; strptime is slow)."""
    try:
        return dt.datetime.strptime(text, date_format).date()
    except ValueError:
        pass
    # The date part of a datetime format (an export's dates without a time), or ISO.
    date_part = date_format.split(" ")[0]
    for candidate in (date_part, "%Y-%m-%d"):
        try:
            return dt.datetime.strptime(text, candidate).date()
        except ValueError:
            continue
    raise ValueError(
        f"Expected a date like {dt.date(2024, 3, 18).strftime(date_part)}, got {text!r}."
    )


def _number(text: str) -> Decimal | None:
    cleaned = text.replace(",", "").replace(" ", "").lstrip("$€£")
    try:
        number = Decimal(cleaned)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None
