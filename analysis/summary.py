"""Pool the replicas of each system: first-shell cutoff, coordination numbers, intervals; write CSV and JSON.

The cutoff of a system is found once, on g(r) pooled over its replicas (the first minimum after the first
peak), or taken from config; every replica's coordination number is then the direct count within that same
cutoff, so the replicas are measured by one definition. The mean and its 95 % interval use the t distribution.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np

from analysis import rdf
from analysis.replica import HEIGHT, SITE_TARGETS, TARGETS, edges_of
from analysis.stats import mean_ci_t
from systems.files import atomic_path, write_json


def production_counts(res: dict, target: str, reference: str = "top"):
    """Histogram counts summed over the production frames of one replica, and the number of those frames."""
    key = f"frame_counts_{reference}_{target}"
    if key not in res:
        raise KeyError(f"analysis result has no {key}: it was made by an older version; rerun with `snakemake -R compute_rdf`")
    fc = np.asarray(res[key])[int(res["first_production_frame"]) :]
    return fc.sum(axis=0).astype(float), len(fc)


def pooled_curves(results: list, target: str, normalization: str = "region", reference: str = "top") -> dict:
    """g(r) and running n(r) pooled over replicas (counts and frames of the production parts summed).

    For the ``height`` reference, g is the height profile of the targets over their mean density in the
    electrolyte region (1 where they are as dense as on average), and n(h) counts targets below each height per
    top-layer Li atom; ``cell`` normalisation is not defined for a height and gives NaN, and so is the profile
    below the top-layer plane.
    """
    edges = edges_of(results[0], reference)
    for res in results[1:]:
        if len(edges_of(res, reference)) != len(edges) or not np.allclose(edges_of(res, reference), edges):
            raise ValueError("replicas were analysed with different bins")
    parts = [production_counts(res, target, reference) for res in results]
    counts = sum(c for c, _ in parts)
    frames = int(sum(n for _, n in parts))
    first = results[0]
    n_a = int(first[f"n_ref_{reference}"])
    n_b = int(first[f"n_b_{target}"])
    z0, z1 = first["region_nm"]
    if reference == HEIGHT:
        g = np.full(len(counts), np.nan)
        if normalization == "region":
            g = counts * (z1 - z0) / (frames * n_b * np.diff(edges))
            # below the top-layer plane an ion has entered the slab: no profile there (the penetration table counts
            # those), so the first peak and minimum are those of the electrolyte; n(h) still counts them
            g[edges[1:] < 0.5 * (edges[1] - edges[0])] = np.nan  # upper edge at (or, by rounding, next to) 0 or below
    elif normalization == "region":
        vol = float(first["area_nm2"]) * (z1 - z0)
        g = rdf.rdf_from_counts(counts, frames, edges, n_b, vol, "region", z_a=first[f"z_ref_atoms_{reference}"], region=(z0, z1))
    else:
        g = rdf.rdf_from_counts(counts, frames, edges, n_b, float(first["cell_volume_nm3"]), "cell", z_a=first[f"z_ref_atoms_{reference}"])
    return {
        "r_edges_nm": edges,
        "r_nm": 0.5 * (edges[1:] + edges[:-1]),
        "g": g,
        "running_cn": rdf.running_coordination(counts, frames, n_a),
        "counts": counts,
    }


def has_pair(results: list, reference: str, target: str) -> bool:
    """Whether every replica measured ``target`` around ``reference`` (a bare cell has no coating, say)."""
    return all(f"frame_counts_{reference}_{target}" in res for res in results)


def closest_approach(curves: dict, cutoff_nm: float, fraction: float = 0.01) -> dict:
    """How close the targets come: the smallest distance seen, and the onset of the counted shell.

    ``closest_nm`` is the lower edge of the first non-empty bin of the pooled production histograms (the smallest
    distance, or height, that occurred, to one bin). ``onset_nm`` is the upper edge of the bin where the running
    count first reaches ``fraction`` of its value at ``cutoff_nm``: the distance inside which 1 % of the counted
    pairs lie, which one rare event does not move. NaN when nothing was counted.
    """
    counts = np.asarray(curves["counts"], float)
    edges = np.asarray(curves["r_edges_nm"], float)
    nz = np.flatnonzero(counts > 0)
    closest = float(edges[nz[0]]) if len(nz) else math.nan
    onset = math.nan
    if math.isfinite(cutoff_nm) and len(nz):
        k = int(np.argmin(np.abs(edges[1:] - cutoff_nm)))
        cum = np.cumsum(counts)
        if cum[k] > 0:
            onset = float(edges[1 + int(np.argmax(cum >= fraction * cum[k]))])
    return {"closest_nm": closest, "onset_nm": onset}


def count_edge(r_edges, r_nm: float) -> float:
    """The bin edge a count within ``r_nm`` stops at (:func:`analysis.rdf.coordination_at`): the nearest upper edge."""
    upper = np.asarray(r_edges, float)[1:]
    return float(upper[int(np.argmin(np.abs(upper - r_nm)))])


def choose_cutoff(curves: dict, fixed_cutoff_nm=None, fallback_cutoff_nm: float = 0.8):
    """First shell of pooled ``curves`` and the cutoff to count in: config's fixed one, else the first minimum of
    g(r), else the fallback. Returns (shell, cutoff_nm, where the cutoff came from).

    The cutoff is the bin edge the count stops at, so the reported distance and the counted one are the same
    number: the upper edge of the bin holding the first minimum (that bin is counted), or the edge nearest a
    fixed or fallback value.
    """
    shell = rdf.first_shell(curves["r_nm"], curves["g"])
    edges = curves["r_edges_nm"]
    if fixed_cutoff_nm is not None:
        return shell, count_edge(edges, float(fixed_cutoff_nm)), "config"
    if shell["minimum_nm"] is not None:
        k = int(np.argmin(np.abs(np.asarray(curves["r_nm"]) - shell["minimum_nm"])))
        return shell, float(edges[k + 1]), "first minimum of g(r)"
    return shell, count_edge(edges, float(fallback_cutoff_nm)), "fallback (no first minimum found)"


def summarize_system(results: list, fixed_cutoff_nm=None, fallback_cutoff_nm: float = 0.8) -> dict:
    """Per-target cutoffs and coordination numbers of one system from its replicas' analysis results."""
    if not results:
        raise ValueError("no replicas to summarise")
    out = {"n_replicas": len(results), "targets": {}}
    for target in TARGETS:
        shell, rc, source = choose_cutoff(pooled_curves(results, target), fixed_cutoff_nm, fallback_cutoff_nm)
        per_rep = []
        for res in results:
            running = rdf.running_coordination(res[f"counts_{target}"], int(res["n_frames_used"]), int(res["n_surface"]))
            per_rep.append(rdf.coordination_at(res["r_edges_nm"], running, rc))
        st = mean_ci_t(per_rep)
        out["targets"][target] = {
            "cutoff_nm": rc,
            "cutoff_source": source,
            "first_peak_nm": shell["peak_nm"],
            "first_shell_range_nm": [shell["start_nm"], rc],
            "cn_per_replica": per_rep,
            "cn_mean": st["mean"],
            "cn_sd": st["sd"],
            "cn_ci95": [st["low"], st["high"]],
        }
    out["sites"] = summarize_sites(results, fixed_cutoff_nm, fallback_cutoff_nm)
    msd = [float(res["msd_tfsi_nm2"][-1]) for res in results]
    out["tfsi_msd_end_nm2_per_replica"] = msd
    out["tfsi_msd_end_nm2_mean"] = float(np.mean(msd))
    out["run_length_ps"] = float(results[0]["time_ps"][-1]) if len(results[0]["time_ps"]) else math.nan
    out["frames_used_per_replica"] = [int(r["n_frames_used"]) for r in results]
    return out


def summarize_sites(results: list, fixed_cutoff_nm=None, fallback_cutoff_nm: float = 0.8) -> dict:
    """Per-site RDF summaries of a coated system: TFSI- (N, or its closest atom) around each declared site.

    As for the surface: the cutoff is the first minimum of g(r) pooled over replicas (else config's fixed cutoff,
    or the fallback), and each replica's CN is its direct count within it, per site atom.
    """
    names = [str(n) for n in results[0].get("site_names", [])]
    out = {}
    for name in names:
        ref = f"site_{name}"
        entry = {"label": str(results[0][f"site_label_{name}"]), "n_atoms": int(results[0][f"n_ref_{ref}"]), "targets": {}}
        for target in SITE_TARGETS:
            shell, rc, source = choose_cutoff(pooled_curves(results, target, reference=ref), fixed_cutoff_nm, fallback_cutoff_nm)
            per_rep = []
            for res in results:
                counts, frames = production_counts(res, target, ref)
                running = rdf.running_coordination(counts, frames, int(res[f"n_ref_{ref}"]))
                per_rep.append(rdf.coordination_at(res["r_edges_nm"], running, rc))
            st = mean_ci_t(per_rep)
            entry["targets"][target] = {
                "cutoff_nm": rc,
                "cutoff_source": source,
                "first_peak_nm": shell["peak_nm"],
                "cn_per_replica": per_rep,
                "cn_mean": st["mean"],
                "cn_ci95": [st["low"], st["high"]],
            }
        out[name] = entry
    return out


def write_site_table(summary: dict, path) -> None:
    """One row per (system, site, target): TFSI- coordination of each coating site, written atomically."""
    header = ["system", "site", "label", "n_site_atoms", "target", "n_replicas", "cn_per_replica", "cn_mean", "cn_ci95_low",
              "cn_ci95_high", "cutoff_nm", "cutoff_source", "first_peak_nm"]  # fmt: skip
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for system, s in summary.items():
            for site, e in (s.get("sites") or {}).items():
                for target, t in e["targets"].items():
                    w.writerow([system, site, e["label"], e["n_atoms"], target, s["n_replicas"], ";".join(_num(v) for v in t["cn_per_replica"]),
                                _num(t["cn_mean"]), _num(t["cn_ci95"][0]), _num(t["cn_ci95"][1]), _num(t["cutoff_nm"]),
                                t["cutoff_source"], _num(t["first_peak_nm"])])  # fmt: skip


def _num(x):
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.4g}"


def write_summary(summary: dict, csv_path, json_path) -> None:
    """``summary`` maps system -> summarize_system output (plus optional ``paper``); written atomically."""
    header = [
        "system", "target", "n_replicas", "cn_per_replica", "cn_mean", "cn_ci95_low", "cn_ci95_high", "cutoff_nm",
        "cutoff_source", "first_shell_from_nm", "first_shell_to_nm", "tfsi_msd_end_nm2", "run_length_ps",
        "paper_cn", "paper_range_nm",
    ]  # fmt: skip
    with atomic_path(csv_path) as tmp, open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for system, s in summary.items():
            paper = s.get("paper") or {}
            for target, t in s["targets"].items():
                w.writerow(
                    [
                        system, target, s["n_replicas"], ";".join(_num(v) for v in t["cn_per_replica"]), _num(t["cn_mean"]),
                        _num(t["cn_ci95"][0]), _num(t["cn_ci95"][1]), _num(t["cutoff_nm"]), t["cutoff_source"],
                        _num(t["first_shell_range_nm"][0]), _num(t["first_shell_range_nm"][1]),
                        _num(s["tfsi_msd_end_nm2_mean"]), _num(s["run_length_ps"]),
                        _num(paper.get("cn")) if target == "N" else "",
                        "-".join(_num(v) for v in paper.get("range_nm", [])) if target == "N" else "",
                    ]
                )  # fmt: skip

    write_json(json_path, summary)


def load_grouped(paths, systems, n_replicas: int) -> dict:
    """Replica results grouped by system, from analysis.npz paths ordered system-major (as ``expand`` gives)."""
    from analysis.replica import load_result

    paths = list(paths)
    if len(paths) != len(systems) * n_replicas:
        raise ValueError(f"expected {len(systems) * n_replicas} analysis files, got {len(paths)}")
    return {s: [load_result(p) for p in paths[k * n_replicas : (k + 1) * n_replicas]] for k, s in enumerate(systems)}


def summarize_files(paths, systems, n_replicas, analysis_config: dict, paper: dict, csv_path, json_path, provenance_paths=None, sites_csv=None) -> dict:
    """Summarise every system from its replicas' analysis files and write CSV and JSON.

    ``provenance_paths`` (the MD runs' provenance.json, same order as ``paths``) adds how the numbers were
    produced: platform, OpenMM version, run length, seeds and speed of each replica.
    """
    grouped = load_grouped(paths, systems, n_replicas)
    prov = [json.loads(Path(p).read_text()) for p in (provenance_paths or [])]
    summary = {}
    for k, (system, results) in enumerate(grouped.items()):
        s = summarize_system(results, analysis_config.get("cutoff_nm"), analysis_config.get("fallback_cutoff_nm", 0.8))
        s["paper"] = (paper or {}).get(system)
        s["definition"] = (
            "CN = mean number of TFSI- (target atoms) within the cutoff of a top-layer Li-metal atom, "
            f"frames after the first {analysis_config.get('equilibration_fraction')} of each run"
        )
        if prov:
            mine = prov[k * n_replicas : (k + 1) * n_replicas]
            s["produced_by"] = {
                "platforms": sorted({p["platform"] for p in mine}),
                "openmm_version": sorted({p["openmm_version"] for p in mine}),
                "length_ps": sorted({p["length_ps"] for p in mine}),
                "timestep_fs": sorted({p["timestep_fs"] for p in mine}),
                "temperature_k": sorted({p["temperature_k"] for p in mine}),
                "ns_per_day": [p["ns_per_day"] for p in mine],
                "seeds": [{"packing": p.get("packing_seed"), **p["seeds"]} for p in mine],
            }
        summary[system] = s
    write_summary(summary, csv_path, json_path)
    if sites_csv:
        write_site_table(summary, sites_csv)
    return summary
