"""The GPU check that runs on an offline GPU node, from a bundle made by :mod:`systems.gpu_bundle`.

Within a time budget that it keeps by itself (8 minutes by default), it:

1. prints the OpenMM platforms and the device, and times every system of the bundle on each GPU platform
   (CUDA, and OpenCL if present), mixed precision: the bare loop and the production loop (our own
   ``run_nvt_files``, the call the ``run_nvt`` rule makes), as :mod:`systems.benchmark` does;
2. runs a short production of every system at once through ``python -m systems.md`` with checkpoints, sends
   SIGTERM to each after its first checkpoint, resumes it, and checks the joined trajectory (one frame per
   interval, contiguous) and its frames against an uninterrupted run of the same seed;
3. runs K production jobs at once on the one device for K in ``--concurrent`` (K = 1 is the single-job row of
   step 1; K > 1 spreads the jobs over the systems in turn, so K = systems x replicas is the whole MD of the
   config) and reports the aggregate ns/day: all steps over the span from the first job's loop start to the
   last job's end, so jobs that did not overlap do not inflate it.

The resume check runs before the concurrency so that a slow device spends its budget on correctness first.
Work that would not finish before the deadline is skipped and listed as skipped; a measurement that fails is
recorded with its error and the check goes on. Results are rewritten after every measurement, so a node that
dies mid-way still leaves them: ``gpu_check.csv`` (one row per measurement, the columns of the benchmark),
``resume_check.csv``, ``summary.json`` and ``summary.txt``. With ``--tiny`` the same steps run on the CPU with
a few steps each, so the test suite runs this module and it cannot rot.

Needs only OpenMM, numpy and mdtraj (to read the joined XTC) besides this package.
"""

from __future__ import annotations

import argparse
import datetime
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from systems.benchmark import _device, _precision, _start, format_table, machine, ns_per_day, steps_for_benchmark, worker_env, write_csv

GPU_ORDER = ("CUDA", "OpenCL")
RESUME_COLUMNS = (
    "system", "platform", "ok", "frames", "expected_frames", "every_steps", "interrupted_at_step", "exit_first", "exit_second",
    "exit_uninterrupted", "resumed_from", "attempts", "max_dev_nm_vs_uninterrupted", "wall_s", "message",
)  # fmt: skip
#: paper-scale targets (issue: >= 1500 ns/day aggregate on one H100-class GPU; the default config's MD in 20 min)
TARGET_AGGREGATE_NS_PER_DAY = 1500.0
TARGET_DEFAULT_MD_MINUTES = 20.0
KILLED = "killed at the deadline"


class Deadline:
    """Seconds left before ``end`` (a ``time.monotonic`` value), less a safety margin for writing results."""

    def __init__(self, budget_s: float, margin_s: float = 15.0, started_monotonic: float | None = None):
        self.start = time.monotonic() if started_monotonic is None else started_monotonic
        self.end = self.start + budget_s
        self.margin = margin_s

    def left(self) -> float:
        return self.end - self.margin - time.monotonic()

    def allows(self, seconds: float) -> bool:
        return self.left() >= seconds


class OutOfTime(RuntimeError):
    """A worker was stopped because the deadline came."""


def finish(proc: subprocess.Popen, task: dict, deadline: Deadline) -> dict:
    """Wait for a benchmark worker, killing it when the deadline comes; its JSON result."""
    what = f"worker {task.get('kind')} ({task.get('label')})"
    try:
        out, err = proc.communicate(timeout=max(1.0, deadline.left()))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise OutOfTime(f"{what} stopped at the deadline") from None
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed with exit status {proc.returncode}: {err.strip()[-1500:]}")
    return json.loads(out.strip().splitlines()[-1])


def run_one(task: dict, deadline: Deadline) -> dict:
    return finish(_start(task), task, deadline)


def run_workers(tasks: list[dict], deadline: Deadline) -> list[dict]:
    procs = [_start(t) for t in tasks]
    try:
        return [finish(p, t, deadline) for p, t in zip(procs, tasks)]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()


def describe_platforms(names, log) -> dict:
    """OpenMM version, loaded platforms, and for each of ``names`` whether it makes a context, and on what device."""
    import openmm as mm

    from systems.platforms import PlatformUnavailable, available_platforms, describe_context, select_platform

    out = {"openmm": mm.Platform.getOpenMMVersion(), "loaded": available_platforms(), "plugin_errors": [], "usable": {}}
    try:
        out["plugin_errors"] = list(mm.Platform.getPluginLoadFailures())
    except Exception:  # older OpenMM
        pass
    for name in names:
        try:
            platform, props = select_platform(name, precision="mixed")
        except PlatformUnavailable as exc:
            out["usable"][name] = {"ok": False, "reason": str(exc)}
            continue
        system = mm.System()
        system.addParticle(1.0)
        ctx = mm.Context(system, mm.VerletIntegrator(0.001), platform, props)
        info = describe_context(ctx)
        del ctx
        out["usable"][name] = {"ok": True, "device": _device(info), "properties": info["properties"]}
    log(f"OpenMM {out['openmm']}; platforms loaded: {', '.join(out['loaded'])}")
    for err in out["plugin_errors"]:
        log(f"  plugin not loaded: {err.strip()}")
    for name, u in out["usable"].items():
        log(f"  {name}: " + (f"device {u['device']}" if u["ok"] else f"not usable ({u['reason']})"))
    return out


def nvidia_smi() -> str:
    try:
        r = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return r.stdout.strip()


# ---------------------------------------------------------------------------------------------------- (1)
def time_system(name, files, plat, md, settings, deadline, host, log) -> tuple[list[dict], float]:
    """Bare and production rows of one system on one platform; also the seconds a worker takes to start."""
    every = round(md["frame_interval_ps"] * 1000.0 / md["timestep_fs"])
    threads = settings["threads"] if plat == "CPU" else None
    task = {**files, "md": md, "seed": 1, "label": f"gpu_check/{name}", "platform": plat, "threads": threads}
    base = {**host, "platform": plat, "system": name, "threads": threads or ""}
    if not deadline.allows(settings["startup_s"] + 4.0):
        log(f"{name} on {plat}: skipped, {deadline.left():.0f} s left")
        return [{**base, "measure": "skipped: out of time"}], settings["startup_s"]
    t0 = time.monotonic()
    cal = run_one({**task, "kind": "bare", "calibrate": True}, deadline)
    startup = max(0.0, time.monotonic() - t0 - 2.0)  # the calibration itself runs for about a second, twice at most
    steps = steps_for_benchmark(cal["seconds_per_step"], every, settings["seconds"], settings["steps"])
    common = {
        **base, "openmm": cal["context"]["openmm_version"], "device": _device(cal["context"]),
        "precision": _precision(cal["context"]), "steps": steps, "repeats": 1,
    }  # fmt: skip
    need = 2 * (startup + steps * cal["seconds_per_step"]) * 1.5
    if not deadline.allows(need):
        log(f"{name} on {plat}: skipped, {need:.0f} s needed and {deadline.left():.0f} s left")
        return [{**common, "measure": "skipped: out of time"}], startup
    b = run_one({**task, "kind": "bare", "steps": steps}, deadline)
    work = Path(settings["scratch"]) / f"{name}-{plat}-single"
    p = run_one({**task, "kind": "production", "steps": steps, "workdir": str(work)}, deadline)
    ms_b, ms_p = 1e3 * b["wall_s"] / steps, 1e3 * p["wall_s"] / steps
    common["atoms"] = b["atoms"]
    rows = [{**common, "measure": "bare", "replicas_at_once": 1, "ms_per_step": ms_b, "ns_per_day": ns_per_day(ms_b, md["timestep_fs"])}]
    rows.append(
        {
            **common, "measure": "production", "replicas_at_once": 1, "ms_per_step": ms_p, "ns_per_day": ns_per_day(ms_p, md["timestep_fs"]),
            "aggregate_ns_per_day": ns_per_day(ms_p, md["timestep_fs"]), "gain": 1.0,
            "overhead_pct": 100.0 * (p["wall_s"] / b["wall_s"] - 1.0), "frames": p["frames"], "peak_rss_mb": p["peak_rss_mb"],
        }
    )  # fmt: skip
    log(
        f"{name} on {plat} ({common['device']}, {b['atoms']} atoms, {steps} steps): bare {ms_b:.4f} ms/step = "
        f"{rows[0]['ns_per_day']:.1f} ns/day; production {ms_p:.4f} ms/step = {rows[1]['ns_per_day']:.1f} ns/day "
        f"({rows[1]['overhead_pct']:+.1f} %)"
    )
    return rows, startup


# ---------------------------------------------------------------------------------------------------- (3)
def aggregate_ns_per_day(results: list[dict], timestep_fs: float) -> tuple[float, float]:
    """All jobs' simulated time per wall-clock day over the span they ran, and that span (s).

    A job's MD loop started at ``ended_at - wall_s``; jobs that started late or ended early add no speed.
    """
    starts = [r["ended_at"] - r["wall_s"] for r in results]
    span = max(r["ended_at"] for r in results) - min(starts)
    ns = sum(r["steps"] for r in results) * timestep_fs * 1e-6
    return ns / span * 86400.0, span


def time_concurrent(systems: dict, single: dict, plat, md, k, settings, deadline, host, gain_guess, log) -> dict:
    """K production jobs at once on one device, spread over the systems in turn; one row."""
    names = list(systems)
    picks = [names[j % len(names)] for j in range(k)]
    alone_s = {n: single[n]["steps"] * single[n]["ms_per_step"] * 1e-3 for n in picks}
    expected = 2 * settings["startup_s"] + sum(alone_s.values()) / max(1.0, gain_guess)
    row = {
        **host, "openmm": single[picks[0]]["openmm"], "platform": plat, "device": single[picks[0]]["device"],
        "precision": single[picks[0]]["precision"], "system": f"{len(set(picks))} systems" if len(set(picks)) > 1 else picks[0],
        "replicas_at_once": k, "steps": sum(single[n]["steps"] for n in picks), "repeats": 1,
    }  # fmt: skip
    if not deadline.allows(expected * 1.5):
        log(f"{k} at once on {plat}: skipped, about {expected * 1.5:.0f} s needed and {deadline.left():.0f} s left")
        return {**row, "measure": "skipped: out of time"}
    threads = max(1, (settings["threads"] or 1) // k) if plat == "CPU" else None
    tasks = [
        {
            **systems[n], "md": md, "seed": 1 + j, "label": f"gpu_check/{n}/x{k}-{j}", "platform": plat, "threads": threads,
            "kind": "production", "steps": single[n]["steps"], "workdir": str(Path(settings["scratch"]) / f"{plat}-x{k}-{j}"),
        }
        for j, n in enumerate(picks)
    ]  # fmt: skip
    res = run_workers(tasks, deadline)
    per = [ns_per_day(1e3 * r["wall_s"] / r["steps"], md["timestep_fs"]) for r in res]
    agg, span = aggregate_ns_per_day(res, md["timestep_fs"])
    alone = float(np.mean([single[n]["ns_per_day"] for n in picks]))
    ms_k = float(np.median([1e3 * r["wall_s"] / r["steps"] for r in res]))
    log(
        f"{k} at once on {plat} ({', '.join(picks)}): {agg:.1f} ns/day in all over {span:.1f} s, jobs at "
        f"{min(per):.1f}-{max(per):.1f} ns/day ({agg / alone:.2f} x one job alone)"
    )
    return {
        **row, "measure": "concurrent", "threads": threads or "", "ms_per_step": ms_k, "ns_per_day": ns_per_day(ms_k, md["timestep_fs"]),
        "aggregate_ns_per_day": agg, "gain": agg / alone, "peak_rss_mb": max(r["peak_rss_mb"] for r in res),
        "slowest_ns_per_day": min(per), "per_job_ns_per_day": per, "span_s": span, "jobs": picks,
    }  # fmt: skip


# ---------------------------------------------------------------------------------------------------- (2)
def _md_command(run_dir: Path, md: dict, seed: int, threads) -> list[str]:
    cmd = [sys.executable, "-m", "systems.md", str(run_dir), "--md-config", json.dumps(md), "--seed", str(seed)]
    return cmd + (["--threads", str(threads)] if threads else [])


def _read_xtc(path: Path):
    from mdtraj.formats import XTCTrajectoryFile

    with XTCTrajectoryFile(str(path)) as fh:
        xyz, _, steps, _ = fh.read()
    return xyz, np.asarray(steps, dtype=np.int64)


def _committed_step(run_dir: Path) -> int:
    from systems.resume import PROGRESS

    try:
        return int(json.loads((run_dir / "md_work" / PROGRESS).read_text())["step"])
    except (OSError, ValueError, KeyError):  # not written yet, or being replaced
        return 0


def resume_check(systems: dict, plat, md, sps: dict, settings, deadline, log) -> list[dict]:
    """Every system at once: run, SIGTERM after the first checkpoint, resume; and an uninterrupted twin.

    ``sps`` is each system's seconds per step alone.
    """
    from systems.resume import EXIT_RESUME

    n_frames, ckpt_frames = settings["resume_frames"], settings["resume_checkpoint_frames"]
    slowest = max(sps.values())
    every = max(10, int(round(settings["resume_seconds"] / slowest / n_frames)))
    dt = md["timestep_fs"]
    md_run = dict(
        md, platform=plat, frame_interval_ps=every * dt / 1000.0, length_ps=n_frames * every * dt / 1000.0,
        checkpoint_interval_ps=ckpt_frames * every * dt / 1000.0, wall_budget_minutes=None,
    )  # fmt: skip
    threads = settings["threads"] if plat == "CPU" else None
    # 2 x len(systems) jobs at once, each of resume_seconds alone: as if one after another on a CPU, at once on a GPU
    expected = 1.5 * settings["resume_seconds"] * (2 * len(systems) if plat == "CPU" else 2) + 4 * settings["startup_s"]
    if not deadline.allows(expected):
        log(f"resume check on {plat}: skipped, about {expected:.0f} s needed and {deadline.left():.0f} s left")
        return [{"system": n, "platform": plat, "ok": "skipped: out of time"} for n in systems]
    log(f"resume check on {plat}: {n_frames} frames of {every} steps, checkpoint every {ckpt_frames} frames, all systems at once")
    base = Path(settings["out"]) / "resume"
    procs, logs = {}, []
    t0 = time.monotonic()

    def start(n, kind, d):
        fh = open(d / "md.log", "a")
        logs.append(fh)
        procs[n, kind] = subprocess.Popen(_md_command(d, md_run, 11, threads), stdout=fh, stderr=subprocess.STDOUT, env=worker_env())

    def wait(n, kind):
        proc = procs[n, kind]
        try:
            return proc.wait(timeout=max(1.0, deadline.left()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return KILLED

    dirs = {}
    for n, files in systems.items():
        for kind in ("interrupted", "uninterrupted"):
            d = dirs[n, kind] = base / n / kind
            shutil.rmtree(d, ignore_errors=True)
            d.mkdir(parents=True)
            for key, fname in (("system_xml", "system.xml"), ("pdb", "minimized.pdb")):
                shutil.copyfile(files[key], d / fname)
            start(n, kind, d)
    rows = {n: {"system": n, "platform": plat, "expected_frames": n_frames, "every_steps": every} for n in systems}
    pending = set(systems)
    while pending and deadline.left() > 0:  # SIGTERM each interrupted run once its first checkpoint is committed
        for n in sorted(pending):
            proc = procs[n, "interrupted"]
            if proc.poll() is not None:
                pending.discard(n)
            elif _committed_step(dirs[n, "interrupted"]) > 0:
                proc.send_signal(signal.SIGTERM)
                pending.discard(n)
        time.sleep(0.05)
    for n in systems:
        rows[n]["exit_first"] = wait(n, "interrupted")
        rows[n]["interrupted_at_step"] = _committed_step(dirs[n, "interrupted"])
    for n in systems:  # resume them all at once
        if rows[n]["exit_first"] == EXIT_RESUME:
            start(n, "resumed", dirs[n, "interrupted"])
    for n in systems:
        rows[n]["exit_second"] = wait(n, "resumed") if (n, "resumed") in procs else ""
        rows[n]["exit_uninterrupted"] = wait(n, "uninterrupted")
    for fh in logs:
        fh.close()
    for n in systems:
        r = rows[n]
        r["wall_s"] = time.monotonic() - t0
        if KILLED in (r["exit_first"], r["exit_second"], r["exit_uninterrupted"]):
            r.update(ok="out of time", message="a run was stopped at the deadline: no verdict")
        elif r["exit_first"] == 0:
            r.update(ok="not interrupted", message="the run finished before the SIGTERM arrived: nothing to resume (a longer --seconds checks it)")
        else:
            r.update(check_resumed(dirs[n, "interrupted"], dirs[n, "uninterrupted"], r, every, n_frames, EXIT_RESUME))
        log(
            f"  {n}: {r['ok'] if r['ok'] is not True else 'OK'}: SIGTERM at step {r['interrupted_at_step']}, resumed from "
            f"{r.get('resumed_from')}, {r.get('frames')} frames; largest difference from the uninterrupted run "
            f"{r.get('max_dev_nm_vs_uninterrupted', float('nan')):.4g} nm. {r['message']}"
        )
    return [rows[n] for n in systems]


def check_resumed(d_int: Path, d_ref: Path, r: dict, every: int, n_frames: int, exit_resume: int) -> dict:
    """Verdict on one interrupted-and-resumed run against its uninterrupted twin."""
    problems, out = [], {}
    if r["exit_first"] != exit_resume:
        problems.append(f"first attempt exited {r['exit_first']}, not {exit_resume} (stopped with a checkpoint)")
    if r["exit_second"] != 0:
        problems.append(f"resumed attempt exited {r['exit_second']}")
    if r["exit_uninterrupted"] != 0:
        problems.append(f"uninterrupted twin exited {r['exit_uninterrupted']}")
    try:
        prov = json.loads((d_int / "provenance.json").read_text())
        out["attempts"] = len(prov["attempts"])
        out["resumed_from"] = prov["attempts"][-1]["resumed_from"]
        if out["attempts"] < 2 or out["resumed_from"] == "start":
            problems.append(f"provenance shows {out['attempts']} attempt(s), the last from {out['resumed_from']}")
        xyz, steps = _read_xtc(d_int / "trajectory.xtc")
        out["frames"] = len(steps)
        if not np.array_equal(steps, every * np.arange(1, n_frames + 1)):
            problems.append(f"joined trajectory steps {steps[:4].tolist()}... are not every {every} steps, {n_frames} frames")
        ref, _ = _read_xtc(d_ref / "trajectory.xtc")
        if ref.shape != xyz.shape:
            problems.append(f"the uninterrupted twin has frames of shape {ref.shape}, the resumed run {xyz.shape}")
        else:
            out["max_dev_nm_vs_uninterrupted"] = float(np.abs(ref - xyz).max())
    except (OSError, KeyError, ValueError, IndexError) as exc:
        problems.append(f"outputs not readable: {exc}")
    out["ok"] = not problems
    out["message"] = "; ".join(problems) if problems else "stopped by SIGTERM, resumed, joined trajectory complete and contiguous"
    return out


# ---------------------------------------------------------------------------------------------------- driver
def load_cells(cells_dir: Path) -> tuple[dict, dict, int]:
    """The bundle's ``cells.json``: md settings, per system its system.xml, minimized.pdb and geometry.json, replicas."""
    index = json.loads((cells_dir / "cells.json").read_text())
    systems = {}
    for name in index["systems"]:
        d = cells_dir / name
        systems[name] = {"system_xml": str(d / "system.xml"), "pdb": str(d / "minimized.pdb"), "geometry": str(d / "geometry.json")}
        for f in systems[name].values():
            if not Path(f).is_file():
                raise FileNotFoundError(f"the bundle lacks {f}; make it again")
    return index["md"], systems, int(index.get("replicas", 3))


def verdict(rows: list[dict], md: dict, n_systems: int, replicas: int) -> list[str]:
    """Plain sentences against the speed targets, from the concurrent rows."""
    lines = []
    conc = [r for r in rows if r.get("measure") == "concurrent"]
    if conc:
        best = max(conc, key=lambda r: r["aggregate_ns_per_day"])
        ok = best["aggregate_ns_per_day"] >= TARGET_AGGREGATE_NS_PER_DAY
        lines.append(
            f"aggregate {best['aggregate_ns_per_day']:.0f} ns/day with {best['replicas_at_once']} jobs at once on {best['platform']}: "
            f"{'meets' if ok else 'misses'} the {TARGET_AGGREGATE_NS_PER_DAY:.0f} ns/day target"
        )
    full = [r for r in conc if r["replicas_at_once"] == n_systems * replicas]
    if full:
        r = full[0]
        minutes = md["length_ps"] / 1000.0 / r["slowest_ns_per_day"] * 24 * 60
        lines.append(
            f"the config's whole MD ({n_systems} systems x {replicas} replicas x {md['length_ps']} ps, all at once): about "
            f"{minutes:.0f} min from the slowest job's speed; target {TARGET_DEFAULT_MD_MINUTES:.0f} min: "
            f"{'met' if minutes <= TARGET_DEFAULT_MD_MINUTES else 'missed'}"
        )
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m systems.gpu_check", description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path, help="folder for the CSVs, summary and logs")
    ap.add_argument("--cells", type=Path, required=True, help="the bundle's cells/ folder")
    ap.add_argument("--budget-s", type=float, default=480.0, help="the whole check ends within this (s)")
    ap.add_argument("--started-at", type=float, default=None, help="epoch seconds the command started (time already used counts)")
    ap.add_argument("--platforms", default="gpu", help="comma-separated, or `gpu` (CUDA, then OpenCL, those that work)")
    ap.add_argument("--concurrent", default=None, help="numbers of production jobs run at once (default 1, 3 and systems x replicas)")
    ap.add_argument("--seconds", type=float, default=10.0, help="length of each timed run (s)")
    ap.add_argument("--threads", type=int, default=None, help="CPU threads (CPU platform only)")
    ap.add_argument("--tiny", action="store_true", help="CPU, a few steps each: the test suite's mode")
    args = ap.parse_args(argv)

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic() - (time.time() - args.started_at if args.started_at else 0.0)
    deadline = Deadline(args.budget_s, started_monotonic=started)
    log_fh = open(out / "gpu_check.log", "a", buffering=1)

    def log(text):
        line = f"[{time.strftime('%H:%M:%S')} +{time.monotonic() - deadline.start:5.0f} s] {text}"
        print(line, flush=True)
        log_fh.write(line + "\n")

    shutil.rmtree(out / "scratch", ignore_errors=True)  # a killed earlier check's runs must not be republished as new timings
    md, systems, replicas = load_cells(args.cells)
    md = dict(md, precision="mixed")
    settings = {
        "threads": args.threads, "seconds": args.seconds, "steps": None, "scratch": str(out / "scratch"), "out": str(out),
        "resume_frames": 12, "resume_checkpoint_frames": 4, "resume_seconds": 8.0, "startup_s": 5.0,
    }  # fmt: skip
    if args.tiny:
        settings.update(steps=1, threads=args.threads or 1, resume_frames=9, resume_checkpoint_frames=3, resume_seconds=4.0)
    requested = (["CPU"] if args.tiny else list(GPU_ORDER)) if args.platforms == "gpu" else [p.strip() for p in args.platforms.split(",")]
    ks = sorted({int(k) for k in args.concurrent.split(",")}) if args.concurrent else sorted({1, 3, len(systems) * replicas})
    host = {**machine(), "date": datetime.datetime.now().isoformat(timespec="seconds")}
    log(f"GPU check on {host['host']} ({host['cpu']}, {host['cores']} cores), budget {args.budget_s:.0f} s, {deadline.left():.0f} s left")
    smi = nvidia_smi()
    log(f"nvidia-smi: {smi or 'not found'}")
    plats = describe_platforms(requested, log)
    if args.platforms == "gpu" and "Portable Computing Language" in plats["usable"].get("OpenCL", {}).get("properties", {}).get("OpenCLPlatformName", ""):
        plats["usable"]["OpenCL"] = {"ok": False, "reason": "OpenCL here is PoCL on the CPU, not a GPU (name it with --platforms OpenCL to time it)"}
        log("  OpenCL: " + plats["usable"]["OpenCL"]["reason"])
    usable = [p for p in requested if plats["usable"][p]["ok"]]
    code_files = sorted({str(Path(m.__file__).resolve()) for k, m in list(sys.modules.items()) if k.startswith("systems") and getattr(m, "__file__", None)})
    summary = {"host": host, "nvidia_smi": smi, "platforms": plats, "requested": requested, "code_files": code_files, "budget_s": args.budget_s}
    rows, resume_rows = [], []

    def save():
        """Every result so far, rewritten after each measurement: a node that dies mid-way still leaves them."""
        write_csv(rows, out / "gpu_check.csv")
        with open(out / "resume_check.csv", "w") as fh:
            fh.write(",".join(RESUME_COLUMNS) + "\n")
            for r in resume_rows:
                fh.write(",".join(str(r.get(c, "")).replace(",", ";") for c in RESUME_COLUMNS) + "\n")
        measured = [r for r in rows if r.get("measure") in ("bare", "production", "concurrent")]
        summary.update(
            rows=rows, resume=resume_rows, verdict=verdict(measured, md, len(systems), replicas),
            skipped=[r for r in rows if str(r.get("measure", "")).startswith("skipped")]
            + [r for r in resume_rows if r.get("ok") in ("skipped: out of time", "out of time")],
            failed=[r for r in rows if str(r.get("measure", "")).startswith("failed")] + [r for r in resume_rows if r.get("ok") is False],
            elapsed_s=time.monotonic() - deadline.start,
        )  # fmt: skip
        (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
        text = [format_table(measured) if measured else "(no measurement)"] + summary["verdict"]
        for r in resume_rows:
            state = {True: "OK", False: "FAILED"}.get(r.get("ok"), r.get("ok"))
            text.append(f"resume check {r['system']}: {state} ({r.get('message', '')})")
        text += [f"failed: {r.get('system', '')} {r.get('platform', '')} {r['measure'] if 'measure' in r else r.get('message')}" for r in summary["failed"]]
        text.append(f"skipped for lack of time: {len(summary['skipped'])}; elapsed {summary['elapsed_s']:.0f} s of {args.budget_s:.0f} s")
        (out / "summary.txt").write_text("\n".join(text) + "\n")
        return text

    def attempt(what, fn, failed_row):
        """Run one measurement; a deadline or a failure becomes a row, and the check goes on."""
        try:
            return fn()
        except OutOfTime as exc:
            log(str(exc))
            return [{**failed_row, "measure": "skipped: out of time"}]
        except Exception as exc:  # a crashed worker, a plugin failing on one system: record it, go on
            log(f"{what} failed: {exc}")
            return [{**failed_row, "measure": f"failed: {str(exc)[:300]}"}]

    save()
    if not usable:
        log("no requested platform can make a context here: nothing to time")
    for i, plat in enumerate(usable):
        single = {}
        for name, files in systems.items():

            def one(name=name, files=files):
                got, startup = time_system(name, files, plat, md, settings, deadline, host, log)
                settings["startup_s"] = max(settings["startup_s"], startup)
                return got

            got = attempt(f"{name} on {plat}", one, {**host, "platform": plat, "system": name})
            rows.extend(got)
            save()
            single.update({name: r for r in got if r["measure"] == "production"})
        if i > 0 or not single:
            continue  # the resume check and concurrency on the first platform only
        timed = {n: systems[n] for n in single}
        sps = {n: r["ms_per_step"] * 1e-3 for n, r in single.items()}
        try:
            resume_rows.extend(resume_check(timed, plat, md, sps, settings, deadline, log))
        except Exception as exc:
            log(f"resume check failed: {exc}")
            resume_rows.extend({"system": n, "platform": plat, "ok": False, "message": f"the check itself failed: {exc}"} for n in timed)
        save()
        gain = 1.0
        for k in ks:
            if k == 1:
                continue  # the production rows above
            got = attempt(
                f"{k} at once on {plat}",
                lambda k=k: [time_concurrent(timed, single, plat, md, k, settings, deadline, host, gain, log)],
                {**host, "platform": plat, "replicas_at_once": k},
            )
            rows.extend(got)
            save()
            gain = max([gain] + [r["gain"] for r in got if r.get("measure") == "concurrent"])
    for line in save():
        log(line)
    shutil.rmtree(out / "scratch", ignore_errors=True)
    return 1 if summary["failed"] or not usable else 0


if __name__ == "__main__":
    raise SystemExit(main())
