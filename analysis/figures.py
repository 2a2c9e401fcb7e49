"""Figures: g(r) with running coordination number, density profiles, TFSI- MSD."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from analysis.summary import pooled_curves  # noqa: E402
from systems.files import atomic_path  # noqa: E402

COLORS = ["tab:blue", "tab:red", "tab:green", "tab:purple", "tab:orange", "tab:brown"]


def _save(fig, path):
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=150)
    plt.close(fig)


def plot_rdf_cn(results_by_system: dict, summary: dict, path, target: str = "N") -> None:
    """Two panels: g(r) of TFSI- (``target`` atoms) around top-layer Li atoms, and the running n(r).

    Each system's curve is pooled over its replicas; thin lines are single replicas. The cutoff used for the
    coordination number is marked, and the paper's value (if known) is drawn at its cutoff range end.
    """
    fig, (ax_g, ax_n) = plt.subplots(1, 2, figsize=(11, 4.2))
    for k, (system, results) in enumerate(results_by_system.items()):
        c = COLORS[k % len(COLORS)]
        pooled = pooled_curves(results, target)
        r = pooled["r_nm"]
        for res in results:
            single = pooled_curves([res], target)
            ax_g.plot(r, single["g"], color=c, lw=0.5, alpha=0.35)
            ax_n.plot(pooled["r_edges_nm"][1:], single["running_cn"], color=c, lw=0.5, alpha=0.35)
        t = summary[system]["targets"][target]
        ci = t["cn_ci95"]
        ci_txt = "" if ci[0] is None or np.isnan(ci[0]) else f" [{ci[0]:.2f}, {ci[1]:.2f}]"
        ax_g.plot(r, pooled["g"], color=c, lw=1.8, label=f"{system} ({len(results)} replicas)")
        ax_n.plot(pooled["r_edges_nm"][1:], pooled["running_cn"], color=c, lw=1.8,
                  label=f"{system}: CN = {t['cn_mean']:.3f}{ci_txt} at {t['cutoff_nm']:.3f} nm")  # fmt: skip
        for ax in (ax_g, ax_n):
            ax.axvline(t["cutoff_nm"], color=c, ls="--", lw=1)
        paper = summary[system].get("paper") or {}
        if paper.get("cn") is not None:
            x = (paper.get("range_nm") or [None, t["cutoff_nm"]])[1]
            ax_n.plot([x], [paper["cn"]], marker="*", ms=13, color=c, ls="none", mec="k",
                      label=f"paper, {system}: {paper['cn']}")  # fmt: skip
    ax_g.axhline(1.0, color="0.6", lw=0.8)
    ax_g.set_xlabel("r (nm), TFSI$^-$ " + target + " to top-layer Li")
    ax_g.set_ylabel("g(r) (electrolyte-region normalisation)")
    ax_g.legend(fontsize=8)
    ax_n.set_xlabel("r (nm)")
    ax_n.set_ylabel("running coordination n(r), TFSI$^-$ per surface Li")
    ax_n.legend(fontsize=7)
    fig.suptitle("TFSI$^-$ at the Li surface: g(r) and running coordination number (dashed: first-shell cutoff)")
    fig.tight_layout()
    _save(fig, path)


def plot_density_profiles(results_by_system: dict, path) -> None:
    """Number density of TFSI- (N atoms) and Li+ versus height above the top Li layer, mean over replicas."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=False)
    for k, (system, results) in enumerate(results_by_system.items()):
        c = COLORS[k % len(COLORS)]
        edges = results[0]["height_edges_nm"]
        h = 0.5 * (edges[1:] + edges[:-1])
        for ax, name, label in ((axes[0], "tfsi", "TFSI$^-$ (N)"), (axes[1], "li_ion", "Li$^+$")):
            n = min(len(r[f"density_{name}"]) for r in results)
            mean = np.mean([r[f"density_{name}"][:n] for r in results], axis=0)
            ax.plot(h[:n], mean, color=c, lw=1.5, label=f"{system} ({len(results)} replicas)")
            ax.set_title(label)
            top = float(results[0].get("coating_top_nm", 0.0))
            if top > 0:
                ax.axvspan(0, top, color=c, alpha=0.08, lw=0)
                ax.text(top, ax.get_ylim()[1] * 0.02, f" top of {system} coating", color=c, fontsize=7, rotation=90, va="bottom")
    for ax in axes:
        ax.set_xlabel("height above the top Li layer (nm)")
        ax.set_ylabel("number density (nm$^{-3}$)")
        ax.legend(fontsize=8)
    fig.suptitle("Density profiles (production part of each run; shaded: height of the coating layer)")
    fig.tight_layout()
    _save(fig, path)


def plot_msd(results_by_system: dict, path) -> None:
    """TFSI- N-atom mean-squared displacement from the first frame, every replica."""
    fig, ax = plt.subplots(figsize=(6, 4.2))
    for k, (system, results) in enumerate(results_by_system.items()):
        c = COLORS[k % len(COLORS)]
        for j, res in enumerate(results):
            ax.plot(res["time_ps"], res["msd_tfsi_nm2"], color=c, lw=1, label=system if j == 0 else None)
    ax.set_xlabel("time (ps)")
    ax.set_ylabel("TFSI$^-$ MSD (nm$^2$)")
    ax.set_title("How far the anions moved")
    ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, path)
