"""The step planner: what one playbook step would do for one account, decided in one place
for both the execution of a run (``execution``) and the dry run (``dry_run``).

Planning renders the step's templates, picks the task assignee or the pool user, and
decides whether the step would run, be skipped or fail; it writes nothing. Execution then
performs a plan that says "run" (creates the task, sends the mail, ...); the dry run lists
the plans. So a dry run shows exactly what execution would do, given the same database.
"""

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from functools import cached_property
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Sum

from customers.models import Account

from .. import steps
from ..models import PlaybookStep, PlaybookStepRun, StepKind, StepOutcome

User = get_user_model()

# Errors a step's planning or execution may raise that make the step fail (recorded as its
# outcome) rather than the run crash.
STEP_ERRORS = (ValidationError, PermissionDenied, KeyError, OSError)

RUN, SKIP, FAIL = "run", "skip", "fail"


@dataclass
class StepPlan:
    """What a step would do for an account.

    ``would``: run, skip or fail; ``note``: why, or to whom a task goes. ``satisfied``: a
    skip because the step's goal already holds (execution records it as ok). The other
    fields are what the step's kind needs, rendered."""

    kind: str
    would: str = RUN
    note: str = ""
    satisfied: bool = False
    title: str = ""
    description: str = ""
    due_date: date | None = None
    assignee: Any = None  # create_task: the task's assignee; assign_csm: the picked user
    subject: str = ""
    body: str = ""
    recipients: list[str] = field(default_factory=list)
    stage: str = ""
    current_stage: str | None = None
    url: str = ""
    strategy: str = ""

    def preview(self) -> dict[str, Any]:
        """The fields the dry run shows for this kind of step."""
        if self.kind == StepKind.CREATE_TASK:
            shown = {
                "title": self.title,
                "description": self.description,
                "due_date": self.due_date.isoformat() if self.due_date else None,
                "assignee": self.assignee.username if self.assignee else None,
            }
        elif self.kind == StepKind.SEND_EMAIL:
            shown = {"subject": self.subject, "to": self.recipients}
        elif self.kind == StepKind.SET_LIFECYCLE_STAGE:
            shown = {"stage": self.stage, "current": self.current_stage}
        elif self.kind == StepKind.WEBHOOK:
            shown = {"url": self.url}
        elif self.kind == StepKind.ASSIGN_CSM and self.would == RUN:
            shown = {"assignee": self.assignee.username, "strategy": self.strategy}
        else:
            shown = {}
        return {"would": self.would, **shown, **({"note": self.note} if self.note else {})}


FALLBACK_NOTE = "the account has no owner: assigned to the playbook's fallback assignee"


def assignee_for(config: dict, account: Account, fallback: Any = None) -> tuple[Any, str]:
    """The user a create_task step assigns its task to, and a note saying so. A task for
    the owner of an account without one goes to the playbook's ``fallback`` assignee (an
    active user), if it has one, and the note says so."""
    wanted = config.get("assignee", "owner")
    if wanted == "owner":
        if account.owner is None:
            if fallback is not None and fallback.is_active:
                return fallback, f"{FALLBACK_NOTE} {fallback.username}"
            return None, "the account has no owner: the task is unassigned"
        return account.owner, f"assigned to the owner {account.owner.username}"
    user = User.objects.filter(username=wanted, is_active=True).first()
    if user is None:
        return None, f"no active user {wanted!r}: the task is unassigned"
    return user, f"assigned to {user.username}"


class AssignmentPool:
    """The active users of an assign_csm step's pool and the strategy's pick among them.

    Round robin counts the step's successful assignments so far; the other strategies
    look at the users' current books (accounts, ARR). Each pick is counted in memory, so
    picks for several accounts spread as the real assignments would. Execution builds one
    per step run, after locking the step (concurrent runs then see each other's
    assignments); the dry run builds one per step for all the accounts it lists. The
    users and books are read on first use."""

    def __init__(self, step: PlaybookStep) -> None:
        self.step = step
        self.strategy = step.config.get("strategy")
        self._picked = 0

    @cached_property
    def users(self) -> list[Any]:
        pool = self.step.config.get("pool", [])
        users = {u.username: u for u in User.objects.filter(username__in=pool, is_active=True)}
        return [users[name] for name in pool if name in users]

    @cached_property
    def _assigned_before(self) -> int:
        return PlaybookStepRun.objects.filter(
            step=self.step, outcome=StepOutcome.OK, detail__startswith="assigned"
        ).count()

    @cached_property
    def _books(self) -> dict[int, list]:
        """[accounts, ARR] per pool user."""
        books = (
            Account.objects.filter(owner__in=self.users)
            .values("owner_id")
            .annotate(accounts=Count("id"), arr=Sum("arr"))
        )
        load = {row["owner_id"]: [row["accounts"], row["arr"] or Decimal("0")] for row in books}
        return {u.pk: load.get(u.pk, [0, Decimal("0")]) for u in self.users}

    def pick(self, account: Account) -> Any:
        """The user the strategy gives ``account`` (the pool must not be empty)."""
        users = self.users
        if self.strategy == "round_robin":
            user = users[(self._assigned_before + self._picked) % len(users)]
        else:
            column = 0 if self.strategy == "fewest_accounts" else 1
            user = min(users, key=lambda u: self._books[u.pk][column])
            self._books[user.pk][0] += 1
            self._books[user.pk][1] += account.arr
        self._picked += 1
        return user


def plan_step(
    step: PlaybookStep,
    *,
    account: Account,
    context: dict[str, Any],
    today: date,
    pool: AssignmentPool | None = None,
) -> StepPlan:
    """What ``step`` would do for ``account`` (``select_related("owner")``) now;
    ``context`` is ``steps.template_context`` of the account; ``pool`` is required for an
    assign_csm step. Raises one of STEP_ERRORS on a config the step cannot use."""
    config = step.config
    plan = StepPlan(kind=step.kind)
    if step.kind == StepKind.CREATE_TASK:
        plan.assignee, plan.note = assignee_for(config, account, step.playbook.fallback_assignee)
        plan.title = steps.render(config["title"], context)[:300]
        plan.description = steps.render(config.get("description", ""), context)
        plan.due_date = today + timedelta(days=config.get("due_in_days", 7))
    elif step.kind == StepKind.SEND_EMAIL:
        plan.recipients = list(config.get("to", []))
        if config.get("to_owner", True) and account.owner is not None and account.owner.email:
            plan.recipients.insert(0, account.owner.email)
        plan.subject = steps.render(config["subject"], context).replace("\n", " ")[:200]
        if not plan.recipients:
            plan.would, plan.note = SKIP, "no recipient (the account has no owner email)"
        else:
            plan.body = steps.render(config["body"], context)
    elif step.kind == StepKind.SET_LIFECYCLE_STAGE:
        plan.stage, plan.current_stage = config["stage"], account.lifecycle_stage
        if account.lifecycle_stage == plan.stage:
            plan.would, plan.note, plan.satisfied = SKIP, f"already {plan.stage}", True
    elif step.kind == StepKind.WEBHOOK:
        plan.url = config["url"]
    elif step.kind == StepKind.ASSIGN_CSM:
        if account.owner_id is not None:
            plan.would, plan.note = SKIP, f"already owned by {account.owner.username}"
        elif not pool.users:
            plan.would, plan.note = FAIL, "no active user left in the pool"
        else:
            plan.assignee, plan.strategy = pool.pick(account), pool.strategy
    else:
        plan.would, plan.note = FAIL, f"unknown step kind {step.kind!r}"
    return plan
