"""segdb's SQL, written once in DuckDB's dialect, as PostgreSQL or Spark SQL (with sqlglot).

This module and segdb.engines.dialects are the one place that knows how the engines differ. The
statements segdb writes are portable by design (CASE/LEAST scoring, avg/stddev_pop over doubles,
DROP + CREATE TABLE AS); sqlglot renders types, quoting and function names for each engine, and the
rewrites below cover what it does not know:

* ``hash(...)``: DuckDB's unsigned 64-bit hash; PostgreSQL's ``hashtextextended`` and Spark's
  ``xxhash64`` are signed, so they are shifted into [0, 2^64) as DECIMAL(20,0) (samples compare it
  with a threshold). On PostgreSQL ``hash(CAST(x AS BIGINT), seed)`` (an integer key, see
  segdb.engines.dialects.key_hash) becomes ``hashint8extended(x, seed)``, not a hash of x's text,
  and ``hash(...) < t`` and ``ORDER BY hash(...)`` use the signed hash (see _signed_comparison).
  Inside ``bit_xor`` (the input fingerprint) the signed value is used as is, and PostgreSQL hashes
  the row's typed values with ``hash_record_extended`` (PostgreSQL 14+).
* ``CAST(x AS UBIGINT)`` -> DECIMAL(20,0); ``isfinite(x)`` -> ``(x - x) = 0`` on PostgreSQL, a comparison
  with the infinities and NaN on Spark; ``isnan(x)`` -> a comparison with NaN (PostgreSQL and Spark
  treat NaN as equal to itself).
* ``[e1, ..., ed]::DOUBLE[d] AS segdb_z`` (one array column, the fetch format DuckDB hands to
  numpy without copying) -> d columns ``segdb_z_1`` ... ``segdb_z_d``.
* ``any_value`` -> ``max`` on PostgreSQL 15 (segdb only uses it over a constant column);
  ``json_array_length(varchar)`` -> over a cast to json.
* PostgreSQL: a subquery in FROM gets an alias (PostgreSQL 15 requires one).
* PostgreSQL: the scoring subquery is fenced with OFFSET 0 (see :func:`_fence_scoring`).
* Spark: CREATE TABLE keeps its DEFAULTs and loses its keys and NOT NULLs (Spark's file tables do
  not enforce them; segdb's own code keeps them true).
* Function names keep their case (sqlglot would upper-case ``"shop_assign"(x)``, a quoted name
  PostgreSQL then does not find).
* Placeholders: ``?`` stays ``?`` for Spark; psycopg wants ``%s`` and a literal ``%`` doubled.

Every statement segdb runs on another engine passes through :func:`translate`, so the engine tests
execute every translated statement.
"""

from __future__ import annotations

import functools
import re

import sqlglot
from sqlglot import exp

from ..errors import DatabaseError
from .result import first_line

SQLGLOT_DIALECT = {"postgresql": "postgres", "spark": "spark"}

# sqlglot does not parse a placeholder followed by DuckDB's :: cast.
_PARAM_CAST = re.compile(r"\?::([A-Za-z_][A-Za-z0-9_]*(?:\(\d+(?:,\s*\d+)?\))?(?:\[\d*\])?)")
_PLACEHOLDER_MARK = "\x00segdb_param\x00"
_SHIFT = "9223372036854775808"  # 2^63: a signed 64-bit hash + 2^63 is uniform over [0, 2^64)


def _parse(text: str, dialect: str) -> exp.Expression:
    return sqlglot.parse_one(text, read=dialect)


def _is_bigint_cast(e: exp.Expression) -> bool:
    return isinstance(e, exp.Cast) and e.to.this == exp.DataType.Type.BIGINT


def _signed_hash(args: list[exp.Expression], dialect: str) -> exp.Expression:
    if dialect == "spark":
        return exp.Anonymous(this="xxhash64", expressions=[a.copy() for a in args])
    if len(args) == 2 and _is_bigint_cast(args[0]):
        # an integer key (segdb.engines.dialects.key_hash marks it with a BIGINT cast) hashed as
        # an integer, seeded: hashing key::text took most of a 1M-row sample's 10 s at 10M rows
        return exp.Anonymous(this="hashint8extended", expressions=[a.copy() for a in args])
    texts = [exp.Cast(this=a.copy(), to=exp.DataType.build("text")) for a in args]
    joined = texts[0] if len(texts) == 1 else exp.Anonymous(
        this="concat_ws", expressions=[exp.Literal.string("\x1f"), *texts])
    return exp.Anonymous(this="hashtextextended", expressions=[joined, exp.Literal.number(0)])


def _fingerprint_hash(args: list[exp.Expression], dialect: str) -> exp.Expression:
    """The row hash the input fingerprint xors. On PostgreSQL ``hash_record_extended`` hashes the
    typed values: casting 8 doubles to text for ``hashtextextended`` made the fingerprint 5.8 s of
    a 10M-row statistics scan (2 workers), the record hash 2.1 s. The fingerprint is only compared
    with other runs of the same engine."""
    if dialect != "postgresql":
        return _signed_hash(args, dialect)
    row = exp.Anonymous(this="ROW", expressions=[a.copy() for a in args])
    return exp.Anonymous(this="hash_record_extended", expressions=[row, exp.Literal.number(0)])


def _unsigned_hash(args: list[exp.Expression], dialect: str) -> exp.Expression:
    shifted = exp.Add(this=exp.Cast(this=_signed_hash(args, dialect), to=exp.DataType.build("DECIMAL(20,0)")),
                      expression=exp.Literal.number(_SHIFT))
    return exp.Paren(this=shifted)


def _is_finite(x: exp.Expression, dialect: str) -> exp.Expression:
    v = x.sql(dialect="postgres" if dialect == "postgresql" else "spark")
    if dialect == "postgresql":
        # x - x is 0 for every finite x and NaN for the infinities and NaN (which PostgreSQL
        # compares unequal to 0): one subtraction instead of a three-value NOT IN, 0.8-1.8 s less
        # of the statistics' feature scan at 10M rows x 8 features (two per feature)
        return _parse(f"(({v} - {v}) = 0)", "postgres")
    return _parse(f"({v} NOT IN (double('inf'), double('-inf')) AND NOT isnan({v}))", "spark")


def _is_hash(node: exp.Expression) -> bool:
    return isinstance(node, exp.Anonymous) and str(node.this).lower() == "hash"


def _signed_comparison(node: exp.Expression, dialect: str) -> exp.Expression | None:
    """PostgreSQL: ``hash(...) < t`` as ``signed < t - 2^63`` (a BIGINT, folded once) and ``ORDER BY
    hash(...)`` by the signed hash, the same rows in the same order as the shifted DECIMAL: at 10M
    rows the per-row DECIMAL cast, addition and comparison took 1.2 s of a 1.7 s filter scan."""
    if dialect != "postgresql":
        return None
    if isinstance(node, exp.LT) and _is_hash(node.this):
        bound = node.expression.copy().transform(lambda n: _rewrite(n, dialect), copy=False)
        if not (isinstance(bound, exp.Cast) and bound.to.this == exp.DataType.Type.DECIMAL):
            bound = exp.Cast(this=bound, to=exp.DataType.build("DECIMAL(20,0)"))
        shifted = exp.Sub(this=bound, expression=exp.Literal.number(_SHIFT))
        return exp.LT(this=_signed_hash(node.this.expressions, dialect),
                      expression=exp.Cast(this=shifted, to=exp.DataType.build("BIGINT")))
    if isinstance(node, exp.Ordered) and _is_hash(node.this):
        ordered = node.copy()
        ordered.set("this", _signed_hash(node.this.expressions, dialect))
        return ordered
    return None


def _rewrite(node: exp.Expression, dialect: str) -> exp.Expression:
    signed = _signed_comparison(node, dialect)
    if signed is not None:
        return signed
    if _is_hash(node):
        if isinstance(node.parent, (exp.Anonymous, exp.Func)) and \
                node.parent.sql_name().lower() in ("bit_xor", "bitxor", "bit_xor_agg", "bitwise_xor_agg"):
            return _fingerprint_hash(node.expressions, dialect)
        return _unsigned_hash(node.expressions, dialect)
    if isinstance(node, exp.Anonymous) and str(node.this).lower() == "isfinite":
        return _is_finite(node.expressions[0], dialect)
    if dialect == "postgresql" and isinstance(node, exp.IsNan):
        v = node.this.sql(dialect="postgres")
        return _parse(f"({v} = 'NaN'::float8)", "postgres")  # PostgreSQL: NaN equals itself
    if isinstance(node, exp.DataType) and node.this == exp.DataType.Type.UBIGINT:
        return exp.DataType.build("DECIMAL(20,0)")
    if dialect == "postgresql" and isinstance(node, exp.IgnoreNulls) and isinstance(node.this, exp.AnyValue):
        return exp.Max(this=node.this.this.copy())
    if dialect == "postgresql" and isinstance(node, exp.AnyValue):
        return exp.Max(this=node.this.copy())
    if dialect == "postgresql" and isinstance(node, exp.Anonymous) and \
            str(node.this).lower() == "json_array_length":
        # segdb keeps JSON in VARCHAR columns; PostgreSQL's function takes json
        return exp.Anonymous(this="json_array_length",
                             expressions=[exp.Cast(this=node.expressions[0].copy(), to=exp.DataType.build("json"))])
    return node


def _split_matrix_column(select: exp.Select) -> None:
    """``[e1, ..., ed]::DOUBLE[d] AS segdb_z`` -> ``e1 AS segdb_z_1, ..., ed AS segdb_z_d``."""
    out = []
    changed = False
    for projection in select.expressions:
        inner = projection.this if isinstance(projection, exp.Alias) else None
        if isinstance(projection, exp.Alias) and projection.alias == "segdb_z":
            array = inner.this if isinstance(inner, exp.Cast) else inner
            if isinstance(array, exp.Array):
                for i, e in enumerate(array.expressions, start=1):
                    out.append(exp.alias_(exp.Cast(this=e.copy(), to=exp.DataType.build("DOUBLE")),
                                          f"segdb_z_{i}"))
                changed = True
                continue
        out.append(projection)
    if changed:
        select.set("expressions", out)


def _alias_subqueries(tree: exp.Expression) -> None:
    """PostgreSQL 15 wants an alias on every subquery in FROM (DuckDB and PostgreSQL 16 do not)."""
    for i, sub in enumerate(list(tree.find_all(exp.Subquery))):
        if not sub.alias and isinstance(sub.parent, (exp.From, exp.Join)):
            sub.set("alias", exp.TableAlias(this=exp.to_identifier(f"segdb_sub{i}")))


def _fence_scoring(tree: exp.Expression) -> None:
    """PostgreSQL inlines the scoring subquery and recomputes every distance in each CASE branch
    (about 6x slower at 1M rows); OFFSET 0 keeps it a subquery computed once per row. The same for
    the layers above it (the label, then the runner-up: segdb.living.scoring), whose expressions
    each name the one below several times."""
    for sub in tree.find_all(exp.Subquery):
        if sub.alias in ("segdb_scored", "segdb_nearest", "segdb_second") and isinstance(sub.this, exp.Select) and not sub.this.args.get("offset"):
            sub.this.set("offset", exp.Offset(expression=exp.Literal.number(0)))


def _strip_constraints(create: exp.Create) -> None:
    """Spark's file tables enforce no keys or defaults: CREATE TABLE keeps names and types only."""
    schema = create.this
    if not isinstance(schema, exp.Schema):
        return
    kept = []
    for e in schema.expressions:
        if isinstance(e, exp.ColumnDef):
            e.set("constraints", [c for c in e.args.get("constraints") or []
                                  if isinstance(c.args.get("kind"), exp.DefaultColumnConstraint)])
            kept.append(e)
        elif not isinstance(e, (exp.PrimaryKey, exp.UniqueColumnConstraint, exp.Constraint)):
            kept.append(e)
    schema.set("expressions", kept)


def _transform(tree: exp.Expression, dialect: str) -> exp.Expression:
    tree = tree.transform(lambda n: _rewrite(n, dialect), copy=False)
    for select in tree.find_all(exp.Select):
        _split_matrix_column(select)
    if dialect == "postgresql":
        _fence_scoring(tree)
        _alias_subqueries(tree)
    if dialect == "spark" and isinstance(tree, exp.Create) and str(tree.args.get("kind", "")).upper() == "TABLE":
        _strip_constraints(tree)
    return tree


def _render(tree: exp.Expression, dialect: str, bound: bool) -> str:
    if dialect == "postgresql":
        # psycopg reads %s as a parameter and %% as a literal %: mark the placeholders first
        tree = tree.transform(
            lambda n: exp.Var(this=_PLACEHOLDER_MARK) if isinstance(n, exp.Placeholder) else n, copy=False)
        text = tree.sql(dialect="postgres", comments=False, normalize_functions=False)
        if bound:
            text = text.replace("%", "%%")
        return text.replace(_PLACEHOLDER_MARK, "%s")
    return tree.sql(dialect="spark", comments=False, normalize_functions=False)


@functools.lru_cache(maxsize=4096)
def translate(sql: str, dialect: str, bound: bool = True) -> tuple[str, ...]:
    """The statements of ``sql`` (DuckDB dialect, ``?`` placeholders) for ``dialect``.

    ``bound``: the statement will run with parameters (psycopg then needs ``%`` doubled)."""
    text = _PARAM_CAST.sub(lambda m: f"CAST(? AS {m.group(1)})", sql)
    try:
        trees = [t for t in sqlglot.parse(text, read="duckdb") if t is not None]
    except sqlglot.errors.ParseError as exc:
        raise DatabaseError(f"segdb cannot translate a statement for {dialect}: "
                            f"{first_line(exc)}") from exc
    return tuple(_render(_transform(t, dialect), dialect, bound) for t in trees)


