from django.apps import AppConfig


class UsageConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "usage"
    verbose_name = "Product usage"

    def ready(self) -> None:
        from .rule_fields import register_rule_fields

        register_rule_fields()
