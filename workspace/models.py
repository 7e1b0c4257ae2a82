"""The workspace's own data: saved views of the accounts and tasks lists, and the teams
(which CSMs report to which manager)."""

from django.conf import settings
from django.db import models


class SavedViewPage(models.TextChoices):
    ACCOUNTS = "accounts", "Accounts"
    TASKS = "tasks", "Tasks"


class SavedView(models.Model):
    """A user's named view of a list: its filters, columns and sort, kept as the list's
    query string. ``shared`` views are offered to the whole team (read-only to them)."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views"
    )
    page = models.CharField(max_length=20, choices=SavedViewPage.choices)
    name = models.CharField(max_length=100)
    query = models.CharField(max_length=2000, blank=True)
    shared = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "page", "name"],
                name="saved_view_unique_name",
                violation_error_message="You already have a view with this name.",
            )
        ]
        indexes = [models.Index(fields=["page", "shared"], name="saved_view_shared_idx")]

    def __str__(self) -> str:
        return self.name


class TeamMember(models.Model):
    """A CSM's place on a manager's team: each CSM reports to at most one manager, and the
    team page opens on the viewer's own team."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="team_membership"
    )
    manager = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="team_members"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "team member"
        ordering = ["manager_id", "user_id"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(user=models.F("manager")),
                name="team_member_not_own_manager",
                violation_error_message="Nobody is on their own team.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} on {self.manager}'s team"
