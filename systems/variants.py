"""Systems a config writes once and the workflow runs several times: one system per applied potential.

A system whose electrode section (top level with the system's own keys over it) lists ``potentials_v`` becomes one
system per value, named ``<system>_<tag>`` (``m1V`` for -1 V, ``0V``, ``p0p5V`` for +0.5 V), each with its own
``potential_v``; ``run_systems`` naming the written system runs all of them. Everything downstream (packing, MD,
analysis, report) then sees ordinary systems.
"""

from __future__ import annotations

import copy


def potential_tag(potential_v: float) -> str:
    """``m1V``, ``0V``, ``p0p5V``: a potential as a name part (letters, digits and underscores only)."""
    v = float(potential_v)
    sign = "m" if v < 0 else ("p" if v > 0 else "")
    return f"{sign}{abs(v):g}V".replace(".", "p")


def electrode_section(config: dict, system: str) -> dict:
    """A system's electrode section: the top level with the system's own keys over it (empty: neutral)."""
    return {**(config.get("electrode") or {}), **(config["systems"][system].get("electrode") or {})}


def expand_potentials(config: dict) -> dict:
    """A copy of ``config`` with every system that lists ``potentials_v`` replaced by one system per potential.

    Raises ValueError for a repeated potential, a list on a neutral electrode, or a variant name that is taken.
    """
    out = copy.deepcopy(config)
    systems, renamed = {}, {}
    for name, own in config["systems"].items():
        el = electrode_section(config, name)
        values = el.get("potentials_v")
        if values is None:
            systems[name] = copy.deepcopy(own)
            continue
        if el.get("mode", "neutral") != "constant_potential":
            raise ValueError(f"config systems.{name}: electrode.potentials_v needs electrode.mode: constant_potential")
        tags = [potential_tag(v) for v in values]
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
