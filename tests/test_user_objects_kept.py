"""segdb never silently replaces an analyst's own view or macro with its `<name>_segments`,
`<name>_centroids`, `<name>_assign`, `<name>_distance` or `<name>_rule_segment` (issue 15, item 7)."""

from __future__ import annotations

import pytest

import segdb
from conftest import run_cli

PEOPLE = ("CREATE TABLE people AS SELECT i AS id, (i % 2) * 10.0 + (i % 5) / 5.0 AS a, "
          "(i % 3) / 3.0 AS b FROM range(40) r(i)")
USER_OBJECTS = {
    "shop_centroids": ("CREATE VIEW shop_centroids AS SELECT 42 AS mine",
                       "SELECT mine FROM shop_centroids", "a view named 'shop_centroids'"),
    "shop_segments": ("CREATE VIEW shop_segments AS SELECT 42 AS mine",
                      "SELECT mine FROM shop_segments", "a view named 'shop_segments'"),
    "shop_assign": ("CREATE MACRO shop_assign(x, y) AS 42", "SELECT shop_assign(1, 2) AS mine",
                    "a macro named 'shop_assign'"),
    "shop_distance": ("CREATE MACRO shop_distance(x, y) AS 42", "SELECT shop_distance(1, 2) AS mine",
                      "a macro named 'shop_distance'"),
    "shop_rule_segment": ("CREATE MACRO shop_rule_segment(x, y) AS 42",
                          "SELECT shop_rule_segment(1, 2) AS mine", "a macro named 'shop_rule_segment'"),
}


@pytest.fixture
def people(tmp_path):
    path = str(tmp_path / "mine.duckdb")
    with segdb.connect(path) as db:
        db.sql(PEOPLE)
    return path


@pytest.mark.parametrize("obj", sorted(USER_OBJECTS))
def test_create_refuses_to_replace_a_users_object(people, obj):
    make, read, named = USER_OBJECTS[obj]
    with segdb.connect(people) as db:
        db.sql(make)
        with pytest.raises(segdb.DefinitionError) as err:
            db.create("shop", source="people", key="id", features=["a", "b"], k=2)
        assert err.value.message == (f"{named} already exists and is not segdb's; segdb would replace "
                                     "it; drop or rename it, or choose another segmentation name")
        assert db.names() == []
        assert db.sql(read).column("mine").to_pylist() == [42]


@pytest.mark.parametrize("obj", sorted(USER_OBJECTS))
def test_first_refresh_refuses_an_object_made_after_create(people, obj):
    make, read, named = USER_OBJECTS[obj]
    with segdb.connect(people) as db:
        db.create("shop", source="people", key="id", features=["a", "b"], k=2)
        db.sql(make)
    result = run_cli(["refresh", "shop"], people)
    assert (result.exit_code, result.stderr) == (1, (
        f"Error: {named} already exists and is not segdb's; segdb would replace it; drop or "
        "rename it, or choose another segmentation name\n"))
    with segdb.connect(people) as db:
        assert db.runs("shop") == []
        assert db.sql(read).column("mine").to_pylist() == [42]


def test_segdbs_own_views_and_macros_are_replaced_run_after_run(people):
    """After the first run the names are segdb's: refreshes and a redefinition replace them."""
    with segdb.connect(people) as db:
        db.create("shop", source="people", key="id", features=["a", "b"], k=2)
        db.refresh("shop")
        db.refresh("shop")
        db.create("shop", source="people", key="id", features=["a", "b"], k=3, replace=True)
        run = db.refresh("shop")
        assert run.k == 3
        assert db.sql("SELECT count(DISTINCT segment_id) AS n FROM shop_segments").column("n").to_pylist() == [3]
