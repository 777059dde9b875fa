"""segdb's error hierarchy.

Every error a user can cause is a :class:`SegdbError` whose message is one line that says what went
wrong, where, and how to fix it. The CLI translates this one base class into ``Error: <message>`` and
exit code 1; the library never prints.

No message may carry a credential: :func:`redact_secrets` takes passwords and tokens out of any text,
and every SegdbError's message passes through it, so a driver's error that echoes a URL cannot leak.
"""

import re

# names of parameters whose value is a secret: password, sslpassword, PGPASSWORD, passwd, pwd, token,
# motherduck_token, access_token, secret, client_secret, api_key, apikey
_KEY = r"[\w.-]*?(?:password|passwd|pwd|token|secret|api_?key)"
_URL = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)(\S+)")
_PARAM = re.compile(r"[?;&][A-Za-z_][\w.-]*=")
_HOST_PORT = re.compile(r"[^:/@]*:\d*(?:/[^@]*)?")
_SEMICOLON_SECRET = re.compile(rf"(?i)(;{_KEY}=)([^\s;]*)")   # Spark Connect: sc://h:15002/;token=X
_QUERY_SECRET = re.compile(rf"(?i)([?&]{_KEY}=)([^\s&]*)")    # a URL's query string: ?password=X&...
_BARE_SECRET = re.compile(                                    # libpq DSN, environment: password=X
    rf"(?i)(?<![\w?&;.-])({_KEY}\s*=\s*)('(?:[^'\\]|\\.)*'?|\"(?:[^\"\\]|\\.)*\"?|\S+)")
_QUOTED_SECRET = re.compile(                                  # a dict's repr: {'password': 'X'}
    rf"(?i)((['\"]){_KEY}\2\s*:\s*)('(?:[^'\\]|\\.)*'?|\"(?:[^\"\\]|\\.)*\"?)")
MASK = "***"
_MASKED = re.compile(r"\*\*\*([:,;.)]*)")  # a value masked before, and the punctuation after it


def redact_secrets(text: str) -> str:
    """``text`` with every password and token replaced by ``***``; the rest (host, port, database) kept.

    Rules: ``scheme://user:PASSWORD@host`` keeps the user and masks up to the last '@' before the
    host (a password may hold '@', ':', '/' or '%'), where an '@' inside query parameters
    (``?k=a@b``, ``;user_id=a@b``) is not the host's; a URL without ``user:`` has no password.
    Parameters named like password, passwd, pwd, token, secret or api_key are masked in query strings
    (``?password=X&``), Spark Connect parameters (``;token=X``), libpq DSNs and environment text
    (``password=X``, ``password='X'``) and dict reprs (``'password': 'X'``). Text without '://', '='
    or ':' is returned as is, at the cost of one scan.
    """
    if "://" in text:
        text = _URL.sub(_redact_userinfo, text)
    if "=" in text:
        text = _SEMICOLON_SECRET.sub(_mask_value, text)
        text = _QUERY_SECRET.sub(_mask_value, text)
        text = _BARE_SECRET.sub(_mask_value, text)
    if ":" in text and ("'" in text or '"' in text):
        text = _QUOTED_SECRET.sub(rf"\1'{MASK}'", text)
    return text


def _mask_value(match: re.Match) -> str:
    # redacting twice changes nothing: "?password=***: connection failed" keeps its colon
    masked = _MASKED.fullmatch(match.group(2))
    return match.group(1) + MASK + (masked.group(1) if masked else "")


def userinfo_end(rest: str) -> int:
    """Where ``user:password`` ends in ``rest`` (a URL after its ``scheme://``): the index of its '@', or -1
    when the URL carries no password. See :func:`redact_secrets` for the rules."""
    at = rest.rfind("@")
    if at < 0:
        return -1
    param = _PARAM.search(rest, 0, at)
    if param:  # an '@' after the first parameter may belong to its value
        head = rest[:param.start()]
        if "@" in head:
            at = head.rfind("@")
        elif _HOST_PORT.fullmatch(head):  # sc://host:15002/;user_id=me@corp: no user:password at all
            return -1
    return at if ":" in rest[:at] else -1


def _redact_userinfo(match: re.Match) -> str:
    scheme, rest = match.groups()
    at = userinfo_end(rest)
    if at < 0:
        return match.group(0)
    return f"{scheme}{rest[:at].split(':', 1)[0]}:{MASK}{rest[at:]}"


class SegdbError(Exception):
    """Base class of every error segdb raises on purpose."""

    def __init__(self, message: str):
        # One line, always: the CLI prints it as is. Never a password (see redact_secrets).
        super().__init__(redact_secrets(" ".join(str(message).split())))

    @property
    def message(self) -> str:
        return self.args[0]


class DatabaseError(SegdbError):
    """The database file cannot be opened, is locked, is read-only or rejected a statement."""


class EngineError(DatabaseError):
    """PostgreSQL or Spark (or segdb's SQL splitting for them) rejected a statement: the driver's
    error, as its first line. DuckDB's own errors stay ``duckdb.Error``; handlers that add context
    catch both (segdb.engines.base.ENGINE_ERRORS)."""


class LockedError(DatabaseError):
    """Another process holds the database file."""


class SchemaError(SegdbError):
    """segdb's own schema is missing, outdated, newer than this segdb, or was tampered with."""


class DefinitionError(SegdbError):
    """A segmentation definition is invalid: name, source, key, features, k, options."""


class DataError(SegdbError):
    """The data does not allow a fit: NULL or duplicate keys, NULL, non-finite or constant features."""


class NotFoundError(SegdbError):
    """A segmentation, run, table or file does not exist."""
