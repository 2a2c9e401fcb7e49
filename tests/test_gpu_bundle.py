"""The GPU bundle: packed by the workflow, its check run from the bundle folder in tiny CPU mode (so it never rots),
its size limit and budget kept, wheels asked for the node rather than this machine; and the warning a user gets
before a long MD starts without a GPU.

No timing is asserted beyond the check's own budget: numbers must exist, be finite and agree with each other.
"""

import csv
import hashlib
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import openmm as mm
import pytest

from systems.gpu_bundle import BundleTooLarge, make_bundle, manylinux_tags, pip_download_command, wheel_requirements

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "tests/configs/tiny.yaml"
SYSTEMS = ("bare_li", "nh2_mil101_fe")


def snakemake(cwd, *args, timeout=900):
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--cores", "2", *args],
        cwd=cwd, capture_output=True, text=True, encoding="utf-8", timeout=timeout,
    )  # fmt: skip


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """The tiny config's r0 cells and GPU bundle, made by `snakemake gpu_bundle` (tiny.yaml: wheels none)."""
    d = tmp_path_factory.mktemp("gpu_bundle")
    r = snakemake(d, "gpu_bundle", "--configfile", str(TINY))  # --configfile takes every name after it
    assert r.returncode == 0, r.stderr[-4000:]
    assert "GPU bundle in results/gpu_bundle" in r.stderr  # the size and what to do next reach the terminal
    return d


def run_bundle(bundle: Path, out: Path, *args, timeout=600):
    env = dict(os.environ, PYTHON=sys.executable)
    return subprocess.run(["bash", str(bundle / "run.sh"), str(out), *args], capture_output=True, text=True, env=env, timeout=timeout)


def test_the_bundle_holds_the_built_cells_code_and_a_manifest_that_matches(work):
    bundle = work / "results/gpu_bundle"
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["systems"] == list(SYSTEMS) and manifest["openmm"] == mm.__version__
    assert manifest["wheels"] == "none" and manifest["requirements"] == []
    for f in manifest["files"]:  # every file listed with its true size and hash
        data = (bundle / f["path"]).read_bytes()
        assert len(data) == f["bytes"] and hashlib.sha256(data).hexdigest() == f["sha256"]
    assert manifest["total_bytes"] == sum(f["bytes"] for f in manifest["files"]) < 64 * 2**20
    for s in SYSTEMS:  # the workflow's own r0 cells, byte for byte
        for name in ("system.xml", "minimized.pdb", "geometry.json"):
            assert (bundle / "cells" / s / name).read_bytes() == (work / "results" / s / "r0" / name).read_bytes()
    cells = json.loads((bundle / "cells/cells.json").read_text())
    assert cells["replicas"] == 2 and cells["md"]["timestep_fs"] == 1.0
    assert not (work / "results/gpu_bundle.part").exists()


def test_the_tiny_check_runs_from_the_bundle_times_every_system_and_resumes_after_sigterm(work, tmp_path):
    bundle = work / "results/gpu_bundle"
    out = tmp_path / "out"
    r = run_bundle(bundle, out, "--tiny", "--minutes", "6")
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert "no wheels in this bundle" in r.stdout and "OpenMM " + mm.__version__ in r.stdout
    summary = json.loads((out / "summary.json").read_text())
    # the check ran on the bundle's own copy of the code, not on this checkout
    assert summary["code_files"] and all(Path(f).is_relative_to(bundle.resolve() / "code") for f in summary["code_files"])
    assert summary["platforms"]["usable"]["CPU"]["ok"] and summary["skipped"] == []
    rows = list(csv.DictReader(open(out / "gpu_check.csv")))
    by = {(row["system"], row["measure"], row["replicas_at_once"]): row for row in rows}
    for s in SYSTEMS:
        bare, prod = by[(s, "bare", "1")], by[(s, "production", "1")]
        for row in (bare, prod):
            ms = float(row["ms_per_step"])
            assert row["platform"] == "CPU" and row["openmm"] == mm.__version__ and ms > 0 and math.isfinite(ms)
            assert float(row["ns_per_day"]) == pytest.approx(1e-6 / (ms * 1e-3) * 86400.0, rel=1e-4)  # 1 fs
        assert int(prod["frames"]) == int(prod["steps"]) // 20  # a frame every 0.02 ps in tiny.yaml
    conc = by[("2 systems", "concurrent", "3")]  # three jobs at once, spread over the two systems
    assert float(conc["aggregate_ns_per_day"]) > float(conc["ns_per_day"]) > 0
    resume = {row["system"]: row for row in csv.DictReader(open(out / "resume_check.csv"))}
    assert set(resume) == set(SYSTEMS)
    for s, row in resume.items():
        assert row["ok"] == "True", row["message"]
        assert row["exit_first"] == "75" and row["exit_second"] == "0"  # stopped with a checkpoint, then completed
        assert row["resumed_from"] == "checkpoint" and int(row["attempts"]) == 2
        assert int(row["frames"]) == int(row["expected_frames"]) == 9
        assert 0 < int(row["interrupted_at_step"]) < 9 * int(row["every_steps"])
        # CPU platform, one thread: the resumed run is the uninterrupted one, frame for frame
        assert float(row["max_dev_nm_vs_uninterrupted"]) == 0.0
        prov = json.loads((out / "resume" / s / "interrupted" / "provenance.json").read_text())
        assert prov["attempts"][0]["stopped_by"] == "signal SIGTERM"
    text = (out / "summary.txt").read_text()
    assert "resume check bare_li: OK" in text and "misses the 1500 ns/day target" in text
    assert not (out / "scratch").exists()


def test_the_check_keeps_its_budget_and_lists_what_it_skipped(work, tmp_path):
    out = tmp_path / "out"
    budget = 24.0  # 15 s of it is the margin for writing results: too little for everything
    t0 = time.monotonic()
    r = subprocess.run(
        [sys.executable, "-m", "systems.gpu_check", str(out), "--cells", str(work / "results/gpu_bundle/cells"), "--tiny", "--budget-s", str(budget)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    wall = time.monotonic() - t0
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["skipped"], "a 24 s budget cannot hold every measurement of two systems and the resume check"
    assert wall < budget + 10.0  # the deadline holds, give or take process exit
    assert "skipped for lack of time" in (out / "summary.txt").read_text()


def test_the_size_limit_refuses_the_bundle_naming_its_largest_files(work, tmp_path):
    cells = {
        s: {k: str(work / "results" / s / "r0" / f) for k, f in (("system_xml", "system.xml"), ("pdb", "minimized.pdb"), ("geometry", "geometry.json"))}
        for s in SYSTEMS
    }  # fmt: skip
    settings = {"wheels": "none", "python_version": "3.12", "cuda": "13", "glibc": "2.34", "arch": "x86_64", "limit_mib": 0.05}
    with pytest.raises(BundleTooLarge, match=r"over its limit of 0.05 MiB.*system\.xml"):
        make_bundle(tmp_path / "bundle", cells, {"timestep_fs": 1.0}, settings, log=lambda s: None)
    assert not (tmp_path / "bundle").exists() and not (tmp_path / "bundle.part").exists()  # nothing half made
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "example-1.0-py3-none-any.whl").write_bytes(b"PK")  # a folder of wheels fetched elsewhere is copied
    manifest = make_bundle(tmp_path / "bundle", cells, {"timestep_fs": 1.0}, dict(settings, wheels=str(wheels), limit_mib=64), log=lambda s: None)
    assert "wheels/example-1.0-py3-none-any.whl" in {f["path"] for f in manifest["files"]}


def test_wheels_are_asked_for_the_nodes_python_cuda_and_glibc():
    reqs = wheel_requirements("13", "8.6.1", "1.11.1")
    assert reqs[:3] == ["openmm==8.6.1", "openmm-cuda-13==8.6.1", "mdtraj==1.11.1"]
    cmd = pip_download_command(reqs, "/tmp/w", "3.12", "2.34")
    assert cmd[1:4] == ["-m", "pip", "download"] and "--no-deps" in cmd and "--only-binary=:all:" in cmd
    assert cmd[cmd.index("--python-version") + 1] == "3.12" and cmd[cmd.index("--implementation") + 1] == "cp"
    platforms = [cmd[i + 1] for i, a in enumerate(cmd) if a == "--platform"]
    # mdtraj ships manylinux_2_28 wheels, OpenMM manylinux_2_34: both must be accepted, and nothing newer
    assert platforms[0] == "manylinux_2_34_x86_64" and "manylinux_2_28_x86_64" in platforms and platforms[-1] == "manylinux2014_x86_64"
    assert manylinux_tags("2.17", "aarch64") == ["manylinux_2_17_aarch64", "manylinux2014_aarch64"]
    with pytest.raises(ValueError, match="openmm-cuda-12 and openmm-cuda-13"):
        wheel_requirements("11", "8.6.1", "1.11.1")
    with pytest.raises(ValueError, match="glibc 2.17 or newer"):
        manylinux_tags("2.5", "x86_64")


def test_a_long_md_without_a_gpu_is_announced_with_the_faster_choices(work, tmp_path):
    """What a user on a laptop sees: the estimate before the MD says how long, and what else to do."""
    long = tmp_path / "long.yaml"
    long.write_text("md:\n  length_ps: 3000.0\n  frame_interval_ps: 5.0\n  checkpoint_interval_ps: 100.0\n")
    r = snakemake(work, "results/runtime_estimate.json", "--configfile", str(TINY), str(long))
    assert r.returncode == 0, r.stderr[-4000:]
    for where in (r.stderr, (work / "logs/estimate_runtime/all.log").read_text()):
        assert "WARNING: no GPU found" in where
        for choice in ("config/demo.yaml", "config/cpu.yaml", "workflow/profiles/slurm", "gpu_bundle"):
            assert choice in where
    est = json.loads((work / "results/runtime_estimate.json").read_text())
    assert est["platform"] == "CPU" and est["total_seconds"] > 4 * 3600 and est["warning"]


def test_no_warning_for_a_gpu_or_a_short_run():
    from systems.estimate import long_run_warning

    assert long_run_warning("CUDA", 1e7, 4.0) is None
    assert long_run_warning("OpenCL", 1e7, 4.0) is None
    assert long_run_warning("CPU", 3.9 * 3600, 4.0) is None
    assert "about 70 hours (70:15:36" in long_run_warning("CPU", 70 * 3600 + 15 * 60 + 36, 4.0)
