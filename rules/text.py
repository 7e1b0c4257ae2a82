"""Readable renderings of rules for people: ``arr ≥ 100000 AND plan in [pro, enterprise]``,
and the one diff between two versions (clause by clause). Display only: rules are
validated and compiled by ``rules``; operator labels come from its vocabulary
(``OPERATORS``), the same table the admin's editor receives."""

from dataclasses import dataclass
from typing import Any

from . import OPERATORS
from .vocabulary import TAKES_DAYS, TAKES_NOTHING, TAKES_RANGE


def value_text(value: Any) -> str:
    """A rule value as written in a clause: lists in brackets, booleans as JSON."""
    if isinstance(value, list):
        return "[" + ", ".join(value_text(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return str(value)


def operator_text(op: Any, value: Any) -> tuple[str, str]:
    """``(operator label, value text)`` of one clause: ``("≥", "100000")``,
    ``("within the next", "90 days")``, ``("between", "1 and 2")``, ``("is empty", "")``."""
    operator = OPERATORS.get(op) if isinstance(op, str) else None
    if operator is None:
        return str(op), value_text(value)
    if operator.takes == TAKES_NOTHING:
        return operator.label, ""
    if operator.takes == TAKES_RANGE and isinstance(value, list) and len(value) == 2:
        return operator.label, f"{value_text(value[0])} and {value_text(value[1])}"
    if operator.takes == TAKES_DAYS:
        return operator.label, f"{value_text(value)} {operator.suffix}"
    return operator.label, value_text(value)


def leaf_text(node: dict) -> str:
    """One clause: ``arr ≥ 100000``, ``renewal_date within the next 90 days``."""
    label, value = operator_text(node.get("op"), node.get("value"))
    return " ".join(part for part in (str(node.get("field")), label, value) if part)


def rule_text(rule: Any, *, top: bool = True) -> str:
    """The whole rule on one line; nested groups in parentheses."""
    if not isinstance(rule, dict):
        return str(rule)
    if "all" in rule or "any" in rule:
        key = "all" if "all" in rule else "any"
        children = rule[key] if isinstance(rule[key], list) else []
        if not children:
            return "every account" if key == "all" else "no account"
        joiner = " AND " if key == "all" else " OR "
        text = joiner.join(rule_text(child, top=False) for child in children)
        return text if top or len(children) == 1 else f"({text})"
    if "not" in rule:
        return f"NOT {rule_text(rule['not'], top=False)}"
    if "field" in rule:
        return leaf_text(rule)
    return str(rule)


def ranking_text(rank_by: str, rank_limit: int | None) -> str:
    return f"top {rank_limit} by {rank_by}" if rank_by and rank_limit else ""


def _clauses(rule: Any, prefix: str = "") -> list[str]:
    """Every leaf as text, prefixed by the combinators above it (``any › NOT › x = 1``)."""
    if not isinstance(rule, dict):
        return []
    for key in ("all", "any"):
        if key in rule and isinstance(rule[key], list):
            inner = prefix if key == "all" and not prefix else f"{prefix}{key} › "
            return [clause for child in rule[key] for clause in _clauses(child, inner)]
    if "not" in rule:
        return _clauses(rule["not"], f"{prefix}NOT › ")
    if "field" in rule:
        return [prefix + leaf_text(rule)]
    return []


@dataclass(frozen=True)
class RuleDiff:
    removed: list[str]
    added: list[str]
    kept: list[str]
    ranking_before: str
    ranking_after: str

    @property
    def changed(self) -> bool:
        return bool(self.removed or self.added or self.ranking_before != self.ranking_after)

    @property
    def lines(self) -> list[tuple[str, str]]:
        """The diff as ``(tone, line)`` pairs for a diff view, tone ``del``, ``add`` or
        ``ctx``: removed clauses, added clauses, the ranking change, then kept clauses."""
        lines = [("del", f"− {clause}") for clause in self.removed]
        lines += [("add", f"+ {clause}") for clause in self.added]
        if self.ranking_before != self.ranking_after:
            before = self.ranking_before or "no ranking"
            after = self.ranking_after or "no ranking"
            lines.append(("ctx", f"ranking: {before} → {after}"))
        lines += [("ctx", f"  {clause}") for clause in self.kept]
        return lines


def rule_diff(
    before: Any,
    after: Any,
    *,
    ranking_before: str = "",
    ranking_after: str = "",
) -> RuleDiff:
    """Clauses only in ``before`` (removed), only in ``after`` (added), and in both."""
    old, new = _clauses(before), _clauses(after)
    return RuleDiff(
        removed=[c for c in old if c not in new],
        added=[c for c in new if c not in old],
        kept=[c for c in new if c in old],
        ranking_before=ranking_before,
        ranking_after=ranking_after,
    )


def version_diff(old: Any, new: Any) -> RuleDiff:
    """The diff of two segment versions (objects with ``rule``, ``rank_by``,
    ``rank_limit``): the one version diff of the admin and the segment pages."""
    return rule_diff(
        old.rule,
        new.rule,
        ranking_before=ranking_text(old.rank_by, old.rank_limit),
        ranking_after=ranking_text(new.rank_by, new.rank_limit),
    )
