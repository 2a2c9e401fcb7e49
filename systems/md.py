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
from systems.resume import LOCK, Faults, RunInterrupted, StopSignals, check_frames, fingerprint, join_segments
from systems.workfolder import WorkFolder


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


def run_stage(sim: app.Simulation, folder: WorkFolder, *, n_steps: int, every: int, ckpt_every: int, start_step: int, info: dict,
              stop: StopSignals, timestep_fs: float, t_start: float, wall_budget_s=None, progress_every_s: float = 30.0,
              temperature_at=None) -> None:  # fmt: skip
    """The MD loop of one stage, from ``start_step`` to ``n_steps``: frames, checks, checkpoints, stops, progress.

    A frame (positions to the XTC segment, energies and temperature to its state log) every ``every`` steps;
    a non-finite energy or position stops the run with :class:`SimulationExploded`. A checkpoint every
    ``ckpt_every`` steps, at the end, and when a stop signal arrives or the wall-clock budget is about to run out
    (then :class:`RunInterrupted`). ``temperature_at(step)``, when given, is the thermostat's temperature (K) from
    that frame boundary on: a ramp changes the temperature once per frame, with no per-step Python, and a
    resumed run sets the same value at the step it resumes from.
    """
    integ = sim.integrator
    faults = folder.faults
    mobile = mobile_indices(sim.system)

    def exploded(at_step, detail):
        kept = folder.exploded_note(at_step, detail)
        return SimulationExploded(
            f"{folder.label}: the run exploded by step {at_step} ({detail}). {kept} Check the minimised structure and the "
            f"time step; delete {folder.path} to start over."
        )

    def get_state(**what):
        try:
            return sim.context.getState(**what)
        except mm.OpenMMException as exc:  # e.g. "Particle coordinate is NaN"
            raise exploded(sim.currentStep, str(exc)) from exc

    def set_temperature(step):
        if temperature_at is not None:
            integ.setTemperature(temperature_at(step) * unit.kelvin)

    t0 = time.perf_counter()
    last = t0
    chunk = min(every, 100, faults.points.get("max_chunk", every))  # steps per call: tuned to ~1 s so signals are seen quickly
    folder.open_segment(sim.topology, start_step, integ.getStepSize(), every)
    set_temperature((start_step // every) * every)  # what an uninterrupted run holds here: the last frame's value
    step = start_step
    while step < n_steps:
        next_frame = (step // every + 1) * every
        n = min(chunk, next_frame - step)
        tc = time.perf_counter()
        try:
            integ.step(n)
        except mm.OpenMMException as exc:
            raise exploded(sim.currentStep, str(exc)) from exc
        dt = time.perf_counter() - tc
        step += n
        if dt > 0:
            chunk = int(min(every, faults.points.get("max_chunk", every), max(1, n * 1.0 / dt)))
        faults.after_steps(step, sim.context, mobile[0] if mobile else None)
        if step == next_frame:
            state = get_state(getPositions=True, getEnergy=True)
            pos = state.getPositions(asNumpy=True).value_in_unit(unit.nanometer)
            energy = state.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole)
            if not math.isfinite(energy) or not np.all(np.isfinite(pos)):
                raise exploded(step, f"potential energy {energy} kJ/mol, positions finite: {bool(np.all(np.isfinite(pos)))}")
            try:
                folder.write_frame(sim, state, pos, step // every)
            except ValueError as exc:  # positions too large for XTC: a runaway atom
                raise exploded(step, str(exc)) from exc
            set_temperature(step)
        now = time.perf_counter()
        stopping = stop.received or (wall_budget_s is not None and now - t_start + 2.0 * dt + 5.0 > wall_budget_s)
        if step % ckpt_every == 0 or step == n_steps or stopping:
            state = get_state(getPositions=True, getVelocities=True, getEnergy=True, getParameters=True)
            e = state.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole)
            if not math.isfinite(e) or not np.all(np.isfinite(state.getPositions(asNumpy=True)._value)):
                raise exploded(step, f"potential energy {e} kJ/mol at a checkpoint")  # never save a bad state
            folder.save_checkpoint(sim.context, state, step, info)
            if stopping and step < n_steps:
                reason = f"signal {stop.received}" if stop.received else f"wall-clock budget of {wall_budget_s:.0f} s"
                folder.record(reason, step)
                folder.commit()
                raise RunInterrupted(
                    f"{folder.label}: stopped by {reason} at step {step}/{n_steps}; checkpoint saved in {folder.path}. Rerun "
                    "(Snakemake retries, or run snakemake again) to continue from there.",
                    step,
                    n_steps,
                )
            if step < n_steps:
                folder.open_segment(sim.topology, step, integ.getStepSize(), every)
        if now - last >= progress_every_s or step == n_steps:
            done = step - start_step
            rate = done / max(now - t0, 1e-9)
            folder.say(
                f"step {step}/{n_steps} ({100.0 * step / n_steps:.1f} %), "
                f"{ns_per_day(1.0 / rate, timestep_fs) if rate > 0 else 0.0:.1f} ns/day, elapsed {_hms(now - t0)}, "
                f"ETA {_hms((n_steps - step) / rate) if rate > 0 else '?'}"
            )
            last = now


#: steps between two Monte Carlo volume moves of an NPT stage (OpenMM's default)
BAROSTAT_INTERVAL = 25


def with_barostat(system: mm.System, pressure_bar: float, temperature_k: float, end_temperature_k=None) -> mm.System:
    """A copy of ``system`` with a MonteCarloBarostat (``pressure_bar``, ``temperature_k``; :func:`run_nvt` gives it the
    attempt's integrator seed before the run starts).

    Raises ValueError for a ramp (the barostat's temperature is fixed) and for a System with frozen (massless)
    atoms: the barostat scales molecules' centres, and would move a fixed slab with the box."""
    if end_temperature_k is not None:
        raise ValueError("an NPT stage holds one temperature: the barostat's is fixed")
    if any(system.getParticleMass(i).value_in_unit(unit.dalton) == 0 and not system.isVirtualSite(i) for i in range(system.getNumParticles())):
        raise ValueError("NPT needs a System without frozen atoms: the barostat would move them with the box (a slab cell is NVT)")
    copy = mm.XmlSerializer.deserialize(mm.XmlSerializer.serialize(system))
    barostat = mm.MonteCarloBarostat(pressure_bar * unit.bar, temperature_k * unit.kelvin, BAROSTAT_INTERVAL)
    copy.addForce(barostat)
    return copy


def mobile_indices(system: mm.System) -> list[int]:
    """Indices of the particles that move (mass > 0; the slab and coating have mass 0)."""
    return [i for i in range(system.getNumParticles()) if system.getParticleMass(i).value_in_unit(unit.dalton) > 0]


def _linear_ramp(t_start_k: float, t_end_k: float, n_steps: int):
    """Temperature (K) at a step of a linear ramp over ``n_steps``."""

    def at(step: int) -> float:
        return t_start_k + (t_end_k - t_start_k) * min(step, n_steps) / n_steps

    return at


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
    work_dir=None,
    checkpoint_interval_ps: float | None = None,
    wall_budget_s: float | None = None,
    faults: Faults | None = None,
    end_temperature_k: float | None = None,
    start_state: mm.State | None = None,
    finished_keys=None,
    pressure_bar: float | None = None,
) -> dict:
    """NVT Langevin dynamics (LangevinMiddleIntegrator) with an XTC trajectory and a CSV state log; resumable.
    With ``pressure_bar``, NPT: a MonteCarloBarostat at that pressure and ``temperature_k`` (one move every
    :data:`BAROSTAT_INTERVAL` steps, its seed the attempt's integrator seed) joins a copy of the System, the state log
    gains the box volume and the density, and every frame of the XTC carries its box. A resumed NPT run is the
    uninterrupted one up to its checkpoint and a valid continuation after it, not the same frames: OpenMM's
    checkpoint does not hold the barostat's random numbers. The barostat scales positions about the origin, so an NPT
    stage's displacements (its provenance's RMS displacement) include the box's scaling.

    One frame is written every ``frame_interval_ps`` (the first at ``frame_interval_ps``, none at t = 0), so
    a run has ``length_ps / frame_interval_ps`` frames. Positions are written unwrapped (molecules are not
    put back in the box) so displacements can be read directly. At every frame the reporters check the energy
    (state log) and positions (XTC); a non-finite value stops the run with :class:`SimulationExploded`
    naming ``label`` and the step, and the last good checkpoint stays in ``work_dir``. Progress with speed and
    ETA goes to ``log``.

    Checkpoints (see :mod:`systems.resume`) go to ``work_dir`` (default ``md_work`` beside the trajectory)
    every ``checkpoint_interval_ps`` (default: 20 frames). A run finding a checkpoint of the same inputs there
    continues from it: from the OpenMM checkpoint when it matches its record and loads (same OpenMM version and
    platform), else from the portable State (positions, velocities, step and time; new random numbers), else
    from the previous commit's pair. On SIGTERM or SIGINT, or when ``wall_budget_s`` is about to run out, it
    saves a checkpoint and raises :class:`RunInterrupted`. Only when the run is complete are the segments
    joined and checked (one frame per interval, contiguous); the outputs are committed into ``work_dir`` and
    published from there (hard links), and a run that finds them there publishes them again. The folder is
    owned by a :class:`systems.workfolder.WorkFolder`; the loop is :func:`run_stage`.

    As a stage of a protocol (:func:`run_protocol`): ``end_temperature_k`` ramps the thermostat linearly from
    ``temperature_k`` (changed once per frame), and ``start_state`` (the previous stage's end) gives positions and
    velocities instead of ``positions_nm`` and velocities drawn at ``temperature_k``. ``finished_keys`` (default: all) are the parts of the recipe a finished
    run in ``work_dir`` must share to be used: an earlier stage's outputs only feed the next stage, so one finished
    on another platform still stands for it (its provenance says where it ran).

    Returns
    -------
    dict
        The provenance written to ``provenance_path`` (OpenMM version, platform and its properties, seeds,
        steps, speed, and every attempt: where it started, from what, where it stopped).
    """
    t_start = time.perf_counter()
    n_steps, every = steps_for(length_ps, frame_interval_ps, timestep_fs)
    n_frames = n_steps // every
    if checkpoint_interval_ps is None:
        ckpt_every = 20 * every
    else:
        ckpt_every, _ = steps_for(checkpoint_interval_ps, frame_interval_ps, timestep_fs)
    paths = {k: Path(p) for k, p in dict(traj=trajectory_path, csv=state_log_path).items()}
    work = Path(work_dir) if work_dir is not None else paths["traj"].parent / "md_work"
    for p in paths.values():
        if part_path(p).exists():
            part_path(p).unlink()
    dynamics = dict(temperature_k=temperature_k, timestep_fs=timestep_fs, friction_per_ps=friction_per_ps, frame_interval_ps=frame_interval_ps, seed=int(seed))
    if end_temperature_k is not None:  # a ramp: its end and its length set the temperature at every step
        dynamics.update(end_temperature_k=end_temperature_k, ramp_steps=n_steps)
    if pressure_bar is not None:
        system = with_barostat(system, pressure_bar, temperature_k, end_temperature_k)
        dynamics.update(pressure_bar=float(pressure_bar), barostat_interval=BAROSTAT_INTERVAL)
    start_box = None
    if start_state is not None:  # a stage that continues another: its start is that stage's end, velocities included
        positions_nm = start_state.getPositions(asNumpy=True).value_in_unit(unit.nanometer)
        velocities = start_state.getVelocities(asNumpy=True).value_in_unit(unit.nanometer / unit.picosecond)
        dynamics["start_velocities"] = fingerprint("", velocities, {})
        box = np.array(start_state.getPeriodicBoxVectors(asNumpy=True).value_in_unit(unit.nanometer))
        default = np.array([v.value_in_unit(unit.nanometer) for v in system.getDefaultPeriodicBoxVectors()])
        if not np.allclose(box, default, rtol=0, atol=1e-9):  # after an NPT stage: its box (NVT-only runs keep their fingerprint)
            start_box = start_state.getPeriodicBoxVectors()
            dynamics["start_box_nm"] = box.round(9).tolist()
    fp = fingerprint(mm.XmlSerializer.serialize(system), positions_nm, dynamics)
    outputs = {"trajectory": paths["traj"], "state_log": paths["csv"], "provenance": Path(provenance_path)}
    if final_state_path is not None:
        outputs["final_state"] = Path(final_state_path)
    # what else a finished run must share with this one to stand for it (the fingerprint covers the System, the
    # start and the dynamics): the platform and its precision, and the OpenMM version; not the thread count
    recipe = {
        "n_steps": n_steps,
        "platform": platform.getName(),
        "properties": {k: v for k, v in properties.items() if k not in ("Threads", "DeviceIndex")},
        "openmm_version": mm.Platform.getOpenMMVersion(),
    }

    with WorkFolder(work, fp, recipe, label=label, log=log, faults=faults, finished_keys=finished_keys, log_volume=pressure_bar is not None) as folder, StopSignals() as stop:
        done = folder.restore_finished(outputs)
        if done is not None:
            folder.release()  # ours: we hold it
            return done
        folder.check_segments(n_steps)
        # a resumed run gets its own integrator seed: a checkpoint restores the random-number state anyway, and
        # after a State (which has none) the noise must not repeat the first attempt's
        integ = _integrator(temperature_k, friction_per_ps, timestep_fs, int(seed) + 7919 * (folder.n_attempts + 1) if folder.resuming else int(seed))
        if pressure_bar is not None:
            # an OpenMM checkpoint restores the integrator's random numbers but not the barostat's: a resumed NPT run
            # continues correctly from the checkpoint's box and state, with volume moves of its own (its seed is the
            # attempt's integrator seed), not the ones an uninterrupted run would have drawn
            next(f for f in system.getForces() if isinstance(f, mm.MonteCarloBarostat)).setRandomNumberSeed(integ.getRandomNumberSeed())
        sim = app.Simulation(topology, system, integ, platform, properties)
        info = describe_context(sim.context)
        resumed_from, rejected = folder.load_restart_point(sim.context, info)
        start_step = folder.begin_attempt(resumed_from, rejected, integ.getRandomNumberSeed(), info)
        if start_step > 0:
            sim.context.setStepCount(start_step)
            folder.say(f"resuming at step {start_step}/{n_steps} from the {resumed_from} in {work}")
        else:
            if start_box is not None:
                sim.context.setPeriodicBoxVectors(*start_box)
            sim.context.setPositions(np.asarray(positions_nm) * unit.nanometer)
            if start_state is not None:
                sim.context.setVelocities(start_state.getVelocities())
            else:
                sim.context.setVelocitiesToTemperature(temperature_k * unit.kelvin, int(seed))
            sim.context.setTime(0.0)
            sim.context.setStepCount(0)
        ramp = None if end_temperature_k is None else _linear_ramp(temperature_k, end_temperature_k, n_steps)
        ensemble = "NVT" if pressure_bar is None else f"NPT ({pressure_bar:g} bar)"
        folder.say(
            f"{ensemble} {length_ps} ps at {temperature_k if ramp is None else f'{temperature_k} -> {end_temperature_k}'} K, {timestep_fs} fs, {n_steps} steps, frame every {every} steps, "
            f"checkpoint every {ckpt_every} steps in {work}, platform {info['platform']} {info['properties']}"
            + (f", wall-clock budget {wall_budget_s:.0f} s" if wall_budget_s else "")
        )
        t0 = time.perf_counter()
        run_stage(sim, folder, n_steps=n_steps, every=every, ckpt_every=ckpt_every, start_step=start_step, info=info, stop=stop,
                  timestep_fs=timestep_fs, t_start=t_start, wall_budget_s=wall_budget_s, progress_every_s=progress_every_s,
                  temperature_at=ramp)  # fmt: skip
        wall = time.perf_counter() - t0
        folder.record("end", n_steps)
        folder.commit()
        made = {"trajectory": work / "joined.part.xtc", "state_log": work / "joined.part.csv"}
        join_segments(work, folder.segments(), made["trajectory"], made["state_log"])
        check_frames(made["trajectory"], every, n_frames)
        folder.faults.in_join()
        state = sim.context.getState(getPositions=True, getVelocities=True, getEnergy=True)
        if final_state_path is not None:
            made["final_state"] = work / "made_final_state.xml"
            write_text(made["final_state"], mm.XmlSerializer.serialize(state))
        attempts = folder.attempts()
        done_steps = sum(a["end_step"] - a["start_step"] for a in attempts)
        wall_all = sum(a["wall_time_s"] for a in attempts)
        speed_all = ns_per_day(wall_all / done_steps, timestep_fs) if done_steps > 0 and wall_all > 0 else None
        prov = {
            "label": label,
            **info,
            "integrator": "LangevinMiddleIntegrator",
            "ensemble": "NVT" if pressure_bar is None else "NPT",
            **({"pressure_bar": float(pressure_bar), "barostat": f"MonteCarloBarostat, a move every {BAROSTAT_INTERVAL} steps"} if pressure_bar is not None else {}),
            "temperature_k": temperature_k,
            **({"end_temperature_k": end_temperature_k} if end_temperature_k is not None else {}),
            "start": "the previous stage's end (positions and velocities)" if start_state is not None else "positions given, velocities drawn",
            "timestep_fs": timestep_fs,
            "friction_per_ps": friction_per_ps,
            "length_ps": length_ps,
            "frame_interval_ps": frame_interval_ps,
            "checkpoint_interval_steps": ckpt_every,
            "n_steps": n_steps,
            "n_frames": n_frames,
            # the integrator seed of each attempt is in its record; a resumed attempt gets its own (see above)
            "seeds": {"velocities": int(seed), "integrator": attempts[0]["integrator_seed"]},
            "attempts": attempts,
            "wall_time_s": wall_all,
            # this attempt's speed; an attempt that only joined the segments (its predecessor was killed while
            # joining) ran no step, and then the speed over all attempts stands in
            "ns_per_day": ns_per_day(wall / (n_steps - start_step), timestep_fs) if n_steps > start_step and wall > 0 else speed_all,
            "ns_per_day_all_attempts": speed_all,
            "final_potential_energy_kj_mol": state.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole),
            "host": os.uname().nodename,
        }
        if extra_provenance:
            prov.update(extra_provenance)
        made["provenance"] = work / "made_provenance.json"
        write_json(made["provenance"], prov)
        # the outputs go into the work folder, are committed as finished, and are published from there (hard links):
        # a kill at any point leaves a folder the next attempt finishes from, without redoing the MD
        folder.finish(made, outputs)
    (work / LOCK).unlink(missing_ok=True)
    return prov


def run_protocol(system: mm.System, topology: app.Topology, positions_nm, stages, *, seed: int, outputs: dict, work_dir=None,
                 label: str = "", extra_provenance: dict | None = None, faults: Faults | None = None, **dynamics) -> dict:  # fmt: skip
    """Run the stages of a protocol (:mod:`systems.protocol`) one after another; the last is production.

    Each stage is a resumable :func:`run_nvt` in its own work folder: production in ``work_dir`` (default
    ``md_work`` beside the trajectory; a one-stage protocol such as ``paper`` is exactly one run there), an
    earlier stage k in ``work_dir/stage_<k>_<name>``, with its trajectory, state log (energies and temperature),
    final state and provenance published under ``stages/<k>_<name>/`` beside the outputs. A stage starts from the
    previous stage's final positions and velocities (the first from ``positions_nm``, velocities drawn with
    ``seed``) and has its own integrator seed, ``seed + 104729 k``. A rerun republishes the finished stages and
    resumes the first unfinished one from its checkpoint. Only production's frames are the trajectory the
    analysis reads; its provenance lists every stage with its temperatures, length, seeds, attempts, mean
    temperature and the RMS displacement of the mobile atoms from the stage's start to its end.

    ``outputs`` maps trajectory, state_log, provenance (and final_state) to the declared output paths;
    ``dynamics`` holds :func:`run_nvt`'s timestep_fs, friction_per_ps, frame_interval_ps, platform, properties,
    checkpoint_interval_ps, wall_budget_s, log and progress_every_s.
    """
    outputs = {k: Path(v) for k, v in outputs.items() if v is not None}
    work = Path(work_dir) if work_dir is not None else outputs["trajectory"].parent / "md_work"
    faults = faults if faults is not None else Faults()
    start_state, done = None, []
    mobile = mobile_indices(system)
    t0, budget = time.perf_counter(), dynamics.pop("wall_budget_s", None)
    for k, stage in enumerate(stages):
        faults.stage = k
        # one wall-clock budget for the whole job: what the earlier stages used is gone
        left = None if budget is None else budget - (time.perf_counter() - t0)
        if k > 0 and left is not None and left <= 0:  # (the first stage gets the budget as given, as one run does)
            raise RunInterrupted(f"{label}: the wall-clock budget is spent before stage {stage.name!r}; rerun to continue from there", 0, 0)
        dynamics["wall_budget_s"] = left
        common = dict(temperature_k=stage.temperature_k, end_temperature_k=stage.end_temperature_k, length_ps=stage.length_ps,
                      seed=int(seed) + 104729 * k, start_state=start_state, faults=faults, pressure_bar=stage.pressure_bar, **dynamics)  # fmt: skip
        if stage.production:
            extra = dict(extra_provenance or {})
            extra["protocol"] = {"stages": done + [{**stage.as_dict(), "integrator_seed": int(seed) + 104729 * k}]}
            return run_nvt(system, topology, positions_nm, trajectory_path=outputs["trajectory"], state_log_path=outputs["state_log"],
                           provenance_path=outputs["provenance"], final_state_path=outputs.get("final_state"), work_dir=work,
                           label=label if len(stages) == 1 else f"{label} [{stage.name}]", extra_provenance=extra, **common)  # fmt: skip
        d = outputs["trajectory"].parent / "stages" / f"{k}_{stage.name}"
        d.mkdir(parents=True, exist_ok=True)
        prov = run_nvt(system, topology, positions_nm, trajectory_path=d / "trajectory.xtc", state_log_path=d / "state_log.csv",
                       provenance_path=d / "provenance.json", final_state_path=d / "final_state.xml", work_dir=work / f"stage_{k}_{stage.name}",
                       label=f"{label} [{stage.name}]", extra_provenance={"stage": stage.as_dict()}, finished_keys=("n_steps",), **common)  # fmt: skip
        before = np.asarray(positions_nm) if start_state is None else start_state.getPositions(asNumpy=True).value_in_unit(unit.nanometer)
        start_state = mm.XmlSerializer.deserialize((d / "final_state.xml").read_text())
        after = start_state.getPositions(asNumpy=True).value_in_unit(unit.nanometer)
        # how far the ions went in this stage (positions are unwrapped): an anneal must move them beyond their own size
        rms = float(np.sqrt(((after[mobile] - before[mobile]) ** 2).sum(axis=1).mean())) if mobile else 0.0
        done.append({**stage.as_dict(), "integrator_seed": prov["seeds"]["integrator"], "attempts": prov["attempts"], "ns_per_day": prov["ns_per_day"],
                     "mean_temperature_k": stage_temperature(d / "state_log.csv"), "rms_displacement_nm": rms, "outputs": str(d)})  # fmt: skip
    raise ValueError("a protocol needs a production stage (the last)")


def stage_temperature(state_log) -> float:
    """Mean instantaneous temperature (K) over a state log's frames."""
    import csv

    with open(state_log) as fh:
        rows = list(csv.reader(fh))
    col = next(i for i, h in enumerate(rows[0]) if "Temperature" in h)
    return float(np.mean([float(r[col]) for r in rows[1:]]))


def run_nvt_files(
    system_xml, pdb_path, outputs, md_config: dict, seed: int, threads=None, label="", log=None, geometry_json=None, work_dir=None, wall_budget_s=None
) -> dict:
    """Run the protocol of ``md_config`` (:func:`run_protocol`) from files; ``outputs`` has trajectory, state_log,
    provenance and final_state paths.

    ``md_config`` holds the workflow's ``md`` settings (protocol, temperature_k, timestep_fs, friction_per_ps,
    length_ps, frame_interval_ps, checkpoint_interval_ps, platform, precision). The packing seed and cell layout
    from ``geometry_json`` are copied into the provenance, so every seed of the replica sits next to its
    trajectory. ``work_dir`` (default: ``md_work`` beside the trajectory) holds checkpoints; see :func:`run_nvt`.
    """
    from systems.platforms import select_platform
    from systems.protocol import protocol_stages

    stages = protocol_stages(md_config)
    system = load_system(system_xml)
    pdb = app.PDBFile(str(pdb_path))
    platform, props = select_platform(md_config["platform"], threads=threads, precision=md_config["precision"])
    return run_protocol(
        system,
        pdb.topology,
        pdb.getPositions(asNumpy=True).value_in_unit(unit.nanometer),
        stages,
        seed=seed,
        outputs={"trajectory": outputs.trajectory, "state_log": outputs.state_log, "provenance": outputs.provenance, "final_state": outputs.final_state},
        work_dir=work_dir,
        label=label,
        timestep_fs=md_config["timestep_fs"],
        friction_per_ps=md_config["friction_per_ps"],
        frame_interval_ps=md_config["frame_interval_ps"],
        checkpoint_interval_ps=md_config.get("checkpoint_interval_ps"),
        platform=platform,
        properties=props,
        log=log,
        wall_budget_s=wall_budget_s,
        extra_provenance={
            "system_xml": str(system_xml),
            "start_structure": str(pdb_path),
            "packing_seed": json.loads(Path(geometry_json).read_text())["packing_seed"] if geometry_json else None,
            "geometry": json.loads(Path(geometry_json).read_text()) if geometry_json else None,
        },
    )


def wall_budget(md_config: dict, runtime_minutes=None, elapsed_s: float = 0.0, log=None, label="") -> float | None:
    """Seconds this MD process may run before it saves and stops, or None for no limit.

    From ``md.wall_budget_minutes`` if set, else the job's ``runtime`` resource (SLURM's time limit), less
    ``md.wall_margin_s`` (time to save and exit) and what the job has already used. A budget no longer than the
    margin is ignored (the run then relies on SIGTERM at the time limit).
    """
    minutes = md_config.get("wall_budget_minutes") or runtime_minutes
    if not minutes:
        return None
    margin = float(md_config.get("wall_margin_s", 120.0))
    budget = float(minutes) * 60.0 - margin - elapsed_s
    if budget <= 0:
        if log:
            log.write(f"{label}: a wall-clock budget of {minutes} min leaves no time after the {margin:.0f} s margin; relying on SIGTERM at the time limit\n")
        return None
    return budget


def main(argv=None) -> int:
    """``python -m systems.md RUN_DIR``: run (or resume) the NVT of one built replica folder by hand.

    RUN_DIR holds ``system.xml`` and ``minimized.pdb`` (as the workflow builds them); the outputs go beside
    them. Exit status 0 when complete, 75 when stopped early with a checkpoint saved (run it again to
    continue), 2 when the folder is locked by another process, 3 when the run exploded.
    """
    import argparse
    import sys

    from systems.resume import EXIT_RESUME, RunFolderLocked

    ap = argparse.ArgumentParser(prog="python -m systems.md", description=main.__doc__.splitlines()[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--md-config", required=True, help="JSON of the workflow's md settings")
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args(argv)
    md_config = json.loads(args.md_config)
    d = args.run_dir

    class Outputs:
        trajectory, state_log, provenance, final_state = (d / "trajectory.xtc", d / "state_log.csv", d / "provenance.json", d / "final_state.xml")

    try:
        run_nvt_files(
            d / "system.xml", d / "minimized.pdb", Outputs, md_config, args.seed, threads=args.threads, label=str(d), log=sys.stdout,
            wall_budget_s=wall_budget(md_config),
        )  # fmt: skip
    except RunInterrupted as exc:
        print(exc, flush=True)
        return EXIT_RESUME
    except RunFolderLocked as exc:
        print(exc, flush=True)
        return 2
    except SimulationExploded as exc:
        print(exc, flush=True)
        return 3
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
