from django.apps import AppConfig


class WorkspaceConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "workspace"
    verbose_name = "CSM workspace"

    def ready(self) -> None:
        from cs_platform import reference
        from usage.models import UsageMetric

        from .usage import USAGE_METRICS_KEY

        reference.forget_on_change(USAGE_METRICS_KEY, UsageMetric)
