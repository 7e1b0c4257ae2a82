from django.apps import AppConfig


class PlaybooksConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "playbooks"
    verbose_name = "Renewals, tasks and playbooks"

    def ready(self) -> None:
        from segments import signals as segment_signals

        from .receivers import on_memberships_changed

        segment_signals.memberships_changed.connect(
            on_memberships_changed, dispatch_uid="playbooks_on_memberships_changed"
        )
