"""The benchmark in tiny mode: it runs through the workflow, writes its CSV and the numbers are sane.

No timing is asserted: the rows must exist, be positive and finite, and agree with each other where they must
(frames written = steps / frame interval, aggregate = sum over the jobs that ran at once).
"""

import csv
import math
import subprocess
import sys
from pathlib import Path

import mdtraj as md
import numpy as np
import openmm as mm
import pytest

from systems.benchmark import steps_for_benchmark, synthetic_trajectory

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "sps, every, min_s, fixed, expected",
    [
        (0.001, 5000, 20.0, None, 20000),  # 20 s at 1 ms/step, already whole frame intervals
        (0.012, 5000, 20.0, None, 5000),  # a slow CPU: at least one frame interval
        (1e-4, 5000, 20.0, None, 200000),
        (0.01, 20, 20.0, 100, 100),  # fixed steps win
        (0.01, 20, 20.0, 90, 100),  # rounded up to whole frame intervals
    ],
)
def test_steps_are_whole_frame_intervals(sps, every, min_s, fixed, expected):
    assert steps_for_benchmark(sps, every, min_s, fixed) == expected


def test_synthetic_trajectory_keeps_fixed_atoms_and_moves_the_rest(tmp_path):
    from systems.molecules import build_li_ion, build_tfsi
    from systems.slab import build_li_bcc100_slab
    from systems.structure import combine

    ions = [build_tfsi().translated([1.0, 1.0, 1.2]), build_li_ion().translated([2.0, 2.0, 1.5])]
    s = combine([build_li_bcc100_slab()] + ions, box=np.array([2.822, 2.822, 6.0]))
    s.write_pdb(tmp_path / "s.pdb")
    synthetic_trajectory(tmp_path / "s.pdb", 50, tmp_path / "t.xtc")
    t = md.load(str(tmp_path / "t.xtc"), top=str(tmp_path / "s.pdb"))
    assert t.n_frames == 50
    fixed = t.topology.select("resname LIM")
    mobile = t.topology.select("not resname LIM")
    assert np.abs(t.xyz[:, fixed] - t.xyz[0, fixed]).max() < 1e-3  # XTC precision
    assert np.abs(t.xyz[-1, mobile] - t.xyz[0, mobile]).max() > 0.01
    assert np.allclose(t.unitcell_lengths, [2.822, 2.822, 6.0], atol=1e-3)


def test_benchmark_tiny_mode_writes_sane_csv(tmp_path):
    """The `benchmark` rule on the tiny config: 100 steps per run, CPU, 2 jobs at once, 600 analysis frames."""
    r = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--configfile", str(ROOT / "tests/configs/tiny.yaml"), "--cores", "2", "benchmark"],
        cwd=tmp_path, capture_output=True, text=True, encoding="utf-8", timeout=600,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-4000:]
    assert "overh.%" in r.stderr  # the table reaches the terminal
    rows = list(csv.DictReader(open(tmp_path / "benchmarks/benchmark.csv")))
    by = {(row["system"], row["measure"]): row for row in rows}
    assert set(by) == {(s, m) for s in ("bare_li", "nh2_mil101_fe") for m in ("bare", "production", "concurrent", "analysis")}
    for system in ("bare_li", "nh2_mil101_fe"):
        bare, prod, conc, ana = (by[(system, m)] for m in ("bare", "production", "concurrent", "analysis"))
        for row in (bare, prod, conc):
            assert row["platform"] == "CPU"
            assert row["openmm"] == mm.Platform.getOpenMMVersion()
            assert int(row["steps"]) == 100
            ms, nsd = float(row["ms_per_step"]), float(row["ns_per_day"])
            assert ms > 0 and math.isfinite(ms)
            assert nsd == pytest.approx(1e-6 / (ms * 1e-3) * 86400.0, rel=1e-4)  # 1 fs steps
        assert int(prod["frames"]) == 5  # 100 steps, a frame every 0.02 ps = 20 steps
        assert math.isfinite(float(prod["overhead_pct"])) and float(prod["overhead_pct"]) > -100.0
        assert float(prod["overhead_min_pct"]) <= float(prod["overhead_pct"]) <= float(prod["overhead_max_pct"])
        assert 0 < float(prod["peak_rss_mb"]) < 100_000
        assert int(conc["replicas_at_once"]) == 2
        agg = float(conc["aggregate_ns_per_day"])
        assert agg > float(conc["ns_per_day"])  # two jobs ran, the aggregate is their sum
        assert float(conc["gain"]) == pytest.approx(agg / float(prod["ns_per_day"]), rel=1e-4)
        assert int(ana["frames"]) == 600
        assert float(ana["frames_per_s"]) == pytest.approx(600 / float(ana["seconds"]), rel=1e-4)
    assert int(by[("nh2_mil101_fe", "bare")]["atoms"]) > int(by[("bare_li", "bare")]["atoms"])  # the coating is in the timed System


def test_force_profile_times_the_system_with_each_force_removed(tmp_path):
    from systems.benchmark import force_profile
    from systems.molecules import build_li_ion, build_tfsi
    from systems.md import save_system
    from systems.openmm_system import create_slab_system
    from systems.slab import build_li_bcc100_slab
    from systems.structure import combine

    ions = [build_tfsi().translated([1.0, 1.0, 1.2]), build_li_ion().translated([2.0, 2.0, 1.5])]
    s = combine([build_li_bcc100_slab()] + ions, box=np.array([2.822, 2.822, 6.0]))
    s.write_pdb(tmp_path / "minimized.pdb")
    system = create_slab_system(s.to_topology(), None, z_wall_nm=2.5)
    save_system(system, tmp_path / "system.xml")
    prof = force_profile(tmp_path / "system.xml", tmp_path / "minimized.pdb", "CPU", threads=1, n_steps=20, repeats=1)
    assert prof["platform"] == "CPU" and prof["full_ms_per_step"] > 0
    assert set(prof["without_ms_per_step"]) == {f.getName() for f in system.getForces()}
    assert all(t > 0 and math.isfinite(t) for t in prof["without_ms_per_step"].values())
