"""Response rates as published: counted from invitations at each publication, never between.

Rates come from invitations alone (nothing links an invitation to a response), but they still
say something about people: in a unit of three, "3 of 3" says each of them took part, and a
rate that moved by one between two page loads says someone just answered. So the rates are
counted when a batch is published (they move with the figures, in steps of at least k) and
decided like the figures: a unit's rate is shown only if its subtree has at least k
invitations, with complementary suppression over the unit tree (a parent is its children plus
its own direct members, never shown alone), so nobody can subtract their way to a small
unit's rate. Decided by `reports.anonymity_engine`, the engine of the figures.
"""

from collections import defaultdict

from reports.anonymity_engine import decide_suppression
from surveys.models import Unit, Wave
from surveys.services import response_rates

WAVE = "wave"


def decide_rates(wave: Wave) -> dict[str, list[int]]:
    """{unit id (str) or "wave": [invitations used, invitations sent]} over each subtree, for
    the units whose rate may be shown."""
    direct = response_rates(wave=wave)
    if not direct:
        return {}
    paths = dict(Unit.objects.filter(pk__in=direct).values_list("pk", "path"))
    used: dict[int, int] = defaultdict(int)
    invited: dict[int, int] = defaultdict(int)
    children: dict[int | None, set[int]] = defaultdict(set)
    for unit_id, (u, i) in direct.items():
        chain = [int(step) for step in paths[unit_id].strip("/").split("/")]
        for ancestor in chain:
            used[ancestor] += u
            invited[ancestor] += i
        children[None].add(chain[0])
        for parent, child in zip(chain, chain[1:], strict=False):
            children[parent].add(child)
    counts: dict = {("T", unit_id): n for unit_id, n in invited.items()}
    counts[WAVE] = sum(i for _u, i in direct.values())
    hidden = set()
    relations = []
    for parent, kids in children.items():
        members = [("T", child) for child in sorted(kids)]
        own = direct.get(parent, (0, 0))[1] if parent is not None else 0
        if own:
            counts[("own", parent)] = own
            hidden.add(("own", parent))
            members.append(("own", parent))
        relations.append((("T", parent) if parent is not None else WAVE, members))
    withheld = decide_suppression(counts=counts, relations=relations, k=wave.k, hidden=hidden)
    shown = {
        str(unit_id): [used[unit_id], invited[unit_id]]
        for unit_id in invited
        if ("T", unit_id) not in withheld
    }
    if WAVE not in withheld:
        shown[WAVE] = [sum(u for u, _i in direct.values()), counts[WAVE]]
    return shown
