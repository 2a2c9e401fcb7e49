"""Figures: g(r) with running coordination number, density profiles, TFSI- MSD."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from analysis.summary import pooled_curves  # noqa: E402
from systems.files import atomic_path  # noqa: E402

COLORS = ["tab:blue", "tab:red", "tab:green", "tab:purple", "tab:orange", "tab:brown"]


def _message_figure(text, path):
    """A small figure that only says ``text`` (an output that must exist even when there is nothing to draw)."""
    fig, ax = plt.subplots(figsize=(6, 2))
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center")
    _save(fig, path)


def _save(fig, path):
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=150)
    plt.close(fig)


#: element colours of the coating pictures (CPK-like)
ELEMENT_COLORS = {"H": "0.85", "C": "0.25", "N": "tab:blue", "O": "tab:red", "F": "yellowgreen", "Fe": "darkorange",
                  "Co": "deeppink", "Li": "mediumpurple", "S": "gold"}  # fmt: skip


def plot_coatings(entries: list, path) -> None:
    """Top and side view of every coated system's slab and coating, as built: one row per system.

    ``entries``: (system, slab PDB, coating PDB, coating.json). Site atoms (coating.json ``sites``) are ringed.
    """
    import json
    from pathlib import Path

    from systems.structure import read_pdb

    if not entries:
        _message_figure("No system has a coating", path)
        return
    fig, axes = plt.subplots(len(entries), 2, figsize=(11, 4.6 * len(entries)), squeeze=False, gridspec_kw={"width_ratios": [1, 1.3]})
    for row, (system, slab_pdb, coating_pdb, info_json) in enumerate(entries):
        slab, coat = read_pdb(slab_pdb), read_pdb(coating_pdb)
        info = json.loads(Path(info_json).read_text())
        top = slab.positions[:, 2].max()
        ax_top, ax_side = axes[row]
        upper = slab.positions[:, 2] > top - 0.01
        ax_top.scatter(*slab.positions[upper, :2].T, s=60, color=ELEMENT_COLORS["Li"], alpha=0.35, lw=0)
        ax_side.scatter(slab.positions[:, 0], slab.positions[:, 2] - top, s=40, color=ELEMENT_COLORS["Li"], alpha=0.35, lw=0)
        order = np.argsort(coat.positions[:, 2])  # higher atoms drawn last in the top view
        colors = [ELEMENT_COLORS.get(coat.elements[i], "tab:gray") for i in order]
        ax_top.scatter(*coat.positions[order, :2].T, s=14, c=colors, lw=0)
        ax_side.scatter(coat.positions[:, 0], coat.positions[:, 2] - top, s=10,
                        c=[ELEMENT_COLORS.get(e, "tab:gray") for e in coat.elements], lw=0)  # fmt: skip
        for k, (name, site) in enumerate((info.get("sites") or {}).items()):
            idx = site["indices"]
            for ax, xy in ((ax_top, coat.positions[idx][:, :2]), (ax_side, np.c_[coat.positions[idx, 0], coat.positions[idx, 2] - top])):
                ax.scatter(*xy.T, s=70, facecolors="none", edgecolors=COLORS[k % len(COLORS)], lw=1.2, label=f"site {site['label']}" if ax is ax_top else None)
        box = slab.box
        ax_top.set_xlim(0, box[0])
        ax_top.set_ylim(0, box[1])
        ax_top.set_aspect("equal")
        ax_top.set_xlabel("x (nm)")
        ax_top.set_ylabel("y (nm)")
        ax_top.set_title(f"{system}: {info['coating']} ({info['n_atoms']} atoms), from above", fontsize=9)
        if info.get("sites"):
            ax_top.legend(fontsize=7, loc="upper right")
        ax_side.set_xlim(0, box[0])
        ax_side.set_aspect("equal")
        ax_side.axhline(0.0, color="0.6", lw=0.8)
        ax_side.set_xlabel("x (nm)")
        ax_side.set_ylabel("height above the top Li layer (nm)")
        gap = info.get("gap_above_top_li_layer_nm")
        ax_side.set_title(f"side view: gap {gap:.3f} nm, top {info.get('top_above_top_li_layer_nm', float('nan')):.2f} nm, "
                          f"net charge {round(info.get('net_charge_e') or 0.0, 3) or 0.0:+.3f} e", fontsize=9)  # fmt: skip
    handles = [plt.Line2D([], [], marker="o", ls="none", color=c, label=e) for e, c in ELEMENT_COLORS.items()]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8)
    fig.suptitle("Coatings as built (frozen); Li: slab (top layer only in the view from above)")
    fig.tight_layout(rect=(0, 0.03, 1, 0.97))
    _save(fig, path)


def plot_site_rdf(results_by_system: dict, summary: dict, path, targets=("N", "O")) -> None:
    """One row per coating site (Fe, amino H, Co, ...); for each target, g(r) of TFSI- around the site atoms and n(r).

    The default targets are the anion through its N and every anion O, so the Fe...O and N-H...O contacts the
    paper credits show beside the whole-anion count. Every system whose coating declares the site is drawn,
    pooled over its replicas (thin: single replicas), with the cutoff of its coordination number dashed. Systems
    without sites (bare Li) have no curve.
    """
    names = []
    for s in summary.values():
        names += [n for n in (s.get("sites") or {}) if n not in names]
    if not names:
        _message_figure("No system's coating declares sites\n(coating.yaml: sites)", path)
        return
    fig, axes = plt.subplots(len(names), 2 * len(targets), figsize=(5.5 * len(targets) * 2, 3.3 * len(names)), squeeze=False)
    for row, name in enumerate(names):
        for col, target in enumerate(targets):
            ax_g, ax_n = axes[row][2 * col], axes[row][2 * col + 1]
            label = name
            for k, (system, results) in enumerate(results_by_system.items()):
                site = (summary[system].get("sites") or {}).get(name)
                if site is None or target not in site["targets"]:
                    continue
                c = COLORS[k % len(COLORS)]
                pooled = pooled_curves(results, target, reference=f"site_{name}")
                for res in results:
                    single = pooled_curves([res], target, reference=f"site_{name}")
                    ax_g.plot(pooled["r_nm"], single["g"], color=c, lw=0.5, alpha=0.35)
                    ax_n.plot(pooled["r_edges_nm"][1:], single["running_cn"], color=c, lw=0.5, alpha=0.35)
                t = site["targets"][target]
                ci = t["cn_ci95"]
                ci_txt = "" if ci[0] is None or np.isnan(ci[0]) else f" [{ci[0]:.2f}, {ci[1]:.2f}]"
                ax_g.plot(pooled["r_nm"], pooled["g"], color=c, lw=1.8, label=f"{system} ({site['n_atoms']} atoms, {len(results)} replicas)")
                ax_n.plot(pooled["r_edges_nm"][1:], pooled["running_cn"], color=c, lw=1.8,
                          label=f"{system}: CN = {t['cn_mean']:.3f}{ci_txt} at {t['cutoff_nm']:.3f} nm")  # fmt: skip
                for ax in (ax_g, ax_n):
                    ax.axvline(t["cutoff_nm"], color=c, ls="--", lw=1)
                label = site["label"]
            ax_g.axhline(1.0, color="0.6", lw=0.8)
            ax_g.set_xlabel(f"r (nm), TFSI$^-$ {target} to {label}")
            ax_g.set_ylabel("g(r)")
            ax_g.legend(fontsize=8)
            ax_n.set_xlabel("r (nm)")
            ax_n.set_ylabel(f"TFSI$^-$ {target} per {label}")
            ax_n.legend(fontsize=7)
    fig.suptitle("TFSI$^-$ (N, and every O) around the coating's sites: g(r) and running coordination (dashed: cutoff)")
    fig.tight_layout()
    _save(fig, path)


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
    """Number density of TFSI- (its N, and its lowest atom) and Li+ versus height above the top Li layer, mean over replicas."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), sharey=False)
    for k, (system, results) in enumerate(results_by_system.items()):
        c = COLORS[k % len(COLORS)]
        edges = results[0]["height_edges_nm"]
        h = 0.5 * (edges[1:] + edges[:-1])
        panels = ((axes[0], "tfsi", "TFSI$^-$ (N)"), (axes[1], "tfsi_lowest", "TFSI$^-$ (lowest atom of each anion)"), (axes[2], "li_ion", "Li$^+$"))
        for ax, name, label in panels:
            if any(f"density_{name}" not in r for r in results):  # analysed before the lowest-atom profile existed
                continue
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


def _cn_traces(ax, t, y, first: int, color, smooth_frames: int, lw_thin: float = 0.5, alpha: float = 0.4) -> np.ndarray:
    """A run's per-frame CN ``y`` at times ``t``: thin, averaged over ``smooth_frames`` frames; bold, the running mean
    from frame ``first`` (the equilibration cut) on, drawn last. Returns the running mean."""
    w = max(1, min(smooth_frames, len(y)))
    ax.plot(t[w - 1 :], np.convolve(y, np.ones(w) / w, mode="valid"), color=color, lw=lw_thin, alpha=alpha)
    run = np.cumsum(y[first:]) / np.arange(1, len(y) - first + 1)
    ax.plot(t[first:], run, color=color, lw=2)
    return run


def plot_convergence(results_by_system: dict, stats_out: dict, path, smooth_frames: int = 10) -> None:
    """CN (headline definition) versus simulated time, every replica of every system.

    Thin line: the per-frame CN averaged over ``smooth_frames`` frames; bold line: the running mean of the
    production part from the equilibration cut (grey) to t. The dashed line is the paper's value.
    """
    from analysis.compare import HEADLINE, cn_series

    reference, target, _ = HEADLINE
    systems = list(results_by_system)
    fig, axes = plt.subplots(1, len(systems), figsize=(5.5 * len(systems), 4.2), squeeze=False, sharey=True)
    for k, (system, ax) in enumerate(zip(systems, axes[0])):
        s = stats_out["systems"][system]
        for j, res in enumerate(results_by_system[system]):
            c = COLORS[j % len(COLORS)]
            t = np.asarray(res["time_ps"], float)
            first = int(res["first_production_frame"])
            run = _cn_traces(ax, t, cn_series(res, reference, target, s["cutoff_nm"]), first, c, smooth_frames, lw_thin=0.6, alpha=0.5)
            ax.lines[-1].set_label(f"r{j}: running mean {run[-1]:.3f}")
            ax.axvspan(0, t[first] if first < len(t) else t[-1], color="0.85", lw=0, zorder=0)
        paper = (s.get("paper") or {}).get("cn")
        if paper is not None:
            ax.axhline(paper, color="k", ls="--", lw=1, label=f"paper: {paper}")
        ax.set_title(f"{system} (cutoff {s['cutoff_nm']:.3f} nm)")
        ax.set_xlabel("simulated time (ps); grey: discarded as equilibration")
        if k == 0:
            ax.set_ylabel(f"CN, TFSI$^-$ {target} per top-layer Li")
        ax.legend(fontsize=8)
    fig.suptitle(f"Convergence: per-frame CN (thin, {smooth_frames}-frame average) and running mean of the production part (bold)")
    fig.tight_layout()
    _save(fig, path)


def plot_block_averaging(stats_out: dict, path) -> None:
    """Blocked standard error of the CN versus block length, every replica; the chosen block length circled."""
    systems = list(stats_out["systems"])
    fig, axes = plt.subplots(1, len(systems), figsize=(5.5 * len(systems), 4.0), squeeze=False)
    for system, ax in zip(systems, axes[0]):
        s = stats_out["systems"][system]
        dt = s.get("frame_interval_ps") or 1.0
        for j, r in enumerate(s["replicas"]):
            c = COLORS[j % len(COLORS)]
            lv = np.array([lv[:4] for lv in r["block_levels"]], float) if r["block_levels"] else np.zeros((0, 4))
            if len(lv) == 0:
                continue
            ax.errorbar(lv[:, 0] * dt, lv[:, 2], yerr=lv[:, 3], color=c, marker="o", ms=3, lw=1, capsize=2, label=f"r{j}")
            if r["block_length_frames"]:
                ax.plot([r["block_length_frames"] * dt], [r["block_se"]], marker="o", ms=12, mfc="none", mec=c, mew=2)
        ax.set_xscale("log")
        ax.set_xlabel("block length (ps)")
        ax.set_ylabel("standard error of the mean CN")
        ax.set_title(f"{system}: circled = chosen block length")
        ax.legend(fontsize=8)
    fig.suptitle("Block averaging: the SE rises with block length until blocks outlast the correlation time")
    fig.tight_layout()
    _save(fig, path)


#: colours of the three starts in the start-independence figure
START_COLORS = {"anions_near": "tab:red", "random": "0.4", "anions_far": "tab:blue"}


def plot_start_independence(results_by_system: dict, stats_out: dict, path, smooth_frames: int = 10) -> None:
    """One panel per group of systems that differ only in their start (``stats_out["start_independence"]``): the
    headline CN of every run against production time at the group's one cutoff, coloured by start, thin
    (``smooth_frames``-frame average) and bold (running mean of the part after the equilibration cut), with each
    start's mean and error as a band at the right. Converging colours mean the start is forgotten."""
    from analysis.compare import HEADLINE, cn_series

    rows = stats_out.get("start_independence") or []
    if not rows:
        _message_figure("No systems differ only in their start (electrolyte.start); see config/start_independence.yaml", path)
        return
    reference, target, _ = HEADLINE
    fig, axes = plt.subplots(1, len(rows), figsize=(5.5 * len(rows), 4.4), squeeze=False, sharey=True)
    for k, (row, ax) in enumerate(zip(rows, axes[0])):
        t_end = 0.0
        for start, names in row["systems"].items():
            c = START_COLORS.get(start, "k")
            first_label = True
            for name in names:
                for res in results_by_system[name]:
                    t = np.asarray(res["time_ps"], float)
                    _cn_traces(ax, t, cn_series(res, reference, target, row["cutoff_nm"]), int(res["first_production_frame"]), c, smooth_frames)
                    if first_label:
                        ax.lines[-1].set_label(start.replace("_", " "))
                    first_label = False
                    t_end = max(t_end, float(t[-1]))
        for start, e in row["starts"].items():
            c = START_COLORS.get(start, "k")
            ax.errorbar([t_end * 1.04], [e["cn"]], yerr=[e["se"]] if np.isfinite(e["se"]) else None, color=c, marker="o", capsize=3)
        tst = row["near_minus_far"]
        p = tst.get("p_value")
        head = f"{row['label']} (cutoff {row['cutoff_nm']:.3f} nm)"
        ax.set_title(f"{head}\nnear - far = {tst['difference']:+.3f}, p = {p:.2g}" if p is not None and np.isfinite(p) else head, fontsize=9)
        ax.set_xlabel("production time (ps); dots: each start's mean and SE")
        if k == 0:
            ax.set_ylabel(f"CN, TFSI$^-$ {target} per top-layer Li (the group's cutoff)")
        ax.legend(fontsize=8)
    fig.suptitle("Does the answer remember where the ions started? (thin: per-frame CN, bold: running mean after the cut)")
    fig.tight_layout()
    _save(fig, path)


def plot_electrode(charges_by_system: dict, stats_out: dict, path) -> None:
    """Constant-potential runs: the working electrode's charge against time (every run), CN and charge against the
    potential (every series of :func:`analysis.potential.series_rows`), and the induced charge of the surface (the
    mean charge of each top-layer atom over production, first run of each system).

    ``charges_by_system``: system -> its runs' :func:`analysis.electrode_charge.electrode_charges` arrays.
    """
    systems = list(charges_by_system)
    if not systems:
        _message_figure("no constant-potential system in this config", path)
        return
    n_maps = min(len(systems), 6)
    fig = plt.figure(figsize=(4.2 * max(3, n_maps), 7.5), layout="constrained")
    grid = fig.add_gridspec(2, max(3, n_maps))
    ax_t, ax_cn, ax_q = (fig.add_subplot(grid[0, k]) for k in range(3))
    for i, system in enumerate(systems):
        for k, run in enumerate(charges_by_system[system]):
            ax_t.plot(run["time_ps"], run["working_e"], color=COLORS[i % len(COLORS)], lw=0.8, label=system if k == 0 else None)
    ax_t.set_xlabel("time (ps)")
    ax_t.set_ylabel("working electrode charge (e)")
    ax_t.legend(fontsize=7)
    ax_t.set_title("charge against time")
    for i, row in enumerate(stats_out.get("potential_series") or []):
        v = [p["potential_v"] for p in row["points"]]
        color = COLORS[i % len(COLORS)]
        ax_cn.errorbar(v, [p["cn"] for p in row["points"]], yerr=[p["se"] for p in row["points"]], marker="o", capsize=3, color=color, label=row["label"])
        ax_q.errorbar(v, [p["charge_e"] for p in row["points"]], yerr=[p["charge_se_e"] for p in row["points"]], marker="s", capsize=3, color=color)
    ax_cn.set_xlabel("potential of the working electrode (V)")
    ax_cn.set_ylabel("TFSI- N per top-layer Li (CN)")
    ax_cn.set_title("CN against potential (one cutoff per series)")
    ax_cn.legend(fontsize=7)
    ax_q.set_xlabel("potential of the working electrode (V)")
    ax_q.set_ylabel("mean electrode charge (e)")
    ax_q.set_title("charge against potential")
    maps = [charges_by_system[s][0] for s in systems[:n_maps]]
    lim = max(float(np.max(np.abs(m["surface_mean_e"]))) for m in maps) or 1.0
    for k, (system, m) in enumerate(zip(systems, maps)):
        ax = fig.add_subplot(grid[1, k])
        sc = ax.scatter(m["surface_xy_nm"][:, 0], m["surface_xy_nm"][:, 1], c=m["surface_mean_e"], cmap="coolwarm", vmin=-lim, vmax=lim, s=40)
        ax.set_aspect("equal")
        ax.set_title(f"{system}: top-layer charge", fontsize=9)
        ax.set_xlabel("x (nm)")
        ax.set_ylabel("y (nm)")
    fig.colorbar(sc, ax=fig.axes[3:], label="mean charge per atom (e)", shrink=0.8)
    _save(fig, path)
