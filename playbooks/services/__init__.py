"""Writes of the playbooks app (DESIGN 4 and 5), by job:

- ``renewals``: ``renewal_queue_rebuild(today=None, full=False)``, ``renewal_window_create``.
- ``tasks`` (the CSM's work items): ``task_create``, ``task_update``, ``task_set_status``,
  ``task_complete``, ``task_snooze``, ``task_cancel``, ``task_reopen``,
  ``tasks_wake_snoozed``; permission helpers ``task_can_change`` / ``task_can_create``
  (the services raise PermissionDenied).
- ``forecasts``: ``renewal_forecast_set``, ``renewal_close`` (outcome), ``renewal_can_change``,
  ``churn_reason_create``, ``churn_reason_update``.
- ``definitions``: ``playbook_create``, ``playbook_update``, ``playbook_set_steps``,
  ``playbook_steps_validate``, ``playbook_activate``, ``playbook_deactivate``.
- The step engine: ``triggers`` (``playbooks_process_events``,
  ``playbook_runs_recover``, ``playbooks_request_processing``), ``step_planner``
  (one plan per step and account), ``execution`` (``playbook_run_execute``) and
  ``dry_run`` (``playbook_dry_run``), the last two sharing the planner.

Other apps call the services through this package (``from playbooks import services``);
modules inside ``playbooks`` import the module that defines what they need.
"""

from .definitions import (
    PLAYBOOK_FIELDS,
    playbook_activate,
    playbook_create,
    playbook_deactivate,
    playbook_set_steps,
    playbook_steps_validate,
    playbook_update,
)
from .dry_run import DRY_RUN_MAX_ACCOUNTS, playbook_dry_run
from .execution import playbook_run_execute
from .forecasts import (
    churn_reason_create,
    churn_reason_update,
    renewal_can_change,
    renewal_close,
    renewal_forecast_set,
)
from .renewals import renewal_queue_rebuild, renewal_window_create
from .tasks import (
    TASK_EDITABLE_FIELDS,
    task_can_change,
    task_can_create,
    task_cancel,
    task_complete,
    task_create,
    task_reopen,
    task_set_status,
    task_snooze,
    task_update,
    tasks_wake_snoozed,
)
from .triggers import (
    ProcessResult,
    playbook_runs_recover,
    playbooks_process_events,
    playbooks_request_processing,
)

__all__ = [
    "DRY_RUN_MAX_ACCOUNTS",
    "PLAYBOOK_FIELDS",
    "TASK_EDITABLE_FIELDS",
    "ProcessResult",
    "churn_reason_create",
    "churn_reason_update",
    "renewal_can_change",
    "renewal_close",
    "renewal_forecast_set",
    "playbook_activate",
    "playbook_create",
    "playbook_deactivate",
    "playbook_dry_run",
    "playbook_run_execute",
    "playbook_runs_recover",
    "playbook_set_steps",
    "playbook_steps_validate",
    "playbook_update",
    "playbooks_process_events",
    "playbooks_request_processing",
    "renewal_queue_rebuild",
    "renewal_window_create",
    "task_can_change",
    "task_can_create",
    "task_cancel",
    "task_complete",
    "task_create",
    "task_reopen",
    "task_set_status",
    "task_snooze",
    "task_update",
    "tasks_wake_snoozed",
]
