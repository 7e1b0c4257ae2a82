from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("customers", "0004_pendingevaluation_copy_flags")]

    operations = [
        migrations.RemoveIndex(model_name="account", name="account_needs_eval_idx"),
        migrations.RemoveField(model_name="account", name="needs_segment_eval"),
    ]
