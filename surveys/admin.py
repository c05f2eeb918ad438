from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from surveys import models


@admin.register(models.Unit)
class UnitAdmin(admin.ModelAdmin):
    list_display = ["name", "external_id", "parent", "depth"]
    search_fields = ["name", "external_id"]
    autocomplete_fields = ["parent"]
    ordering = ["path"]


@admin.register(models.RoleLevel, models.TenureBand)
class RankedAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "rank"]
    ordering = ["rank"]


class SectionInline(admin.TabularInline):
    model = models.Section
    extra = 0
    fields = ["order", "title", "intro"]


class QuestionInline(admin.TabularInline):
    model = models.Question
    extra = 0
    fields = ["order", "section", "code", "kind", "purpose", "dimension", "reverse_scored", "text"]
    show_change_link = True

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        instrument_id = request.resolver_match.kwargs.get("object_id")
        if db_field.name in ("section", "dimension") and instrument_id:
            kwargs["queryset"] = db_field.related_model.objects.filter(instrument_id=instrument_id)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class DimensionInline(admin.TabularInline):
    model = models.Dimension
    extra = 0
    fields = ["order", "code", "name", "description"]


@admin.register(models.Instrument)
class InstrumentAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "language", "copied_from"]
    inlines = [DimensionInline, SectionInline, QuestionInline]
    actions = ["copy_instrument"]
    readonly_fields = ["copied_from"]

    @admin.action(description=_("Copy the selected instruments"))
    def copy_instrument(self, request, queryset):
        from surveys.services import copy_instrument

        for instrument in queryset:
            copy = copy_instrument(instrument=instrument)
            self.message_user(request, _("Copied to “%(name)s”.") % {"name": copy.name})


@admin.register(models.Question)
class QuestionAdmin(admin.ModelAdmin):
    list_display = ["code", "instrument", "section", "kind", "purpose", "dimension", "order"]
    list_filter = ["instrument", "kind", "purpose"]
    search_fields = ["code", "text"]
    list_editable = ["order"]


@admin.register(models.Wave)
class WaveAdmin(admin.ModelAdmin):
    list_display = ["name", "instrument", "state", "opens_at", "closes_at", "k", "k_comments"]
    list_filter = ["state", "instrument"]
    filter_horizontal = ["units"]
    readonly_fields = ["open_link_key"]
