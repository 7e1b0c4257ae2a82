from django.apps import AppConfig


class UsageConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "usage"
    verbose_name = "Product usage"

    def ready(self) -> None:
        from customers import signals as customer_signals

        from .receivers import wait_for_usage_writers
        from .rule_fields import register_rule_fields

        register_rule_fields()
        customer_signals.account_deleting.connect(
            wait_for_usage_writers, dispatch_uid="usage_account_deleting_waits"
        )
