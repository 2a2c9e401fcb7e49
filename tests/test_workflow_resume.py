"""Through Snakemake: an MD job killed with SIGKILL is retried (workstation profile) or rerun, and resumes.

One system (bare Li), one replica of the tiny config: 200 steps, a frame every 20, a checkpoint every 60.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from mdtraj.formats import XTCTrajectoryFile

ROOT = Path(__file__).resolve().parent.parent
TARGET = "results/bare_li/r0/trajectory.xtc"


def _config(tmp_path):
    cfg = yaml.safe_load((ROOT / "tests/configs/tiny.yaml").read_text())
    cfg["systems"] = {"bare_li": cfg["systems"]["bare_li"]}
    cfg["replicas"] = 1
    path = tmp_path / "one.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _snakemake(args, cwd, fault=None, timeout=300):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TFSI_MD_FAULT")}
    env.update(PYTHONUNBUFFERED="1", PYTHONIOENCODING="utf-8")
    if fault:
        env.update(TFSI_MD_FAULT=fault, TFSI_MD_FAULT_ONCE=str(cwd / "fault.fired"))
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile")] + args
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, encoding="utf-8", errors="replace", timeout=timeout)


def _steps(path):
    with XTCTrajectoryFile(str(path)) as fh:
        _, _, steps, _ = fh.read()
    return list(np.asarray(steps))


@pytest.mark.slow
def test_killed_md_job_is_retried_by_the_default_profile_and_resumes(tmp_path):
    cfg = _config(tmp_path)
    profile = ["--workflow-profile", str(ROOT / "workflow/profiles/default"), "--cores", "2"]
    r = _snakemake(profile + [TARGET, "--configfile", str(cfg)], tmp_path, fault="kill_after_step=130")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert (tmp_path / "fault.fired").exists()  # the first attempt really was killed
    log = (tmp_path / "logs/run_nvt/bare_li_r0.log").read_text()
    assert log.count("bare_li/r0: job started") == 1  # Snakemake removes a failed attempt's log
    assert "resuming at step 120/200 from the checkpoint" in log
    assert _steps(tmp_path / TARGET) == list(range(20, 201, 20))
    assert not (tmp_path / "results/bare_li/r0/md_work/lock").exists()
    attempts = json.loads((tmp_path / "results/bare_li/r0/provenance.json").read_text())["attempts"]
    assert [(a["start_step"], a["end_step"], a["resumed_from"]) for a in attempts] == [(0, 120, "start"), (120, 200, "checkpoint")]


@pytest.mark.slow
def test_rerun_after_a_killed_job_resumes_and_outputs_are_never_half_written(tmp_path):
    cfg = _config(tmp_path)
    args = [TARGET, "--cores", "2", "--configfile", str(cfg)]
    r = _snakemake(args, tmp_path, fault="kill_in_frame_write=8")  # no retries: the call fails
    assert r.returncode != 0
    run = tmp_path / "results/bare_li/r0"
    for name in ("trajectory.xtc", "state_log.csv", "provenance.json", "final_state.xml"):
        assert not (run / name).exists(), name
    # Snakemake removed the failed job's outputs, not its work folder, which still holds the checkpoint of step 120
    assert json.loads((run / "md_work/progress.json").read_text())["step"] == 120
    r = _snakemake(["--rerun-incomplete"] + args, tmp_path)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "resuming at step 120/200 from the checkpoint" in (tmp_path / "logs/run_nvt/bare_li_r0.log").read_text()
    assert _steps(tmp_path / TARGET) == list(range(20, 201, 20))


@pytest.mark.slow
@pytest.mark.parametrize("published", [0, 2])
def test_a_job_killed_while_finishing_is_completed_by_the_rerun_without_redoing_the_md(tmp_path, published):
    """SIGKILL after the finished record, with none or two of the four outputs in place: Snakemake counts the job
    incomplete and deletes its outputs; `--rerun-incomplete` publishes them again from md_work in a second."""
    cfg = _config(tmp_path)
    args = [TARGET, "--cores", "2", "--configfile", str(cfg)]
    r = _snakemake(args, tmp_path, fault=f"kill_in_finish={published}")
    assert r.returncode != 0 and (tmp_path / "fault.fired").exists()
    r = _snakemake(["--rerun-incomplete"] + args, tmp_path)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    log = (tmp_path / "logs/run_nvt/bare_li_r0.log").read_text()
    assert "outputs were published again" in log and "resuming" not in log and "NVT" not in log
    assert _steps(tmp_path / TARGET) == list(range(20, 201, 20))
    attempts = json.loads((tmp_path / "results/bare_li/r0/provenance.json").read_text())["attempts"]
    assert [(a["start_step"], a["end_step"]) for a in attempts] == [(0, 200)]  # one attempt did all the MD
