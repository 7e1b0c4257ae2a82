from django.apps import AppConfig


class PlatformConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "cs_platform"
    label = "cs_platform"
    verbose_name = "Platform"
