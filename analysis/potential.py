"""TFSI- at the surface against the electrode's potential: the constant-potential systems of a config, in series.

Systems in constant-potential mode that differ in nothing but the applied potential (the variants one
``electrode.potentials_v`` list makes, :mod:`systems.variants`, or systems written out one by one) form a series.
Each potential's coordination number is the mean of its runs with the error sqrt(sum se_i^2) / n of the runs' block
errors, counted with one cutoff for the whole series (the first minimum of g(r) pooled over all its runs), so a
potential cannot move its own cutoff; beside it, the working electrode's mean charge (:mod:`analysis.electrode_charge`).
"""

from __future__ import annotations

import math

from analysis.independence import system_variant


def potential_series(systems, config: dict) -> list[dict]:
    """The series of ``systems`` that differ only in their potential (those with at least one constant-potential
    system): ``label`` and ``systems`` (potential in V -> system names, ascending)."""
    from systems.variants import electrode_section, is_constant_potential

    series: dict[str, dict] = {}
    for system in systems:
        el = electrode_section(config, system)
        if not is_constant_potential(el):
            continue
        key, label, start = system_variant(config, system, with_potential=False)
        # the electrode's own settings name the series too: two series may differ in nothing else (a width test)
        settings = f"w {el.get('gaussian_width_nm')} nm, TF {el.get('thomas_fermi_scale_per_nm')}/nm"
        entry = series.setdefault(key + start, {"label": f"{label}, start {start}, {settings}", "systems": {}})
        entry["systems"].setdefault(float(el["potential_v"]), []).append(system)
    return [{"label": s["label"], "systems": dict(sorted(s["systems"].items()))} for s in series.values()]


def _mean_se(values, errors) -> tuple[float, float]:
    n = len(values)
    if not n:
        return math.nan, math.nan
    se = math.sqrt(sum(e * e for e in errors)) / n if all(math.isfinite(e) for e in errors) else math.nan
    return float(sum(values) / n), se


def series_rows(series: list[dict], runs: dict, charges: dict) -> list[dict]:
    """One row per series.

    Parameters
    ----------
    series : list of dict
        :func:`potential_series` entries, each with ``cutoff_nm`` and ``cutoff_source``.
    runs : dict
        System -> its runs' statistics (``cn``, ``block_se``, ``block_plateau``), counted at the series' cutoff.
    charges : dict
        System -> its runs' electrode-charge summaries (``production`` of :func:`analysis.electrode_charge.save`).

    Returns
    -------
    list of dict
        ``label``, ``cutoff_nm``, ``cutoff_source`` and ``points``: per potential ``potential_v``, ``systems``,
        ``cn``, ``se``, ``n_runs``, ``charge_e``, ``charge_se_e``, ``charge_uc_cm2``, ``all_block_errors_plateaued``.
    """
    rows = []
    for s in series:
        points = []
        for v, names in s["systems"].items():
            rs = [r for n in names for r in runs.get(n, [])]
            qs = [q["production"] for n in names for q in charges.get(n, [])]
            cn, se = _mean_se([r["cn"] for r in rs], [r["block_se"] for r in rs])
            q, qse = _mean_se([c["mean_e"] for c in qs], [c["block_se_e"] for c in qs])
            quc, _ = _mean_se([c["mean_uc_cm2"] for c in qs], [c["se_uc_cm2"] for c in qs])
            points.append({
                "potential_v": v, "systems": names, "cn": cn, "se": se, "n_runs": len(rs),
                "charge_e": q, "charge_se_e": qse, "charge_uc_cm2": quc,
                "all_block_errors_plateaued": all(bool(r.get("block_plateau")) for r in rs)
                and all(bool(c.get("block_plateau")) for c in qs),
            })  # fmt: skip
        rows.append({"label": s["label"], "cutoff_nm": s.get("cutoff_nm"), "cutoff_source": s.get("cutoff_source"), "points": points})
    return rows


def _f(x, fmt=".3f"):
    return "n/a" if x is None or not math.isfinite(x) else format(x, fmt)


def markdown(rows: list[dict]) -> list[str]:
    """The comparison.md section: per series, CN and electrode charge at every potential."""
    if not rows:
        return []
    lines = [
        "## TFSI- at the surface against the electrode's potential",
        "",
        "Constant-potential systems (electrode.mode: constant_potential) that differ only in the potential of the working "
        "electrode against the counter electrode, headline definition. A potential's CN is the mean of its runs (error "
        "sqrt(sum SE^2) / n of the runs' block errors), all counted with one cutoff per series (the first minimum of g(r) "
        "pooled over the series). Charge: the working electrode's mean charge over production (e, and uC/cm2 of the face), "
        "solved again for every saved frame.",
        "",
        "| series | cutoff (nm) | potential (V) | systems | CN (SE) | electrode charge, e (SE) | uC/cm2 | runs |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        for p in r["points"]:
            caveat = "" if p["all_block_errors_plateaued"] else " (no plateau: SE a lower bound)"
            lines.append(
                f"| {r['label']} | {_f(r['cutoff_nm'])} | {p['potential_v']:+g} | {', '.join(p['systems'])} | {_f(p['cn'])} ({_f(p['se'])}){caveat} | "
                f"{_f(p['charge_e'], '+.3f')} ({_f(p['charge_se_e'])}) | {_f(p['charge_uc_cm2'], '+.2f')} | {p['n_runs']} |"
            )
    return lines + [""]
