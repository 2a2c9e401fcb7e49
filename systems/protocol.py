"""MD protocols as ordered stages: what each stage does (ensemble, temperature or ramp, length), read from config.

A protocol is a list of :class:`Stage`; the last one is production, the only stage whose frames the analysis
reads. Every stage is run and resumed by :func:`systems.md.run_protocol`, in its own work folder, starting from
the positions and velocities the stage before it ended with. Named presets:

``paper`` (what an absent ``md.protocol`` means)
    Zhen et al. (EES 2025): NVT at ``md.temperature_k`` for ``md.length_ps``, straight after minimisation.
``annealed``
    Heat the ions until they flow, hold, cool back, then the paper's production: ``heat`` ramps from
    ``md.temperature_k`` to ``md.anneal.temperature_k`` over ``heat_ps``, ``hold`` stays there for ``hold_ps``,
    ``cool`` ramps back over ``cool_ps``, ``production`` is the paper's stage. Needs ``cell.lower_wall_nm`` (at
    high temperature an ion crosses the porous Li slab easily; model-review.md).

A stage kind names its ensemble: ``nvt`` (Langevin), or ``npt`` (Langevin with a Monte Carlo barostat at the
stage's ``pressure_bar``, for a bulk liquid: the density a cell of given molarity holds; one temperature, no ramp,
and no frozen atom, which the barostat would move). A new kind adds a value of ``kind`` and its branch in the
runner; everything else (work folders, resume, provenance) is shared.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

KINDS = ("nvt", "npt")

#: the ``annealed`` preset's defaults, when ``md.anneal`` does not give them. 600 K: above LiTFSI's melting point
#: (236 C = 509 K, a vendor's data sheet, https://benchchem.com/product/1307862; no primary source was found) and
#: below its reported decomposition onset (about 375 C, also a vendor's page). 200 ps: measured, not assumed. In a
#: 15 ps hold at 600 K (bare Li, 100 LiTFSI, floor on, CPU) the anion N's MSD grew as 6 D t with
#: D = 1.0e-3 nm^2/ps over lags of 2-7 ps (Li+ 1.2e-3; at 298 K the slope is 2.9e-4 and still caged), so an RMS
#: displacement of 1 nm, beyond the anion's own size, takes about 1 / (6 D) = 160 ps; 200 ps gives about 1.1 nm.
#: A run's provenance reports the RMS displacement each stage reached, so a longer hold is a config change away.
ANNEAL_DEFAULTS = {"temperature_k": 600.0, "heat_ps": 20.0, "hold_ps": 200.0, "cool_ps": 20.0}


@dataclass(frozen=True)
class Stage:
    """One stage of a protocol.

    Attributes
    ----------
    name : str
        Names its work folder and its outputs; unique within a protocol.
    length_ps : float
        Its length; a whole number of frame intervals.
    temperature_k : float
        The thermostat's temperature, or where a ramp starts.
    end_temperature_k : float or None
        Where a ramp ends (None: constant temperature). The temperature changes once per frame interval,
        linearly in the step count.
    kind : str
        The ensemble: ``nvt`` or ``npt``.
    production : bool
        Whether the analysis reads its frames (the last stage, and only it).
    pressure_bar : float or None
        The barostat's pressure of an ``npt`` stage (None for ``nvt``).
    """

    name: str
    length_ps: float
    temperature_k: float
    end_temperature_k: float | None = None
    kind: str = "nvt"
    production: bool = False
    pressure_bar: float | None = None

    def temperature_at(self, step: int, n_steps: int) -> float:
        """The thermostat's temperature (K) from ``step`` on."""
        if self.end_temperature_k is None or n_steps <= 0:
            return float(self.temperature_k)
        return float(self.temperature_k + (self.end_temperature_k - self.temperature_k) * min(step, n_steps) / n_steps)

    def describe(self) -> str:
        t = f"{self.temperature_k:g} K" if self.end_temperature_k is None else f"{self.temperature_k:g} -> {self.end_temperature_k:g} K"
        p = f", {self.pressure_bar:g} bar" if self.pressure_bar is not None else ""
        return f"{self.name}: {self.kind.upper()} {self.length_ps:g} ps at {t}{p}" + (" (production)" if self.production else "")

    def as_dict(self) -> dict:
        return asdict(self)


def protocol_stages(md: dict) -> list[Stage]:
    """The stages of ``md.protocol`` (a preset name, or a list of stage mappings), checked.

    A listed stage has ``name``, ``length_ps`` and ``temperature_k`` (a number, or ``[start, end]`` for a ramp),
    optionally ``kind`` (and ``pressure_bar``, which an ``npt`` stage needs); the last one is production and must hold
    one temperature.
    """
    spec = md.get("protocol", "paper")
    t0 = md["temperature_k"]  # as the config gives it: 298 and 298.0 fingerprint differently, and a run must resume
    if spec == "paper":
        stages = [Stage("production", md["length_ps"], t0, production=True)]
    elif spec == "annealed":
        a = {**ANNEAL_DEFAULTS, **(md.get("anneal") or {})}
        hot = float(a["temperature_k"])
        stages = [
            Stage("heat", float(a["heat_ps"]), float(t0), hot),
            Stage("hold", float(a["hold_ps"]), hot),
            Stage("cool", float(a["cool_ps"]), hot, float(t0)),
            Stage("production", md["length_ps"], t0, production=True),
        ]
    elif isinstance(spec, (list, tuple)):
        stages = []
        for k, item in enumerate(spec):
            if not isinstance(item, dict) or not {"name", "length_ps", "temperature_k"} <= set(item):
                raise ValueError(f"md.protocol stage {k + 1}: needs name, length_ps and temperature_k, got {item!r}")
            unknown = set(item) - {"name", "length_ps", "temperature_k", "kind", "pressure_bar"}
            if unknown:
                raise ValueError(f"md.protocol stage {item['name']!r}: unknown keys {sorted(unknown)}")
            temp = item["temperature_k"]
            start, end = (temp, None) if not isinstance(temp, (list, tuple)) else (temp[0], temp[1]) if len(temp) == 2 else (None, None)
            if start is None:
                raise ValueError(f"md.protocol stage {item['name']!r}: temperature_k is a number or [start, end], got {temp!r}")
            pressure = None if item.get("pressure_bar") is None else float(item["pressure_bar"])
            stages.append(Stage(str(item["name"]), float(item["length_ps"]), float(start), None if end is None else float(end), item.get("kind", "nvt"), pressure_bar=pressure))
        if not stages:
            raise ValueError("md.protocol is an empty list: give at least the production stage")
        last = stages[-1]
        stages[-1] = Stage(last.name, last.length_ps, last.temperature_k, last.end_temperature_k, last.kind, production=True, pressure_bar=last.pressure_bar)
    else:
        raise ValueError(f"md.protocol {spec!r}: 'paper', 'annealed' or a list of stages")
    names = [s.name for s in stages]
    if len(set(names)) != len(names):
        raise ValueError(f"md.protocol: stage names must be unique, got {names}")
    for s in stages:
        if s.kind not in KINDS:
            raise ValueError(f"md.protocol stage {s.name!r}: kind {s.kind!r} is not one of {KINDS}")
        if not s.length_ps > 0 or not s.temperature_k > 0 or (s.end_temperature_k is not None and not s.end_temperature_k > 0):
            raise ValueError(f"md.protocol stage {s.name!r}: length and temperatures must be positive")
        if s.kind == "npt" and (s.pressure_bar is None or not s.pressure_bar > 0 or s.end_temperature_k is not None):
            raise ValueError(f"md.protocol stage {s.name!r}: an npt stage needs a positive pressure_bar and one temperature (no ramp)")
        if s.kind == "nvt" and s.pressure_bar is not None:
            raise ValueError(f"md.protocol stage {s.name!r}: pressure_bar belongs to an npt stage (kind: npt)")
        if not s.name.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"md.protocol stage {s.name!r}: a name of letters, digits, - and _ (it names a folder)")
    if stages[-1].end_temperature_k is not None:
        raise ValueError(f"md.protocol: the production stage {stages[-1].name!r} must hold one temperature, not a ramp")
    return stages


def system_md(config: dict, system: str) -> dict:
    """A system's ``md`` section: the top-level one with the system's own ``protocol`` and ``anneal`` over it.

    ``anneal`` merges key by key, so a system that sets only its hold temperature keeps the top level's lengths.
    """
    top, own = config["md"], config["systems"][system].get("md") or {}
    md = {**top, **own}
    if top.get("anneal") and own.get("anneal"):
        md["anneal"] = {**top["anneal"], **own["anneal"]}
    return md


def total_length_ps(md: dict) -> float:
    """MD time of the whole protocol (ps): what a run costs."""
    return sum(s.length_ps for s in protocol_stages(md))
