"""How sure are we, and how much does the answer depend on the definition? Statistics, convergence, sensitivity.

Three layers of uncertainty for the coordination number (CN) of a system:

1. within a run: the per-frame CN series of the production part, with a block-averaged standard error
   (:func:`analysis.stats.block_average`; the block length is chosen from the data and reported);
2. across replicas: the t interval of the replica means (the headline interval);
3. coated vs bare: Welch's t test on the replica means (few replicas, unequal spreads), with its 95 % interval.

The equilibration cut is checked, not assumed: for every replica a drift test compares the first and second
halves of the production part (blocked standard errors; a small p-value means the cut came too early), the same
test on the discarded part says whether it held a trend, and its mean is reported next to the production mean.

The sensitivity table recomputes the CN of every system under each definition the paper leaves open: reference
set (top Li layer, both layers, top layer + coating, coating only, Li+, each coating site, or a height above the
top Li plane; :mod:`analysis.replica`), target (TFSI- N, O, F or any atom, Li+), and cutoff (first minimum of
g(r) normalised over the electrolyte region, first minimum of g(r) normalised over the whole cell as Materials
Studio Forcite does, fixed 0.4 nm, fixed 0.8 nm, or the end of the paper's own distance range for that system).
Each row also gives the closest approach (the smallest distance seen, and the 1 % onset of the counted shell),
so a reader sees which definition could produce the paper's 0.18 nm. Ions found below the top Li plane or below
the slab are counted for every replica (:func:`penetration_table`).
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np

from analysis import independence, potential, rdf
from analysis.replica import HEIGHT, REFERENCE_LABELS, REFERENCES, edges_of, targets_of
from analysis.stats import block_average, drift_test, mean_ci_t, replica_agreement, welch_difference
from analysis.summary import choose_cutoff, closest_approach, count_edge, has_pair, pooled_curves
from systems.files import atomic_path, write_json, write_text

#: cutoff rules of the sensitivity table: (name, how)
CUTOFF_RULES = (
    ("first minimum, electrolyte-region g(r)", "region"),
    ("first minimum, whole-cell g(r) (Forcite)", "cell"),
    ("fixed 0.4 nm", 0.4),
    ("fixed 0.8 nm", 0.8),
    ("end of the paper's range for the system", "paper"),
)
HEADLINE = ("top", "N", CUTOFF_RULES[0][0])


def cutoff_for(results, reference, target, rule, fallback_nm, paper=None, fixed_nm=None) -> tuple[float, str]:
    """The cutoff (nm) and where it came from, for one system under one rule.

    For the ``height`` reference the cutoff is a height above the top Li plane; its first-minimum rule is the
    first minimum of the pooled height profile, and the whole-cell rule does not apply (NaN).
    """
    how = dict(CUTOFF_RULES)[rule]
    edges = edges_of(results[0], reference)  # every cutoff is the bin edge its count stops at (choose_cutoff)
    if fixed_nm is not None and rule == CUTOFF_RULES[0][0]:
        return count_edge(edges, float(fixed_nm)), "config"
    if isinstance(how, float):
        return count_edge(edges, how), "fixed"
    if how == "paper":
        rng = (paper or {}).get("range_nm")
        return (count_edge(edges, float(rng[1])), "paper") if rng else (math.nan, "paper gives none")
    if reference == HEIGHT and how == "cell":
        return math.nan, "not defined for a height"
    curves = pooled_curves(results, target, normalization=how, reference=reference)
    _, rc, source = choose_cutoff(curves, None, fallback_nm)
    return rc, "first minimum" if source.startswith("first minimum") else "fallback (no first minimum)"


def definitions(grouped: dict) -> list[tuple[str, str]]:
    """Every (reference, target) measured in at least one system, in table order: the Li and coating references,
    Li+, the coating sites, then the heights."""
    present = [str(r) for results in grouped.values() for r in results[0].get("references", REFERENCES)]
    sites = list(dict.fromkeys(r for r in present if r.startswith("site_")))
    out = []
    for reference in REFERENCES + tuple(sites) + (HEIGHT,):
        for target in targets_of(reference):
            if any(has_pair(results, reference, target) for results in grouped.values()):
                out.append((reference, target))
    return out


def cn_series(res, reference, target, r_c) -> np.ndarray:
    """Per-frame CN of one replica over all its frames."""
    return rdf.coordination_series(res[f"frame_counts_{reference}_{target}"], edges_of(res, reference), int(res[f"n_ref_{reference}"]), r_c)


def replica_statistics(res, reference, target, r_c) -> dict:
    """Production mean, blocked SE, drift test and the discarded part's mean for one replica."""
    series = cn_series(res, reference, target, r_c)
    first = int(res["first_production_frame"])
    prod = series[first:]
    blk = block_average(prod) if len(prod) >= 2 else None
    drift = drift_test(prod)
    return {
        "cn": float(prod.mean()),
        "block_se": blk["se"] if blk else math.nan,
        "block_length_frames": blk["block_length"] if blk else None,
        "n_blocks": blk["n_blocks"] if blk else None,
        "block_plateau": blk["plateau"] if blk else False,
        "statistical_inefficiency": blk["statistical_inefficiency"] if blk else math.nan,
        "block_levels": blk["levels"] if blk else [],
        "drift_second_minus_first_half": drift["difference"],
        "drift_p_value": drift["p_value"],
        "discarded_mean": float(series[:first].mean()) if first > 0 else math.nan,
        "discarded_drift_p_value": drift_test(series[:first])["p_value"],
        "n_frames_production": len(prod),
        "n_frames_discarded": first,
    }


def _bare_system(coatings: dict):
    bare = [s for s, c in coatings.items() if not c]
    return bare[0] if bare else None


def bare_partners(coatings: dict, config: dict | None = None) -> dict:
    """The bare system each coated system is set against: the bare one that differs from it in nothing but the
    coating (same start, protocol, slab, electrolyte and electrode; :func:`analysis.independence.system_variant`),
    else the first bare system with the same electrode (neutral, or the same potential and settings), else None: a
    coated electrode at +1 V is never set against a neutral or a -1 V bare slab."""
    first = _bare_system(coatings)
    if config is None:
        return {s: first for s, c in coatings.items() if c}

    def what(system):  # everything but the coating, start included
        key, _, start = independence.system_variant(config, system, with_coating=False)
        return key, start

    def electrode(system):
        return independence.electrode_key(config, system)

    bare = {s: what(s) for s, c in coatings.items() if not c}
    out = {}
    for system, coating in coatings.items():
        if coating:
            twins = [b for b, w in bare.items() if w == what(system)]
            same_electrode = [b for b in bare if electrode(b) == electrode(system)]
            out[system] = twins[0] if twins else (same_electrode[0] if same_electrode else None)
    return out


def sensitivity(grouped: dict, coatings: dict, paper: dict, fallback_nm: float = 0.8, fixed_nm=None, partners: dict | None = None) -> list[dict]:
    """One row per (reference, target, cutoff rule, system), with the closest approach and, on coated rows, the
    test against the system's bare partner (:func:`bare_partners`). A system without the reference's atoms (bare Li
    has no coating) gets an empty row."""
    partners = partners if partners is not None else bare_partners(coatings)
    rows = []
    for reference, target in definitions(grouped):
        for rule, _ in CUTOFF_RULES:
            per_system = {}
            for system, results in grouped.items():
                if not has_pair(results, reference, target):
                    per_system[system] = (math.nan, "no such atoms in this system", [], {"closest_nm": math.nan, "onset_nm": math.nan})
                    continue
                rc, source = cutoff_for(results, reference, target, rule, fallback_nm, (paper or {}).get(system), fixed_nm)
                vals = [float(cn_series(r, reference, target, rc)[int(r["first_production_frame"]) :].mean()) for r in results] if math.isfinite(rc) else []
                approach = closest_approach(pooled_curves(results, target, reference=reference), rc)
                per_system[system] = (rc, source, vals, approach)
            for system, (rc, source, vals, approach) in per_system.items():
                st = mean_ci_t(vals) if vals else {"mean": math.nan, "low": math.nan, "high": math.nan}
                row = {
                    "reference": reference, "target": target, "cutoff_rule": rule, "system": system, "cutoff_nm": rc,
                    "cutoff_source": source, "cn_per_replica": vals, "cn_mean": st["mean"], "cn_ci95_low": st["low"],
                    "cn_ci95_high": st["high"], "headline": (reference, target, rule) == HEADLINE, **approach,
                    "paper_cn": ((paper or {}).get(system) or {}).get("cn"), "paper_range_nm": ((paper or {}).get(system) or {}).get("range_nm"),
                }  # fmt: skip
                bare = partners.get(system)
                if bare in per_system and coatings.get(system) and vals and per_system[bare][2]:
                    d = welch_difference(per_system[bare][2], vals)
                    row.update(
                        diff_vs_bare=d["difference"], diff_ci95_low=d["low"], diff_ci95_high=d["high"], p_welch=d["p_value"],
                        above_bare_95=bool(d["low"] > 0) if math.isfinite(d["low"]) else None,
                    )  # fmt: skip
                rows.append(row)
    return rows


def penetration_table(grouped: dict) -> dict:
    """Per system, per replica: the mobile atoms found below the top Li plane and below the slab (every frame)."""
    out = {}
    for system, results in grouped.items():
        reps = []
        for res in results:
            reps.append({k[len("penetration_") :]: (v.item() if hasattr(v, "item") else v) for k, v in res.items() if k.startswith("penetration_")})
        out[system] = reps
    return out


def statistics(grouped: dict, coatings: dict, paper: dict, analysis_config: dict, partners: dict | None = None) -> dict:
    """Per-replica blocked statistics and convergence checks for the headline definition, and the difference test
    of each coated system against its bare partner (:func:`bare_partners`; absent: the first bare system)."""
    reference, target, rule = HEADLINE
    out = {"definition": {"reference": reference, "target": target, "cutoff_rule": rule}, "systems": {}}
    for system, results in grouped.items():
        rc, source = cutoff_for(
            results, reference, target, rule, analysis_config.get("fallback_cutoff_nm", 0.8), (paper or {}).get(system), analysis_config.get("cutoff_nm")
        )  # fmt: skip
        reps = [replica_statistics(r, reference, target, rc) for r in results]
        st = mean_ci_t([r["cn"] for r in reps])
        agreement = replica_agreement([r["cn"] for r in reps], [r["block_se"] for r in reps])
        agreement["all_block_errors_plateaued"] = all(r["block_plateau"] for r in reps)
        out["systems"][system] = {
            "replica_agreement": agreement,
            "coating": coatings.get(system),
            "cutoff_nm": rc,
            "cutoff_source": source,
            "replicas": reps,
            "cn_mean": st["mean"],
            "cn_ci95": [st["low"], st["high"]],
            "frame_interval_ps": float(np.median(np.diff(results[0]["time_ps"]))) if len(results[0]["time_ps"]) > 1 else math.nan,
            "run_length_ps": float(results[0]["time_ps"][-1]),
            "paper": (paper or {}).get(system),
        }
    partners = partners if partners is not None else bare_partners(coatings)
    out["differences"] = {}
    for system, s in out["systems"].items():
        bare = partners.get(system)
        if s["coating"] and bare in out["systems"]:
            d = welch_difference([r["cn"] for r in out["systems"][bare]["replicas"]], [r["cn"] for r in s["replicas"]])
            out["differences"][f"{system} - {bare}"] = d
    return out


def start_independence_rows(grouped: dict, config: dict, analysis_config: dict) -> list[dict]:
    """:func:`analysis.independence.start_independence` of the systems that differ only in their start, the
    headline definition counted with one cutoff per group (from g(r) pooled over the group's runs)."""
    reference, target, rule = HEADLINE
    groups = []
    for g in independence.start_groups(list(grouped), config):
        pooled = [r for names in g["systems"].values() for s in names for r in grouped[s]]
        rc, source = cutoff_for(pooled, reference, target, rule, analysis_config.get("fallback_cutoff_nm", 0.8), None, analysis_config.get("cutoff_nm"))
        runs = {st: [replica_statistics(r, reference, target, rc) for s in names for r in grouped[s]] for st, names in g["systems"].items()}
        groups.append({**g, "runs": runs, "cutoff_nm": rc, "cutoff_source": source})
    return independence.start_independence(groups)


def potential_rows(grouped: dict, config: dict, analysis_config: dict, charges: dict) -> list[dict]:
    """:func:`analysis.potential.series_rows` of the constant-potential systems that differ only in their potential,
    the headline definition counted with one cutoff per series (from g(r) pooled over the series' runs)."""
    reference, target, rule = HEADLINE
    series = []
    for s in potential.potential_series(list(grouped), config):
        pooled = [r for names in s["systems"].values() for n in names for r in grouped[n]]
        rc, source = cutoff_for(pooled, reference, target, rule, analysis_config.get("fallback_cutoff_nm", 0.8), None, analysis_config.get("cutoff_nm"))
        series.append({**s, "cutoff_nm": rc, "cutoff_source": source})
    runs = {n: [replica_statistics(r, reference, target, s["cutoff_nm"]) for r in grouped[n]] for s in series for names in s["systems"].values() for n in names}
    return potential.series_rows(series, runs, charges)


def _f(x, fmt=".3f"):
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return format(x, fmt)


def comparison_markdown(stats_out: dict, sens_rows: list[dict], provenance: dict) -> str:
    """The plain-text comparison for a paper's supplement."""
    L = ["# TFSI- coordination at the Li surface: our numbers beside the paper's", ""]
    L.append(
        f"How produced: {provenance.get('summary', 'see provenance')}. CN = mean number of TFSI- N atoms within the cutoff "
        "of a top-layer Li-metal atom, production part of each run; interval = 95 % t interval over replicas; "
        "block SE = within-run standard error by block averaging."
    )
    L += ["", "## Headline", "", "| system | CN mean [95 % CI] | per replica (block SE) | cutoff (nm) | paper CN | paper range (nm) |", "|---|---|---|---|---|---|"]
    for system, s in stats_out["systems"].items():
        reps = ", ".join(f"{_f(r['cn'])} ({_f(r['block_se'])})" for r in s["replicas"])
        paper = s.get("paper") or {}
        rng = paper.get("range_nm")
        L.append(
            f"| {system} | {_f(s['cn_mean'])} [{_f(s['cn_ci95'][0])}, {_f(s['cn_ci95'][1])}] | {reps} | {_f(s['cutoff_nm'])} ({s['cutoff_source']}) "
            f"| {_f(paper.get('cn'), '.2f')} | {'-'.join(_f(v, '.2f') for v in rng) if rng else 'n/a'} |"
        )
    L += ["", "Do a system's replicas sample one answer? Cochran's Q of the replica means against their block standard errors "
          "(chi-square, k - 1 degrees of freedom); a small p says they disagree by more than their own noise, so each run still "
          "remembers its start.", ""]
    for system, s in stats_out["systems"].items():
        a = s.get("replica_agreement") or {}
        caveat = "" if a.get("all_block_errors_plateaued") else " (some block errors have no plateau: they are lower bounds, so the test rejects too readily)"
        L.append(f"- {system}: {a.get('verdict', 'n/a')}; Q = {_f(a.get('q'), '.3g')}, p = {_f(a.get('p_value'), '.3g')}, "
                 f"I^2 = {_f(a.get('i2'), '.2f')}, spread / expected = {_f(a.get('variance_ratio'), '.3g')}{caveat}")  # fmt: skip
    for name, d in stats_out["differences"].items():
        L.append("")
        L.append(
            f"Difference {name}: {_f(d['difference'])} [{_f(d['low'])}, {_f(d['high'])}], p = {_f(d['p_value'], '.3g')} "
            f"({d['test']}, {d['n_a']} and {d['n_b']} replicas). The paper's difference is 0.42 - 0.13 = 0.29."
        )
    L += [""] + independence.markdown(stats_out.get("start_independence") or [])
    L += potential.markdown(stats_out.get("potential_series") or [])
    L += ["## Convergence", "", "| system | replica | production mean | discarded-part mean | drift p, discarded part | drift p, production (2nd vs 1st half) | block length (frames) | plateau |", "|---|---|---|---|---|---|---|---|"]
    for system, s in stats_out["systems"].items():
        for k, r in enumerate(s["replicas"]):
            L.append(
                f"| {system} | r{k} | {_f(r['cn'])} | {_f(r['discarded_mean'])} | {_f(r['discarded_drift_p_value'], '.3g')} | {_f(r['drift_p_value'], '.3g')} | "
                f"{r['block_length_frames']} | "
                f"{'yes' if r['block_plateau'] else 'no (SE is a lower bound)'} |"
            )
    L += ["", "## Sensitivity to the definition", ""]
    L.append(
        "References: " + "; ".join(f"`{k}` = {v}" for k, v in REFERENCE_LABELS.items()) + "; `site_<name>` = a coating site's atoms. "
        "Targets: TFSI- through its N, every O, every F, `any` = each anion once through its closest atom (for a height: its lowest "
        "atom), `li_ion` = Li+. A height count is the number of targets below that height per top-layer Li atom. "
        "n/a: the system has no such atoms (bare Li has no coating), or the rule does not apply. A CN is per reference atom: "
        "`surface` divides by the top-layer atoms plus every coating atom, so compare coated with bare on `top` or `height` "
        "(per top-layer Li atom) when you want the same denominator."
    )
    L.append("")
    systems = list(stats_out["systems"])
    coated = [s for s in systems if stats_out["systems"][s]["coating"]]
    head = "| reference | target | cutoff | " + " | ".join(f"{s} CN (cutoff nm)" for s in systems) + " | " + " | ".join(f"{s} > {(stats_out.get('bare_partners') or {}).get(s) or 'bare'} (95 %)?" for s in coated) + " |"
    L += [head, "|" + "---|" * (3 + len(systems) + len(coated))]
    keyed = {(r["reference"], r["target"], r["cutoff_rule"], r["system"]): r for r in sens_rows}
    pairs = list(dict.fromkeys((r["reference"], r["target"]) for r in sens_rows))
    for reference, target in pairs:
        for rule, _ in CUTOFF_RULES:
            cells = []
            for s in systems:
                r = keyed[(reference, target, rule, s)]
                cells.append(f"{_f(r['cn_mean'])} [{_f(r['cn_ci95_low'])}, {_f(r['cn_ci95_high'])}] ({_f(r['cutoff_nm'])})" if r["cn_per_replica"] else "n/a")
            verdict = []
            for s in coated:
                r = keyed[(reference, target, rule, s)]
                a = r.get("above_bare_95")
                verdict.append("n/a" if a is None else f"{'yes' if a else 'no'} (diff {_f(r.get('diff_vs_bare'), '+.3f')}, p = {_f(r.get('p_welch'), '.2g')})")
            mark = " **(headline)**" if (reference, target, rule) == HEADLINE else ""
            L.append(f"| {reference} | {target} | {rule}{mark} | " + " | ".join(cells) + " | " + " | ".join(verdict) + " |")
    L += ["", "## Closest approach", ""]
    L.append(
        "Which definition could give the paper's 0.18 nm? Per (reference, target): the smallest distance (or height above the top "
        "Li plane) seen in any replica's production frames, to one bin, and the onset of the first shell: the distance inside "
        "which 1 % of the pairs counted within the first rule's cutoff lie (the first minimum of g(r), or analysis.cutoff_nm when set, "
        "or the fallback when g(r) has no minimum). nm; n/a: no such atoms; none: no pair within r_max."
    )
    L += ["", "| reference | target | " + " | ".join(f"{s} closest / onset" for s in systems) + " |", "|" + "---|" * (2 + len(systems))]
    rule0 = CUTOFF_RULES[0][0]
    for reference, target in pairs:
        cells = []
        for s in systems:
            r = keyed[(reference, target, rule0, s)]
            if math.isfinite(r["closest_nm"]):
                cells.append(f"{_f(r['closest_nm'])} / {_f(r['onset_nm'])}")
            else:
                cells.append("none" if r["cutoff_source"] != "no such atoms in this system" else "n/a")
        L.append(f"| {reference} | {target} | " + " | ".join(cells) + " |")
    pen = stats_out.get("penetration") or {}
    if pen:
        L += ["", "## Did ions enter the Li slab?", ""]
        L.append(
            "Every frame of every replica (equilibration included): ions with any atom ever below the top Li layer's plane and "
            "below the lowest layer's plane, the frames with at least one, and the lowest height (nm, above the top-layer plane) reached."
        )
        L += ["", "| system | replica | TFSI- below top plane (ions / frames) | TFSI- below slab | lowest TFSI- atom (nm) | "
              "Li+ below top plane (ions / frames) | Li+ below slab | lowest Li+ (nm) |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
        for system, reps in pen.items():
            for k, p in enumerate(reps):
                cols = []
                for sp in ("tfsi", "li_ion"):
                    cols += [f"{p.get(sp + '_ions_below_top')} / {p.get(sp + '_frames_below_top')}",
                             f"{p.get(sp + '_ions_below_slab')} / {p.get(sp + '_frames_below_slab')}", _f(p.get(sp + "_lowest_height_nm"))]  # fmt: skip
                L.append(f"| {system} | r{k} | " + " | ".join(cols) + " |")
    L += ["", "Paper (Zhen et al., EES 2025): CN 0.42 with NH2-MIL-101(Fe) over 0.18-0.4 nm, 0.13 bare over 0.24-0.8 nm, one 3000 ps run each.", ""]
    return "\n".join(L)


def write_sensitivity_csv(rows, path) -> None:
    cols = [
        "reference", "target", "cutoff_rule", "system", "cutoff_nm", "cutoff_source", "cn_per_replica", "cn_mean",
        "cn_ci95_low", "cn_ci95_high", "diff_vs_bare", "diff_ci95_low", "diff_ci95_high", "p_welch", "above_bare_95",
        "headline", "closest_nm", "onset_nm", "paper_cn", "paper_range_nm",
    ]  # fmt: skip

    def fmt(v):
        if isinstance(v, float):
            return "" if not math.isfinite(v) else f"{v:.4g}"
        if isinstance(v, (list, tuple)):
            return ";".join(fmt(x) for x in v)
        return "" if v is None else v

    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: fmt(r.get(k)) for k in cols})


def provenance_rows(provenance_paths, config: dict, forcefield_files) -> list[tuple[str, str]]:
    """(key, value) rows: OpenMM version, platform, seeds and speed of each run; force-field sources; config."""
    rows = []
    for p in provenance_paths:
        pr = json.loads(Path(p).read_text())
        label = pr.get("label") or str(p)
        rows.append((f"{label}: OpenMM / platform", f"{pr['openmm_version']} / {pr['platform']} {pr.get('properties', {})}"))
        rows.append((f"{label}: length, step, temperature", f"{pr['length_ps']} ps, {pr['timestep_fs']} fs, {pr['temperature_k']} K"))
        rows.append((f"{label}: seeds", json.dumps({"packing": pr.get("packing_seed"), **pr["seeds"]})))
        speed = pr.get("ns_per_day") if pr.get("ns_per_day") is not None else pr.get("ns_per_day_all_attempts")
        rows.append((f"{label}: speed", f"{speed:.2f} ns/day on {pr.get('host', '?')}" if speed is not None else f"not recorded (host {pr.get('host', '?')})"))
    for f in forcefield_files:
        text = Path(f).read_text()
        head = text.split("-->", 1)[0].split("<!--", 1)[-1] if "<!--" in text else ""
        label = Path(f).name if Path(f).parent.name == "forcefields" else f"{Path(f).parent.name}/{Path(f).name}"
        rows.append((f"force field {label}", " ".join(head.split())[:1500] or "(no header)"))

    def flat(prefix, o):
        if isinstance(o, dict):
            for k, v in o.items():
                yield from flat(f"{prefix}.{k}" if prefix else k, v)
        else:
            yield prefix, json.dumps(o)

    rows += [(f"config {k}", v) for k, v in flat("", config)]
    return rows


def compare_files(paths, systems, n_replicas, coatings, paper, analysis_config, provenance_paths, config, forcefield_files, out, electrode_paths=()) -> dict:
    """Write ``out.statistics`` (JSON), ``out.sensitivity`` (CSV), ``out.comparison`` (Markdown), ``out.provenance`` (CSV).

    ``electrode_paths``: the constant-potential runs' ``results/{system}/{replica}/electrode_charge.json``."""
    from analysis.summary import load_grouped

    grouped = load_grouped(paths, systems, n_replicas)
    partners = bare_partners(coatings, config)
    stats_out = statistics(grouped, coatings, paper, analysis_config, partners)
    stats_out["bare_partners"] = partners
    sens = sensitivity(grouped, coatings, paper, analysis_config.get("fallback_cutoff_nm", 0.8), analysis_config.get("cutoff_nm"), partners)
    prov = [json.loads(Path(p).read_text()) for p in provenance_paths]
    summary = (
        f"{len(systems)} systems x {n_replicas} replicas x {sorted({p['length_ps'] for p in prov})} ps, "
        f"platform {sorted({p['platform'] for p in prov})}, OpenMM {sorted({p['openmm_version'] for p in prov})}"
    )
    stats_out["produced_by"] = summary
    stats_out["penetration"] = penetration_table(grouped)
    stats_out["start_independence"] = start_independence_rows(grouped, config, analysis_config)
    charges: dict = {}
    for p in electrode_paths:
        charges.setdefault(Path(p).parent.parent.name, []).append(json.loads(Path(p).read_text()))
    stats_out["potential_series"] = potential_rows(grouped, config, analysis_config, charges)
    write_json(out.statistics, stats_out)
    write_sensitivity_csv(sens, out.sensitivity)
    write_text(out.comparison, comparison_markdown(stats_out, sens, {"summary": summary}))
    with atomic_path(out.provenance) as tmp, open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["item", "value"])
        w.writerows(provenance_rows(provenance_paths, config, forcefield_files))
    return {"statistics": stats_out, "sensitivity": sens}
