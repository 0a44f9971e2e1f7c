"""Data stage: dataset registry, downloads, synthetic scenes, conversion and tiling."""
