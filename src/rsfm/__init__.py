"""rsfm: reproduction pipeline for scaled and slimmed remote-sensing foundation models."""

__version__ = "0.1.0"
