"""Does the answer remember where the ions started? Near-start against far-start coordination numbers.

A config sets the same system up from different starts (``electrolyte.start``: ``random``, ``anions_near`` with
the anions packed next to the surface, ``anions_far`` with them packed away from it) and, if it likes, under
different protocols (``md.protocol`` per system). Systems that differ only in their start form a group. The null
hypothesis of a group is that the start is forgotten: every run, whatever its start, samples the same coordination
number with its own within-run (block) standard error. Two tests of it:

- near against far: the difference of the two starts' means, z = d / sqrt(se_near^2 + se_far^2), where a start's
  mean is the mean of its runs and its standard error sqrt(sum se_i^2) / n comes from the runs' block errors
  (what the null predicts); a two-sided normal p-value;
- every run of the group together: Cochran's Q (:func:`analysis.stats.replica_agreement`).

A block error without a plateau is a lower bound, so both tests then reject too readily; each row says whether
every block error plateaued.
"""

from __future__ import annotations

import json
import math

import numpy as np

STARTS = ("anions_near", "random", "anions_far")


def protocol_name(md: dict) -> str:
    """A short name of a protocol: its preset, or ``custom (k stages)``."""
    spec = md.get("protocol", "paper")
    return spec if isinstance(spec, str) else f"custom ({len(spec)} stages)"


def electrode_key(config: dict, system: str, with_potential: bool = True) -> dict | None:
    """A system's electrode as a grouping key: None for the neutral slab, else its settings (the potential unless
    ``with_potential`` is false)."""
    from systems.variants import electrode_section, is_constant_potential

    el = electrode_section(config, system)
    if not is_constant_potential(el):
        return None
    el.pop("potentials_v", None)
    if not with_potential:
        el.pop("potential_v", None)
    return el


def system_variant(config: dict, system: str, with_coating: bool = True, with_potential: bool = True) -> tuple[str, str, str]:
    """(group key, label, start) of a system: what it is apart from its start, named for a reader, and its start.

    The key holds the coating (unless ``with_coating`` is false), the system's slab and electrolyte sections (top
    level with the system's keys over it, start removed, an absent ion Lennard-Jones written as its meaning
    ``clandp``) and the stages its protocol runs (:func:`systems.protocol.protocol_stages`, so ``annealed`` with
    the default anneal written out, or a list equal to ``paper``, is the same protocol) and the electrode (None for
    the neutral slab; its potential unless ``with_potential`` is false). Only systems that differ in nothing but
    their start share a key.
    """
    from systems.protocol import protocol_stages, system_md

    own = config["systems"][system]
    el = {"ion_lennard_jones": "clandp", **(config.get("electrolyte") or {}), **(own.get("electrolyte") or {})}
    start = el.pop("start", "random")
    md = system_md(config, system)
    what = {
        "slab": {**(config.get("slab") or {}), **(own.get("slab") or {})},
        "electrolyte": el,
        "stages": [st.as_dict() for st in protocol_stages(md)],
        "electrode": electrode_key(config, system, with_potential),
    }
    if with_coating:
        what["coating"] = own.get("coating")
    label = f"{own.get('coating') or 'bare Li'}, {protocol_name(md)} protocol"
    if what["electrode"] is not None and with_potential:
        label += f", {what['electrode'].get('potential_v', 0.0):+g} V"
    return json.dumps(what, sort_keys=True), label, start


def _start_estimate(reps: list[dict]) -> dict:
    cns = [float(r["cn"]) for r in reps]
    ses = [float(r["block_se"]) for r in reps]
    n = len(cns)
    se = math.sqrt(sum(s * s for s in ses)) / n if n and all(math.isfinite(s) for s in ses) else math.nan
    return {"cn": float(np.mean(cns)) if n else math.nan, "se": se, "cn_per_run": cns, "block_se_per_run": ses, "n_runs": n}


def start_groups(systems, config: dict) -> list[dict]:
    """The groups of ``systems`` that differ only in their start, those with at least two starts.

    Returns
    -------
    list of dict
        ``label`` and ``systems`` (start -> system names, in the order given).
    """
    groups: dict[str, dict] = {}
    for system in systems:
        key, label, start = system_variant(config, system)
        groups.setdefault(key, {"label": label, "systems": {}})["systems"].setdefault(start, []).append(system)
    return [g for g in groups.values() if len(g["systems"]) >= 2]


def start_independence(groups: list[dict]) -> list[dict]:
    """Test every group: near against far, and every run together.

    Parameters
    ----------
    groups : list of dict
        Each a :func:`start_groups` entry with ``runs``: start -> every run of its systems, each with ``cn``,
        ``block_se`` and ``block_plateau``, all counted with one cutoff for the whole group (``cutoff_nm``,
        ``cutoff_source``), so that a start cannot move its own cutoff.

    Returns
    -------
    list of dict
        The group's ``label``, ``systems``, ``cutoff_nm``, ``cutoff_source``; ``starts`` (start -> ``cn``, ``se``,
        ``cn_per_run``, ``block_se_per_run``, ``n_runs``), ``near_minus_far`` (``difference``, ``se``, ``z``,
        ``p_value``; NaN without both extremes), ``all_runs`` (Cochran's Q over every run of the group),
        ``all_block_errors_plateaued`` and ``verdict``.
    """
    from scipy import stats  # here, not at the top: the Snakefile imports this module for start_groups alone

    from analysis.stats import replica_agreement

    rows = []
    for g in groups:
        starts = {st: _start_estimate(g["runs"][st]) for st in STARTS if st in g["runs"]}
        runs = [r for st in starts for r in g["runs"][st]]
        test = {"difference": math.nan, "se": math.nan, "z": math.nan, "p_value": math.nan}
        if "anions_near" in starts and "anions_far" in starts:
            near, far = starts["anions_near"], starts["anions_far"]
            d, se = near["cn"] - far["cn"], math.hypot(near["se"], far["se"])
            test = {"difference": d, "se": se, "z": math.nan, "p_value": math.nan}
            if se > 0:
                test.update(z=d / se, p_value=float(2 * stats.norm.sf(abs(d / se))))
        plateau = all(bool(r.get("block_plateau")) for r in runs)
        if not math.isfinite(test["p_value"]):
            verdict = "untested: needs an anions_near and an anions_far start with block errors"
        elif test["p_value"] >= 0.05:
            verdict = "near and far starts agree within their errors"
        else:
            verdict = "the answer remembers the start: near and far differ by more than their errors"
        rows.append({
            "label": g["label"], "systems": g["systems"], "cutoff_nm": g.get("cutoff_nm"), "cutoff_source": g.get("cutoff_source"),
            "starts": starts, "near_minus_far": test,
            "all_runs": replica_agreement([r["cn"] for r in runs], [r["block_se"] for r in runs]),
            "all_block_errors_plateaued": plateau, "verdict": verdict,
        })  # fmt: skip
    return rows


def _f(x, fmt=".3f"):
    return "n/a" if x is None or not math.isfinite(x) else format(x, fmt)


def markdown(rows: list[dict]) -> list[str]:
    """The comparison.md section: one line per group, the starts side by side, both tests."""
    if not rows:
        return []
    lines = [
        "## Does the answer remember where the ions started?",
        "",
        "Systems that differ only in where packmol put the ions (electrolyte.start: anions next to the surface, at random, "
        "away from it), headline definition. A start's CN is the mean of its runs (each run's block SE in brackets; the "
        "start's error sqrt(sum SE^2) / n is what a forgotten start predicts). near - far: z test of the two extremes. "
        "All runs: Cochran's Q over every run of the group. One cutoff per group, the first minimum of g(r) pooled over all "
        "its runs, so a start cannot move its own cutoff. A small p says the result still remembers its start.",
        "",
        "| system, protocol | systems | cutoff (nm) | near CN (SE) | random CN (SE) | far CN (SE) | near - far (p) | all runs: Q, p | verdict |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = []
        for st in STARTS:
            e = r["starts"].get(st)
            if e is None:
                cells.append("not run")
                continue
            runs = ", ".join(f"{_f(c)} ({_f(s)})" for c, s in zip(e["cn_per_run"], e["block_se_per_run"]))
            cells.append(f"{_f(e['cn'])} ({_f(e['se'])})" + (f": {runs}" if e["n_runs"] > 1 else ""))
        t, a = r["near_minus_far"], r["all_runs"]
        caveat = "" if r["all_block_errors_plateaued"] else " (some block errors have no plateau: lower bounds, so the tests reject too readily)"
        lines.append(
            f"| {r['label']} | {', '.join(n for st in STARTS for n in r['systems'].get(st, []))} | {_f(r['cutoff_nm'])} | " + " | ".join(cells) + f" | {_f(t['difference'], '+.3f')} (p = {_f(t['p_value'], '.2g')}) | "
            f"Q = {_f(a['q'], '.3g')}, p = {_f(a['p_value'], '.2g')} | {r['verdict']}{caveat} |"
        )
    return lines + [""]
