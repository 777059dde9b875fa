"""`segdb apply FILE`: segmentations declared in TOML - created, versioned when changed, refreshed
with `refresh --all`; invalid files refused with the file, line and key."""

from __future__ import annotations

import pytest

import segdb
from conftest import run_cli, table_checksums
from segdb.define.config import ConfigError
from segdb.define.features import Feature
from survey_fixture import load_survey

GOOD = '''# survey segments
[segmentation.survey]
source = "survey"
key = "respondent_id"
k = 3
weight = "weight"

[[segmentation.survey.features]]
name = "q_price"
type = "likert"
scale = [1, 7]
codes = [8, 9, 99]

[[segmentation.survey.features]]
name = "q_agent_unimportant"
label = "Agent important"
scale = [1, 7]
codes = [8, 9, 99]
reverse = true

[[segmentation.survey.features]]
name = "region"
type = "category"

[segmentation.plain]
source = "SELECT respondent_id, q_price * 1.0 AS price, weight FROM survey"
key = "respondent_id"
k = 2
seed = 3
features = ["price", {name = "weight", label = "survey weight"}]
'''


@pytest.fixture
def survey_db(db_path):
    with segdb.connect(db_path) as db:
        load_survey(db.con)
    return db_path


def write(tmp_path, text, name="segdb.toml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_apply_creates_versions_and_refresh_all(survey_db, tmp_path):
    path = write(tmp_path, GOOD)
    result = run_cli(["apply", path], survey_db)
    assert (result.exit_code, result.output) == (0, "survey: created version 1\nplain: created version 1\n")
    with segdb.connect(survey_db, read_only=True) as db:
        d = db.definition("survey")
        assert d.options == {"weight": "weight"}
        assert d.features == (
            Feature("q_price", kind="likert", scale_min=1, scale_max=7, codes=(8, 9, 99)),
            Feature("q_agent_unimportant", label="Agent important", kind="likert", scale_min=1,
                    scale_max=7, codes=(8, 9, 99), reverse=True),
            Feature("region", kind="category"))
        assert (db.definition("plain").seed, db.definition("plain").features[1].display) == (3, "survey weight")
    # unchanged file: nothing new
    assert run_cli(["apply", path], survey_db).output == ("survey: unchanged at version 1\n"
                                                          "plain: unchanged at version 1\n")
    assert run_cli(["refresh", "--all"], survey_db).exit_code == 0
    # a changed definition becomes version 2; the old run keeps version 1
    write(tmp_path, GOOD.replace("k = 3", "k = 4"))
    assert run_cli(["apply", path], survey_db).output == ("survey: updated to version 2\n"
                                                          "plain: unchanged at version 1\n")
    assert run_cli(["refresh", "--all"], survey_db).exit_code == 0
    with segdb.connect(survey_db, read_only=True) as db:
        runs = db.runs("survey")
        assert [(r["definition_version"], r["k"]) for r in runs] == [(2, 4), (1, 3)]
        old_run = runs[1]["run_id"]
    shown = run_cli(["show", "survey"], survey_db).output.splitlines()[0]
    assert ", definition version 2, " in shown
    shown_old = run_cli(["show", "survey", "--run", str(old_run)], survey_db).output.splitlines()[0]
    assert shown_old.startswith(f"survey: run {old_run} (its 1st run), definition version 1, ")


def test_apply_refresh_flag_refreshes_changed_only(survey_db, tmp_path):
    path = write(tmp_path, GOOD)
    out = run_cli(["apply", path, "--refresh"], survey_db).output.splitlines()
    assert out[0] == "survey: created version 1" and out[2].startswith("survey: run 1 (its 1st run), k=3, ")
    assert run_cli(["apply", path, "--refresh"], survey_db).output == (
        "survey: unchanged at version 1\nplain: unchanged at version 1\n")


CASES = [
    ("k = 3", "k = ", "line 5, key k: not valid TOML: Invalid value"),
    ('weight = "weight"', 'wieght = "weight"',
     "line 6, key segmentation.survey.wieght: unknown key 'wieght'; use source, key, k, k_range, scale, "
     "nulls, seed, n_init, max_fit_rows, weight, external_access, warm_start, rules_depth, features"),
    ("k = 3", "k = 2.5", 'line 5, key segmentation.survey.k: k must be a whole number or "auto", not 2.5'),
    ("codes = [8, 9, 99]\nreverse", "codes = [4, 9]\nreverse",
     "line 18, key segmentation.survey.features[2].codes: likert feature 'q_agent_unimportant': code 4 "
     "lies inside its scale 1..7, so it would be both an answer and a missing value; use codes outside "
     "the scale"),
    ('name = "region"', 'name = "regoin"',
     "line 22, key segmentation.survey.features[3].name: feature column 'regoin' not found in table "
     "survey; did you mean 'region'?"),
    ('type = "category"', 'type = "category"\nlevels = 3',
     "line 24, key segmentation.survey.features[3].levels: unknown feature key 'levels'; use name, label, "
     "expr, type, scale, codes, reverse, weight"),
    ('"price", {name', '"prize", {name',
     "line 30, key segmentation.plain.features[1].name: feature column 'prize' not found in the source "
     "SELECT; did you mean 'price'?"),
    ("k = 3", 'k = "auto"\nk_range = [2, 60]',
     "line 5, key segmentation.survey.k: k range 2..60 goes above 50; scan at most up to k=50"),
]


def test_k_auto_with_a_range_is_stored(survey_db, tmp_path):
    path = write(tmp_path, GOOD.replace("k = 3", 'k = "auto"\nk_range = [2, 6]', 1))
    with segdb.connect(survey_db) as db:
        db.apply(path)
        d = db.definition("survey")
    assert (d.k, d.k_min, d.k_max) == (None, 2, 6)


@pytest.mark.parametrize("old,new,expected", CASES)
def test_invalid_files_name_file_line_and_key(survey_db, tmp_path, old, new, expected):
    path = write(tmp_path, GOOD.replace(old, new, 1))
    before = table_checksums(survey_db)
    result = run_cli(["apply", path], survey_db)
    assert result.exit_code == 1
    assert result.stderr == f"Error: {path}, {expected}\n"
    assert table_checksums(survey_db) == before  # nothing stored, not even the valid segmentation


def test_unknown_top_level_table_and_missing_file(survey_db, tmp_path):
    path = write(tmp_path, GOOD.replace("[segmentation.plain]", "[segmentations.plain]"))
    with segdb.connect(survey_db) as db:
        with pytest.raises(ConfigError, match=rf"^{path}, line 25, key segmentations: unknown top-level "
                                              r"key; declare segmentations as \[segmentation.NAME\] tables$"):
            db.apply(path)
    result = run_cli(["apply", str(tmp_path / "missing.toml")], survey_db)
    assert result.stderr == f"Error: file {tmp_path / 'missing.toml'} not found\n"


def test_key_type_change_is_refused_before_anything_is_stored(survey_db, tmp_path):
    path = write(tmp_path, GOOD)
    assert run_cli(["apply", path], survey_db).exit_code == 0
    write(tmp_path, GOOD.replace("k = 3", "k = 5").replace(
        "SELECT respondent_id,", "SELECT CAST(respondent_id AS VARCHAR) AS respondent_id,"))
    before = table_checksums(survey_db)
    result = run_cli(["apply", path], survey_db)
    assert result.stderr == (f"Error: {path}, line 27, key segmentation.plain.key: the key of 'plain' "
                             "changes type from BIGINT to VARCHAR; declare the segmentation under a new "
                             "name instead\n")
    assert table_checksums(survey_db) == before  # survey (changed, valid) was not stored either


def test_rules_depth_and_warm_start_from_toml(tmp_path):
    db_path = str(tmp_path / "opts.duckdb")
    with segdb.connect(db_path) as db:
        db.sql("CREATE TABLE t AS SELECT i AS id, i % 7 AS a, (i * 3) % 5 AS b FROM range(60) r(i)")
    toml = tmp_path / "opts.toml"
    toml.write_text('[segmentation.o]\nsource = "t"\nkey = "id"\nk = 2\nrules_depth = 2\nwarm_start = true\n'
                    'features = [{ name = "a" }, { name = "b" }]\n')
    assert run_cli(["apply", str(toml)], db_path).exit_code == 0
    with segdb.connect(db_path, read_only=True) as db:
        assert db.definition("o").options == {"rules_depth": 2, "warm_start": True}
    toml.write_text(toml.read_text().replace("rules_depth = 2", "rules_depth = 9"))
    r = run_cli(["apply", str(toml)], db_path)
    assert r.exit_code == 1
    assert r.output.startswith(f"Error: {toml}, line ") and "rules_depth=9 should be an integer from 0 (no rules) to 8" in r.output
