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
import shutil
import subprocess
import sys
import time
from pathlib import Path

import openmm as mm
import numpy as np
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
    conc = {r["replicas_at_once"]: r for r in summary["rows"] if r["measure"] == "concurrent"}
    assert sorted(conc) == [3, 4]  # K = 3, and K = 2 systems x 2 replicas: the config's whole MD at once
    for k, row in conc.items():
        assert row["jobs"] == [SYSTEMS[j % 2] for j in range(k)]  # spread over the systems in turn
        # all steps over the span the jobs ran: never more than the sum of the jobs' own rates
        ns = row["steps"] * 1e-6  # 1 fs steps
        assert row["aggregate_ns_per_day"] == pytest.approx(ns / row["span_s"] * 86400.0, rel=1e-9)
        assert row["aggregate_ns_per_day"] <= sum(row["per_job_ns_per_day"]) * (1 + 1e-9)
        alone = np.mean([float(by[(n, "production", "1")]["ns_per_day"]) for n in row["jobs"]])
        assert row["gain"] == pytest.approx(row["aggregate_ns_per_day"] / alone, rel=1e-4)  # the CSV keeps 6 digits
        assert row["slowest_ns_per_day"] == min(row["per_job_ns_per_day"])
    assert any("the config's whole MD (2 systems x 2 replicas" in line for line in summary["verdict"])
    resume = {row["system"]: row for row in csv.DictReader(open(out / "resume_check.csv"))}
    assert set(resume) == set(SYSTEMS)
    for s, row in resume.items():
        assert row["ok"] == "True", row["message"]
        assert row["exit_first"] == "75" and row["exit_second"] == "0"  # stopped with a checkpoint, then completed
        assert row["resumed_from"] == "checkpoint" and int(row["attempts"]) == 2
        assert int(row["frames"]) == int(row["expected_frames"]) == 9
        assert 0 < int(row["interrupted_at_step"]) < 9 * int(row["every_steps"])
        # CPU platform, one thread: the resumed run is the uninterrupted one to XTC precision. Seen: 0, or one
        # coordinate of one frame a single 0.001 nm quantum off (a value on a rounding edge); zeroed velocities or
        # a wrong start would put atoms ~0.1 nm apart within these few hundred steps
        assert float(row["max_dev_nm_vs_uninterrupted"]) <= 0.0011
        prov = json.loads((out / "resume" / s / "interrupted" / "provenance.json").read_text())
        assert prov["attempts"][0]["stopped_by"] == "signal SIGTERM"
    text = (out / "summary.txt").read_text()
    assert "resume check bare_li: OK" in text and "misses the 1500 ns/day target" in text
    assert not (out / "scratch").exists()


def gpu_check(cells, out, *args):
    return subprocess.run(
        [sys.executable, "-m", "systems.gpu_check", str(out), "--cells", str(cells), "--tiny", *args], capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize("budget", [16.0, 24.0])
def test_the_check_keeps_its_budget_and_lists_what_it_skipped(work, tmp_path, budget):
    """15 s of the budget is the margin for writing results: 1 s leaves no measurement, 9 s stops one mid-way."""
    out = tmp_path / "out"
    t0 = time.monotonic()
    r = gpu_check(work / "results/gpu_bundle/cells", out, "--budget-s", str(budget))
    wall = time.monotonic() - t0
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["skipped"] and not summary["failed"]
    assert wall < budget + 10.0  # the deadline holds, give or take process exit
    assert "skipped for lack of time" in (out / "summary.txt").read_text()
    assert (out / "gpu_check.csv").read_text().startswith("date,")


def test_a_system_that_fails_is_recorded_and_the_others_are_still_measured(work, tmp_path):
    cells = tmp_path / "cells"
    shutil.copytree(work / "results/gpu_bundle/cells", cells)
    xml = cells / "nh2_mil101_fe/system.xml"
    xml.write_text(xml.read_text()[:5000])  # a cell cut short on its way to the node
    out = tmp_path / "out"
    r = gpu_check(cells, out, "--budget-s", "300", "--concurrent", "1")
    assert r.returncode == 1, r.stdout[-3000:] + r.stderr[-2000:]  # something failed: said by the exit status too
    rows = list(csv.DictReader(open(out / "gpu_check.csv")))
    assert [r["measure"] for r in rows if r["system"] == "bare_li"] == ["bare", "production"]
    bad = [r["measure"] for r in rows if r["system"] == "nh2_mil101_fe"]
    assert len(bad) == 1 and bad[0].startswith("failed: worker bare (gpu_check/nh2_mil101_fe) failed")
    resume = list(csv.DictReader(open(out / "resume_check.csv")))
    assert [(r["system"], r["ok"]) for r in resume] == [("bare_li", "True")]  # checked on what could be timed
    assert "failed: nh2_mil101_fe CPU" in (out / "summary.txt").read_text()


def _wheel(folder: Path) -> Path:
    """A real, minimal wheel (a module and its dist-info), as `pip download` would bring."""
    import base64
    import zipfile

    files = {
        "tfsi_probe_pkg/__init__.py": b"VALUE = 42\n",
        "tfsi_probe_pkg-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: tfsi-probe-pkg\nVersion: 1.0\n",
        "tfsi_probe_pkg-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(
        f"{name},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}\n" for name, data in files.items()
    ) + "tfsi_probe_pkg-1.0.dist-info/RECORD,,\n"
    path = folder / "tfsi_probe_pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
        z.writestr("tfsi_probe_pkg-1.0.dist-info/RECORD", record)
    return path


def test_run_sh_installs_the_wheels_once_into_a_folder_of_its_own(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _wheel(wheels)
    settings = {"wheels": str(wheels), "python_version": "3.12", "cuda": "13", "glibc": "2.34", "arch": "x86_64", "limit_mib": 64}
    bundle = tmp_path / "bundle"
    make_bundle(bundle, {}, {"timestep_fs": 1.0}, settings, log=lambda s: None)  # no cell: only the install path runs
    r = run_bundle(bundle, tmp_path / "out1", "--minutes", "0.5")
    assert r.returncode == 1, r.stdout + r.stderr  # no GPU platform here: nothing to time, said by the exit status
    assert "installing 1 wheels into " + str(bundle / "site") in r.stdout
    probe = subprocess.run([sys.executable, "-c", "import tfsi_probe_pkg; print(tfsi_probe_pkg.VALUE)"], env=dict(os.environ, PYTHONPATH=str(bundle / "site")), capture_output=True, text=True)
    assert probe.stdout.strip() == "42"
    assert "budget 30 s" in (tmp_path / "out1/gpu_check.log").read_text()  # --minutes 0.5
    r = run_bundle(bundle, tmp_path / "out2")
    assert "installing" not in r.stdout  # installed once, for this manifest
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    r = subprocess.run(["bash", str(bundle / "run.sh"), str(tmp_path / "out3")], env=dict(os.environ, PYTHON=sys.executable, GPU_BUNDLE_SITE=str(foreign)), capture_output=True, text=True)
    assert r.returncode == 2 and "was not made by run.sh" in r.stderr and (foreign / "notes.txt").exists()
    for bad in (["--minutes"], ["--minutes", "abc"], ["--minutes", "0"]):
        r = run_bundle(bundle, tmp_path / "out4", *bad)
        assert r.returncode == 2 and "--minutes" in r.stderr


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
    assert [r.split("==")[0] for r in reqs[3:]] == ["packaging", "pyparsing"] and all("==" in r for r in reqs)  # every one pinned
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
