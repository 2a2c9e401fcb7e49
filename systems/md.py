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

from systems.files import atomic_path, fsync_file, part_path, write_json, write_text
from systems.platforms import describe_context
from systems.resume import (
    FINAL,
    LOCK,
    Faults,
    RunInterrupted,
    StopSignals,
    check_frames,
    commit,
    damaged_segments,
    file_record,
    fingerprint,
    finish,
    join_segments,
    load_progress,
    restart_points,
    restore,
    roll_back,
    run_lock,
    verify,
)


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
    work_dir=None,
    checkpoint_interval_ps: float | None = None,
    wall_budget_s: float | None = None,
    faults: Faults | None = None,
) -> dict:
    """NVT Langevin dynamics (LangevinMiddleIntegrator) with an XTC trajectory and a CSV state log; resumable.

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
    published from there (hard links), and a run that finds them there publishes them again.

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
    faults = faults if faults is not None else Faults()
    paths = {k: Path(p) for k, p in dict(traj=trajectory_path, csv=state_log_path).items()}
    work = Path(work_dir) if work_dir is not None else paths["traj"].parent / "md_work"
    part = {k: part_path(p) for k, p in paths.items()}
    for p in part.values():
        if p.exists():
            p.unlink()
    system_xml = mm.XmlSerializer.serialize(system)
    fp = fingerprint(
        system_xml,
        positions_nm,
        dict(temperature_k=temperature_k, timestep_fs=timestep_fs, friction_per_ps=friction_per_ps, frame_interval_ps=frame_interval_ps, seed=int(seed)),
    )
    mobile = [i for i in range(system.getNumParticles()) if system.getParticleMass(i).value_in_unit(unit.dalton) > 0]

    def say(text):
        if log:
            log.write(f"{label}: {text}\n")
            log.flush()

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

    with run_lock(work), StopSignals() as stop:
        progress = load_progress(work, fp, log=log, label=label)
        if progress and progress.get("finished"):
            why = restore(work, progress, outputs) if progress.get("recipe") == recipe else f"made with {progress.get('recipe')}, this run is {recipe}"
            if why is None:
                say(f"this run finished earlier: its outputs were published again from {work}, nothing recomputed")
                (work / LOCK).unlink(missing_ok=True)  # ours: we hold it
                return json.loads((work / FINAL["provenance"]).read_text())
            say(f"the finished run in {work} is not used ({why}); starting from the beginning")
            progress = None
            load_progress(work, "", log=None)
        bad = damaged_segments(work, progress) if progress else []
        if bad:
            raise RuntimeError(
                f"{label}: committed trajectory segments in {work} differ from what was committed: {'; '.join(bad)}. Their "
                f"frames cannot be rebuilt from the checkpoints. Delete {work} to run this replica again from the start."
            )
        if progress and progress["step"] > n_steps:
            say(f"the checkpoint in {work} is past the end of this run ({progress['step']} > {n_steps} steps); starting from the beginning")
            progress = None
            load_progress(work, "", log=None)
        # a resumed run gets its own integrator seed: a checkpoint restores the random-number state anyway, and
        # after a State (which has none) the noise must not repeat the first attempt's
        resuming = bool(progress and progress.get("checkpoint"))
        integ = _integrator(temperature_k, friction_per_ps, timestep_fs, int(seed) + 7919 * (len(progress["attempts"]) + 1) if resuming else int(seed))
        sim = app.Simulation(topology, system, integ, platform, properties)
        info = describe_context(sim.context)
        resumed_from, rejected = "start", []
        # every committed point, newest first, checkpoint before State; each file is checked against the size
        # and sha256 recorded when it was committed (OpenMM loads a cut checkpoint without a word)
        for point in restart_points(progress) if progress else []:
            for source in ("checkpoint", "state"):
                name = point[source]
                if source == "checkpoint" and (point.get("platform"), point.get("openmm_version")) != (info["platform"], info["openmm_version"]):
                    why = (
                        f"written by OpenMM {point.get('openmm_version')} on {point.get('platform')}, this is "
                        f"OpenMM {info['openmm_version']} on {info['platform']}"
                    )
                else:
                    why = verify(work / name, (point.get("files") or {}).get(name))
                if why is None:
                    try:
                        if source == "checkpoint":
                            sim.context.loadCheckpoint((work / name).read_bytes())
                        else:
                            sim.context.setState(mm.XmlSerializer.deserialize((work / name).read_text()))
                    except Exception as exc:  # OpenMM raises a plain Exception for a checkpoint of other hardware
                        why = f"not loadable: {exc}"
                if why is None:
                    resumed_from = source if point["which"] == "last commit" else f"previous {source}"
                    break
                rejected.append(f"{name} ({point['which']}, step {point['step']}): {why}")
                say(
                    f"{source} not loadable ({why}); continuing from the portable State instead"
                    if source == "checkpoint"
                    else f"State {name} of step {point['step']} not usable ({why})"
                )
            if resumed_from != "start":
                if point["which"] != "last commit":
                    say(f"the last commit's files failed their checks; going back to the previous commit, step {point['step']}")
                    roll_back(work, progress, point)
                break
        if progress and resumed_from == "start" and progress.get("checkpoint"):
            say("no committed checkpoint or State passes its checks; starting from the beginning (earlier attempts stay in the record)")
            attempts = progress["attempts"]
            load_progress(work, "", log=None)
            progress = None
        if progress and resumed_from != "start":
            start_step = progress["step"]
            sim.context.setStepCount(start_step)
            say(f"resuming at step {start_step}/{n_steps} from the {resumed_from} in {work}")
        else:
            start_step = 0
            sim.context.setPositions(np.asarray(positions_nm) * unit.nanometer)
            sim.context.setVelocitiesToTemperature(temperature_k * unit.kelvin, int(seed))
            sim.context.setTime(0.0)
            sim.context.setStepCount(0)
            prior = progress["attempts"] if progress else (attempts if rejected else [])
            progress = {"fingerprint": fp, "step": 0, "segments": [], "attempts": prior, "checkpoint": None, "state": None, "previous": None}
        attempt = {
            "start_step": start_step,
            "resumed_from": resumed_from,
            "integrator_seed": integ.getRandomNumberSeed(),
            "host": os.uname().nodename,
            "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
            "platform": info["platform"],
        }
        if rejected:
            attempt["rejected"] = rejected
        say(
            f"NVT {length_ps} ps at {temperature_k} K, {timestep_fs} fs, {n_steps} steps, frame every {every} steps, "
            f"checkpoint every {ckpt_every} steps in {work}, platform {info['platform']} {info['properties']}"
            + (f", wall-clock budget {wall_budget_s:.0f} s" if wall_budget_s else "")
        )

        segment = {}

        def open_segment():
            k = len(progress["segments"])
            step = sim.currentStep
            seg = {"xtc": f"segment_{k:04d}.xtc", "csv": f"segment_{k:04d}.csv", "first_step": step}
            first_frame_step = (step // every + 1) * every
            seg["_xtc"] = app.XTCFile(str(work / seg["xtc"]), topology, integ.getStepSize(), first_frame_step, every)
            seg["_csv_fh"] = open(work / seg["csv"], "w")
            seg["_log"] = app.StateDataReporter(
                seg["_csv_fh"], every, step=True, time=True, potentialEnergy=True, kineticEnergy=True, temperature=True, speed=True
            )
            seg["n_frames"] = 0
            segment.clear()
            segment.update(seg)

        def close_segment():
            segment["_csv_fh"].close()
            for name in (segment["xtc"], segment["csv"]):
                fsync_file(work / name)  # on disk before the commit names it (creates an empty XTC if no frame)
            return {k: v for k, v in segment.items() if not k.startswith("_")}

        n_checkpoints = [0]

        def save_checkpoint(state):
            """Close the segment, save checkpoint + State named by step, then commit progress.json."""
            step = sim.currentStep
            seg = close_segment()
            seg["last_step"] = step
            seg["files"] = {seg[k]: file_record(work / seg[k]) for k in ("xtc", "csv")}  # checked when the run resumes
            ckpt, st = f"checkpoint_{step:012d}.chk", f"state_{step:012d}.xml"
            with atomic_path(work / ckpt, durable=True) as tmp:
                tmp.write_bytes(sim.context.createCheckpoint())
            write_text(work / st, mm.XmlSerializer.serialize(state), durable=True)
            n_checkpoints[0] += 1
            faults.in_checkpoint(n_checkpoints[0])
            previous = restart_points(progress)[:1]  # kept as a fallback in case this commit's files are damaged
            progress.update(
                step=step,
                time_ps=state.getTime().value_in_unit(unit.picosecond),
                checkpoint=ckpt,
                state=st,
                files={ckpt: file_record(work / ckpt), st: file_record(work / st)},
                platform=info["platform"],
                openmm_version=info["openmm_version"],
                previous={k: v for k, v in previous[0].items() if k != "which"} if previous else None,
            )
            progress["segments"].append(seg)
            record("lost after this checkpoint (killed, or the node failed)")
            commit(work, progress)

        def exploded(at_step, detail):
            """The error to raise; the attempt is recorded as exploded first (not as killed)."""
            record(f"exploded by step {at_step}: {detail}")
            commit(work, progress)
            kept = (
                f"The last good checkpoint (step {progress['step']}) is kept in {work}."
                if progress.get("checkpoint")
                else "No checkpoint was committed yet: a rerun starts from the beginning."
            )
            return SimulationExploded(
                f"{label}: the run exploded by step {at_step} ({detail}). {kept} Check the minimised structure and the "
                f"time step; delete {work} to start over."
            )

        prior_attempts = list(progress["attempts"])

        def record(stopped_by):
            """This attempt, as the record shows it: if the process dies, the last commit says how far it got."""
            attempt.update(end_step=sim.currentStep, stopped_by=stopped_by, wall_time_s=time.perf_counter() - t0)
            progress["attempts"] = prior_attempts + [dict(attempt)]

        t0 = time.perf_counter()
        record("lost before its first checkpoint (killed, or the node failed)")  # every attempt is in the record
        commit(work, progress)

        def get_state(**what):
            try:
                return sim.context.getState(**what)
            except mm.OpenMMException as exc:  # e.g. "Particle coordinate is NaN"
                raise exploded(sim.currentStep, str(exc)) from exc

        def full_state():
            return get_state(getPositions=True, getVelocities=True, getEnergy=True, getParameters=True)

        last = t0
        chunk = min(every, 100, faults.points.get("max_chunk", every))  # steps per call: tuned to ~1 s so signals are seen quickly
        open_segment()
        step = start_step
        try:
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
                        xtc_file = work / segment["xtc"]
                        size_before = xtc_file.stat().st_size if xtc_file.exists() else 0
                        segment["_xtc"].writeModel(pos, periodicBoxVectors=state.getPeriodicBoxVectors())
                        faults.in_frame_write(step // every, xtc_file, size_before)
                        segment["_log"].report(sim, state)
                    except ValueError as exc:  # positions too large for XTC: a runaway atom
                        raise exploded(step, str(exc)) from exc
                    segment["n_frames"] += 1
                now = time.perf_counter()
                stopping = stop.received or (
                    wall_budget_s is not None and now - t_start + 2.0 * dt + 5.0 > wall_budget_s
                )
                if step % ckpt_every == 0 or step == n_steps or stopping:
                    state = full_state()
                    e = state.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole)
                    if not math.isfinite(e) or not np.all(np.isfinite(state.getPositions(asNumpy=True)._value)):
                        raise exploded(step, f"potential energy {e} kJ/mol at a checkpoint")  # never save a bad state
                    save_checkpoint(state)
                    if stopping and step < n_steps:
                        reason = f"signal {stop.received}" if stop.received else f"wall-clock budget of {wall_budget_s:.0f} s"
                        record(reason)
                        commit(work, progress)
                        raise RunInterrupted(
                            f"{label}: stopped by {reason} at step {step}/{n_steps}; checkpoint saved in {work}. Rerun "
                            "(Snakemake retries, or run snakemake again) to continue from there.",
                            step,
                            n_steps,
                        )
                    if step < n_steps:
                        open_segment()
                if now - last >= progress_every_s or step == n_steps:
                    done = step - start_step
                    rate = done / max(now - t0, 1e-9)
                    say(
                        f"step {step}/{n_steps} ({100.0 * step / n_steps:.1f} %), "
                        f"{ns_per_day(1.0 / rate, timestep_fs) if rate > 0 else 0.0:.1f} ns/day, elapsed {_hms(now - t0)}, "
                        f"ETA {_hms((n_steps - step) / rate) if rate > 0 else '?'}"
                    )
                    last = now
        finally:
            if segment.get("_csv_fh") is not None and not segment["_csv_fh"].closed:
                segment["_csv_fh"].close()
        wall = time.perf_counter() - t0
        record("end")
        commit(work, progress)
        made = {"trajectory": work / "joined.part.xtc", "state_log": work / "joined.part.csv"}
        join_segments(work, progress["segments"], made["trajectory"], made["state_log"])
        check_frames(made["trajectory"], every, n_frames)
        faults.in_join()
        state = sim.context.getState(getPositions=True, getVelocities=True, getEnergy=True)
        if final_state_path is not None:
            made["final_state"] = work / "made_final_state.xml"
            write_text(made["final_state"], mm.XmlSerializer.serialize(state))
        done_steps = sum(a["end_step"] - a["start_step"] for a in progress["attempts"])
        wall_all = sum(a["wall_time_s"] for a in progress["attempts"])
        speed_all = ns_per_day(wall_all / done_steps, timestep_fs) if done_steps > 0 and wall_all > 0 else None
        prov = {
            "label": label,
            **info,
            "integrator": "LangevinMiddleIntegrator",
            "temperature_k": temperature_k,
            "timestep_fs": timestep_fs,
            "friction_per_ps": friction_per_ps,
            "length_ps": length_ps,
            "frame_interval_ps": frame_interval_ps,
            "checkpoint_interval_steps": ckpt_every,
            "n_steps": n_steps,
            "n_frames": n_frames,
            # the integrator seed of each attempt is in its record; a resumed attempt gets its own (see above)
            "seeds": {"velocities": int(seed), "integrator": progress["attempts"][0]["integrator_seed"]},
            "attempts": progress["attempts"],
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
        progress["recipe"] = recipe
        finish(work, progress, made, outputs, faults)
    (work / LOCK).unlink(missing_ok=True)
    return prov


def run_nvt_files(
    system_xml, pdb_path, outputs, md_config: dict, seed: int, threads=None, label="", log=None, geometry_json=None, work_dir=None, wall_budget_s=None
) -> dict:
    """Run :func:`run_nvt` from files; ``outputs`` has trajectory, state_log, provenance and final_state paths.

    ``md_config`` holds the workflow's ``md`` settings (temperature_k, timestep_fs, friction_per_ps, length_ps,
    frame_interval_ps, checkpoint_interval_ps, platform, precision). The packing seed and cell layout from
    ``geometry_json`` are copied into the provenance, so every seed of the replica sits next to its trajectory.
    ``work_dir`` (default: ``md_work`` beside the trajectory) holds checkpoints; see :func:`run_nvt`.
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
        checkpoint_interval_ps=md_config.get("checkpoint_interval_ps"),
        seed=seed,
        platform=platform,
        properties=props,
        trajectory_path=outputs.trajectory,
        state_log_path=outputs.state_log,
        provenance_path=outputs.provenance,
        final_state_path=outputs.final_state,
        label=label,
        log=log,
        work_dir=work_dir,
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
