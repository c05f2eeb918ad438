from django.contrib import admin

from reports import models


@admin.register(models.LeaderGrant)
class LeaderGrantAdmin(admin.ModelAdmin):
    list_display = ["user", "unit"]
    autocomplete_fields = ["unit"]
    list_select_related = ["user", "unit"]


@admin.register(models.AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Readable and filterable; never writable by anyone."""

    list_display = ["at", "username", "action", "path"]
    list_filter = ["action", "username"]
    search_fields = ["username", "path"]
    date_hierarchy = "at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(models.ActionPlan)
class ActionPlanAdmin(admin.ModelAdmin):
    """Leaders record actions on their dashboard; the admin lists them across units for HR."""

    list_display = ["what", "unit", "wave", "dimension_code", "owner", "due", "status"]
    list_filter = ["status", "wave"]
    list_select_related = ["unit", "wave"]
    search_fields = ["what", "owner", "unit__name"]
    autocomplete_fields = ["unit"]
    readonly_fields = ["created_by"]
    date_hierarchy = "due"
