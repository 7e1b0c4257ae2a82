from django.apps import AppConfig


class PlaybooksConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "playbooks"
    verbose_name = "Renewals, tasks and playbooks"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model
        from django.db.models.signals import pre_delete

        from customers import signals as customer_signals
        from segments import signals as segment_signals

        from . import signals
        from .receivers import (
            on_memberships_changed,
            on_runs_pending,
            process_segment_playbooks,
            rebuild_renewal_queue_soon,
            wait_for_renewal_build,
        )

        segment_signals.memberships_changed.connect(
            on_memberships_changed, dispatch_uid="playbooks_on_memberships_changed"
        )
        signals.playbook_processing_requested.connect(
            process_segment_playbooks, dispatch_uid="playbooks_on_processing_requested"
        )
        signals.playbook_runs_pending.connect(
            on_runs_pending, dispatch_uid="playbooks_on_runs_pending"
        )
        customer_signals.account_deleting.connect(
            wait_for_renewal_build, dispatch_uid="playbooks_account_deleting_waits"
        )
        customer_signals.accounts_changed.connect(
            rebuild_renewal_queue_soon, dispatch_uid="playbooks_renewals_on_accounts_changed"
        )
        signals.renewal_queue_changed.connect(
            rebuild_renewal_queue_soon, dispatch_uid="playbooks_renewals_on_queue_changed"
        )
        pre_delete.connect(
            wait_for_renewal_build,
            sender=get_user_model(),
            dispatch_uid="playbooks_user_deleting_waits",
        )
