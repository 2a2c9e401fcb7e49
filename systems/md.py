"""Run the simulation: minimise with fixed atoms, time a few steps, and NVT with progress and checks.

Units at the boundary: temperatures in K, time steps in fs, lengths of runs in ps, friction in 1/ps. They
become ``openmm.unit`` quantities here and nowhere else.

Files are written under temporary names and renamed when complete, so a killed job never leaves a file
that looks finished.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import numpy as np
import openmm as mm
import openmm.app as app
import openmm.unit as unit

from systems.files import part_path, write_json, write_text
from systems.platforms import describe_context


class SimulationExploded(RuntimeError):
    """A state holds a value that is not a finite number."""


def save_system(system: mm.System, path) -> None:
    write_text(path, mm.XmlSerializer.serialize(system))


def load_system(path) -> mm.System:
    return mm.XmlSerializer.deserialize(Path(path).read_text())


def _integrator(temperature_k, friction_per_ps, timestep_fs, seed):
    integ = mm.LangevinMiddleIntegrator(
        temperature_k * unit.kelvin, friction_per_ps / unit.picosecond, timestep_fs * unit.femtosecond
    )
    integ.setRandomNumberSeed(int(seed))
    return integ


def _energy_terms(context: mm.Context, system: mm.System) -> dict:
    groups = sorted({f.getForceGroup() for f in system.getForces()})
    names = {}
    for f in system.getForces():
        names.setdefault(f.getForceGroup(), []).append(f.getName())
    return {
        "+".join(names[g]): context.getState(getEnergy=True, groups={g}).getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole)
        for g in groups
    }


def check_finite(context: mm.Context, label: str, step: int) -> float:
    """Potential energy (kJ/mol); raise :class:`SimulationExploded` if it or any position is not finite."""
    state = context.getState(getEnergy=True, getPositions=True)
    e = state.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole)
    pos = state.getPositions(asNumpy=True).value_in_unit(unit.nanometer)
    if not math.isfinite(e) or not np.all(np.isfinite(pos)):
        raise SimulationExploded(
            f"{label}: the state is not finite at step {step} (potential energy {e} kJ/mol); the run exploded. "
            "Check the minimised structure and the time step."
        )
    return e


def minimize(system, topology, positions_nm, platform, properties, tolerance_kj_mol_nm=10.0, max_iterations=0, label="", log=None):
    """Minimise the energy with the zero-mass (fixed) atoms held in place.

    Returns
    -------
    positions_nm : ndarray
    report : dict
        Energies (kJ/mol) per force group before and after, and the largest displacement of a fixed atom.
    """
    ctx = mm.Context(system, mm.VerletIntegrator(0.001), platform, properties)
    ctx.setPositions(np.asarray(positions_nm) * unit.nanometer)
    before = _energy_terms(ctx, system)
    if log:
        log.write(f"{label}: energy before minimisation {sum(before.values()):.1f} kJ/mol {before}\n")
    t0 = time.perf_counter()
    mm.LocalEnergyMinimizer.minimize(ctx, tolerance_kj_mol_nm, int(max_iterations))
    after = _energy_terms(ctx, system)
    check_finite(ctx, label, 0)
    new = ctx.getState(getPositions=True).getPositions(asNumpy=True).value_in_unit(unit.nanometer)
    frozen = [i for i in range(system.getNumParticles()) if system.getParticleMass(i).value_in_unit(unit.dalton) == 0]
    moved = float(np.abs(new[frozen] - np.asarray(positions_nm)[frozen]).max()) if frozen else 0.0
    if log:
        log.write(
            f"{label}: energy after minimisation {sum(after.values()):.1f} kJ/mol {after} "
            f"({time.perf_counter() - t0:.1f} s); largest move of a fixed atom {moved:.2e} nm\n"
        )
    return np.array(new), {"before_kj_mol": before, "after_kj_mol": after, "fixed_atom_max_move_nm": moved}


def time_md(system, positions_nm, platform, properties, temperature_k=298.0, timestep_fs=1.0, friction_per_ps=1.0, n_steps=200, seed=1):
    """Seconds per MD step of ``system`` on ``platform`` (after a warm-up of ``n_steps // 4`` steps)."""
    integ = _integrator(temperature_k, friction_per_ps, timestep_fs, seed)
    ctx = mm.Context(system, integ, platform, properties)
    ctx.setPositions(np.asarray(positions_nm) * unit.nanometer)
    ctx.setVelocitiesToTemperature(temperature_k * unit.kelvin, int(seed))
    integ.step(max(1, n_steps // 4))
    ctx.getState(getEnergy=True)  # synchronise with the device
    t0 = time.perf_counter()
    integ.step(n_steps)
    ctx.getState(getEnergy=True)
    return (time.perf_counter() - t0) / n_steps


def ns_per_day(seconds_per_step: float, timestep_fs: float) -> float:
    return timestep_fs * 1e-6 / seconds_per_step * 86400.0


def _hms(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600:d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def steps_for(length_ps: float, frame_interval_ps: float, timestep_fs: float) -> tuple[int, int]:
    """Total steps and steps between frames; both must be whole numbers and the run a whole number of frames."""
    n_steps = length_ps * 1000.0 / timestep_fs
    every = frame_interval_ps * 1000.0 / timestep_fs
    if abs(n_steps - round(n_steps)) > 1e-6 or abs(every - round(every)) > 1e-6 or round(every) < 1:
        raise ValueError(
            f"length {length_ps} ps and frame interval {frame_interval_ps} ps must be whole numbers of {timestep_fs} fs steps"
        )
    n_steps, every = int(round(n_steps)), int(round(every))
    if n_steps % every:
        raise ValueError(f"length {length_ps} ps is not a whole number of frame intervals ({frame_interval_ps} ps)")
    return n_steps, every


def run_nvt(
    system: mm.System,
    topology: app.Topology,
    positions_nm,
    *,
    temperature_k: float,
    timestep_fs: float,
    friction_per_ps: float,
    length_ps: float,
    frame_interval_ps: float,
    seed: int,
    platform: mm.Platform,
    properties: dict,
    trajectory_path,
    state_log_path,
    provenance_path,
    final_state_path=None,
    label: str = "",
    log=None,
    progress_every_s: float = 30.0,
    extra_provenance: dict | None = None,
) -> dict:
    """NVT Langevin dynamics (LangevinMiddleIntegrator) with an XTC trajectory and a CSV state log.

    One frame is written every ``frame_interval_ps`` (the first at ``frame_interval_ps``, none at t = 0), so
    a run has ``length_ps / frame_interval_ps`` frames. Positions are written unwrapped (molecules are not
    put back in the box) so displacements can be read directly. At every frame the reporters check the energy
    (state log) and positions (XTC); a non-finite value stops the run with :class:`SimulationExploded`
    naming ``label`` and the step. Progress with speed and ETA goes to ``log``.

    Returns
    -------
    dict
        The provenance written to ``provenance_path`` (OpenMM version, platform and its properties, seeds,
        steps, speed).
    """
    n_steps, every = steps_for(length_ps, frame_interval_ps, timestep_fs)
    paths = {k: Path(p) for k, p in dict(traj=trajectory_path, csv=state_log_path).items()}
    part = {k: part_path(p) for k, p in paths.items()}
    for p in part.values():
        if p.exists():
            p.unlink()
    integ = _integrator(temperature_k, friction_per_ps, timestep_fs, seed)
    sim = app.Simulation(topology, system, integ, platform, properties)
    sim.context.setPositions(np.asarray(positions_nm) * unit.nanometer)
    sim.context.setVelocitiesToTemperature(temperature_k * unit.kelvin, int(seed))
    csv_fh = open(part["csv"], "w")
    # The reporters are driven here, not by Simulation.step: Simulation steps 10 at a time from Python (to catch
    # Ctrl-C), a per-step Python cost that shows on a GPU. One integrator.step per frame and one getState
    # (positions and energies) shared by both reporters.
    reporters = [
        app.XTCReporter(str(part["traj"]), every, enforcePeriodicBox=False),
        app.StateDataReporter(csv_fh, every, step=True, time=True, potentialEnergy=True, kineticEnergy=True, temperature=True, speed=True),
    ]
    info = describe_context(sim.context)
    if log:
        log.write(
            f"{label}: NVT {length_ps} ps at {temperature_k} K, {timestep_fs} fs, {n_steps} steps, frame every {every} steps, "
            f"platform {info['platform']} {info['properties']}\n"
        )
        log.flush()
    t0 = time.perf_counter()
    last = t0
    n_chunks = n_steps // every
    try:
        for k in range(1, n_chunks + 1):
            try:
                integ.step(every)
                state = sim.context.getState(getPositions=True, getEnergy=True)
                # the state-log reporter raises on a non-finite energy and the XTC reporter on non-finite or
                # runaway positions, at every frame
                for reporter in reporters:
                    reporter.report(sim, state)
            except (ValueError, mm.OpenMMException) as exc:
                raise SimulationExploded(
                    f"{label}: the run exploded by step {sim.currentStep} ({exc}); check the minimised structure and the time step"
                ) from exc
            now = time.perf_counter()
            if log and (now - last >= progress_every_s or k == n_chunks):
                done = k * every
                rate = done / (now - t0)
                log.write(
                    f"{label}: step {done}/{n_steps} ({100.0 * done / n_steps:.1f} %), "
                    f"{ns_per_day(1.0 / rate, timestep_fs):.1f} ns/day, elapsed {_hms(now - t0)}, ETA {_hms((n_steps - done) / rate)}\n"
                )
                log.flush()
                last = now
    finally:
        csv_fh.close()
        del reporters[:]
    wall = time.perf_counter() - t0
    state = sim.context.getState(getPositions=True, getVelocities=True, getEnergy=True)
    if final_state_path is not None:
        write_text(final_state_path, mm.XmlSerializer.serialize(state))
    prov = {
        "label": label,
        **info,
        "integrator": "LangevinMiddleIntegrator",
        "temperature_k": temperature_k,
        "timestep_fs": timestep_fs,
        "friction_per_ps": friction_per_ps,
        "length_ps": length_ps,
        "frame_interval_ps": frame_interval_ps,
        "n_steps": n_steps,
        "n_frames": n_chunks,
        "seeds": {"velocities": int(seed), "integrator": int(seed)},
        "wall_time_s": wall,
        "ns_per_day": ns_per_day(wall / n_steps, timestep_fs),
        "final_potential_energy_kj_mol": state.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole),
        "host": os.uname().nodename,
    }
    if extra_provenance:
        prov.update(extra_provenance)
    for k in ("traj", "csv"):
        part[k].replace(paths[k])
    write_json(provenance_path, prov)
    return prov


def run_nvt_files(system_xml, pdb_path, outputs, md_config: dict, seed: int, threads=None, label="", log=None, geometry_json=None) -> dict:
    """Run :func:`run_nvt` from files; ``outputs`` has trajectory, state_log, provenance and final_state paths.

    ``md_config`` holds the workflow's ``md`` settings (temperature_k, timestep_fs, friction_per_ps, length_ps,
    frame_interval_ps, platform, precision). The packing seed and cell layout from ``geometry_json`` are copied
    into the provenance, so every seed of the replica sits next to its trajectory.
    """
    from systems.platforms import select_platform

    system = load_system(system_xml)
    pdb = app.PDBFile(str(pdb_path))
    platform, props = select_platform(md_config["platform"], threads=threads, precision=md_config["precision"])
    return run_nvt(
        system,
        pdb.topology,
        pdb.getPositions(asNumpy=True).value_in_unit(unit.nanometer),
        temperature_k=md_config["temperature_k"],
        timestep_fs=md_config["timestep_fs"],
        friction_per_ps=md_config["friction_per_ps"],
        length_ps=md_config["length_ps"],
        frame_interval_ps=md_config["frame_interval_ps"],
        seed=seed,
        platform=platform,
        properties=props,
        trajectory_path=outputs.trajectory,
        state_log_path=outputs.state_log,
        provenance_path=outputs.provenance,
        final_state_path=outputs.final_state,
        label=label,
        log=log,
        extra_provenance={
            "system_xml": str(system_xml),
            "start_structure": str(pdb_path),
            "packing_seed": json.loads(Path(geometry_json).read_text())["packing_seed"] if geometry_json else None,
            "geometry": json.loads(Path(geometry_json).read_text()) if geometry_json else None,
        },
    )
