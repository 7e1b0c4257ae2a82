"""The target set of a segment version: the accounts its rule matches, minus what the
higher-precedence segments of its exclusive group claim, then its ranking's top N."""

from datetime import date
from typing import Any

from django.db.models import OrderBy, Q, QuerySet, Window
from django.db.models.functions import RowNumber

from customers.models import Account, AttributeDefinition
from rules import AttributeSpec, attribute_specs_from_definitions, compile_node, parse_rule
from rules import rank_order_by as rules_rank_order_by

from ..models import Segment, SegmentKind, SegmentVersion


def attribute_specs() -> dict[str, AttributeSpec]:
    """The declared custom attributes, as the rule engine sees them (one query)."""
    return attribute_specs_from_definitions(AttributeDefinition.objects.all())


class VersionRules:
    """The compiled rules of the versions one run (a recompute, a sweep batch, a preview)
    meets, against one "today" and the custom attributes as declared now.

    A rule was validated when its version was saved; here it is parsed once more per run,
    because a custom attribute it uses may have been deleted or retyped since (the run
    then raises RuleValidationError and the caller keeps the membership as it is). Each
    version is parsed once per run however often it is met (its own segment, and a
    higher-precedence one of every other segment of its group), and compiled from the
    parsed tree."""

    def __init__(self, *, today: date, attributes: dict[str, AttributeSpec]) -> None:
        self.today = today
        self.attributes = attributes
        self._compiled: dict[int, tuple[dict[str, Any], Q]] = {}

    def compiled(self, version: SegmentVersion) -> tuple[dict[str, Any], Q]:
        """The expressions to ``.alias()`` on an Account queryset and the ``Q`` of the
        version's rule. Raises RuleValidationError."""
        # An unsaved version (no pk yet) is its own entry.
        key = version.pk if version.pk is not None else id(version)
        if key not in self._compiled:
            node = parse_rule(version.rule, attributes=self.attributes)
            self._compiled[key] = compile_node(node, today=self.today)
        return self._compiled[key]

    def rank_order_by(self, version: SegmentVersion) -> list[OrderBy]:
        """The version's ranking order ("top N by rank_by")."""
        return rules_rank_order_by(version.rank_by, attributes=self.attributes, today=self.today)

    def matching(self, version: SegmentVersion, base: QuerySet | None = None) -> QuerySet:
        """The accounts of ``base`` (default: all) the version's rule matches."""
        aliases, condition = self.compiled(version)
        accounts = Account.objects.all() if base is None else base
        return (accounts.alias(**aliases) if aliases else accounts).filter(condition)


def is_ranked(version: SegmentVersion) -> bool:
    return bool(version.rank_by and version.rank_limit)


def segment_higher_precedence(segment: Segment) -> list[Segment]:
    """Active dynamic published segments of ``segment``'s exclusive group that win over it
    (a lower priority number)."""
    if not segment.exclusive_group_id:
        return []
    return list(
        Segment.objects.filter(
            exclusive_group_id=segment.exclusive_group_id,
            priority__lt=segment.priority,
            is_active=True,
            kind=SegmentKind.DYNAMIC,
            current_version__isnull=False,
        )
        .exclude(pk=segment.pk)
        .select_related("current_version")
        .order_by("priority", "id")
    )


def higher_precedence_claims(
    segment: Segment, rules: VersionRules
) -> tuple[dict[str, Any], list[Q]]:
    """What the higher-precedence segments of ``segment``'s exclusive group claim: the
    expressions to alias and one condition per higher segment (none: nothing claimed).

    An unranked higher segment claims every account its rule matches (its condition,
    inline: no nesting); a ranked one claims its own target set, top N included (a
    subquery; recursively, so only ranked segments nest). Claims read the other segments'
    current rules, never their stored membership, so the result does not depend on the
    order in which a group's segments recompute. The compiled rules are null-safe (never
    NULL), so "not claimed" is exactly the negation of each condition."""
    aliases: dict[str, Any] = {}
    claims: list[Q] = []
    for higher in segment_higher_precedence(segment):
        version = higher.current_version
        if version.rank_by:
            claims.append(
                Q(id__in=segment_target_ids(segment=higher, version=version, rules=rules))
            )
        else:
            higher_aliases, claim = rules.compiled(version)
            aliases.update(higher_aliases)
            claims.append(claim)
    return aliases, claims


def segment_admitted_condition(
    segment: Segment, version: SegmentVersion, rules: VersionRules
) -> tuple[dict[str, Any], Q]:
    """The expressions to alias and the condition an account meets when ``version``'s
    rule matches it and no higher-precedence segment of the group claims it (ranking
    aside). Each claim is negated on its own (``AND NOT a AND NOT b``, not
    ``AND NOT (a OR b)``): the form the planner and the benchmarks were tuned on."""
    compiled_aliases, condition = rules.compiled(version)
    aliases = dict(compiled_aliases)
    claim_aliases, claims = higher_precedence_claims(segment, rules)
    aliases.update(claim_aliases)
    for claim in claims:
        condition &= ~claim
    return aliases, condition


def segment_target_ids(
    *,
    segment: Segment,
    version: SegmentVersion,
    rules: VersionRules,
    base: QuerySet | None = None,
) -> QuerySet:
    """The ids of the accounts ``version`` admits, as one (unevaluated) query:

    1. the accounts matching the rule;
    2. minus the accounts claimed by a segment of the same exclusive group with a lower
       priority number (``higher_precedence_claims``);
    3. then, when ranked, the top ``rank_limit`` by ``rank_by`` (descending, nulls last,
       ties by account id ascending).

    ``base`` limits the result to some accounts (a partial recompute); it also limits
    unranked exclusions (an account's claim depends only on that account) but not the
    target set of a ranked segment (its top N depends on every account).
    """
    aliases, condition = segment_admitted_condition(segment, version, rules)
    accounts = Account.objects.all() if base is None else base
    targets = (accounts.alias(**aliases) if aliases else accounts).filter(condition)
    if is_ranked(version):
        if base is not None:
            raise ValueError("a ranked segment's target set cannot be limited to some accounts")
        return targets.order_by(*rules.rank_order_by(version)).values("id")[: version.rank_limit]
    return targets.order_by().values("id")


def segment_ranked_top_among(
    *, version: SegmentVersion, rules: VersionRules, candidates: QuerySet
) -> tuple[QuerySet, QuerySet]:
    """For a ranked ``version``: its top ``rank_limit`` among ``candidates`` only (a
    values("id") query), and every matching candidate with its 1-based position in rank
    order (a values("id", "position") query)."""
    ordering = rules.rank_order_by(version)
    matching = rules.matching(version, base=candidates)
    top = matching.order_by(*ordering).values("id")[: version.rank_limit]
    positions = (
        matching.annotate(position=Window(RowNumber(), order_by=ordering))
        .order_by()
        .values("id", "position")
    )
    return top, positions
