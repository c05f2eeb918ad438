"""What the reports keep: who may read what, the audit log, API tokens, and the published
summary tables every figure is read from (never the raw answers).

Summary rows are kept for every ancestor of a response's unit, so any subtree is one small
indexed read whose cost follows the number of groups shown, not the number of responses.
A group key is (wave, unit, role_lo, role_hi, tenure, demo_question, demo_value):
- role_lo..role_hi: role-level ranks (equal unless the response was coarsened by merging);
- tenure: tenure-band rank, 0 when not recorded (coarsened away or not asked);
- demo_question/demo_value: 0/0 for the base rows; otherwise the response is counted again
  under its answer to that optional demographic question;
- demo_question BAND_TOTAL (tenure 0, demo_value 0): the response counted again in its role
  band over every tenure. Every figure not broken down by tenure reads these rows: the sum of
  a band's tenure groups, stored once, so a unit's page reads about a sixth of the rows. They
  are a stored sum, never a cell of their own: the suppression pattern is decided from the
  base and demographic rows (`reports.publication.snapshot_rows` leaves them out).
"""

import hashlib
import secrets
import uuid

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from surveys.models import Unit, Wave


class LeaderGrant(models.Model):
    """A leader may read this unit and everything under it."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, models.CASCADE, related_name="grants")
    unit = models.ForeignKey(Unit, models.CASCADE, related_name="grants")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "unit"], name="leader_grant_unique")]
        verbose_name = _("leader grant")
        verbose_name_plural = _("leader grants")

    def __str__(self) -> str:
        return f"{self.user} → {self.unit}"


class ApiTokenQuerySet(models.QuerySet):
    def active(self) -> "ApiTokenQuerySet":
        return self.filter(revoked_at__isnull=True, user__is_active=True)


class ApiToken(models.Model):
    """A per-user bearer token for the read API. Only its hash is stored; it is shown once."""

    PREFIX = "pc_"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("name"), max_length=100)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self) -> str:
        return f"{self.name} ({self.user})"

    @staticmethod
    def hash(raw: str) -> str:
        return hashlib.sha256(raw.encode()).hexdigest()

    @classmethod
    def issue(cls, *, user, name: str) -> tuple["ApiToken", str]:
        """Create a token; returns it with the raw secret, which is never stored."""
        raw = cls.PREFIX + secrets.token_urlsafe(32)
        return cls.objects.create(user=user, name=name, token_hash=cls.hash(raw)), raw


class AuditEvent(models.Model):
    """One dashboard view, export or API call. Append-only: rows cannot be changed or deleted
    through the application or the admin."""

    class Action(models.TextChoices):
        VIEW = "view", _("Dashboard view")
        EXPORT = "export", _("Export")
        API = "api", _("API call")
        ADMIN = "admin", _("Administration")

    at = models.DateTimeField(default=timezone.now, db_index=True, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, related_name="+", editable=False
    )
    username = models.CharField(max_length=150, editable=False)
    action = models.CharField(max_length=10, choices=Action.choices, editable=False)
    path = models.CharField(max_length=500, editable=False)
    detail = models.JSONField(default=dict, editable=False)

    class Meta:
        ordering = ["-at"]
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.username} {self.action} {self.path}"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise PermissionDenied("Audit events cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionDenied("Audit events cannot be deleted.")


# --- Published summary tables -----------------------------------------------------------------


class PublicationQuerySet(models.QuerySet):
    def update(self, **kwargs) -> int:
        """As QuerySet.update, renewing the pattern revision as `Publication.save` does."""
        kwargs.setdefault("pattern_revision", uuid.uuid4())
        return super().update(**kwargs)


class Publication(models.Model):
    """The published snapshot of a wave: it advances only in batches of at least k new
    responses (or when the wave closes), and carries the suppression pattern decided once for
    every unit and breakdown of the wave, which every request reads (default deny: a cell
    not listed is never shown)."""

    wave = models.OneToOneField(Wave, models.CASCADE, related_name="publication")
    version = models.PositiveIntegerField(default=0)
    published_at = models.DateTimeField(null=True, blank=True)
    responses = models.PositiveIntegerField(default=0)
    published_cells = models.JSONField(
        default=list, help_text="Cells that may be shown; every other cell is suppressed."
    )
    comment_units = models.JSONField(
        default=list, help_text="Units whose comments may be shown (at least k_comments)."
    )
    reliability = models.JSONField(default=dict, help_text="Cronbach's alpha per dimension code.")
    results_hidden = models.BooleanField(
        default=False,
        help_text="The figures are withheld until the wave closes (it does not show live "
        "results); the summary tables are kept up to date all the same.",
    )
    rates = models.JSONField(
        default=dict,
        help_text="Invitations [used, sent] over each unit's subtree (and 'wave' for the whole "
        "wave) as counted at this publication; units too small to show are left out.",
    )
    # Renewed by every save and update: readers keep a wave's parsed pattern (thousands of
    # cells) per process under (pk, pattern_revision) and load the cells only when it changed
    # (`reports.aggregation.published_patterns`).
    pattern_revision = models.UUIDField(default=uuid.uuid4, editable=False)

    objects = PublicationQuerySet.as_manager()

    def __str__(self) -> str:
        return f"{self.wave} v{self.version}"

    def save(self, *args, **kwargs) -> None:
        self.pattern_revision = uuid.uuid4()
        update_fields = kwargs.get("update_fields")
        if update_fields is not None:
            kwargs["update_fields"] = {*update_fields, "pattern_revision"}
        super().save(*args, **kwargs)


# The demo_question of the "every tenure" rows of a role band (the largest PostgreSQL integer,
# so it can never be a question's id).
BAND_TOTAL = 2_147_483_647


class SummaryKey(models.Model):
    wave = models.ForeignKey(Wave, models.CASCADE, related_name="+", db_index=False)
    unit = models.ForeignKey(Unit, models.CASCADE, related_name="+", db_index=False)
    role_lo = models.PositiveSmallIntegerField()
    role_hi = models.PositiveSmallIntegerField()
    tenure = models.PositiveSmallIntegerField()
    demo_question = models.PositiveIntegerField(default=0)
    demo_value = models.SmallIntegerField(default=0)

    # The order of the primary keys (their indexes): a page reads one unit's rows of one
    # variant (base, band totals or a demographic) in a few waves, a contiguous range. On
    # PostgreSQL the index also holds the counted columns (INCLUDE, migrations 0007 and 0008),
    # so these reads never visit the table.
    KEY_FIELDS = ("wave", "unit", "demo_question", "demo_value", "role_lo", "role_hi", "tenure")
    # The key is the primary key (migration 0008): no surrogate id, whose sequence and second
    # index cost about a fifth of every fold's insert.
    PK_FIELDS = ("wave_id", "unit_id", *KEY_FIELDS[2:])

    class Meta:
        abstract = True


class SummaryGroup(SummaryKey):
    """Respondents per group."""

    pk = models.CompositePrimaryKey(*SummaryKey.PK_FIELDS)
    respondents = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return (
            f"group {self.unit_id}/{self.role_lo}-{self.role_hi}/{self.tenure}: {self.respondents}"
        )


class SummaryItem(SummaryKey):
    """Answers per (group, question, value)."""

    pk = models.CompositePrimaryKey(*SummaryKey.PK_FIELDS, "question_id", "value")
    question_id = models.PositiveIntegerField()
    value = models.SmallIntegerField()
    count = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"item {self.question_id}={self.value}: {self.count}"


class SummaryDimension(SummaryKey):
    """Per group and dimension: respondents with a score, and the sum and sum of squares of
    their mean item answer (1-5, after reverse scoring): enough for a mean and its interval."""

    pk = models.CompositePrimaryKey(*SummaryKey.PK_FIELDS, "dimension_id")
    dimension_id = models.PositiveIntegerField()
    n = models.PositiveIntegerField(default=0)
    total = models.FloatField(default=0)
    total_sq = models.FloatField(default=0)

    def __str__(self) -> str:
        return f"dimension {self.dimension_id}: n={self.n}"


class ReliabilitySum(models.Model):
    """Running sums for Cronbach's alpha per wave and dimension (complete cases only)."""

    wave = models.ForeignKey(Wave, models.CASCADE, related_name="+")
    dimension_id = models.PositiveIntegerField()
    n = models.PositiveIntegerField(default=0)
    item_sums = models.JSONField(default=list)
    item_sumsq = models.JSONField(default=list)
    total_sum = models.FloatField(default=0)
    total_sumsq = models.FloatField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["wave", "dimension_id"], name="reliability_key")
        ]

    def __str__(self) -> str:
        return f"reliability {self.dimension_id}: n={self.n}"


class ActionPlan(models.Model):
    """An action a leader commits to for a dimension of a unit, shown beside the trend."""

    class Status(models.TextChoices):
        PLANNED = "planned", _("Planned")
        IN_PROGRESS = "in_progress", _("In progress")
        DONE = "done", _("Done")
        DROPPED = "dropped", _("Dropped")

    unit = models.ForeignKey(Unit, models.CASCADE, related_name="action_plans")
    wave = models.ForeignKey(Wave, models.CASCADE, related_name="action_plans")
    dimension_code = models.SlugField(_("dimension"), max_length=40)
    what = models.TextField(_("what"))
    owner = models.CharField(_("owner"), max_length=200)
    due = models.DateField(_("due date"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.PLANNED
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, related_name="+"
    )

    class Meta:
        ordering = ["due", "pk"]
        verbose_name = _("action")
        verbose_name_plural = _("action plan")

    def __str__(self) -> str:
        return self.what[:60]
