"""Systems a config writes once and the workflow runs several times: one system per applied potential.

A system whose electrode section (top level with the system's own keys over it) lists ``potentials_v`` becomes one
system per value, named ``<system>_<tag>`` (``m1V`` for -1 V, ``0V``, ``p0p5V`` for +0.5 V), each with its own
``potential_v``; ``run_systems`` naming the written system runs all of them. Everything downstream (packing, MD,
analysis, report) then sees ordinary systems.
"""

from __future__ import annotations

import copy


def is_constant_potential(section: dict | None) -> bool:
    """Whether an electrode section (:func:`electrode_section`) makes the Li slab a constant-potential electrode; the
    one test of the mode every part of the workflow uses (absent or ``neutral``: the neutral slab)."""
    return (section or {}).get("mode", "neutral") == "constant_potential"


def potential_tag(potential_v: float) -> str:
    """``m1V``, ``0V``, ``p0p5V``, ``p0p025V``: a potential in whole millivolts as a name part (letters, digits and
    underscores only). Raises ValueError for a potential that is not a whole number of millivolts (two such values
    could share a name)."""
    mv = float(potential_v) * 1000.0
    if abs(mv - round(mv)) > 1e-6:
        raise ValueError(f"electrode potential {potential_v} V is not a whole number of millivolts")
    mv = int(round(mv))
    sign = "m" if mv < 0 else ("p" if mv > 0 else "")
    return f"{sign}{abs(mv) / 1000:.3f}".rstrip("0").rstrip(".").replace(".", "p") + "V"


def electrode_section(config: dict, system: str) -> dict:
    """A system's electrode section: the top level with the system's own keys over it (empty: neutral)."""
    return {**(config.get("electrode") or {}), **(config["systems"][system].get("electrode") or {})}


def expand_potentials(config: dict) -> dict:
    """A copy of ``config`` with every system that lists ``potentials_v`` replaced by one system per potential.

    A neutral system (its merged mode absent or ``neutral``) ignores a top-level list. Raises ValueError for a
    repeated potential, a potential that is not whole millivolts, a list in a neutral system's own section, or a
    variant name that is taken.
    """
    out = copy.deepcopy(config)
    systems, renamed = {}, {}
    for name, own in config["systems"].items():
        el = electrode_section(config, name)
        values = el.get("potentials_v")
        if values is not None and not is_constant_potential(el):
            if "potentials_v" in (own.get("electrode") or {}):
                raise ValueError(f"config systems.{name}: electrode.potentials_v needs electrode.mode: constant_potential")
            values = None  # a neutral system beside constant-potential ones: the top-level list is not its
        if values is None:
            systems[name] = copy.deepcopy(own)
            continue
        try:
            tags = [potential_tag(v) for v in values]
        except ValueError as err:
            raise ValueError(f"config systems.{name}: {err}") from None
        if len(set(tags)) != len(tags):
            raise ValueError(f"config systems.{name}: electrode.potentials_v {values} repeats a potential")
        renamed[name] = []
        for v, tag in zip(values, tags):
            variant = f"{name}_{tag}"
            if variant in config["systems"]:
                raise ValueError(f"config systems.{name}: its variant {variant!r} is also a system of the config")
            sub = copy.deepcopy(own)
            sub["electrode"] = {**(own.get("electrode") or {}), "potential_v": float(v)}
            sub["electrode"].pop("potentials_v", None)
            systems[variant] = sub
            renamed[name].append(variant)
    out["systems"] = systems
    if out.get("electrode"):
        out["electrode"].pop("potentials_v", None)
    if out.get("run_systems"):
        out["run_systems"] = [v for n in out["run_systems"] for v in renamed.get(n, [n])]
    return out
