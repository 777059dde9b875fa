"""The `segdb` group: a thin click layer over :mod:`segdb.api`.

The library does the work; the command modules (core, features, living, quality) parse options and
print, and import from here (core also uses features' print_feature_extras); this module imports
none of them. Every SegdbError becomes one
line `Error: ...` on stderr and exit code 1 (``--debug`` shows the traceback instead); a usage error
(unknown option, bad value) exits 2, click's convention. The library's messages name API parameters
(``replace=True``, ``max_fit_rows``); :func:`cli_terms` says them as this command line's options.

Start-up stays light: nothing here or in the command modules imports scikit-learn, scipy,
matplotlib or pandas at import time (tests/test_cli_startup.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import click

from .. import api
from .._version import __version__
from ..engines.duckdb import DEFAULT_LOCK_TIMEOUT
from ..store.failures import explain


def examples(*lines: str) -> str:
    """A command's epilog: its examples, kept line by line (click's \\b: not rewrapped). They use
    the demo's names, so each works after `segdb demo` (tests/test_cli_help.py runs them)."""
    return "\b\n" + ("Example:" if len(lines) == 1 else "Examples:") + "".join(f"\n  {x}" for x in lines)


class AutoOrInt(click.ParamType):
    """A whole number, or 'auto' (None: segdb picks the value). Ranges are checked by segdb."""

    name = "integer or 'auto'"

    def convert(self, value, param, ctx):
        if value is None or isinstance(value, int):
            return value
        if str(value).strip().lower() == "auto":
            return None
        try:
            return int(str(value))
        except ValueError:
            self.fail(f"{value!r} is not a whole number or 'auto'", param, ctx)


AUTO_OR_INT = AutoOrInt()


class SegdbGroup(click.Group):
    """Translate segdb's one error class into `Error: ...` and exit 1, once, at the edge."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except click.exceptions.Exit as exc:
            if exc.exit_code not in (0, None):
                _discard_new_files(ctx)
            raise
        except Exception as exc:
            _discard_new_files(ctx)
            # segdb's own errors, and the database's or the disk's that no command expected (a
            # damaged file, a dropped segdb table, a full disk), as one line; a bug stays a traceback
            error = explain(exc, ctx.obj.db if isinstance(ctx.obj, Settings) else "the database")
            if error is None or ctx.params.get("debug"):
                raise
            click.echo(f"Error: {cli_terms(error.message)}", err=True)
            ctx.exit(1)
        except BaseException:
            _discard_new_files(ctx)
            raise


def _repeat_option(match: re.Match) -> str:
    import ast
    import shlex
    option = "--category" if match.group(1) == "category feature" else "--feature"
    try:
        columns = ast.literal_eval(f"[{match.group(2)}]")
    except (ValueError, SyntaxError):
        return match.group(0)
    return f"repeat {option} for each column: " + " ".join(f"{option} {shlex.quote(c)}" for c in columns)


# What a library message says in API terms -> what the command line says: the option to use.
# Applied in order to every SegdbError's message at this one edge; only these exact phrases are
# rewritten, so a message that reports a setting (nulls=error, max_fit_rows=100) is left alone.
CLI_TERMS: list[tuple[re.Pattern, str | Callable[[re.Match], str]]] = [(re.compile(p), r) for p, r in [
    (r"\breplace=True\b", "--replace"),
    (r"\bnulls='(skip|mean)'", r"--nulls \1"),
    (r"\bscale='(zscore|minmax|none)'", r"--scale \1"),
    (r"\bk='auto' with k_range=\(LO, HI\)", "--k auto --k-range LO..HI"),
    (r"\badd a column to features\b", "add --feature COLUMN"),
    (r"\(kind='category'\)", "(--category)"),
    (r"\blabel=None\b", "--clear"),
    (r"\braise max_fit_rows\b", "raise --max-fit-rows"),
    (r"\braise lock_timeout\b", "raise --lock-timeout"),
    (r"\bencoding='latin-1' \(or 'utf-16'\)", "--encoding latin-1 (or utf-16)"),
    (r"\bset external_access=True\b", "use --external-access (external_access = true in TOML)"),
    (r"\bcheck the path or \$SEGDB_DATABASE\b", "check --db or $SEGDB_DATABASE"),
    (r"^keep(?==| must)", "--keep"),
    (r"^(?:out|out_dir)=", "--out "),
    (r"give each column as its own (feature|category feature): (.+)$", _repeat_option),
]]


def cli_terms(message: str) -> str:
    """A library message as the command line says it: API parameters become options."""
    for pattern, replacement in CLI_TERMS:
        message = pattern.sub(replacement, message)
    return message


def _discard_new_files(ctx) -> None:
    """A failed command leaves no new database file behind (commands write in one transaction, so
    a file this command created holds nothing but what the command itself put there)."""
    if isinstance(ctx.obj, Settings):
        for db in ctx.obj.opened:
            db.discard()


class Settings:
    def __init__(self, db: str | None, debug: bool, lock_timeout: float, quiet: bool):
        self.db_given = db
        self.debug = debug
        self.lock_timeout = lock_timeout
        self.quiet = quiet
        self.opened: list[api.Database] = []  # databases whose file this command created

    @property
    def db(self) -> str:
        return self.db_given or api.default_path()

    def connect(self, *, read_only: bool = False, create: bool = False, path: str | None = None) -> api.Database:
        """The database with segdb's schema. Commands that put something new into a database
        (init, import, create, apply, demo, sql) create the file; commands that need an existing
        segmentation say that the file does not exist and how to create it."""
        return self._track(api.connect(path or self.db, read_only=read_only,
                                       lock_timeout=self.lock_timeout, create=create))

    def open_without_schema(self, *, read_only: bool = False, create: bool = True) -> api.Database:
        return self._track(api.open_without_schema(self.db, read_only=read_only,
                                                   lock_timeout=self.lock_timeout, create=create))

    def _track(self, db: api.Database) -> api.Database:
        # a command that waits for another session's lock on a segmentation says so once, on
        # stderr like the progress bars (--quiet: not at all); its failure is the usual Error line
        db.on_wait = (lambda message: None) if self.quiet else (
            lambda message: click.echo(cli_terms(message[:1].upper() + message[1:]), err=True))
        if db.created_file is not None:
            self.opened.append(db)
        return db


pass_settings = click.make_pass_decorator(Settings)


EPILOG = """\b
Examples:
  segdb demo
  segdb --db segdb-demo.duckdb show insurance
  segdb --db segdb-demo.duckdb profile insurance --top 1

Run `segdb COMMAND --help` for a command's options and examples.

\b
Exit codes:
  0  success
  1  an error segdb reports on one line, `Error: ...` (what, where, how to fix)
  2  a usage error: unknown command or option, a missing argument, a value of the wrong type
  3  `segdb drift`: a refresh is advisable"""


@click.group(cls=SegdbGroup, context_settings={"help_option_names": ["-h", "--help"]}, epilog=EPILOG)
@click.option("--db", metavar="PATH", default=None,
              help="DuckDB database file, postgresql+psycopg://USER@HOST:PORT/DB, spark://local[2] "
                   "or sc://HOST:PORT [default: $SEGDB_DATABASE, else ./segments.duckdb].")
@click.option("--lock-timeout", type=float, default=DEFAULT_LOCK_TIMEOUT, show_default=True,
              help="Seconds to wait while another process holds the database file.")
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
@click.version_option(version=__version__, prog_name="segdb")
@click.pass_context
def cli(ctx, db, lock_timeout, quiet, debug):
    """Customer segmentation that lives in the database."""
    ctx.obj = Settings(db, debug, lock_timeout, quiet)


def api_trigger() -> str:
    from ..store.runs import default_trigger
    return default_trigger("cli")


def main(argv=None):
    cli.main(args=argv, prog_name="segdb")
