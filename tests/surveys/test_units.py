import pytest

from surveys.models import Unit
from tests.factories import UnitFactory, build_tree

pytestmark = pytest.mark.django_db


def test_subtree_of_a_deep_tree_is_one_query(django_assert_num_queries):
    units = build_tree(depth=6, fanout=2)  # 63 units, 6 levels
    division = units[1]
    expected = {u.pk for u in units if u.path.startswith(division.path)}
    with django_assert_num_queries(1):
        found = {u.pk for u in Unit.objects.subtree(division)}
    assert found == expected
    assert len(found) == 31  # the division, 2 + 4 + 8 + 16 below it


def test_subtree_of_a_leaf_is_the_leaf():
    units = build_tree(depth=3, fanout=3)
    leaf = units[-1]
    assert list(Unit.objects.subtree(leaf)) == [leaf]


def test_subtree_does_not_catch_a_sibling_with_a_longer_id():
    root = UnitFactory()
    # ids 1..12 under one root: "/…1/" must not match "/…11/" or "/…12/".
    children = [UnitFactory(parent=root) for _ in range(12)]
    first = children[0]
    assert set(Unit.objects.subtree(first)) == {first}


def test_depth_and_ancestors_follow_the_tree():
    units = build_tree(depth=4, fanout=1)
    leaf = units[-1]
    assert leaf.depth == 3
    assert leaf.ancestor_ids == [u.pk for u in units]
    assert list(Unit.objects.ancestors_of(leaf)) == units


def test_moving_a_unit_moves_its_subtree():
    a, b = UnitFactory(), UnitFactory()
    child = UnitFactory(parent=a)
    grandchild = UnitFactory(parent=child)
    child.parent = b
    child.save()
    grandchild.refresh_from_db()
    assert grandchild.is_within(b)
    assert not grandchild.is_within(a)
    assert set(Unit.objects.subtree(b)) == {b, child, grandchild}


def test_a_unit_cannot_move_under_its_own_descendant():
    parent = UnitFactory()
    child = UnitFactory(parent=parent)
    parent.parent = child
    with pytest.raises(Exception, match="under itself"):
        parent.save()


def test_subtrees_of_several_units_is_one_query(django_assert_num_queries):
    units = build_tree(depth=3, fanout=3)
    picked = [units[1], units[2]]
    with django_assert_num_queries(1):
        found = list(Unit.objects.subtrees(picked))
    assert len(found) == 8
