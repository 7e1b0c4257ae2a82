from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CustomersConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "customers"
    verbose_name = "Customers"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model
        from django.contrib.auth.models import Group

        from cs_platform import reference
        from cs_platform.roles import roles_sync_permissions

        from .models import Picklist, PicklistValue
        from .picklists import picklists_ensure
        from .rule_fields import register_rule_fields
        from .selectors import PEOPLE_KEY, PICKLIST_VALUES_KEY

        register_rule_fields()
        reference.forget_on_change(PICKLIST_VALUES_KEY, Picklist, PicklistValue)
        User = get_user_model()
        reference.forget_on_change(PEOPLE_KEY, User, Group, through=(User.groups.through,))
        post_migrate.connect(roles_sync_permissions, dispatch_uid="customers_roles_sync")
        # Also after a flush (tests that truncate tables): a picklist is never missing.
        post_migrate.connect(picklists_ensure, sender=self, dispatch_uid="customers_picklists")
