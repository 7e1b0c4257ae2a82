from django.db import migrations

DEFAULT_WINDOWS = ((120, "T-120"), (90, "T-90"))


def create_windows(apps, schema_editor):
    RenewalWindow = apps.get_model("playbooks", "RenewalWindow")
    for days, name in DEFAULT_WINDOWS:
        RenewalWindow.objects.get_or_create(days=days, defaults={"name": name, "is_active": True})


def remove_windows(apps, schema_editor):
    RenewalWindow = apps.get_model("playbooks", "RenewalWindow")
    RenewalWindow.objects.filter(days__in=[d for d, _ in DEFAULT_WINDOWS]).delete()


class Migration(migrations.Migration):
    dependencies = [("playbooks", "0001_initial")]
    operations = [migrations.RunPython(create_windows, remove_windows)]
