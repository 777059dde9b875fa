"""segdb: customer segmentation that lives in the database.

SQL computes the statistics and every data-sized step; scikit-learn fits k-means on a bounded
matrix; centroids and per-customer labels are written back as versioned tables and views.
"""

from ._version import __version__
from .api import Database, connect, default_path, open_without_schema
from .define.definitions import Definition
from .define.features import Feature
from .errors import (DataError, DatabaseError, DefinitionError, LockedError, NotFoundError,
                     SchemaError, SegdbError)
from .refresh.pipeline import RunResult

__all__ = [
    "connect", "open_without_schema", "default_path", "Database", "Definition", "Feature",
    "RunResult", "SegdbError", "DataError", "DatabaseError", "DefinitionError", "LockedError",
    "NotFoundError", "SchemaError", "__version__",
]
