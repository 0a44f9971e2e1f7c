"""Figure functions (seaborn), one module per figure family; each reads tidy tables only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rsfm.io import atomic_write


def pyplot() -> tuple[Any, Any]:
    """``(matplotlib.pyplot, seaborn)`` on the file-only Agg backend (cluster nodes have no display), with the one
    theme every figure shares."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="paper")
    return plt, sns


def panel_grid(panels: int, width: float = 3.4, height: float = 2.8, cols: int = 4) -> tuple[Any, list[Any]]:
    """A figure of ``panels`` axes, ``cols`` to a row at ``width`` x ``height`` inches each; unused cells hidden."""
    plt, _ = pyplot()
    cols = max(1, min(cols, panels))
    rows = -(-panels // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    for ax in axes.flat[panels:]:
        ax.set_visible(False)
    return fig, list(axes.flat)


def save_figure(fig, figure: str | Path) -> None:
    """Lay out ``fig``, write it as a PNG in one step (no half-written figure) and close it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    with atomic_write(figure, "wb") as handle:
        fig.savefig(handle, format="png", dpi=130)
    plt.close(fig)


__all__ = ["panel_grid", "pyplot", "save_figure"]
