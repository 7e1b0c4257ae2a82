from django.db import migrations, models


class Migration(migrations.Migration):
    """The (segment, account, at) index of membership events also orders ties by ``id``
    and carries ``kind`` (PostgreSQL's INCLUDE; SQLite ignores it), so reconstructing
    membership on a past date is one backward index-only scan. Replaces
    event_segment_account_at."""

    dependencies = [
        ("segments", "0005_analytics_warm_schedule"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="membershipevent", name="event_segment_account_at"),
        migrations.AddIndex(
            model_name="membershipevent",
            index=models.Index(
                fields=["segment", "account", "at", "id"],
                name="event_member_history",
                include=["kind"],
            ),
        ),
    ]
