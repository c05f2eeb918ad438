"""Fuzzing the CSV imports: the organisation file (`surveys.orgimport`, `import_org`) and the
roster of `invite`. Random CSV text with quotes, BOMs, NULs, huge lines and broken rows, and
random bytes in random encodings written to a file for the commands.

Properties: a file is either applied whole or refused whole with every bad line named (never
another exception, never a partial import), and the commands answer with a CommandError that
says what to fix, never a traceback.
"""

import csv
import io
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from hypothesis import given
from hypothesis import strategies as st

from surveys.management.commands.invite import RosterInvalid, parse_roster
from surveys.models import Headcount, Invitation, RoleLevel, TenureBand, Unit
from surveys.orgimport import OrgImportError, import_org, parse_org_csv
from tests.fuzz.support import counted, examples, payloads, rolled_back, row_counts, unicode_text

pytestmark = pytest.mark.django_db

# --- CSV text ----------------------------------------------------------------------------------

ORG_HEADERS = [
    "id,name,parent_id",
    "ID, Name ,Parent-ID",
    "unit_id,name,parent",
    "name,id,parent_id,extra",
    "id,name",
    "",
    '"id","name","parent_id"',
]
ROSTER_HEADERS = [
    "email,unit,role_level,tenure_band",
    "Email,Unit,Role,Tenure",
    "e-mail,unit_id,level",
    "email,unit,role_level",
    "unit,email",
    "",
]
ids = st.one_of(
    st.sampled_from(["T", "T.0", "T.1", "T.0.0", "T.1.1", "NEW1", "NEW2", "NEW3"]),
    st.text(alphabet="AB12.-_", min_size=0, max_size=6),
    payloads,
    st.builds(lambda n: "x" * n, st.sampled_from([64, 65, 300])),
)
names = st.one_of(
    st.sampled_from(["Sales", "Tech", "Ops North"]),
    unicode_text,
    payloads,
    st.builds(lambda n: "N" * n, st.sampled_from([200, 201, 5000])),
)
cells = st.one_of(ids, names, st.just(""), st.just('"'), st.just('a"b'), st.just("\r\n"))


def _file(header: str, rows) -> str:
    return header + "\n" + "\n".join(_line(list(row), quoted=True) for row in rows)


def _line(values: list[str], *, quoted: bool) -> str:
    if quoted:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="").writerow(values)
        return buffer.getvalue()
    return ",".join(values)  # raw: stray quotes, separators and newlines stay as they are


@st.composite
def csv_text(draw, headers: list[str], columns: st.SearchStrategy) -> str:
    """A CSV file as a person or a program might save it, often broken."""
    header = draw(st.one_of(st.sampled_from(headers), unicode_text))
    rows = draw(st.lists(st.lists(columns, min_size=0, max_size=5), min_size=0, max_size=8))
    quoted = draw(st.booleans())
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    lines = [header, *(_line(row, quoted=quoted) for row in rows)]
    text = newline.join(lines) + draw(st.sampled_from(["", "\n", newline * 3]))
    if draw(st.booleans()):
        text = "\ufeff" + text
    if draw(st.integers(0, 5)) == 0:
        position = draw(st.integers(0, len(text)))
        text = (
            text[:position]
            + draw(st.sampled_from(["\x00", '"', "\ufeff", "\x1a"]))
            + text[position:]
        )
    if draw(st.integers(0, 10)) == 0:
        text += "\n" + "y" * draw(st.sampled_from([10_000, 200_000]))  # a huge line
    return text


# Well-formed rows of known ids mixed in, so that whole imports also succeed and change things.
org_rows = st.lists(
    st.tuples(
        st.sampled_from(["NEW1", "NEW2", "NEW3", "T.0", "T.1", "T.0.0"]),
        st.one_of(st.sampled_from(["Alpha", "Beta", "Gamma"]), unicode_text, payloads),
        st.sampled_from(["", "T", "T.0", "NEW1", "NEW2", "NEW3"]),
    ),
    min_size=1,
    max_size=6,
)
org_files = st.one_of(
    csv_text(ORG_HEADERS, cells),
    org_rows.map(
        lambda rows: "id,name,parent_id\n" + "\n".join(_line(list(r), quoted=True) for r in rows)
    ),
)


@pytest.fixture
def tree():
    """T -> T.0 (-> T.0.0), T.1 (-> T.1.1) beside the published organisation."""
    root = Unit.objects.create(external_id="T", name="T root")
    first = Unit.objects.create(external_id="T.0", name="T/0", parent=root)
    second = Unit.objects.create(external_id="T.1", name="T/1", parent=root)
    Unit.objects.create(external_id="T.0.0", name="T/0/0", parent=first)
    Unit.objects.create(external_id="T.1.1", name="T/1/1", parent=second)
    return root


def snapshot() -> set[tuple]:
    return set(Unit.objects.values_list("external_id", "name", "parent__external_id", "path"))


@examples(default=150, ci=2800)
@given(text=org_files)
def test_org_csv_parser_accepts_or_names_every_bad_line(fuzzed, tree, text):
    counted()
    try:
        rows = parse_org_csv(text)
    except OrgImportError as error:
        assert error.errors, text
        for problem in error.errors:
            assert problem.line >= 1 and problem.reason.strip(), problem
            assert str(problem).startswith(f"line {problem.line}: ")
    else:
        assert rows
        for line, unit_id, name, _parent in rows:
            assert line >= 2 and unit_id and name and len(unit_id) <= 64 and len(name) <= 200


@examples(default=60, ci=800)
@given(text=org_files)
def test_org_import_applies_a_whole_file_or_nothing(fuzzed, tree, text):
    counted()
    with rolled_back():
        before = snapshot()
        try:
            result = import_org(text=text)
        except OrgImportError as error:
            assert error.errors
            assert snapshot() == before  # refused whole
            return
        after = snapshot()
        assert Unit.objects.count() == len(before) + result.created
        for _line_number, unit_id, name, parent_id in parse_org_csv(text):
            unit = Unit.objects.select_related("parent").get(external_id=unit_id)
            assert unit.name == name
            assert (unit.parent.external_id if unit.parent else "") == parent_id
            # The materialised path agrees with the parent chain.
            expected = (unit.parent.path if unit.parent else "/") + f"{unit.pk:010d}/"
            assert unit.path == expected
        assert len(after) >= len(before)


def _chain(depth: int) -> str:
    """A chain of units, each the parent of the next, children listed before their parents."""
    lines = ["id,name,parent_id"] + [
        f"D{level},Level {level},{f'D{level - 1}' if level else ''}"
        for level in reversed(range(depth))
    ]
    return "\n".join(lines)


def test_the_deepest_chain_a_path_can_hold_is_imported(fuzzed):
    with rolled_back():
        deepest = (Unit._meta.get_field("path").max_length - 1) // (Unit.PATH_STEP + 1)
        import_org(text=_chain(deepest))
        unit = Unit.objects.get(external_id=f"D{deepest - 1}")
        assert unit.depth == deepest - 1
        assert len(unit.path) <= Unit._meta.get_field("path").max_length


@pytest.mark.parametrize("depth", [182, 1500])
def test_a_chain_too_deep_for_a_path_is_refused_with_a_message(fuzzed, depth):
    with rolled_back():
        before = snapshot()
        with pytest.raises(OrgImportError) as refused:
            import_org(text=_chain(depth))
        assert "at most 181 levels are supported" in str(refused.value)
        assert snapshot() == before


def test_moving_an_existing_subtree_too_deep_is_refused(fuzzed, tree):
    with rolled_back():
        import_org(text=_chain(180))
        before = snapshot()
        # T.0.0 sits two levels under T: moving T under D179 pushes it to 183 levels.
        with pytest.raises(
            OrgImportError, match=r"line 2: unit 'T\.0[.0]*' would be 18[23] levels deep"
        ):
            import_org(text="id,name,parent_id\nT,T root,D179\n")
        assert snapshot() == before


# --- The roster ---------------------------------------------------------------------------------

emails = st.one_of(
    st.emails().map(str),
    st.sampled_from(["anna@example.org", "ANNA@example.org", "bob@example.org", "x@", "@y"]),
    unicode_text,
    payloads,
)
levels = st.sampled_from(["individual-contributor", "manager", "Team lead", "MANAGER", "boss", ""])
tenures = st.sampled_from(["", "lt1", "1-3", "none", "Less than a year"])
roster_units = st.sampled_from(["T", "T.0", "T.1.1", "NOPE", ""])
roster_cells = st.one_of(emails, levels, tenures, roster_units, cells)
roster_rows = st.lists(
    st.tuples(emails, roster_units, levels, tenures), min_size=1, max_size=6
).map(lambda rows: _file("email,unit,role_level,tenure_band", rows))
roster_files = st.one_of(csv_text(ROSTER_HEADERS, roster_cells), roster_rows)


@pytest.fixture
def roster_wave(fuzzed, tree):
    from tests.factories import WaveFactory

    return WaveFactory(instrument=fuzzed.org.instrument, units=[tree])


@examples(default=100, ci=1000)
@given(text=roster_files)
def test_roster_parser_accepts_or_names_every_bad_line(roster_wave, text):
    counted()
    try:
        rows = parse_roster(text, wave=roster_wave)
    except RosterInvalid as error:
        assert error.errors
        for problem in error.errors:
            assert problem.line >= 1 and problem.reason.strip()
    else:
        scope = set(Unit.objects.subtree(roster_wave.units.get()).values_list("pk", flat=True))
        assert rows
        for email, row in rows:
            assert "@" in email
            assert row.unit.pk in scope
            assert isinstance(row.role_level, RoleLevel)
            assert row.tenure_band is None or isinstance(row.tenure_band, TenureBand)


ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "latin-1", "cp1252", "shift_jis", "utf-32"]


def as_bytes(text: str, encoding: str, junk: bytes) -> bytes:
    data = text.encode(encoding, errors="replace")
    return data + junk


junk = st.one_of(st.just(b""), st.binary(max_size=40), st.just(b"\xff\xfe\x00"))


@examples(default=50, ci=250)
@given(text=roster_files, encoding=st.sampled_from(ENCODINGS), tail=junk, expires=st.booleans())
def test_invite_command_creates_every_link_or_none(
    roster_wave, tmp_path, text, encoding, tail, expires
):
    counted()
    roster = tmp_path / "roster.csv"
    roster.write_bytes(as_bytes(text, encoding, tail))
    out = tmp_path / "links.csv"
    out.unlink(missing_ok=True)
    with rolled_back():
        before = row_counts(Invitation, Headcount)
        options = {"out": str(out)}
        if expires:
            options["expires_days"] = 7
        try:
            call_command(
                "invite", str(roster_wave.pk), str(roster), stdout=io.StringIO(), **options
            )
        except CommandError as error:
            message = str(error)
            assert str(roster) in message, message  # names the file and says what is wrong
            assert row_counts(Invitation, Headcount) == before
            assert not out.exists()  # no links file without invitations
            return
        links = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8"))))
        assert links[0] == ["email", "link"]
        created = Invitation.objects.count() - before["Invitation"]
        assert created == len(links) - 1 > 0
        assert all("/s/i/" in link for _email, link in links[1:])


@examples(default=50, ci=300)
@given(text=org_files, encoding=st.sampled_from(ENCODINGS), tail=junk)
def test_import_org_command_applies_a_whole_file_or_explains(
    fuzzed, tree, tmp_path, text, encoding, tail
):
    counted()
    path = tmp_path / "org.csv"
    path.write_bytes(as_bytes(text, encoding, tail))
    with rolled_back():
        before = snapshot()
        try:
            call_command("import_org", str(path), stdout=io.StringIO())
        except CommandError as error:
            assert str(path) in str(error)
            assert snapshot() == before
        else:
            assert len(snapshot()) >= len(before)


def test_missing_files_are_explained(roster_wave, tmp_path):
    missing = Path(tmp_path / "nowhere.csv")
    with pytest.raises(CommandError, match="no such file"):
        call_command("import_org", str(missing))
    with pytest.raises(CommandError, match="no such file"):
        call_command("invite", str(roster_wave.pk), str(missing), out=str(tmp_path / "o.csv"))
