import pytest
from django.core.management import CommandError, call_command

from surveys.models import Unit
from surveys.orgimport import OrgImportError, import_org

pytestmark = pytest.mark.django_db

GOOD = """id,name,parent_id
acme,Acme,
ops,Operations,acme
ops-north,North team,ops
eng,Engineering,acme
"""


def snapshot():
    return sorted(Unit.objects.values_list("external_id", "name", "parent__external_id", "path"))


def test_import_creates_the_tree():
    result = import_org(text=GOOD)
    assert (result.created, result.updated, result.unchanged) == (4, 0, 0)
    north = Unit.objects.get(external_id="ops-north")
    assert [u.external_id for u in Unit.objects.ancestors_of(north)] == ["acme", "ops", "ops-north"]


def test_children_listed_before_their_parent_are_accepted():
    import_org(text="id,name,parent_id\nteam,Team,div\ndiv,Division,root\nroot,Root,\n")
    assert Unit.objects.get(external_id="team").depth == 2


def test_reimport_updates_names_and_moves_units():
    import_org(text=GOOD)
    result = import_org(text="id,name,parent_id\nops-north,North squad,eng\n")
    assert (result.created, result.updated) == (0, 1)
    north = Unit.objects.get(external_id="ops-north")
    assert north.name == "North squad"
    assert north.is_within(Unit.objects.get(external_id="eng"))


def test_malformed_file_is_rejected_whole_with_every_bad_line():
    import_org(text=GOOD)
    before = snapshot()
    bad = (
        "id,name,parent_id\n"
        "new,New team,ops\n"  # fine on its own
        ",No id,acme\n"  # line 3
        "x,,acme\n"  # line 4
        "y,Orphan,missing\n"  # line 5
        "new,Duplicate,acme\n"  # line 6
        "z,Self,z\n"  # line 7
    )
    with pytest.raises(OrgImportError) as error:
        import_org(text=bad)
    lines = [(e.line, e.reason) for e in error.value.errors]
    assert [line for line, _ in lines] == [3, 4, 5, 6, 7, 7]
    assert "id is empty" in lines[0][1]
    assert "name is empty" in lines[1][1]
    assert "'missing'" in lines[2][1]
    assert "already used on line 2" in lines[3][1]
    assert snapshot() == before
    assert not Unit.objects.filter(external_id="new").exists()


def test_a_cycle_through_existing_units_is_rejected():
    import_org(text=GOOD)
    before = snapshot()
    with pytest.raises(OrgImportError, match="cycle"):
        import_org(text="id,name,parent_id\nacme,Acme,ops-north\n")
    assert snapshot() == before


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("name,parent\nA,\n", "missing column"),
        ("id,name,parent_id\n", "no units"),
        ("id,name,parent_id\na\n", "expected 3 columns"),
    ],
)
def test_structural_problems_are_explained(text, reason):
    with pytest.raises(OrgImportError, match=reason):
        import_org(text=text)
    assert not Unit.objects.exists()


def test_command_reports_errors_and_changes_nothing(tmp_path):
    path = tmp_path / "org.csv"
    path.write_text("id,name,parent_id\na,A,\nb,,a\n", encoding="utf-8")
    with pytest.raises(CommandError, match=r"nothing was changed:\nline 3: the name is empty"):
        call_command("import_org", str(path))
    assert not Unit.objects.exists()


def test_command_imports_a_good_file(tmp_path, capsys):
    path = tmp_path / "org.csv"
    path.write_text("\ufeff" + GOOD, encoding="utf-8")
    call_command("import_org", str(path))
    assert "4 created" in capsys.readouterr().out
    assert Unit.objects.count() == 4


def test_command_explains_a_missing_or_binary_file(tmp_path):
    with pytest.raises(CommandError, match="no such file"):
        call_command("import_org", str(tmp_path / "nope.csv"))
    binary = tmp_path / "org.csv"
    binary.write_bytes(b"\xff\xfe\x00\x81garbage")
    with pytest.raises(CommandError, match="UTF-8"):
        call_command("import_org", str(binary))
