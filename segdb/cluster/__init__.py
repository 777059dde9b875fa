"""k-means itself, on a matrix in memory: the fit, its sampled fast path, segment identities, BLAS threads."""
