"""Post-hoc width slimming, probes on frozen features, redundancy analyses and slimmable training (paper 2)."""

MAIN_VARIANT = "first-all"  # paper 2's rule: the first dimensions of every head and MLP (rsfm.models.slim)
