"""A submission's claim reads one row, whatever the planner's statistics say.

A wave's invitations are created in bulk just before it opens, so the table's statistics
(from the last ANALYZE) know nothing of them. The claim used to ask for `wave_id IN (open
waves)` beside the primary key, and with one row expected per wave PostgreSQL could walk the
wave's index and filter every invitation of the wave on each submission: half the submission
rate at 35,600 invitations. These tests build that state and read the plan PostgreSQL runs.
"""

import json

import pytest
from django.db import connection

from surveys import services
from surveys.models import FormNonce, Invitation
from tests.factories import UnitFactory, WaveFactory, level

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the plans are PostgreSQL's own"),
]

INVITATIONS = 3000


def _scans(plan: dict, table: str):
    """Every node of the executed plan that scans `table`, with the plan's own figures."""
    if plan.get("Relation Name") == table and plan["Node Type"].endswith("Scan"):
        yield plan
    for child in plan.get("Plans", []):
        yield from _scans(child, table)


def _executed(sql: str, params: list) -> dict:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", params)
        document = cursor.fetchone()[0]
    return (json.loads(document) if isinstance(document, str) else document)[0]["Plan"]


@pytest.fixture
def fresh_wave():
    """A wave whose invitations and nonces the statistics have never seen, beside an older
    wave that they know."""
    unit = UnitFactory()
    instrument = services.load_default_instrument()
    roster = [services.RosterRow(unit, level("individual-contributor"), None)] * INVITATIONS
    known = WaveFactory(instrument=instrument, units=[unit])
    services.create_invitations(wave=known, roster=roster)
    for _ in range(50):
        services.issue_form_nonce(wave=known)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Invitation._meta.db_table}, {FormNonce._meta.db_table}")
    wave = WaveFactory(instrument=instrument, units=[unit])
    tokens = services.create_invitations(wave=wave, roster=roster)
    nonces = [services.issue_form_nonce(wave=wave) for _ in range(INVITATIONS)]
    return wave, tokens, nonces


def test_claiming_an_invitation_reads_that_invitation_only(fresh_wave):
    wave, tokens, _nonces = fresh_wave
    invitation = services.invitation_for_token(tokens[len(tokens) // 2])
    sql, wave_params = services._claim_sql()
    plan = _executed(sql, [True, invitation.pk, False, wave.pk, *wave_params])
    scans = list(_scans(plan, Invitation._meta.db_table))
    assert [scan["Index Name"] for scan in scans] == [f"{Invitation._meta.db_table}_pkey"]
    assert [scan["Actual Rows"] for scan in scans] == [1]
    assert all(scan.get("Rows Removed by Filter", 0) == 0 for scan in scans)
    assert Invitation.objects.get(pk=invitation.pk).used


def test_claiming_a_form_nonce_reads_that_nonce_only(fresh_wave):
    wave, _tokens, nonces = fresh_wave
    hashed = services.hash_token(nonces[len(nonces) // 2])
    plan = _executed(services._nonce_claim_sql(), [True, hashed, False])
    scans = list(_scans(plan, FormNonce._meta.db_table))
    assert len(scans) == 1 and scans[0]["Actual Rows"] == 1
    assert scans[0].get("Rows Removed by Filter", 0) == 0
    assert FormNonce.objects.get(nonce_hash=hashed).used
