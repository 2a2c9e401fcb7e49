"""A real single-node SLURM (tests/slurm/cluster.sh): the workflow through ``--executor slurm``.

The cluster has two fake GPUs (character devices; OpenMM still runs on the CPU), accounting (slurmdbd, so sacct
shows each job's resources) and a 'debug' partition. It needs root and Debian's slurm packages (.ci/run installs
them); without them the tests skip with the reason. Every snakemake call has a timeout: the failures we guard
against are hangs.
"""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from mdtraj.formats import XTCTrajectoryFile

ROOT = Path(__file__).resolve().parent.parent
CLUSTER = ROOT / "tests/slurm/cluster.sh"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("a local SLURM needs root to start its daemons")
    state = Path("/tmp") / f"slurm-local-{os.getpid()}"  # short: the munge socket path has a length limit
    env = dict(os.environ, SLURM_LOCAL_DIR=str(state), SLURM_LOCAL_TIMEOUT="90")
    r = subprocess.run(["bash", str(CLUSTER), "start"], env=env, capture_output=True, text=True, timeout=300)
    if r.returncode in (3, 4):
        pytest.skip(f"no local SLURM: {(r.stdout + r.stderr).strip()[-300:]}")
    if r.returncode != 0:
        subprocess.run(["bash", str(CLUSTER), "clean"], env=env, capture_output=True, timeout=120)
        pytest.skip(f"the local SLURM did not start (exit {r.returncode}): {(r.stdout + r.stderr).strip()[-800:]}")
    try:
        yield env
    finally:
        subprocess.run(["scancel", "--quiet", "--user", "root"], capture_output=True, timeout=30)
        subprocess.run(["bash", str(CLUSTER), "clean"], env=env, capture_output=True, timeout=120)


def _snakemake(args, env):
    env = dict(env, PYTHONUNBUFFERED="1", PYTHONIOENCODING="utf-8", TFSI_SLURM_GPU_PARTITION="debug", TFSI_SLURM_CPU_PARTITION="debug")
    env = {k: v for k, v in env.items() if not k.startswith("TFSI_MD_FAULT")}
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--workflow-profile", str(ROOT / "workflow/profiles/slurm")]
    # status every 2 s (the plugin waits 10 s between rounds by default): a chain of ten jobs is otherwise mostly waiting
    cmd += ["--jobs", "4", "--latency-wait", "5", "--slurm-init-seconds-before-status-checks", "2", "--seconds-between-status-checks", "2"] + args
    return cmd, env


def run_snakemake(args, cwd, env, timeout):
    cmd, env = _snakemake(args, env)
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, encoding="utf-8", errors="replace", timeout=timeout)


def sacct_rows(since):
    """Every job since ``since`` as dicts: rule (from the plugin's --comment), state, time limit, GPUs."""
    out = subprocess.run(
        ["sacct", "-X", "-P", "-n", "-a", "-S", since, "-o", "JobID,Comment%200,State,Timelimit,AllocTRES%200"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    rows = []
    for line in out.splitlines():
        job, comment, state, limit, tres = line.split("|")
        m = re.match(r"^rule_(.+?)(?:_wildcards_(.*))?$", comment)
        if m:
            rows.append(dict(job=int(job), rule=m.group(1), wildcards=m.group(2), state=state, limit=limit, gpus="gres/gpu=1" in tres, tres=tres))
    return rows


def _since():
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(time.time() - 2))


def test_tiny_workflow_through_slurm_gpu_on_md_only(slurm, tmp_path):
    """The cells are built locally (seconds of work; through SLURM four more levels of queueing, about a minute), the
    rest goes through sbatch: the runtime estimate and the MD with a GPU, the analysis without, figures local."""
    cfg = yaml.safe_load((ROOT / "tests/configs/tiny.yaml").read_text())
    cfg["systems"] = {"bare_li": cfg["systems"]["bare_li"]}  # one system, two replicas
    (tmp_path / "one.yaml").write_text(yaml.safe_dump(cfg))
    local = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--configfile", "one.yaml", "--cores", "2", "results/bare_li/r0/minimized.pdb", "results/bare_li/r1/minimized.pdb"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert local.returncode == 0, local.stderr[-3000:]
    since = _since()
    r = run_snakemake(["--configfile", "one.yaml"], tmp_path, slurm, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    for name in ("summary.csv", "comparison.md", "sensitivity.csv", "figures/rdf_cn.png"):
        assert (tmp_path / "results" / name).exists(), name
    rows = sacct_rows(since)
    by_rule = {}
    for row in rows:
        by_rule.setdefault(row["rule"], []).append(row)
    assert len(by_rule["run_nvt"]) == 2 and len(by_rule["compute_rdf"]) == 2 and "summarize" in by_rule, sorted(by_rule)
    assert not {"pack_electrolyte", "plot_rdf"} & set(by_rule)  # built locally before; figures are localrules
    for row in rows:
        assert row["state"] == "COMPLETED", row
        wants_gpu = row["rule"] in ("run_nvt", "estimate_runtime")
        assert row["gpus"] == wants_gpu, row  # sbatch --gpus on the MD rule, no GPU on build and analysis
    assert {row["limit"] for row in by_rule["run_nvt"]} == {"04:00:00"}  # the profile's runtime, attempt 1
    assert {row["limit"] for row in by_rule["compute_rdf"]} == {"01:00:00"}


def _steps(path):
    with XTCTrajectoryFile(str(path)) as fh:
        _, _, steps, _ = fh.read()
    return list(np.asarray(steps))


def _committed_step(run_dir):
    """The step of the run's last commit (0 until its first checkpoint; the record exists from the start)."""
    try:
        return json.loads((run_dir / "md_work/progress.json").read_text())["step"]
    except (OSError, ValueError):
        return 0


def test_time_limit_and_scancel_are_retried_and_resume(slurm, tmp_path):
    """r0 runs past a 1-minute limit (SIGTERM from SLURM); r1 is scancel'ed. Both retry, resume and finish."""
    cfg = yaml.safe_load((ROOT / "tests/configs/tiny.yaml").read_text())
    cfg["systems"] = {"bare_li": cfg["systems"]["bare_li"]}
    cfg["md"].update(frame_interval_ps=0.5, checkpoint_interval_ps=2.0, length_ps=2.0)
    (tmp_path / "long.yaml").write_text(yaml.safe_dump(cfg))
    local = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--configfile", "long.yaml", "--cores", "2", "results/bare_li/r0/minimized.pdb", "results/bare_li/r1/minimized.pdb"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip  (the build runs locally; this test is about the MD jobs)
    assert local.returncode == 0, local.stderr[-3000:]
    # The MD must outlast the first attempt's 1-minute limit, which SLURM enforces 60-90 s after the start (it
    # checks every 30 s), and not by much (the test's cost). Time 4 ps here, then make it about 180 s of MD at
    # that speed: the job under SLURM has run up to 1.7x faster than this probe (62 against 37 ns/day in CI).
    probe = tmp_path / "probe"
    probe.mkdir()
    for name in ("system.xml", "minimized.pdb"):
        (probe / name).write_bytes((tmp_path / "results/bare_li/r0" / name).read_bytes())
    md = dict(cfg["md"], length_ps=4.0, precision="mixed", temperature_k=298.0, timestep_fs=1.0, friction_per_ps=1.0)
    r = subprocess.run([sys.executable, "-m", "systems.md", str(probe), "--md-config", json.dumps(md), "--seed", "1", "--threads", "1"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    ns_per_day = json.loads((probe / "provenance.json").read_text())["ns_per_day"]
    reporter = (probe / "state_log.csv").read_text().strip().splitlines()[-1].split(",")[-1]  # speed without the setup
    ns_per_day = max(ns_per_day, float(reporter))
    length_ps = max(20.0, round(ns_per_day * 1000 / 86400 * 180 / 2.0) * 2.0)  # whole checkpoints
    cfg["md"]["length_ps"] = length_ps
    (tmp_path / "long.yaml").write_text(yaml.safe_dump(cfg))
    n_steps = int(round(length_ps * 1000))
    since = _since()
    targets = ["results/bare_li/r0/trajectory.xtc", "results/bare_li/r1/trajectory.xtc"]
    # minutes: 1 on the first attempt, 10 on a retry (the profile scales its runtime with the attempt the same way)
    cmd, env = _snakemake(targets + ["--configfile", "long.yaml", "--set-resources", "run_nvt:runtime=1 if attempt == 1 else 10"], slurm)
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        # cancel r1 once it runs and has its first checkpoint
        r1_job, deadline = None, time.time() + 180
        while time.time() < deadline and r1_job is None:
            q = subprocess.run(["squeue", "-h", "-o", "%i|%k|%T"], capture_output=True, text=True, timeout=30).stdout
            for line in q.splitlines():
                job, comment, state = line.split("|")
                if comment.endswith("wildcards_bare_li_r1") and state == "RUNNING" and _committed_step(tmp_path / "results/bare_li/r1") > 0:
                    r1_job = job
            time.sleep(0.5)
        assert r1_job, "the r1 MD job never got to its first checkpoint"
        subprocess.run(["scancel", r1_job], check=True, timeout=30)
        out, _ = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, out[-4000:]
    for rep in ("r0", "r1"):
        run = tmp_path / "results/bare_li" / rep
        assert _steps(run / "trajectory.xtc") == list(range(500, n_steps + 1, 500)), rep  # contiguous, no duplicates
        attempts = json.loads((run / "provenance.json").read_text())["attempts"]
        assert attempts[0]["stopped_by"] == "signal SIGTERM", (rep, attempts)
        assert attempts[-1]["resumed_from"] == "checkpoint" and attempts[-1]["start_step"] == attempts[0]["end_step"]
        assert all(a["slurm_job_id"] for a in attempts)
    jobs = {}
    for row in sacct_rows(since):
        if row["rule"] == "run_nvt":
            jobs.setdefault(row["wildcards"], []).append(row)
    r0, r1 = (sorted(jobs[f"bare_li_{rep}"], key=lambda r: r["job"]) for rep in ("r0", "r1"))
    assert [(r["state"], r["limit"]) for r in r0] == [("TIMEOUT", "00:01:00"), ("COMPLETED", "00:10:00")]
    assert r1[0]["state"].startswith("CANCELLED") and r1[-1]["state"] == "COMPLETED"
    assert all(r["gpus"] for r in r0 + r1)
