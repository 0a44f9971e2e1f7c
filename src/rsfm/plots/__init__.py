"""Figure functions (seaborn), one module per figure family; each reads tidy tables only."""

from __future__ import annotations

from pathlib import Path

from rsfm.io import atomic_write


def save_figure(fig, figure: str | Path) -> None:
    """Lay out ``fig``, write it as a PNG in one step (no half-written figure) and close it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    with atomic_write(figure, "wb") as handle:
        fig.savefig(handle, format="png", dpi=130)
    plt.close(fig)


__all__ = ["save_figure"]
