"""The execution side of the step engine: a run's steps performed in order, each as the
step planner (``step_planner.plan_step``) decided, exactly once per step."""

import time
from dataclasses import dataclass
from datetime import timedelta

from django.core import mail
from django.db import transaction
from django.utils import timezone

from cs_platform import clock
from customers import services as customer_services
from customers.models import Account

from .. import steps
from ..models import (
    PlaybookRun,
    PlaybookStep,
    PlaybookStepRun,
    RunStatus,
    StepKind,
    StepOutcome,
    TaskSource,
)
from .step_planner import (
    FAIL,
    FALLBACK_NOTE,
    SKIP,
    STEP_ERRORS,
    AssignmentPool,
    StepPlan,
    plan_step,
)
from .tasks import task_create

# How long a run's executor answers for it: renewed at each step, so a worker that dies
# mid-run leaves a run whose lease ends this long after its last step started, and
# ``triggers.playbook_runs_recover`` executes it again.
RUN_LEASE = timedelta(minutes=2)


@dataclass
class StepResult:
    outcome: str
    detail: str = ""
    retry_in: int | None = None  # seconds, for a retrying webhook


def _execute_step(step: PlaybookStep, run: PlaybookRun, step_run: PlaybookStepRun) -> StepResult:
    """Plan one step and perform the plan (inside the caller's transaction, except the
    HTTP call)."""
    account = Account.objects.select_related("owner").get(pk=run.account_id)
    today = clock.today()
    context = steps.template_context(account=account, playbook=run.playbook, today=today)
    pool = None
    if step.kind == StepKind.ASSIGN_CSM:
        # Lock the step: concurrent runs then see each other's assignments.
        step = PlaybookStep.objects.select_for_update().get(pk=step.pk)
        pool = AssignmentPool(step)
    plan = plan_step(step, account=account, context=context, today=today, pool=pool)
    if plan.would == FAIL:
        return StepResult(StepOutcome.FAILED, plan.note)
    if plan.would == SKIP:
        return StepResult(StepOutcome.OK if plan.satisfied else StepOutcome.SKIPPED, plan.note)
    if step.kind == StepKind.CREATE_TASK:
        task = task_create(
            account=account,
            title=plan.title,
            description=plan.description,
            due_date=plan.due_date,
            assignee=plan.assignee,
            source=TaskSource.PLAYBOOK,
            playbook_run=run,
            dedupe_key=f"playbook-run:{run.id}:{step_run.order}",
        )
        who = plan.assignee.get_full_name() or plan.assignee.username if plan.assignee else None
        due = f", due {task.due_date:%-d %b %Y}" if task.due_date else ""
        fallback = f" ({plan.note})" if plan.note.startswith(FALLBACK_NOTE) else ""
        return StepResult(
            StepOutcome.OK,
            f"Created the task “{task.title}” for {who or 'nobody (unassigned)'}{due}{fallback}",
        )
    if step.kind == StepKind.SEND_EMAIL:
        sent = mail.send_mail(
            subject=plan.subject,
            message=plan.body,
            from_email=None,
            recipient_list=plan.recipients,
        )
        return StepResult(StepOutcome.OK, f"sent to {', '.join(plan.recipients)} ({sent})")
    if step.kind == StepKind.SET_LIFECYCLE_STAGE:
        customer_services.account_update(account=account, data={"lifecycle_stage": plan.stage})
        return StepResult(
            StepOutcome.OK, f"lifecycle stage {plan.current_stage or 'unset'} → {plan.stage}"
        )
    if step.kind == StepKind.ASSIGN_CSM:
        customer_services.csm_assign(account=account, user=plan.assignee)
        return StepResult(StepOutcome.OK, f"assigned {plan.assignee.username} ({plan.strategy})")
    return _post_webhook(plan, step, run, step_run, context)


def _post_webhook(
    plan: StepPlan,
    step: PlaybookStep,
    run: PlaybookRun,
    step_run: PlaybookStepRun,
    context: dict,
) -> StepResult:
    """POST the run's payload; a 5xx or timeout asks for a retry with backoff until the
    step's max_attempts."""
    config = step.config
    playbook = run.playbook
    event = run.membership_event
    payload = {
        "delivery": f"{run.id}:{step_run.order}",
        "playbook": {"id": playbook.id, "name": playbook.name, "trigger": playbook.trigger},
        "segment": context["segment"],
        "account": {
            k: context["account"][k]
            for k in ("id", "external_id", "name", "plan", "lifecycle_stage", "arr", "csm")
        },
        "membership_event": (
            {"id": event.id, "kind": event.kind, "at": event.at.isoformat()} if event else None
        ),
        "triggered_at": run.triggered_at.isoformat(),
    }
    attempt = step_run.attempts  # already counted by the caller
    response = steps.webhook_post(
        url=plan.url,
        secret=config["secret"],
        payload=payload,
        delivery=payload["delivery"],
        timeout=config.get("timeout_seconds", steps.WEBHOOK_DEFAULT_TIMEOUT),
    )
    if response.ok:
        return StepResult(StepOutcome.OK, f"{response.detail} (attempt {attempt})")
    max_attempts = config.get("max_attempts", steps.WEBHOOK_DEFAULT_ATTEMPTS)
    if response.retryable and attempt < max_attempts:
        wait = steps.webhook_backoff(attempt)
        return StepResult(
            StepOutcome.RETRYING,
            f"{response.detail} (attempt {attempt} of {max_attempts}; next in {wait} s)",
            retry_in=wait,
        )
    suffix = f" after {attempt} attempts" if response.retryable else " (not retried)"
    return StepResult(StepOutcome.FAILED, response.detail + suffix)


def playbook_run_execute(*, run_id: int) -> int | None:
    """Execute a run's steps in order; idempotent: steps already ok, skipped or failed
    are not repeated, so a retried or duplicated task does only what is left.

    Each step runs in its own transaction holding its step-run row lock, so its database
    effect (task, stage, assignment) and its outcome commit together, exactly once; a
    duplicate delivery waits for the lock and then sees the outcome. A webhook answering
    5xx / timing out returns the seconds to wait before retrying (the Celery task
    retries with that countdown); the run then stays ``running``. A failed step does not
    stop the following ones; the run ends ``failed`` if any step failed, else ``done``.
    Returns None when the run is finished.

    The run's ``lease_until`` is renewed at the start and at each step, moved past the
    retry's time when a webhook asks for one, and cleared when the run ends: a run left
    ``running`` by a dead worker is found by its lapsed lease and executed again.
    """
    with transaction.atomic():
        run = (
            PlaybookRun.objects.select_for_update(of=("self",))
            .select_related("playbook__segment", "membership_event")
            .filter(pk=run_id)
            .first()
        )
        if run is None or run.status in (RunStatus.DONE, RunStatus.FAILED, RunStatus.SKIPPED):
            return None
        run.lease_until = timezone.now() + RUN_LEASE
        if run.status == RunStatus.PENDING:
            run.status = RunStatus.RUNNING
            run.started_at = timezone.now()
        run.save(update_fields=["status", "started_at", "lease_until"])
        step_list = list(
            run.playbook.steps.order_by("order").select_related("playbook__fallback_assignee")
        )
        PlaybookStepRun.objects.bulk_create(
            [PlaybookStepRun(run=run, step=s, order=s.order, kind=s.kind) for s in step_list],
            ignore_conflicts=True,
        )
    step_by_id = {s.pk: s for s in step_list}
    for step_run_id in (
        PlaybookStepRun.objects.filter(run_id=run_id).order_by("order").values_list("id", flat=True)
    ):
        with transaction.atomic():
            step_run = PlaybookStepRun.objects.select_for_update().get(pk=step_run_id)
            if step_run.outcome in (StepOutcome.OK, StepOutcome.SKIPPED, StepOutcome.FAILED):
                continue
            step = step_by_id.get(step_run.step_id)
            now = timezone.now()
            PlaybookRun.objects.filter(pk=run_id).update(lease_until=now + RUN_LEASE)
            step_run.started_at = step_run.started_at or now
            step_run.attempts += 1
            if step is None:
                result = StepResult(StepOutcome.SKIPPED, "the step was removed from the playbook")
            else:
                try:
                    with transaction.atomic():
                        result = _execute_step(step, run, step_run)
                except STEP_ERRORS as exc:
                    result = StepResult(StepOutcome.FAILED, f"{type(exc).__name__}: {exc}")
            step_run.outcome = result.outcome
            step_run.detail = result.detail[:2000]
            if result.outcome != StepOutcome.RETRYING:
                step_run.finished_at = timezone.now()
            step_run.save(
                update_fields=["outcome", "detail", "attempts", "started_at", "finished_at"]
            )
        if result.retry_in is not None:
            PlaybookRun.objects.filter(pk=run_id).update(
                lease_until=timezone.now() + timedelta(seconds=result.retry_in) + RUN_LEASE
            )
            return result.retry_in
    with transaction.atomic():
        failed = PlaybookStepRun.objects.filter(run_id=run_id, outcome=StepOutcome.FAILED).exists()
        fallback = PlaybookStepRun.objects.filter(
            run_id=run_id, outcome=StepOutcome.OK, detail__contains=FALLBACK_NOTE
        ).exists()
        notes = ["a step failed"] if failed else []
        if fallback:
            notes.append("the account had no owner: its task went to the fallback assignee")
        PlaybookRun.objects.filter(pk=run_id, status=RunStatus.RUNNING).update(
            status=RunStatus.FAILED if failed else RunStatus.DONE,
            finished_at=timezone.now(),
            detail="; ".join(notes),
            lease_until=None,
        )
    return None


def playbook_runs_execute(
    *, run_ids: list[int], budget_seconds: float | None = None
) -> tuple[dict[int, int], list[int]]:
    """Execute a batch of runs one after the other (one message carries a batch, not one
    message per member), each idempotent as ``playbook_run_execute`` says. Stops starting
    runs once ``budget_seconds`` have passed. Returns the runs whose webhook asked for a
    retry (with the seconds to wait) and the runs not started."""
    started = time.monotonic()
    retries = {}
    for index, run_id in enumerate(run_ids):
        if budget_seconds is not None and time.monotonic() - started > budget_seconds:
            return retries, run_ids[index:]
        retry_in = playbook_run_execute(run_id=run_id)
        if retry_in is not None:
            retries[run_id] = retry_in
    return retries, []
