"""segdb's error hierarchy.

Every error a user can cause is a :class:`SegdbError` whose message is one line that says what went
wrong, where, and how to fix it. The CLI translates this one base class into ``Error: <message>`` and
exit code 1; the library never prints.
"""


class SegdbError(Exception):
    """Base class of every error segdb raises on purpose."""

    def __init__(self, message: str):
        # One line, always: the CLI prints it as is.
        super().__init__(" ".join(str(message).split()))

    @property
    def message(self) -> str:
        return self.args[0]


class DatabaseError(SegdbError):
    """The database file cannot be opened, is locked, is read-only or rejected a statement."""


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
