from django.apps import AppConfig


class HealthConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "health"
    verbose_name = "Health scores"

    def ready(self) -> None:
        from . import receivers  # noqa: F401 (connects the receivers)
        from .rule_fields import register_rule_fields

        register_rule_fields()
