"""The dry run of a playbook: the step planner's plans for the segment's current members,
listed, with nothing performed."""

from datetime import date
from typing import Any

from cs_platform import clock
from customers.models import Account
from segments.models import Membership

from .. import steps
from ..models import Playbook, PlaybookStep, StepKind
from .step_planner import FAIL, STEP_ERRORS, AssignmentPool, plan_step

DRY_RUN_MAX_ACCOUNTS = 100


def _planned(
    step: PlaybookStep, account: Account, context: dict, today: date, pool: AssignmentPool | None
) -> dict[str, Any]:
    """One step's row: its plan, or the error that would make it fail (as execution
    records it)."""
    try:
        shown = plan_step(step, account=account, context=context, today=today, pool=pool).preview()
    except STEP_ERRORS as exc:
        shown = {"would": FAIL, "note": f"{type(exc).__name__}: {exc}"}
    return {"order": step.order, "kind": step.kind, **shown}


def playbook_dry_run(*, playbook: Playbook, limit: int = DRY_RUN_MAX_ACCOUNTS) -> dict[str, Any]:
    """What the playbook would do now to the segment's current members (at most ``limit``
    accounts, in name order), changing nothing: per account, each step with its rendered
    title / subject / recipients / assignee / stage / URL, and whether it would be skipped.
    Round robin and load-based assignment are simulated across the listed accounts (one
    assignment pool per step, as if the runs executed in this order)."""
    today = clock.today()
    members = Membership.objects.filter(segment_id=playbook.segment_id)
    total = members.count()
    accounts = list(
        Account.objects.filter(id__in=members.values("account_id"))
        .select_related("owner")
        .order_by("name", "id")[:limit]
    )
    step_list = list(playbook.steps.order_by("order").select_related("playbook__fallback_assignee"))
    pools = {
        step.pk: AssignmentPool(step) for step in step_list if step.kind == StepKind.ASSIGN_CSM
    }
    rows = []
    for account in accounts:
        context = steps.template_context(account=account, playbook=playbook, today=today)
        planned = [
            _planned(step, account, context, today, pools.get(step.pk)) for step in step_list
        ]
        rows.append({"account": {"id": account.id, "name": account.name}, "steps": planned})
    return {
        "playbook": {"id": playbook.id, "name": playbook.name},
        "segment": {"id": playbook.segment_id, "name": playbook.segment.name},
        "members": total,
        "shown": len(rows),
        "accounts": rows,
    }
