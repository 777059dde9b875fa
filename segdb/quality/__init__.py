"""How good a run is: metrics, stability, the choice of k, per-segment profiles and their words."""
