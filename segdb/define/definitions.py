"""Segmentation definitions: what to segment, by which features, with which settings.

A definition is validated against the source when it is created (the source, key and features must
exist; a feature is numeric, a Likert item or a category, a column or an expression: see
segdb.define.features) and stored as a new version, so every run records exactly which definition it used.
"""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import datetime, timezone


from ..store import commits, run_partitions
from ..store.database import transaction
from . import access, categories, rulesql
from ..engines import catalog, dialect_of
from ..errors import DefinitionError, NotFoundError
from ..engines.quoting import check_segmentation_name, quote_identifier
from .features import Feature, check_against_source
from .source import Source, find_column, is_numeric_type, resolve_source, source_columns
from .weights import check_weight_column
from ..engines.base import Engine

SCALES = ("zscore", "minmax", "none")
NULL_POLICIES = ("skip", "error", "mean")
DEFAULT_SEED = 0
DEFAULT_N_INIT = 10
# Columns of the <name>_segments / <name>_centroids views; a feature may not shadow them.
RESERVED_OUTPUT_COLUMNS = ("segment_id", "segment_name", "size", "share", "distance", "run_id",
                           "fitted")


@dataclasses.dataclass(frozen=True)
class Definition:
    name: str
    version: int
    source: str
    source_kind: str
    key: str
    key_type: str
    features: tuple[Feature, ...]
    k: int | None
    scale: str
    nulls: str
    seed: int
    n_init: int
    k_min: int | None = None
    k_max: int | None = None
    max_fit_rows: int | None = None
    options: dict = dataclasses.field(default_factory=dict)
    created_at: datetime | None = None

    @property
    def labels_table(self) -> str:
        return f"segdb.{quote_identifier(self.name + '_labels')}"

    @property
    def segments_view(self) -> str:
        return quote_identifier(self.name + "_segments")

    @property
    def centroids_view(self) -> str:
        return quote_identifier(self.name + "_centroids")

    def resolve(self, con: Engine) -> Source:
        """The stored source now; a dropped table is named with the segmentation that needs it."""
        try:
            return resolve_source(con, self.source)
        except NotFoundError:
            raise NotFoundError(f"the source table {self.source!r} of {self.name!r} no longer exists; restore "
                                "it, or redefine the segmentation with `segdb create --replace`") from None


def _check_int(value, what: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            value = int(str(value))
        except ValueError:
            raise DefinitionError(f"{what} must be a whole number, not {value!r}") from None
    if value < minimum:
        raise DefinitionError(f"{what}={value} should be >= {minimum}")
    return value


SEED_MAX = 2 ** 32 - 1  # scikit-learn's random_state takes seeds up to this
DEFAULT_K_RANGE = (2, 10)  # the k range a refresh scans for k="auto" when none is given
K_AUTO_MAX = 50  # a scan refits k-means once per k; beyond this the scan costs more than it tells


def parse_k_range(text) -> tuple[int, int]:
    """'2..10' (or a (2, 10) pair) -> (2, 10)."""
    if isinstance(text, str):
        parts = text.split("..")
        if len(parts) != 2:
            raise DefinitionError(f"k range {text!r} should look like 2..10 (smallest..largest k)")
        text = parts
    try:
        lo, hi = text
    except (TypeError, ValueError):
        raise DefinitionError(f"k range {text!r} should be two whole numbers, e.g. (2, 10)") from None
    lo, hi = _check_int(lo, "the smallest k of the range", 2), _check_int(hi, "the largest k of the range", 2)
    if hi < lo:
        raise DefinitionError(f"k range {lo}..{hi} is empty; give the smallest k first, e.g. {hi}..{lo}")
    if hi > K_AUTO_MAX:
        raise DefinitionError(f"k range {lo}..{hi} goes above {K_AUTO_MAX}; scan at most up to k={K_AUTO_MAX}")
    return lo, hi


# Types of values that hold several values: a key of such a type cannot be joined and compared
# as one value on every engine (PostgreSQL int[], DuckDB INTEGER[] and INTEGER[3], STRUCT, MAP)
_COMPOSITE_TYPE = re.compile(r"\]\s*$|^(STRUCT|MAP|UNION|LIST|ARRAY)\b", re.IGNORECASE)


def check_key_type(key: str, key_type: str) -> None:
    if _COMPOSITE_TYPE.search(key_type):
        raise DefinitionError(
            f"key {key!r} is of type {key_type}, which holds several values; a key must be one scalar "
            "column (an integer, text, UUID, date or timestamp type): select one in a source "
            f"SELECT, e.g. {quote_identifier(key)}[1] AS customer_id for an array")


def check_name_lengths(con, feats, src, where: str) -> None:
    """On an engine that cuts names short (PostgreSQL: 63 bytes), the matrix's column names, with
    the category levels in the source now, must stay distinct (each refresh checks its own levels)."""
    if dialect_of(con) not in categories.NAME_BYTES:
        return
    names = []
    for f in feats:
        if f.kind != "category":
            names.append(f.name)
            continue
        rows = con.execute(f"SELECT segdb_level FROM ({categories.levels_query(f, src.relation, 'TRUE')}) "
                           f"AS segdb_levels ORDER BY segdb_level LIMIT {categories.MAX_LEVELS + 1}").fetchall()
        names += [categories.column_name(f, r[0]) for r in rows if r[0] is not None]
    categories.check_unique_names(names, where, dialect_of(con))


def check_k(k, k_range) -> tuple[int | None, int | None, int | None]:
    """(k, k_min, k_max): a fixed k >= 2 without a range, or "auto" with a range."""
    if isinstance(k, str) and k.strip().lower() == "auto":
        lo, hi = parse_k_range(k_range if k_range is not None else DEFAULT_K_RANGE)
        return None, lo, hi
    if k_range is not None:
        raise DefinitionError(f"a k range applies only with k='auto', not k={k!r}; "
                              "use k='auto' with k_range=(LO, HI), or drop the range")
    return _check_int(k, "k", 2), None, None


def _features(features) -> tuple[Feature, ...]:
    if isinstance(features, (str, Feature, dict)):  # one feature, not its characters
        features = [features]
    out = []
    for f in features:
        if isinstance(f, Feature):
            out.append(f)
        elif isinstance(f, str):
            out.append(Feature(f))
        elif isinstance(f, dict):
            unknown = sorted(set(f) - {x.name for x in dataclasses.fields(Feature)})
            if unknown:
                raise DefinitionError(f"unknown feature setting {unknown[0]!r} in {f!r}")
            out.append(Feature(**f))
        else:
            raise DefinitionError(f"a feature must be a column name, not {f!r}")
    if not out:
        raise DefinitionError("a segmentation needs at least one feature; add a column to features")
    names = [f.name for f in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise DefinitionError(f"feature {dupes[0]!r} is listed twice; list each feature once")
    return tuple(out)


WARM_START_OPTION = "warm_start"  # the definition option: refreshes start from the current run


def validate(con: Engine, *, name: str, source: str, key: str, features,
             k, scale: str = "zscore", nulls: str = "skip", seed=DEFAULT_SEED,
             n_init=DEFAULT_N_INIT, max_fit_rows=None, options: dict | None = None,
             weight: str | None = None, k_range=None, external_access: bool = False,
             warm_start: bool = False, rules_depth: int | None = None) -> Definition:
    """Check a definition against the database; return it (version 0: not stored yet).

    ``k="auto"`` stores k as NULL with ``k_range`` (default DEFAULT_K_RANGE, 2..10) as k_min/k_max: each refresh
    then scans the range and chooses k (segdb.quality.kselect). ``external_access=True`` lets the
    source and expressions read files, URLs and extensions on DuckDB (segdb.define.access).
    ``warm_start=True`` starts each refresh's k-means from the current run's centroids
    (segdb.refresh.warmstart). ``rules_depth``: the decision tree's depth the segments' readable rules
    are read from (default 3, 0: no rules; segdb.quality.rules)."""
    check_segmentation_name(name)
    feats = _features(features)
    if scale not in SCALES:
        raise DefinitionError(f"unknown scale {scale!r}; use one of {', '.join(SCALES)}")
    if nulls not in NULL_POLICIES:
        raise DefinitionError(f"unknown null policy {nulls!r}; use one of {', '.join(NULL_POLICIES)}")
    k, k_min, k_max = check_k(k, k_range)
    seed = _check_int(seed, "seed", 0)
    if seed > SEED_MAX:
        raise DefinitionError(f"seed={seed} should be <= {SEED_MAX}, the largest seed scikit-learn's "
                              "KMeans takes")
    n_init = _check_int(n_init, "n_init", 1)
    if max_fit_rows is not None:
        max_fit_rows = _check_int(max_fit_rows, "max_fit_rows", 2)
    if not isinstance(external_access, bool):
        raise DefinitionError(f"external_access must be true or false, not {external_access!r}")
    if not isinstance(warm_start, bool):
        raise DefinitionError(f"warm_start must be true or false, not {warm_start!r}")
    if warm_start:  # stored only when asked for: definitions without it compare equal as before
        options = {**(options or {}), WARM_START_OPTION: True}
    if rules_depth is not None and rulesql.rules_depth({rulesql.OPTION: rules_depth}) != rulesql.DEFAULT_DEPTH:
        options = {**(options or {}), rulesql.OPTION: rules_depth}  # the default is not stored
    src = resolve_source(con, source)
    if not external_access:  # before anything reads the source (DESCRIBE sniffs a file)
        check_source_access(con, name, src, feats)
    with access.guarded(con, name, external_access):  # no extension installed meanwhile
        return _validate_against_source(con, name, src, key, feats, k, k_min, k_max, scale, nulls, seed,
                                        n_init, max_fit_rows, options, weight, external_access)


def _validate_against_source(con, name, src, key, feats, k, k_min, k_max, scale, nulls, seed, n_init,
                             max_fit_rows, options, weight, external_access) -> Definition:
    columns = source_columns(con, src)
    key = find_column(columns, key, src, "key")
    check_key_type(key, columns[key])
    for f in feats:
        check_against_source(con, f, src, columns, key)  # column or expr, type fits its kind
        if f.name in RESERVED_OUTPUT_COLUMNS:
            raise DefinitionError(
                f"feature {f.name!r} would clash with the column {f.name!r} of {name}_centroids; "
                f"rename it in a source SELECT (e.g. {quote_identifier(f.name)} AS {f.name}_value)"
            )
    if key in RESERVED_OUTPUT_COLUMNS:
        raise DefinitionError(f"key {key!r} would clash with a column of {name}_segments; "
                              f"rename it in a source SELECT (e.g. {quote_identifier(key)} AS customer_key)")
    check_k_against_rows(con, src, k, k_min, k_max)
    check_name_lengths(con, feats, src, f"the source of {name}")
    options = dict(options or {})
    if external_access:  # stored only when allowed: definitions without it compare equal as before
        options[access.OPTION] = True
    if weight is not None:
        options["weight"] = check_weight_column(columns, weight, src, key)
    return Definition(name=name, version=0, source=src.text, source_kind=src.kind, key=key,
                      key_type=columns[key], features=feats, k=k, k_min=k_min, k_max=k_max,
                      scale=scale, nulls=nulls, seed=seed, n_init=n_init, max_fit_rows=max_fit_rows,
                      options=options)


def check_k_against_rows(con: Engine, src: Source, k: int | None,
                         k_min: int | None, k_max: int | None) -> None:
    """k (or the top of the k range) may not exceed the source's rows (one COUNT that stops at k
    rows): refused at create, in segdb's words, rather than by scikit-learn at the first refresh.
    An empty source passes: its
    data is yet to come, and a refresh says so. Rows with NULL features and duplicate rows are
    checked at refresh (segdb.refresh.stats, segdb.cluster.kmeans), where the same wording names the usable rows."""
    top = k if k is not None else k_max
    # counting stops at `top` rows: below it the count is exact, at it the check passes
    rows = con.execute(f"SELECT count(*) FROM (SELECT 1 FROM {src.relation} AS segdb_source LIMIT ?) "
                       "AS segdb_head", [top]).fetchall()[0][0]
    if not rows or top <= rows:
        return
    if k is not None:
        raise DefinitionError(f"k={k} is more than the {rows} rows of {src.describe()}; "
                              f"lower k to at most {rows}")
    raise DefinitionError(f"k range {k_min}..{k_max} goes above the {rows} rows of {src.describe()}; "
                          f"scan at most up to k={rows}")


def _same_settings(a: Definition, b: Definition) -> bool:
    fields = ("source", "key", "key_type", "features", "k", "k_min", "k_max", "scale", "nulls",
              "seed", "n_init", "max_fit_rows", "options")
    return all(getattr(a, f) == getattr(b, f) for f in fields)


def _check_view_names_free(con: Engine, name: str, *, views_are_segdbs: bool = True) -> None:
    """The names segdb gives a segmentation's views and DuckDB macros must not be the user's own:
    a table is never replaced, and before segdb has written them (``views_are_segdbs=False``: a new
    segmentation, or one never refreshed) neither is a view or a macro of that name."""
    schema = catalog.current_schema(con)
    for suffix in ("_segments", "_centroids"):
        kind = catalog.table_type(con, schema, name + suffix, fold_case=True)
        if kind is not None and kind != "VIEW":
            raise DefinitionError(
                f"a table named {name + suffix!r} already exists and segdb would replace it with a "
                "view; choose another segmentation name"
            )
        if kind == "VIEW" and not views_are_segdbs:
            raise DefinitionError(
                f"a view named {name + suffix!r} already exists and is not segdb's; segdb would "
                "replace it; drop or rename it, or choose another segmentation name"
            )
    if views_are_segdbs or dialect_of(con) != "duckdb":
        return
    macros = (name + "_assign", name + "_distance", name + "_distances", name + "_rule_segment")
    # one read of duckdb_functions() for the four names (each read lists every function of the
    # database: 20-40 ms measured); it returns their positions in ``macros``, so that the names are
    # compared by DuckDB's lower() alone
    found = {row[0] for row in con.execute(
        "SELECT DISTINCT p FROM (SELECT list_position([lower(?), lower(?), lower(?), lower(?)], "
        "lower(function_name)) AS p FROM duckdb_functions() WHERE function_type IN ('macro', "
        "'table_macro') AND database_name = current_database() AND schema_name = ?) WHERE p > 0",
        [*macros, schema]).fetchall()}
    for position, macro in enumerate(macros, start=1):
        if position in found:
            raise DefinitionError(
                f"a macro named {macro!r} already exists and is not segdb's; segdb would replace it; "
                "drop or rename it, or choose another segmentation name"
            )


# Each label's place among the segments (issue 17; segdb.living.scoring): NULL for runs written
# before, and with one segment. Appended to older labels tables by ensure_label_columns.
LABEL_PLACE_COLUMNS = (("runner_up_id", "INTEGER"), ("runner_up_distance", "DOUBLE"), ("confidence", "DOUBLE"))
# A customer whose confidence is below this is "borderline" (show, profile, the report): its own
# centroid is less than 10% nearer than the runner-up's (confidence = 1 - d1/d2).
BORDERLINE_CONFIDENCE = 0.1


def missing_label_columns(con: Engine, d: Definition) -> list[tuple[str, str]]:
    """The (column, type) pairs of LABEL_PLACE_COLUMNS that ``d``'s labels table lacks."""
    have = {c[0].lower() for c in con.execute(f"SELECT * FROM {d.labels_table} WHERE 1 = 0").description}
    return [(c, t) for c, t in LABEL_PLACE_COLUMNS if c not in have]


def ensure_label_columns(con: Engine, d: Definition) -> None:
    """Add the place columns to a labels table created before them (idempotent: a table that has
    them is left alone, so no lock is taken on it). Called by whatever writes labels or points the
    views at a run, inside its transaction (on Spark, which has none, a kill after the ALTER leaves
    the columns, NULL for every stored run, which is what the next call would add)."""
    for column, kind in missing_label_columns(con, d):  # Spark takes ADD COLUMN too (translated: segdb.engines.translate)
        con.execute(f"ALTER TABLE {d.labels_table} ADD COLUMN {column} {kind}")


def check_names_free_before_first_run(con: Engine, name: str) -> None:
    """At a refresh of a segmentation that has no run yet: its views and macros are not written yet,
    so any of those names found now is the user's (made after ``create``). The caller has read
    the definition (the name is known), so the commit record alone is read here."""
    if commits.current_run_id(con, name) is None:
        _check_view_names_free(con, name, views_are_segdbs=False)


def store(con: Engine, d: Definition, *, replace: bool = False) -> Definition:
    """Store ``d`` as a new version (or as version 1 of a new segmentation); returns it stored."""
    existing = get(con, d.name, missing_ok=True)
    if existing is not None and not replace:
        raise DefinitionError(f"segmentation {d.name!r} already exists; use replace=True to store a "
                              "new version of its definition")
    if existing is not None and _same_settings(existing, d):
        return existing
    if existing is not None and existing.key_type != d.key_type:
        raise DefinitionError(
            f"the key of {d.name!r} changes type from {existing.key_type} to {d.key_type}; "
            "define a segmentation under a new name instead"
        )
    _check_view_names_free(con, d.name, views_are_segdbs=existing is not None
                           and current_run_id(con, d.name) is not None)
    # one more than any stored version: on Spark (no transactions) a killed create or apply may
    # have left a definitions row that never became current, whose version must not be reused
    stored = con.execute("SELECT max(version) FROM segdb.definitions WHERE segmentation = ?",
                         [d.name]).fetchall()[0][0]
    version = 1 + max(int(stored or 0), 0 if existing is None else existing.version)
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    spark = dialect_of(con) == "spark"
    with transaction(con, f"storing the definition of {d.name!r}"):
        if existing is None:
            # IF NOT EXISTS on Spark: a killed create may have made it (its segmentation row,
            # written last, is missing, so the segmentation does not exist)
            create = (
                f"CREATE TABLE {'IF NOT EXISTS ' if spark else ''}{d.labels_table} (run_id BIGINT NOT NULL, "
                f"segdb_key {d.key_type} NOT NULL, segment_id INTEGER NOT NULL, "
                "distance DOUBLE NOT NULL, fitted BOOLEAN NOT NULL DEFAULT TRUE, "
                + ", ".join(f"{c} {t}" for c, t in LABEL_PLACE_COLUMNS) + ")"
                # on Spark one partition per run: prune drops a run's partition, no table rewrite
                + (" PARTITIONED BY (run_id)" if spark else "")
            )
            if dialect_of(con) == "postgresql":  # one partition per run (segdb.store.run_partitions)
                run_partitions.create_partitioned(con, create)
            else:
                con.execute(create)
        con.execute(
            "INSERT INTO segdb.definitions (segmentation, version, created_at, source, source_kind, "
            "key_column, key_type, features, k, k_min, k_max, scale, nulls, seed, n_init, "
            "max_fit_rows, options) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [d.name, version, now, d.source, d.source_kind, d.key, d.key_type,
             json.dumps([f.to_json() for f in d.features]), d.k, d.k_min, d.k_max, d.scale,
             d.nulls, d.seed, d.n_init, d.max_fit_rows, json.dumps(d.options, sort_keys=True)],
        )
        # the one write that makes the new version current: one appended row (migration 0006;
        # never an UPDATE, which Spark does as a copy-and-swap). A new segmentation exists once its
        # segmentations row is there, written last; a killed create leaves a version no
        # segmentation row names, which the next create's version number skips.
        con.execute("INSERT INTO segdb.definition_commits (segmentation, version, committed_at) "
                    "VALUES (?, ?, ?)", [d.name, version, now])
        if existing is None:
            con.execute("INSERT INTO segdb.segmentations (name, created_at, current_version) "
                        "VALUES (?, ?, ?)", [d.name, now, version])
    return dataclasses.replace(d, version=version, created_at=now)


_COLUMNS = ("segmentation, version, created_at, source, source_kind, key_column, key_type, features, "
            "k, k_min, k_max, scale, nulls, seed, n_init, max_fit_rows, options")


def _from_row(row) -> Definition:
    (name, version, created_at, source, source_kind, key, key_type, features, k, k_min, k_max,
     scale, nulls, seed, n_init, max_fit_rows, options) = row
    return Definition(name=name, version=version, source=source, source_kind=source_kind, key=key,
                      key_type=key_type, features=tuple(Feature(**f) for f in json.loads(features)),
                      k=k, k_min=k_min, k_max=k_max, scale=scale, nulls=nulls, seed=seed,
                      n_init=n_init, max_fit_rows=max_fit_rows, options=json.loads(options),
                      created_at=created_at)


def get(con: Engine, name: str, version: int | None = None, *,
        missing_ok: bool = False) -> Definition | None:
    """The current (or the given) version of a segmentation's definition."""
    row = con.execute(
        f"SELECT {_COLUMNS} FROM segdb.definitions d WHERE segmentation = ? AND version = "
        "coalesce(?, (SELECT v.version FROM segdb.current_definitions AS v "
        "JOIN segdb.segmentations AS s ON s.name = v.segmentation WHERE v.segmentation = ?))",
        [name, version, name],
    ).fetchall()
    row = row[0] if row else None
    if row is None:
        if missing_ok:
            return None
        known = names(con)
        hint = f"; known: {', '.join(known)}" if known else "; create one with `segdb create`"
        raise NotFoundError(f"no segmentation named {name!r}{hint}")
    return _from_row(row)


def names(con: Engine) -> list[str]:
    return [r[0] for r in con.execute("SELECT name FROM segdb.segmentations ORDER BY name").fetchall()]


def check_source_access(con: Engine, name: str, src: Source, features) -> None:
    """On DuckDB, a source SELECT or feature expression that reads files, URLs or extensions is
    refused (segdb.define.access); a definition with external_access skips this."""
    if dialect_of(con) != "duckdb":
        return
    access.check_external_access(con, name, src.text if src.kind == "select" else None,
                                 [(f.name, f.expr) for f in features if f.expr])


def check_source_unchanged(con: Engine, d: Definition):
    """The source must still have the key and features, with compatible types."""
    src = d.resolve(con)
    if not access.allowed(d.options):  # again at every refresh: the tables and functions may differ now
        check_source_access(con, d.name, src, d.features)
    columns = source_columns(con, src)
    where = f"the source of {d.name} ({src.describe()})"
    try:
        find_column(columns, d.key, src, "key")
        for f in d.features:
            if not f.expr:  # expressions are checked when the run prepares its features
                find_column(columns, f.name, src, "feature")
    except Exception as exc:
        raise DefinitionError(f"the source changed since {d.name!r} was defined: {exc}; "
                              "redefine it with `segdb create --replace`") from None
    if columns[d.key] != d.key_type:
        raise DefinitionError(f"the source changed since {d.name!r} was defined: key {d.key!r} was "
                              f"{d.key_type} and is now {columns[d.key]}; redefine it under a new name")
    for f in d.features:
        if not f.expr and f.kind != "category" and not is_numeric_type(columns[f.name]):
            raise DefinitionError(f"the source changed since {d.name!r} was defined: feature "
                                  f"{f.name!r} is now {columns[f.name]}, not a number; cast it in "
                                  "the source or redefine the segmentation")
    return src, where


def current_run_id(con: Engine, name: str) -> int | None:
    """The current run of ``name`` (its newest commit record, segdb.store.commits), None before its
    first run; an unknown name raises its clear error (known names, or how to create one)."""
    run_id = commits.current_run_id(con, name)
    if run_id is None:
        get(con, name)
    return run_id


def definition_for_run(con: Engine, d: Definition, run_id: int) -> Definition:
    """The expanded definition a run used (category levels from ``segdb.feature_columns``): one
    feature per matrix column, whose :func:`feature_sql` scores new rows like the run did."""
    return expand_for_run(d, run_columns(con, run_id))


def run_columns(con: Engine, run_id: int) -> list[tuple]:
    """Run ``run_id``'s (source feature number, category level) per matrix column, for
    :func:`expand_for_run` (read once by a caller that expands more than one definition)."""
    return con.execute("SELECT source_feature_no, level FROM segdb.feature_columns WHERE run_id = ? "
                       "ORDER BY feature_no", [run_id]).fetchall()


def expand_for_run(d: Definition, rows: list[tuple]) -> Definition:
    """:func:`definition_for_run` with the run's :func:`run_columns` already read."""
    if not rows:  # a run written before migration 0004: plain features only
        return d
    expanded = []
    for no, f in enumerate(d.features, start=1):
        if f.kind == "category":
            expanded += categories.expand(f, [lv for src_no, lv in rows if src_no == no])
        else:
            expanded.append(f)
    return dataclasses.replace(d, features=tuple(expanded))
