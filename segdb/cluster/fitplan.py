"""How a refresh fits: exactly as scikit-learn would, fast on many rows, or bounded beyond memory.

exact    (fewer than FAST_MIN_ROWS rows) every row, ordered by key, into
         ``KMeans(n_clusters=k, n_init=n_init, random_state=seed)``: the reference result.
fast     every row is fitted, but the n_init restarts of k-means++ and Lloyd run on a seeded sample of
         init_sample_rows() rows; one Lloyd pass over all rows then starts from the best sample centres.
         The tolerance comes from the variances the database already computed, the matrix is
         fetched once into a writable buffer and never copied.
bounded  (more rows than max_fit_rows) the fast fit runs on a seeded sample of at most
         max_fit_rows rows, and every row is labelled in SQL inside the write transaction.

Without an explicit ``max_fit_rows`` a definition is bounded at DEFAULT_FIT_MATRIX_BYTES of
float64 matrix (10,485,760 rows at 8 features), so a refresh's memory does not grow with the table.
"""

from __future__ import annotations

import dataclasses

FAST_MIN_ROWS = 200_000
INIT_SAMPLE_ROWS = 20_000          # at least; and INIT_ROWS_PER_SEGMENT per segment
INIT_ROWS_PER_SEGMENT = 4_000
DEFAULT_FIT_MATRIX_BYTES = 640 * 2 ** 20


@dataclasses.dataclass(frozen=True)
class FitPlan:
    mode: str           # exact | fast | bounded
    rows_used: int
    max_fit_rows: int   # the effective bound (the definition's, or the automatic default)

    @property
    def ordered(self) -> bool:
        """Only the exact mode needs rows in key order (k-means++ draws row positions)."""
        return self.mode == "exact"


def init_sample_rows(rows_used: int, k: int) -> int:
    """Rows of the sample the restarts run on: enough per segment for k-means++ to find each
    group, few enough that ten restarts cost a fraction of one pass over ten million rows."""
    return min(rows_used, max(INIT_SAMPLE_ROWS, INIT_ROWS_PER_SEGMENT * k))


def default_max_fit_rows(n_features: int) -> int:
    return max(FAST_MIN_ROWS, DEFAULT_FIT_MATRIX_BYTES // (8 * max(1, n_features)))


def choose(rows_used: int, n_features: int, max_fit_rows: int | None) -> FitPlan:
    bound = max_fit_rows if max_fit_rows is not None else default_max_fit_rows(n_features)
    if rows_used > bound:
        return FitPlan("bounded", rows_used, bound)
    if rows_used < FAST_MIN_ROWS:
        return FitPlan("exact", rows_used, bound)
    return FitPlan("fast", rows_used, bound)
