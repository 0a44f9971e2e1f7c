"""Post-hoc width slimming, probes on frozen features, redundancy analyses and slimmable training (paper 2)."""
