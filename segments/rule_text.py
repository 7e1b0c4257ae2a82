"""Readable renderings of rules for people: ``arr ≥ 100000 AND plan in [pro, enterprise]``,
and a clause-level diff between two versions. Display only: rules are validated and
compiled by ``segments.rules``."""

from dataclasses import dataclass
from typing import Any

OPERATOR_TEXT = {
    "eq": "=",
    "ne": "≠",
    "gt": ">",
    "gte": "≥",
    "lt": "<",
    "lte": "≤",
    "in": "in",
    "not_in": "not in",
    "contains": "contains",
    "starts_with": "starts with",
    "between": "between",
    "before": "before",
    "after": "after",
    "on_or_before": "on or before",
    "on_or_after": "on or after",
    "within_next_days": "within the next",
    "within_last_days": "within the last",
    "more_than_days_ago": "more than",
    "more_than_days_ahead": "more than",
    "is_null": "is empty",
    "is_not_null": "is set",
}


def _value_text(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_value_text(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return str(value)


def leaf_text(node: dict) -> str:
    """One clause: ``arr ≥ 100000``, ``renewal_date within the next 90 days``."""
    name, op, value = node.get("field"), node.get("op"), node.get("value")
    text = OPERATOR_TEXT.get(op, str(op))
    if op in ("is_null", "is_not_null"):
        return f"{name} {text}"
    if op == "between" and isinstance(value, list) and len(value) == 2:
        return f"{name} between {_value_text(value[0])} and {_value_text(value[1])}"
    if op in ("within_next_days", "within_last_days"):
        return f"{name} {text} {_value_text(value)} days"
    if op == "more_than_days_ago":
        return f"{name} more than {_value_text(value)} days ago"
    if op == "more_than_days_ahead":
        return f"{name} more than {_value_text(value)} days ahead"
    return f"{name} {text} {_value_text(value)}"


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
