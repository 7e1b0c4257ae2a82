"""Teams in the admin (Workspace -> Team members): which CSMs report to which manager, the
same rows the team page's "Add to my team" writes."""

from django.contrib import admin

from .models import TeamMember


@admin.register(TeamMember)
class TeamMemberAdmin(admin.ModelAdmin):
    list_display = ["user", "manager", "created_at"]
    list_filter = ["manager"]
    search_fields = ["user__username", "user__first_name", "user__last_name"]
    raw_id_fields = ["user", "manager"]
