"""Benchmark: the bare OpenMM loop, the workflow's own MD job, replicas sharing a device, and the analysis.

For every system and platform it measures, each in a fresh worker process (so peak memory is per job):

``bare``
    The System the workflow built (``system.xml`` of replica r0) stepped by a LangevinMiddleIntegrator in one
    ``integrator.step(n)`` call: no reporters, no Python between steps.
``production``
    The same number of steps through :func:`systems.md.run_nvt_files`, the call the ``run_nvt`` rule makes:
    XTC and state-log reporters at ``md.frame_interval_ps``, progress lines, part files, provenance.
    ``overhead_pct`` is the median over repeats of production/bare - 1, each pair timed back to back.
``concurrent``
    K production jobs started at once on the same device (K from ``benchmark.concurrent``); the aggregate
    ns/day is the sum over the K jobs, and the gain is aggregate / single-job ns/day. On the CPU platform the
    threads are shared out (cores // K each).
``analysis``
    :func:`analysis.replica.analyse_replica` and :func:`analysis.replica.save` (the ``compute_rdf`` rule) on a
    synthetic trajectory of ``benchmark.analysis_frames`` frames: the built structure with a seeded random walk
    on the mobile atoms (the cost depends on atom and frame counts, not on the physics).

Timed loops start at the first step of a fresh Context, for bare and production alike. The number of steps
is ``benchmark.steps`` or, when that is null, enough for ``benchmark.min_seconds`` per run (from a short
calibration), rounded up to whole frame intervals so the production run writes its frames.
"""

from __future__ import annotations

import csv
import datetime
import json
import math
import os
import platform as pyplatform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from systems.files import atomic_path

#: platforms tried for ``platforms: [available]`` (Reference is too slow to be worth timing unless named)
AVAILABLE_ORDER = ("CUDA", "OpenCL", "CPU")

COLUMNS = (
    "date", "host", "cpu", "cores", "device", "openmm", "platform", "precision", "threads", "system", "atoms",
    "measure", "replicas_at_once", "steps", "repeats", "ms_per_step", "ns_per_day", "aggregate_ns_per_day",
    "gain", "overhead_pct", "overhead_min_pct", "overhead_max_pct", "frames", "seconds", "frames_per_s", "peak_rss_mb",
)  # fmt: skip


def peak_rss_mb() -> float:
    """Peak resident memory of this process (MB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # kB on Linux


def ns_per_day(ms_per_step: float, timestep_fs: float) -> float:
    return timestep_fs * 1e-6 / (ms_per_step * 1e-3) * 86400.0


# --------------------------------------------------------------------------------------------------- workers
def _load(task):
    import openmm.app as app
    import openmm.unit as unit

    from systems.md import load_system

    system = load_system(task["system_xml"])
    pos = app.PDBFile(task["pdb"]).getPositions(asNumpy=True).value_in_unit(unit.nanometer)
    return system, pos


def _bare(task) -> dict:
    import openmm as mm
    import openmm.unit as unit

    from systems.md import _integrator
    from systems.platforms import describe_context, select_platform

    md = task["md"]
    system, pos = _load(task)
    platform, props = select_platform(task["platform"], threads=task["threads"], precision=md["precision"])
    integ = _integrator(md["temperature_k"], md["friction_per_ps"], md["timestep_fs"], task["seed"])
    ctx = mm.Context(system, integ, platform, props)
    ctx.setPositions(pos * unit.nanometer)
    ctx.setVelocitiesToTemperature(md["temperature_k"] * unit.kelvin, int(task["seed"]))
    info = describe_context(ctx)
    if task.get("calibrate"):
        # double the steps until a run lasts a second; return seconds per step
        n = 20
        while True:
            t0 = time.perf_counter()
            integ.step(n)
            ctx.getState(getEnergy=True)
            dt = time.perf_counter() - t0
            if dt >= 1.0 or n >= 10**7:
                return {"seconds_per_step": dt / n, "context": info}
            n *= 2
    t0 = time.perf_counter()
    integ.step(int(task["steps"]))
    ctx.getState(getEnergy=True)  # wait for the device
    wall = time.perf_counter() - t0
    return {"wall_s": wall, "steps": int(task["steps"]), "context": info, "atoms": system.getNumParticles()}


def _production(task) -> dict:
    from systems.md import run_nvt_files

    md = dict(task["md"], platform=task["platform"])
    every = round(md["frame_interval_ps"] * 1000.0 / md["timestep_fs"])
    md["length_ps"] = task["steps"] * md["timestep_fs"] / 1000.0
    work = Path(task["workdir"])
    work.mkdir(parents=True, exist_ok=True)
    outputs = SimpleNamespace(
        trajectory=work / "trajectory.xtc", state_log=work / "state_log.csv", provenance=work / "provenance.json", final_state=work / "final_state.xml"
    )
    with open(work / "md.log", "w") as log:
        prov = run_nvt_files(
            task["system_xml"], task["pdb"], outputs, md, seed=task["seed"], threads=task["threads"], label=task["label"], log=log,
            geometry_json=task.get("geometry"),
        )  # fmt: skip
    # ended_at - wall_s is when this job's MD loop started (to the second's fraction): jobs run at once overlap that much
    return {"wall_s": prov["wall_time_s"], "steps": prov["n_steps"], "frames": prov["n_frames"], "every": every, "context": prov, "ended_at": time.time()}


def synthetic_trajectory(pdb, n_frames: int, out_xtc, step_nm: float = 0.01, seed: int = 0) -> None:
    """``n_frames`` frames of the structure in ``pdb`` with a seeded Gaussian random walk on the mobile atoms."""
    import mdtraj as md

    ref = md.load(str(pdb))
    mobile = ref.topology.select("resname TFS or resname LIP")
    rng = np.random.default_rng(seed)
    xyz = np.repeat(ref.xyz, n_frames, axis=0)
    walk = np.cumsum(rng.normal(0.0, step_nm, size=(n_frames, len(mobile), 3)), axis=0).astype(np.float32)
    xyz[:, mobile, :] += walk
    traj = md.Trajectory(
        xyz, ref.topology, time=np.arange(1, n_frames + 1, dtype=float),
        unitcell_lengths=np.repeat(ref.unitcell_lengths, n_frames, axis=0), unitcell_angles=np.repeat(ref.unitcell_angles, n_frames, axis=0),
    )  # fmt: skip
    traj.save_xtc(str(out_xtc))


def _analysis(task) -> dict:
    from analysis.replica import analyse_replica, save

    work = Path(task["workdir"])
    work.mkdir(parents=True, exist_ok=True)
    xtc = work / "synthetic.xtc"
    synthetic_trajectory(task["pdb"], task["frames"], xtc)
    geometry = json.loads(Path(task["geometry"]).read_text())
    a = task["analysis"]
    base = peak_rss_mb()
    t0 = time.perf_counter()
    result = analyse_replica(
        xtc, task["pdb"], geometry, equilibration_fraction=a["equilibration_fraction"], r_max_nm=a["r_max_nm"], bin_nm=a["bin_nm"]
    )
    save(result, work / "analysis.npz", work / "analysis.json")
    wall = time.perf_counter() - t0
    return {"wall_s": wall, "frames": int(result["n_frames_total"]), "rss_before_mb": base}


WORKERS = {"bare": _bare, "production": _production, "analysis": _analysis}


def worker_main(task_json: str) -> None:
    """Entry point of a worker process: run one task and print its result as the last line (JSON)."""
    task = json.loads(task_json)
    out = WORKERS[task["kind"]](task)
    out["peak_rss_mb"] = peak_rss_mb()
    sys.stdout.write("\n" + json.dumps(out) + "\n")


def _project_root() -> Path:
    return Path(__file__).resolve().parent.parent


def worker_env() -> dict:
    """This environment with the project root first on PYTHONPATH, for a child ``python -m systems...``."""
    return dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(_project_root()), os.environ.get("PYTHONPATH")])))


def _start(task: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "systems.benchmark", "--worker", json.dumps(task)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8", env=worker_env(),
    )  # fmt: skip


def _finish(proc: subprocess.Popen, task: dict) -> dict:
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark worker {task['kind']} ({task.get('label')}) failed with exit status {proc.returncode}:\n{err[-3000:]}")
    return json.loads(out.strip().splitlines()[-1])


def run_worker(task: dict) -> dict:
    return _finish(_start(task), task)


def run_concurrent(tasks: list[dict]) -> list[dict]:
    procs = [_start(t) for t in tasks]
    return [_finish(p, t) for p, t in zip(procs, tasks)]


# --------------------------------------------------------------------------------------------------- driver
def available_platforms(requested) -> list[str]:
    """Platform names to time: ``available`` expands to every one of CUDA, OpenCL, CPU that can make a context."""
    from systems.platforms import PlatformUnavailable, select_platform

    names = []
    for name in requested:
        for cand in AVAILABLE_ORDER if name == "available" else (name,):
            if cand in names:
                continue
            try:
                select_platform(cand)
            except PlatformUnavailable:
                if name != "available":
                    raise
                continue
            names.append(cand)
    return names


def machine() -> dict:
    cpu = pyplatform.processor() or pyplatform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"host": pyplatform.node(), "cpu": cpu, "cores": os.cpu_count()}


def steps_for_benchmark(seconds_per_step: float, every: int, min_seconds: float, fixed_steps: int | None) -> int:
    """Steps per timed run: ``fixed_steps`` or enough for ``min_seconds``; whole frame intervals, at least one."""
    want = fixed_steps if fixed_steps else math.ceil(min_seconds / max(seconds_per_step, 1e-9))
    return max(1, math.ceil(want / every)) * every


def _device(ctx_info: dict) -> str:
    props = ctx_info.get("properties", {})
    name = props.get("DeviceName") or ""
    if ctx_info.get("platform") == "OpenCL":
        name = f"{props.get('OpenCLPlatformName', '')}: {name}".strip(": ")
    return name or "cpu"


def _precision(ctx_info: dict) -> str:
    props = ctx_info.get("properties", {})
    if "Precision" in props:
        return props["Precision"]
    return {"CPU": "single (CPU platform)", "Reference": "double"}.get(ctx_info.get("platform"), "")


def run_benchmark(systems: dict, md: dict, analysis: dict, bench: dict, out_csv, threads: int | None = None, log=sys.stdout, seed: int = 1) -> list[dict]:
    """Time every system on every platform; write one CSV row per measurement to ``out_csv``.

    Parameters
    ----------
    systems : dict
        name -> dict with ``system_xml``, ``pdb`` (minimised structure) and ``geometry`` (geometry.json).
    md, analysis : dict
        The workflow's ``md`` and ``analysis`` settings (time step, temperature, frame interval, precision...).
    bench : dict
        ``platforms``, ``steps``, ``min_seconds``, ``repeats``, ``concurrent``, ``analysis_frames``.
    threads : int, optional
        CPU threads of one MD job (the CPU platform).
    """
    from systems.md import steps_for

    _, every = steps_for(md["frame_interval_ps"], md["frame_interval_ps"], md["timestep_fs"])
    host = machine()
    date = datetime.datetime.now().isoformat(timespec="seconds")
    platforms = available_platforms(bench["platforms"])
    log.write(f"benchmark on {host['host']} ({host['cpu']}, {host['cores']} cores): platforms {platforms}, systems {list(systems)}\n")
    rows = []
    scratch = Path(tempfile.mkdtemp(prefix="li-coating-bench-"))
    try:
        for name, files in systems.items():
            base = {**files, "md": md, "analysis": analysis, "seed": seed, "label": f"benchmark/{name}"}
            for plat in platforms:
                th = threads if plat == "CPU" else None
                task = {**base, "platform": plat, "threads": th}
                cal = run_worker({**task, "kind": "bare", "calibrate": True})
                steps = steps_for_benchmark(cal["seconds_per_step"], every, bench["min_seconds"], bench["steps"])
                common = {
                    **host, "date": date, "openmm": cal["context"]["openmm_version"], "platform": plat,
                    "device": _device(cal["context"]), "precision": _precision(cal["context"]),
                    "threads": th or "", "system": name, "steps": steps, "repeats": bench["repeats"],
                }  # fmt: skip
                log.write(f"{name} on {plat} ({common['device']}): {steps} steps per run ({steps // every} frames), {bench['repeats']} repeats\n")
                log.flush()
                bare, prod, ratio, rss, atoms = [], [], [], [], None
                for k in range(bench["repeats"]):
                    b = run_worker({**task, "kind": "bare", "steps": steps})
                    p = run_worker({**task, "kind": "production", "steps": steps, "workdir": str(scratch / f"{name}-{plat}-{k}")})
                    atoms = b["atoms"]
                    bare.append(1e3 * b["wall_s"] / steps)
                    prod.append(1e3 * p["wall_s"] / steps)
                    ratio.append(p["wall_s"] / b["wall_s"])
                    rss.append(p["peak_rss_mb"])
                    log.write(f"  repeat {k + 1}: bare {bare[-1]:.4f} ms/step, production {prod[-1]:.4f} ms/step ({100 * (ratio[-1] - 1):+.2f} %)\n")
                    log.flush()
                common["atoms"] = atoms
                ms_b, ms_p = float(np.median(bare)), float(np.median(prod))
                over = 100.0 * (np.array(ratio) - 1.0)
                rows.append({**common, "measure": "bare", "replicas_at_once": 1, "ms_per_step": ms_b, "ns_per_day": ns_per_day(ms_b, md["timestep_fs"])})
                rows.append(
                    {
                        **common, "measure": "production", "replicas_at_once": 1, "ms_per_step": ms_p, "ns_per_day": ns_per_day(ms_p, md["timestep_fs"]),
                        "overhead_pct": float(np.median(over)), "overhead_min_pct": float(over.min()), "overhead_max_pct": float(over.max()),
                        "frames": steps // every, "peak_rss_mb": max(rss),
                    }
                )  # fmt: skip
                single = ns_per_day(ms_p, md["timestep_fs"])
                for n_at_once in bench["concurrent"]:
                    if n_at_once < 2:
                        continue
                    th_k = max(1, (th or 1) // n_at_once) if plat == "CPU" else None
                    tasks = [
                        {**task, "threads": th_k, "kind": "production", "steps": steps, "seed": seed + j, "workdir": str(scratch / f"{name}-{plat}-x{n_at_once}-{j}")}
                        for j in range(n_at_once)
                    ]  # fmt: skip
                    res = run_concurrent(tasks)
                    per = [ns_per_day(1e3 * r["wall_s"] / steps, md["timestep_fs"]) for r in res]
                    agg = float(sum(per))
                    ms_k = float(np.median([1e3 * r["wall_s"] / steps for r in res]))  # a typical job of the K
                    rows.append(
                        {
                            **common, "threads": th_k or "", "measure": "concurrent", "replicas_at_once": n_at_once,
                            "ms_per_step": ms_k, "ns_per_day": ns_per_day(ms_k, md["timestep_fs"]),
                            "aggregate_ns_per_day": agg, "gain": agg / single, "peak_rss_mb": max(r["peak_rss_mb"] for r in res),
                        }
                    )  # fmt: skip
                    log.write(f"  {n_at_once} at once: {agg:.2f} ns/day in all ({agg / single:.2f} x one job)\n")
                    log.flush()
            # analysis does not depend on the MD platform: once per system
            a = run_worker({**base, "kind": "analysis", "frames": bench["analysis_frames"], "workdir": str(scratch / f"{name}-analysis")})
            rows.append(
                {
                    **host, "date": date, "openmm": rows[-1]["openmm"] if rows else "", "platform": "numpy", "device": "cpu", "system": name,
                    "atoms": rows[-1]["atoms"] if rows else "", "measure": "analysis", "frames": a["frames"], "seconds": a["wall_s"],
                    "frames_per_s": a["frames"] / a["wall_s"], "peak_rss_mb": a["peak_rss_mb"],
                }
            )  # fmt: skip
            log.write(f"{name} analysis: {a['frames']} frames in {a['wall_s']:.2f} s ({a['frames'] / a['wall_s']:.0f} frames/s)\n")
            log.flush()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    write_csv(rows, out_csv)
    log.write(format_table(rows) + "\n")
    return rows


def write_csv(rows: list[dict], path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})


def format_table(rows: list[dict]) -> str:
    """A plain-text table of the measurements."""

    def f(v, fmt):
        return "" if v in (None, "") else format(v, fmt)

    head = f"{'system':<16}{'platform':<9}{'measure':<12}{'at once':>8}{'ms/step':>10}{'ns/day':>9}{'aggr.':>9}{'gain':>6}{'overh.%':>9}{'frames/s':>10}{'RSS MB':>8}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['system']:<16}{r['platform']:<9}{r['measure']:<12}{f(r.get('replicas_at_once'), 'd'):>8}{f(r.get('ms_per_step'), '.4f'):>10}"
            f"{f(r.get('ns_per_day'), '.2f'):>9}{f(r.get('aggregate_ns_per_day'), '.2f'):>9}{f(r.get('gain'), '.2f'):>6}"
            f"{f(r.get('overhead_pct'), '+.2f'):>9}{f(r.get('frames_per_s'), '.0f'):>10}{f(r.get('peak_rss_mb'), '.0f'):>8}"
        )
    return "\n".join(lines)


def force_profile(system_xml, pdb, platform="CPU", threads=None, precision="mixed", n_steps=1000, repeats=3) -> dict:
    """Where the step time goes: ms/step of the full System and of copies with one force removed at a time.

    The share of a force is roughly full - without; shares do not add up exactly (overlap and noise). Each
    figure is the median of ``repeats`` timings of ``n_steps`` steps.
    """
    import openmm as mm
    import openmm.app as app
    import openmm.unit as unit

    from systems.md import load_system, time_md
    from systems.platforms import select_platform

    base = load_system(system_xml)
    pos = app.PDBFile(str(pdb)).getPositions(asNumpy=True).value_in_unit(unit.nanometer)
    plat, props = select_platform(platform, threads=threads, precision=precision)

    def ms(system):
        return float(np.median([1e3 * time_md(system, pos, plat, props, n_steps=n_steps) for _ in range(repeats)]))

    out = {"platform": plat.getName(), "full_ms_per_step": ms(base), "without_ms_per_step": {}}
    for k, force in enumerate(base.getForces()):
        copy = mm.XmlSerializer.deserialize(mm.XmlSerializer.serialize(base))
        copy.removeForce(k)
        out["without_ms_per_step"][force.getName()] = ms(copy)
    return out


def main(argv=None) -> None:
    import argparse

    ap = argparse.ArgumentParser(
        description="Profile the MD step of a built replica by force (the benchmark itself is `snakemake --cores all benchmark`)."
    )
    ap.add_argument("--profile", metavar="REPLICA_DIR", required=True, help="a folder with system.xml and minimized.pdb, e.g. results/nh2_mil101_fe/r0")
    ap.add_argument("--platform", default="CPU")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--steps", type=int, default=1000)
    args = ap.parse_args(argv)
    d = Path(args.profile)
    prof = force_profile(d / "system.xml", d / "minimized.pdb", args.platform, args.threads, n_steps=args.steps)
    full = prof["full_ms_per_step"]
    print(f"{d} on {prof['platform']}: {full:.3f} ms/step")
    for name, t in prof["without_ms_per_step"].items():
        print(f"  without {name:<32s} {t:8.3f} ms/step   share ~ {full - t:+.3f} ms")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        worker_main(sys.argv[2])
    else:
        main()
