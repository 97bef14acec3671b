"""PNG figures of design results (matplotlib, Agg backend; written atomically)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from phenograd.core.atomic import atomic_path


def _save(fig, path: Path) -> None:
    with atomic_path(path, suffix=".png", mode=0o644) as tmp:
        fig.savefig(tmp, dpi=110)


def plot_screen(result, space, path, show: int = 200) -> Path:
    """Ranking (target objective: predicted E_ads +- std of the best `show`, verified E_ads
    on top) or volcano (activity against E_ads of every candidate)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    fig, ax = plt.subplots(figsize=(7, 4.2))
    verified = ~np.isnan(result.e_verified)
    if space.objective.kind == "volcano":
        v = space.objective.volcano
        e = np.linspace(np.nanmin(result.e_pred) - 0.2, np.nanmax(result.e_pred) + 0.2, 400)
        ax.plot(e, [v.activity(x) for x in e], color="0.3", lw=1, label="volcano")
        ax.scatter(result.e_pred, [v.activity(x) for x in result.e_pred], s=4, alpha=0.4, label="predicted")
        if verified.any():
            ax.scatter(
                result.e_verified[verified],
                [v.activity(x) for x in result.e_verified[verified]],
                s=18,
                color="C3",
                label="verified (simulator)",
            )
        ax.set_xlabel("E_ads (eV)")
        ax.set_ylabel("relative activity")
    else:
        order = np.argsort(result.rank)[:show]
        x = np.arange(len(order))
        ax.errorbar(
            x, result.e_pred[order], yerr=result.std[order], fmt=".", ms=3, lw=0.6, alpha=0.7, label="predicted ± std"
        )
        ver = verified[order]
        if ver.any():
            ax.scatter(x[ver], result.e_verified[order][ver], s=16, color="C3", zorder=3, label="verified (simulator)")
        for ads in space.adsorbates:
            ax.axhline(space.objective.reference(ads), color="0.4", lw=0.8, ls="--")
        ax.set_xlabel("predicted rank")
        ax.set_ylabel("E_ads (eV)")
    ax.set_title(f"{result.n_candidates} candidates, {space.objective.describe()}", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
    return path


def plot_composition(history, verified, path) -> Path:
    """Objective against step, and predicted against verified E_ads of the discretized designs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.8))
    a1.plot([h["step"] for h in history], [h["loss"] for h in history], lw=1)
    a1.set_xlabel("step")
    a1.set_ylabel("objective")
    a1.set_yscale("symlog", linthresh=1e-3)
    pts = [(v["e_pred"], v["e_verified"]) for v in verified if v.get("e_verified") is not None]
    if pts:
        p, t = np.array(pts).T
        lo, hi = min(p.min(), t.min()) - 0.1, max(p.max(), t.max()) + 0.1
        a2.plot([lo, hi], [lo, hi], color="0.5", lw=0.8)
        a2.scatter(p, t, s=18)
    a2.set_xlabel("predicted E_ads (eV)")
    a2.set_ylabel("verified E_ads (eV)")
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
    return path
