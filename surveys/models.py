"""What Power Climate collects: the organisation, the instrument, waves, invitations, responses.

Nothing in this module may link an answer to a person or a moment. `tests/surveys/
test_anonymity_invariants.py` inspects these models and fails if a response-side table ever gains
a user, token, invitation, address, user agent, time or sequential key.
"""

import hashlib
import secrets
import uuid

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from surveys.conf import MIN_K


def hash_token(token: str) -> str:
    """The only form in which a secret link token is ever stored."""
    return hashlib.sha256(token.encode()).hexdigest()


# --- The organisation -------------------------------------------------------------------------


class UnitQuerySet(models.QuerySet):
    def subtree(self, unit: "Unit") -> "UnitQuerySet":
        """The unit and every unit under it, in one indexed prefix query."""
        return self.filter(path__startswith=unit.path)

    def subtrees(self, units) -> "UnitQuerySet":
        """Every unit in or under any of `units`, in one query."""
        condition = Q(pk__in=[])
        for unit in units:
            condition |= Q(path__startswith=unit.path)
        return self.filter(condition)

    def ancestors_of(self, unit: "Unit") -> "UnitQuerySet":
        """The unit and its ancestors, root first."""
        return self.filter(pk__in=unit.ancestor_ids).order_by("depth")


class Unit(models.Model):
    """A node of the organisation tree: company, division, department, team.

    `path` is a materialised path of zero-padded ids ("/000001/000004/"), so a subtree is one
    prefix query on an indexed column on every database engine.
    """

    PATH_STEP = 10

    external_id = models.CharField(
        _("external id"), max_length=64, unique=True, help_text=_("The id used in imports.")
    )
    name = models.CharField(_("name"), max_length=200)
    parent = models.ForeignKey(
        "self", models.PROTECT, null=True, blank=True, related_name="children"
    )
    path = models.CharField(max_length=2000, db_index=True, editable=False, default="")
    depth = models.PositiveSmallIntegerField(default=0, editable=False)

    objects = UnitQuerySet.as_manager()

    class Meta:
        ordering = ["path"]
        verbose_name = _("unit")
        verbose_name_plural = _("units")

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        if self.parent_id is not None and self.path and self.parent.path.startswith(self.path):
            raise ValidationError(_("A unit cannot be placed under itself."))
        if self.pk is None:
            super().save(*args, **kwargs)  # the path is built from the new id
            args, kwargs = (), {"update_fields": ["path", "depth"]}
        old_path = self.path
        self.path = (self.parent.path if self.parent_id else "/") + f"{self.pk:0{self.PATH_STEP}d}/"
        self.depth = self.path.count("/") - 2
        super().save(*args, **kwargs)
        if old_path and old_path != self.path:
            self._move_descendants(old_path)

    def _move_descendants(self, old_path: str) -> None:
        for unit in Unit.objects.filter(path__startswith=old_path).exclude(pk=self.pk):
            unit.path = self.path + unit.path[len(old_path) :]
            unit.depth = unit.path.count("/") - 2
            unit.save(update_fields=["path", "depth"])

    def clean(self) -> None:
        if self.parent_id and self.pk and self.parent.path.startswith(self.path):
            raise ValidationError({"parent": _("A unit cannot be placed under itself.")})

    @property
    def ancestor_ids(self) -> list[int]:
        """Ids from the root down to this unit, read from the path without a query."""
        return [int(step) for step in self.path.strip("/").split("/") if step]

    def is_within(self, other: "Unit") -> bool:
        return self.path.startswith(other.path)


class RoleLevel(models.Model):
    """A step of the hierarchy. `rank` is what "higher" means everywhere (1 = lowest)."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=100)
    rank = models.PositiveSmallIntegerField(_("rank"), unique=True)

    class Meta:
        ordering = ["rank"]
        verbose_name = _("role level")
        verbose_name_plural = _("role levels")

    def __str__(self) -> str:
        return self.name


class TenureBand(models.Model):
    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=100)
    rank = models.PositiveSmallIntegerField(_("rank"), unique=True)

    class Meta:
        ordering = ["rank"]
        verbose_name = _("tenure band")
        verbose_name_plural = _("tenure bands")

    def __str__(self) -> str:
        return self.name


# --- The instrument ---------------------------------------------------------------------------


class Instrument(models.Model):
    slug = models.SlugField(_("slug"), max_length=80, unique=True)
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    language = models.CharField(_("language"), max_length=10, default="en")
    copied_from = models.ForeignKey(
        "self", models.SET_NULL, null=True, blank=True, related_name="copies"
    )
    # Renewed whenever a section, question or dimension of the instrument is saved or deleted
    # (surveys.apps), so that a cache of its questions knows when to read them again.
    revision = models.UUIDField(default=uuid.uuid4, editable=False)

    class Meta:
        ordering = ["name"]
        verbose_name = _("instrument")
        verbose_name_plural = _("instruments")

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("surveys:preview", args=[self.slug])


class Dimension(models.Model):
    instrument = models.ForeignKey(Instrument, models.CASCADE, related_name="dimensions")
    code = models.SlugField(_("code"), max_length=40)
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    order = models.PositiveSmallIntegerField(_("order"), default=0)
    translations = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["instrument", "order", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["instrument", "code"], name="dimension_code_unique")
        ]
        verbose_name = _("dimension")
        verbose_name_plural = _("dimensions")

    def __str__(self) -> str:
        return self.name


class Section(models.Model):
    instrument = models.ForeignKey(Instrument, models.CASCADE, related_name="sections")
    title = models.CharField(_("title"), max_length=200)
    intro = models.TextField(_("introduction"), blank=True)
    order = models.PositiveSmallIntegerField(_("order"), default=0)
    translations = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["instrument", "order", "pk"]
        verbose_name = _("section")
        verbose_name_plural = _("sections")

    def __str__(self) -> str:
        return self.title


class Question(models.Model):
    class Kind(models.TextChoices):
        AGREE5 = "agree5", _("5-point agreement")
        FREQ5 = "freq5", _("5-point frequency")
        YESNO = "yesno", _("Yes / no / prefer not to say")
        SINGLE = "single", _("Single choice")
        MULTI = "multi", _("Multiple choice")
        SCALE11 = "scale11", _("0-10 scale")
        TEXT = "text", _("Free text")

    class Purpose(models.TextChoices):
        SCALE = "scale", _("Dimension item")
        EXPERIENCED = "experienced", _("Behaviour experienced")
        WITNESSED = "witnessed", _("Behaviour witnessed")
        REPORTED = "reported", _("Did you report")
        WHY_NOT_REPORTED = "why_not_reported", _("Why not reported")
        REPORT_CONFIDENCE = "report_confidence", _("Confidence in reporting")
        SAFE_PLACE = "safe_place", _("Safe place to work (0-10)")
        COMMENT = "comment", _("Open comment")
        DEMOGRAPHIC = "demographic", _("Demographic")
        OTHER = "other", _("Other")

    instrument = models.ForeignKey(Instrument, models.CASCADE, related_name="questions")
    section = models.ForeignKey(Section, models.CASCADE, related_name="questions")
    dimension = models.ForeignKey(
        Dimension, models.SET_NULL, null=True, blank=True, related_name="questions"
    )
    code = models.CharField(_("code"), max_length=40)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    purpose = models.CharField(
        _("purpose"), max_length=20, choices=Purpose.choices, default=Purpose.OTHER
    )
    topic = models.SlugField(_("topic"), max_length=40, blank=True)
    text = models.TextField(_("text"))
    help_text = models.TextField(_("help text"), blank=True)
    order = models.PositiveSmallIntegerField(_("order"), default=0)
    reverse_scored = models.BooleanField(_("reverse-scored"), default=False)
    choices = models.JSONField(
        _("choices"), default=list, blank=True, help_text=_('[{"value": 1, "label": "..."}]')
    )
    show_if = models.JSONField(
        _("show only if"),
        default=list,
        blank=True,
        help_text=_('Shown when any holds: [{"question": "CODE", "values": [2, 3]}]'),
    )
    translations = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["section__order", "order", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["instrument", "code"], name="question_code_unique")
        ]
        verbose_name = _("question")
        verbose_name_plural = _("questions")

    def __str__(self) -> str:
        return f"{self.code}: {self.text[:60]}"

    def clean(self) -> None:
        scaled = {self.Kind.AGREE5, self.Kind.FREQ5}
        if self.purpose == self.Purpose.SCALE and (self.kind not in scaled or not self.dimension):
            raise ValidationError(_("A dimension item is a 5-point question with a dimension."))
        if self.kind in (self.Kind.SINGLE, self.Kind.MULTI) and not self.choices:
            raise ValidationError({"choices": _("Choice questions need choices.")})
        if self.dimension_id and self.dimension.instrument_id != self.instrument_id:
            raise ValidationError({"dimension": _("The dimension belongs to another instrument.")})


# --- Waves and invitations --------------------------------------------------------------------


class WaveQuerySet(models.QuerySet):
    def open_now(self) -> "WaveQuerySet":
        now = timezone.now()
        return self.filter(state=Wave.State.OPEN, opens_at__lte=now, closes_at__gt=now)


class Wave(models.Model):
    class State(models.TextChoices):
        DRAFT = "draft", _("Draft")
        OPEN = "open", _("Open")
        CLOSED = "closed", _("Closed")

    name = models.CharField(_("name"), max_length=200)
    instrument = models.ForeignKey(Instrument, models.PROTECT, related_name="waves")
    units = models.ManyToManyField(
        Unit, related_name="waves", help_text=_("Units in scope, with everything under them.")
    )
    opens_at = models.DateTimeField(_("opens at"))
    closes_at = models.DateTimeField(_("closes at"))
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.DRAFT)
    k = models.PositiveSmallIntegerField(
        _("anonymity threshold k"),
        default=5,
        validators=[MinValueValidator(MIN_K)],
        help_text=_("Groups with fewer responses are never shown. Never below 3."),
    )
    k_comments = models.PositiveSmallIntegerField(
        _("comment threshold"),
        default=10,
        validators=[MinValueValidator(MIN_K)],
        help_text=_("Comments are shown only for groups at least this large (never below k)."),
    )
    live_results = models.BooleanField(
        _("show results while open"),
        default=False,
        help_text=_(
            "Off (recommended): the figures appear once, when the wave closes. On: they "
            "advance in batches of at least k responses while the wave is open, and someone "
            "who watches a team's figures and knows who answered in between may learn that "
            "person's answers (see the security documentation)."
        ),
    )
    open_link_key = models.CharField(max_length=64, unique=True, editable=False)
    # Renewed whenever the wave's roster (its headcounts) changes: the submission path keeps
    # each roster cell's coarsened attributes per (wave, roster revision, k).
    roster_revision = models.UUIDField(default=uuid.uuid4, editable=False)
    support_resources = models.TextField(
        _("support resources"),
        blank=True,
        help_text=_("Shown on the thank-you page: how to report formally, helplines."),
    )

    objects = WaveQuerySet.as_manager()

    class Meta:
        ordering = ["-opens_at", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(k__gte=MIN_K), name="wave_k_at_least_min"),
            models.CheckConstraint(condition=Q(k_comments__gte=models.F("k")), name="wave_kc_ge_k"),
            models.CheckConstraint(
                condition=Q(closes_at__gt=models.F("opens_at")), name="wave_closes_after_open"
            ),
        ]
        verbose_name = _("wave")
        verbose_name_plural = _("waves")

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        if not self.open_link_key:
            self.open_link_key = secrets.token_urlsafe(24)
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("surveys:open_link", args=[self.open_link_key])

    def clean(self) -> None:
        errors = {}
        if self.k is not None and self.k < MIN_K:
            errors["k"] = _("k must be at least %(min)s.") % {"min": MIN_K}
        if self.k_comments is not None and self.k is not None and self.k_comments < self.k:
            errors["k_comments"] = _("The comment threshold cannot be below k.")
        if self.opens_at and self.closes_at and self.closes_at <= self.opens_at:
            errors["closes_at"] = _("A wave must close after it opens.")
        if errors:
            raise ValidationError(errors)

    @property
    def is_accepting(self) -> bool:
        now = timezone.now()
        return self.state == self.State.OPEN and self.opens_at <= now < self.closes_at

    @property
    def has_closed(self) -> bool:
        """Closed by HR, or past its closing time: nobody can answer any more."""
        return self.state == self.State.CLOSED or self.closes_at <= timezone.now()

    @property
    def results_visible(self) -> bool:
        """Whether figures may be shown: once the wave has closed, or while it is open when
        HR chose live results (anonymity point 6: one snapshot per wave cannot be compared
        with an earlier one)."""
        return self.live_results or self.has_closed


class Headcount(models.Model):
    """How many people the roster holds per group: the denominator of response rates and the
    basis of coarsening (DESIGN anonymity point 3). Filled by `invite` or a headcount import."""

    wave = models.ForeignKey(Wave, models.CASCADE, related_name="headcounts")
    unit = models.ForeignKey(Unit, models.CASCADE, related_name="+")
    role_level = models.ForeignKey(RoleLevel, models.CASCADE, related_name="+")
    tenure_band = models.ForeignKey(TenureBand, models.CASCADE, null=True, related_name="+")
    people = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["wave", "unit", "role_level", "tenure_band"], name="headcount_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.people} in {self.unit_id}/{self.role_level_id}/{self.tenure_band_id}"


class InvitationQuerySet(models.QuerySet):
    def for_token(self, token: str) -> "InvitationQuerySet":
        return self.filter(token_hash=hash_token(token))


class Invitation(models.Model):
    """A single-use link. It keeps the roster attributes to fill in on the response, but no
    address, no name, no time of use and nothing that points at the response it produced."""

    wave = models.ForeignKey(Wave, models.CASCADE, related_name="invitations")
    token_hash = models.CharField(max_length=64, unique=True)
    unit = models.ForeignKey(Unit, models.PROTECT, related_name="+")
    role_level = models.ForeignKey(RoleLevel, models.PROTECT, related_name="+")
    tenure_band = models.ForeignKey(TenureBand, models.PROTECT, null=True, related_name="+")
    used = models.BooleanField(default=False)
    expires_at = models.DateTimeField(null=True, blank=True)

    objects = InvitationQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["wave", "unit", "used"])]

    def __str__(self) -> str:
        return f"Invitation to {self.wave}"

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()


class FormNonce(models.Model):
    """A one-time token embedded in an open-link form so that a retried or double-clicked
    submission stores one response. Kept apart from the response: nothing links the two."""

    wave = models.ForeignKey(Wave, models.CASCADE, related_name="+")
    nonce_hash = models.CharField(max_length=64, unique=True)
    used = models.BooleanField(default=False)

    def __str__(self) -> str:
        return "Form nonce"


# --- Responses: no link to a person or a moment ----------------------------------------------


class ResponseQuerySet(models.QuerySet):
    def for_wave(self, wave: Wave) -> "ResponseQuerySet":
        return self.filter(wave=wave)

    def in_subtree(self, unit: Unit) -> "ResponseQuerySet":
        return self.filter(unit__path__startswith=unit.path)

    def unpublished(self) -> "ResponseQuerySet":
        return self.filter(published=False)


class Response(models.Model):
    """One person's answers to one wave. Random key; no person, token, address or time.

    A role level coarsened by merging with its neighbour is stored as the range
    `role_level`..`role_level_to`. `published` says whether the response is already folded
    into the published figures, which advance in batches of at least k (DESIGN point 6).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    wave = models.ForeignKey(Wave, models.CASCADE, related_name="responses")
    unit = models.ForeignKey(Unit, models.PROTECT, related_name="+")
    role_level = models.ForeignKey(RoleLevel, models.PROTECT, related_name="+")
    role_level_to = models.ForeignKey(RoleLevel, models.PROTECT, null=True, related_name="+")
    tenure_band = models.ForeignKey(TenureBand, models.PROTECT, null=True, related_name="+")
    published = models.BooleanField(default=False)

    objects = ResponseQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["wave", "published"])]

    def __str__(self) -> str:
        return "Response"


class Answer(models.Model):
    """A chosen value. Keyed by (response, question, value): no sequential id to order by.
    A multiple-choice question has one row per chosen value."""

    pk = models.CompositePrimaryKey("response_id", "question_id", "value")
    # No index of its own: the primary key starts with the response (one index fewer to write
    # on every submission).
    response = models.ForeignKey(Response, models.CASCADE, related_name="answers", db_index=False)
    question = models.ForeignKey(Question, models.PROTECT, related_name="+")
    value = models.SmallIntegerField()

    def __str__(self) -> str:
        return "Answer"


class Comment(models.Model):
    """Free text, stored apart from the response: it carries the same (already coarsened) group
    attributes but no link to the answers, so recognising a writer's style reveals no answers."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    wave = models.ForeignKey(Wave, models.CASCADE, related_name="comments")
    question = models.ForeignKey(Question, models.PROTECT, related_name="+")
    unit = models.ForeignKey(Unit, models.PROTECT, related_name="+")
    role_level = models.ForeignKey(RoleLevel, models.PROTECT, related_name="+")
    role_level_to = models.ForeignKey(RoleLevel, models.PROTECT, null=True, related_name="+")
    tenure_band = models.ForeignKey(TenureBand, models.PROTECT, null=True, related_name="+")
    text = models.TextField()
    published = models.BooleanField(default=False)

    def __str__(self) -> str:
        return "Comment"
