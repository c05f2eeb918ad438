"""A realistic demo organisation with three waves of answers, an HR user and a leader.

Answers are generated from a latent climate score per person, so that the items of a dimension
correlate as real answers do; higher role levels rate the climate better (a power gradient),
the climate improves a little from wave to wave, and one team has a harassment hot spot.
Idempotent: a second run adds nothing; it only issues fresh passwords for the demo users.
"""

import datetime as dt
import secrets

import numpy as np
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from reports.access import HR_GROUP
from reports.models import LeaderGrant
from reports.publication import publish
from surveys import services
from surveys.models import Comment, Invitation, Question, RoleLevel, TenureBand, Unit, Wave

ROOT_ID = "demo"
DIVISIONS = [
    ("demo-ops", "Operations", ["Warehouse North", "Warehouse South", "Logistics Planning"]),
    ("demo-care", "Customer Care", ["Contact Centre", "Complaints", "Quality"]),
    ("demo-tech", "Technology", ["Platform", "Data", "Service Desk"]),
    ("demo-corp", "Corporate Services", ["Finance", "People", "Legal and Compliance"]),
]
HOT_SPOT = "Warehouse North"
# People per team by role rank; directors sit in divisions, executives at the top.
TEAM_ROLES = {1: 36, 2: 6, 3: 5}
DIVISION_ROLES = {4: 8}
ROOT_ROLES = {5: 9}
ROLE_SHIFT = {1: -0.45, 2: -0.15, 3: 0.15, 4: 0.45, 5: 0.8}
WAVES = [
    ("Spring 2025", -560, -530, 0.62, -0.15),
    ("Autumn 2025", -380, -350, 0.68, -0.05),
    ("Autumn 2026", -7, 21, 0.72, 0.1),
]
COMMENTS = [
    "Please make it safe to disagree with senior people without it affecting reviews.",
    "Our team lead checks in every week and it makes a real difference.",
    "Rules seem to apply to some people and not to others.",
    "I would like to know who to talk to when something goes wrong.",
    "More training for managers on how much their words weigh.",
    "Call me on 07700 900123 if you want details, or write to sam.taylor@example.org.",
    "Shifts are handed out as rewards and punishments; that needs to stop.",
    "I saw someone being shouted at in front of the whole floor and nothing happened.",
    "Generally a good place to work, people are respectful.",
    "Remote colleagues are left out of decisions.",
]


class Command(BaseCommand):
    help = "Load the demo organisation, instrument, waves and answers; print the demo log-ins."

    def add_arguments(self, parser):
        parser.add_argument(
            "--allow-production",
            action="store_true",
            help="seed even with DJANGO_DEBUG off (never on a real deployment)",
        )
        parser.add_argument("--seed", type=int, default=2026)

    def handle(self, *args, allow_production: bool, seed: int, **options):
        if not settings.DEBUG and not allow_production:
            raise CommandError(
                "seed_demo loads fake data; it runs only with DJANGO_DEBUG=true "
                "(or --allow-production on a throwaway database)."
            )
        instrument = services.load_default_instrument()
        if Unit.objects.filter(external_id=ROOT_ID).exists():
            self.stdout.write("The demo organisation is already loaded; nothing added.")
        else:
            with transaction.atomic():
                self._seed(instrument, np.random.default_rng(seed))
            self.stdout.write(self.style.SUCCESS("Demo organisation, waves and answers loaded."))
        self._users()

    def _seed(self, instrument, rng) -> None:
        roles = {r.rank: r for r in RoleLevel.objects.all()}
        tenures = list(TenureBand.objects.order_by("rank"))
        root = Unit.objects.create(external_id=ROOT_ID, name="Northwind Health")
        people = []  # (unit, role rank, team effect, hot spot)
        people += [(root, 5, 0.0, False)] * ROOT_ROLES[5]
        for external_id, name, teams in DIVISIONS:
            division = Unit.objects.create(external_id=external_id, name=name, parent=root)
            people += [(division, 4, 0.0, False)] * DIVISION_ROLES[4]
            for number, team_name in enumerate(teams, start=1):
                team = Unit.objects.create(
                    external_id=f"{external_id}-{number}", name=team_name, parent=division
                )
                effect = float(rng.normal(0, 0.25))
                hot = team_name == HOT_SPOT
                for rank, count in TEAM_ROLES.items():
                    people += [(team, rank, effect - (0.7 if hot else 0.0), hot)] * count
        tenure_of = [tenures[int(i)] for i in rng.choice(len(tenures), size=len(people))]
        roster = [
            services.RosterRow(unit=unit, role_level=roles[rank], tenure_band=tenure)
            for (unit, rank, _, _), tenure in zip(people, tenure_of, strict=True)
        ]
        questions = list(
            Question.objects.filter(instrument=instrument).order_by("section__order", "order")
        )
        now = timezone.now()
        for name, opens, closes, rate, drift in WAVES:
            wave = Wave.objects.create(
                name=name,
                instrument=instrument,
                opens_at=now + dt.timedelta(days=opens),
                closes_at=now + dt.timedelta(days=closes),
                state=Wave.State.CLOSED if closes < 0 else Wave.State.OPEN,
                support_resources=(
                    "To report something formally, contact People Services "
                    "(people@northwind.example) or the independent Speak Up line "
                    "on 0800 000 000 (free, 24 hours).\n"
                    "Employee Assistance Programme: 0800 111 111, confidential counselling."
                ),
            )
            wave.units.add(root)
            services.create_invitations(wave=wave, roster=roster)
            invitations = list(Invitation.objects.filter(wave=wave).order_by("pk"))
            # People higher up answer a little more often, as in real surveys.
            rates = np.array([rate + 0.05 * (rank - 1) for _, rank, _, _ in people])
            answering = rng.random(len(people)) < rates
            batch = []
            comments = []
            for index in np.flatnonzero(answering):
                unit, rank, effect, hot = people[index]
                attributes = services.coarsen(
                    wave=wave,
                    attributes=services.Attributes(
                        unit=unit, role_level=roles[rank], tenure_band=tenure_of[index]
                    ),
                )
                pairs = _answers(rng, questions, ROLE_SHIFT[rank] + effect + drift, hot)
                batch.append((attributes, pairs))
                if rng.random() < 0.18:
                    comments.append((attributes, COMMENTS[int(rng.integers(len(COMMENTS)))]))
            services.bulk_store_responses(wave=wave, responses=batch)
            Invitation.objects.filter(
                pk__in=[invitations[i].pk for i in np.flatnonzero(answering)]
            ).update(used=True)
            comment_question = next(q for q in questions if q.purpose == Question.Purpose.COMMENT)
            Comment.objects.bulk_create(
                Comment(
                    wave=wave,
                    question=comment_question,
                    unit=a.unit,
                    role_level=a.role_level,
                    role_level_to=a.role_level_to,
                    tenure_band=a.tenure_band,
                    text=text,
                )
                for a, text in comments
            )
            publish(wave=wave, force=True)

    def _users(self) -> None:
        User = get_user_model()
        logins = []
        for username, role in (("hr", "HR admin"), ("leader", "leader of Operations")):
            user, _ = User.objects.get_or_create(username=username)
            password = "-".join(secrets.token_hex(2) for _ in range(4))
            user.set_password(password)
            user.save()
            logins.append((username, password, role))
        hr = User.objects.get(username="hr")
        hr.groups.add(Group.objects.get(name=HR_GROUP))
        User.objects.filter(pk=hr.pk).update(is_staff=True)  # the admin is HR's editor
        operations = Unit.objects.get(external_id="demo-ops")
        LeaderGrant.objects.get_or_create(user=User.objects.get(username="leader"), unit=operations)
        self.stdout.write("\nDemo log-ins (new passwords on every run):")
        for username, password, role in logins:
            self.stdout.write(f"  {username:<8} {password}   ({role})")
        self.stdout.write("")


def _answers(rng, questions, theta_shift: float, hot: bool) -> list[tuple[int, int]]:
    """One person's answers from a latent climate score: items of a dimension share the person's
    score, so they correlate; reverse-scored items run the other way."""
    theta = float(rng.normal(theta_shift, 0.8))
    dimension_effect: dict[int, float] = {}
    pairs: list[tuple[int, int]] = []
    chosen: dict[str, set[int]] = {}
    for question in questions:
        if question.show_if and not any(
            chosen.get(c["question"], set()) & set(c["values"]) for c in question.show_if
        ):
            continue
        value = _answer(rng, question, theta, dimension_effect, hot)
        if value is None:
            continue
        values = value if isinstance(value, list) else [value]
        chosen[question.code] = set(values)
        pairs.extend((question.pk, v) for v in values)
    return pairs


def _answer(rng, question, theta, dimension_effect, hot):
    kind, purpose = question.kind, question.purpose
    if rng.random() < 0.03 and purpose != Question.Purpose.DEMOGRAPHIC:
        return None  # a skipped question
    if purpose == Question.Purpose.SCALE or (kind == "agree5" and question.dimension_id):
        shift = dimension_effect.setdefault(question.dimension_id, float(rng.normal(0, 0.35)))
        latent = 3.3 + 0.9 * (theta + shift) + float(rng.normal(0, 0.6))
        if kind == "freq5":  # frequency of incivility: worse climate, more often
            latent = 2.0 - 0.8 * (theta + shift) + float(rng.normal(0, 0.6))
            value = int(np.clip(round(latent), 1, 5))
            return value
        value = int(np.clip(round(latent), 1, 5))
        return 6 - value if question.reverse_scored else value
    if purpose in (Question.Purpose.EXPERIENCED, Question.Purpose.WITNESSED):
        base = 0.25 if purpose == Question.Purpose.EXPERIENCED else 0.35
        chance = base + (0.35 if hot else 0.0) - 0.12 * theta
        if question.topic == "sexual":
            chance *= 0.5
        if rng.random() >= max(0.02, min(0.9, chance)):
            return 1
        return int(rng.choice([2, 3, 4, 5], p=[0.5, 0.3, 0.15, 0.05]))
    if purpose == Question.Purpose.REPORTED:
        return int(rng.choice([1, 2, 9], p=[0.3, 0.62, 0.08]))
    if purpose == Question.Purpose.WHY_NOT_REPORTED:
        picks = rng.choice([1, 2, 3, 4, 5, 6, 7], size=int(rng.integers(1, 4)), replace=False)
        return sorted(int(p) for p in picks)
    if purpose == Question.Purpose.SAFE_PLACE:
        return int(np.clip(round(6.5 + 2.2 * theta + float(rng.normal(0, 1.2))), 0, 10))
    if purpose == Question.Purpose.DEMOGRAPHIC:
        if rng.random() < 0.25:
            return None
        values = [int(c["value"]) for c in question.choices]
        weights = np.array([3.0 if v == 99 else 10.0 for v in values])
        return int(rng.choice(values, p=weights / weights.sum()))
    if kind == "agree5":
        return int(np.clip(round(3.3 + 0.9 * theta + float(rng.normal(0, 0.7))), 1, 5))
    return None
