"""A bulk liquid (systems/bulk.py) packed, built and run through an NPT stage (systems/protocol.py, kind npt)."""

import collections
import json

import mdtraj as md
import numpy as np
import openmm as mm
import pytest

from systems.bulk import box_edge_nm, closest_intermolecular_nm, density_estimate, density_series, liquid_system, pack_liquid
from systems.md import minimize, run_protocol, with_barostat
from systems.platforms import select_platform
from systems.protocol import protocol_stages


def test_a_packed_liquid_holds_its_counts_in_the_cube_of_its_density():
    counts = {"LiTFSI": 2, "LiNO3": 1, "DME": 8, "DOL": 8, "volume_nm3": 123.0}  # molecule_counts' extra key is ignored
    s = pack_liquid(counts, 0.5, seed=3)
    n = collections.Counter(r for r, k in zip(s.resnames, range(s.n_atoms)))
    assert n == {"TFS": 2 * 15, "LIP": 3, "NO3": 4, "DME": 8 * 16, "DOL": 8 * 11}
    # 2 LiTFSI 287.09 + LiNO3 68.95 + 8 DME 90.12 + 8 DOL 74.08 g/mol = 1956.7 g/mol; at 0.5 g/cm3: 6.499 nm3
    assert box_edge_nm(counts, 0.5) == pytest.approx(6.499 ** (1 / 3), rel=1e-3) and s.box == pytest.approx([box_edge_nm(counts, 0.5)] * 3)
    assert closest_intermolecular_nm(s) >= 0.2 * 0.99  # packmol's tolerance, across the periodic boundaries
    with pytest.raises(ValueError, match="a liquid of"):
        pack_liquid({"H2O": 5}, 1.0, seed=1)
    with pytest.raises(ValueError, match="more than half the box of these molecules at 1.5 g/cm3"):
        liquid_system(s, counts, cutoff_nm=0.8)  # the cube is 1.87 nm as packed, 1.29 nm at 1.5 g/cm3


def test_an_npt_stage_relaxes_a_compressed_box_to_a_liquid_density_and_the_next_stage_keeps_its_box(tmp_path):
    """30 DME packed at 1.0 g/cm3 (experiment: 0.868 at 20 C): at 1 bar the box expands to a liquid's density, the
    state log and the XTC follow the volume, and the NVT stage after it starts from the NPT stage's box. (A box packed
    below the liquid's density is a poor test: the liquid can cavitate at almost no pressure; measured.)"""
    counts = {"DME": 30}
    s = pack_liquid(counts, 1.0, seed=5)
    top, system = liquid_system(s, counts, cutoff_nm=0.7)
    platform, props = select_platform("CPU", threads=2)  # nothing here needs bit-reproducible forces
    pos, _ = minimize(system, top, s.positions, platform, props, max_iterations=300)
    stages = protocol_stages({"temperature_k": 298.0, "length_ps": 0.2, "protocol": [
        {"name": "npt", "length_ps": 2.0, "temperature_k": 298.0, "kind": "npt", "pressure_bar": 1.0},
        {"name": "production", "length_ps": 0.2, "temperature_k": 298.0},
    ]})  # fmt: skip
    outputs = {k: tmp_path / f for k, f in dict(trajectory="t.xtc", state_log="s.csv", provenance="p.json", final_state="f.xml").items()}
    prov = run_protocol(system, top, pos, stages, seed=3, outputs=outputs, timestep_fs=1.0, friction_per_ps=1.0, frame_interval_ps=0.1,
                        platform=platform, properties=props, checkpoint_interval_ps=1.0, label="dme")  # fmt: skip
    npt_dir = tmp_path / "stages/0_npt"
    rho = density_series(npt_dir / "state_log.csv")
    # three runs (the minimiser is not bit-reproducible): 0.989 -> 0.868-0.877 in 2 ps, a fall of 0.079-0.092
    assert len(rho) == 20 and rho[0] == pytest.approx(1.0, abs=0.05) and rho[-5:].mean() < rho[:5].mean() - 0.03, rho
    assert 0.78 < rho[-5:].mean() < 0.96, rho  # a liquid: OPLS-AA DME within about 10 % of experiment, even this short
    est = density_estimate(rho, 0.5)
    assert rho[10:].min() <= est["mean_g_cm3"] <= rho[10:].max() and est["n_frames"] == 10
    t = md.load(str(npt_dir / "trajectory.xtc"), top=md.Topology.from_openmm(top))
    mass = sum(a.element.mass for a in t.topology.atoms) / 6.02214076e23
    assert mass / (t.unitcell_volumes[-1] * 1e-21) == pytest.approx(rho[-1], rel=2e-3)  # the XTC's box is the log's volume
    assert json.loads((npt_dir / "provenance.json").read_text())["ensemble"] == "NPT"
    final_box = np.array(mm.XmlSerializer.deserialize((npt_dir / "final_state.xml").read_text()).getPeriodicBoxVectors(asNumpy=True)._value)
    prod = md.load(str(outputs["trajectory"]), top=md.Topology.from_openmm(top))
    assert np.allclose(prod.unitcell_vectors, final_box[None], atol=2e-3)  # NVT after NPT: the NPT stage's box, kept
    assert prov["ensemble"] == "NVT" and [st["kind"] for st in prov["protocol"]["stages"]] == ["npt", "nvt"]
    with pytest.raises(ValueError, match="no density column"):
        density_series(outputs["state_log"])


def test_a_system_with_frozen_atoms_gets_no_barostat():
    system = mm.System()
    for mass in (0.0, 1.0):
        system.addParticle(mass)
    with pytest.raises(ValueError, match="frozen"):
        with_barostat(system, 1.0, 298.0)


def test_an_npt_run_killed_between_checkpoints_resumes_to_the_uninterrupted_trajectory(tmp_path):
    """A run killed (SIGKILL) at step 600 resumes from its step-400 checkpoint: every frame up to the checkpoint is
    the uninterrupted run's, box included, the frames stay contiguous, and the box goes on moving. After the
    checkpoint the frames differ (OpenMM's checkpoint does not hold the barostat's random numbers; run_nvt says so)."""
    import os
    import subprocess
    import sys

    import openmm.app as app
    import openmm.unit as unit
    from mdtraj.formats import XTCTrajectoryFile

    from systems.md import save_system

    counts = {"DME": 30}
    s = pack_liquid(counts, 1.0, seed=5)
    top, system = liquid_system(s, counts, cutoff_nm=0.7)
    platform, props = select_platform("CPU", threads=1)
    pos, _ = minimize(system, top, s.positions, platform, props, max_iterations=300)
    md_config = {"protocol": [{"name": "production", "length_ps": 0.8, "temperature_k": 298.0, "kind": "npt", "pressure_bar": 1.0}],
                 "temperature_k": 298.0, "timestep_fs": 1.0, "friction_per_ps": 1.0, "length_ps": 0.8, "frame_interval_ps": 0.1,
                 "checkpoint_interval_ps": 0.4, "platform": "CPU", "precision": "mixed"}  # fmt: skip
    runs = {}
    for name, fault in (("ref", None), ("killed", "kill_after_step=600")):
        d = tmp_path / name
        d.mkdir()
        save_system(system, d / "system.xml")
        with open(d / "minimized.pdb", "w") as fh:
            app.PDBFile.writeFile(top, pos * unit.nanometer, fh)
        env = {k: v for k, v in os.environ.items() if k != "TFSI_MD_FAULT"}
        cmd = [sys.executable, "-m", "systems.md", str(d), "--md-config", json.dumps(md_config), "--seed", "11", "--threads", "1"]
        r = subprocess.run(cmd, env=dict(env, TFSI_MD_FAULT=fault) if fault else env, capture_output=True, text=True, timeout=300)
        if fault:
            assert r.returncode == -9, r.stdout + r.stderr
            r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
            assert "resuming at step 400/800 from the checkpoint" in r.stdout, r.stdout + r.stderr
        assert r.returncode == 0, r.stdout + r.stderr
        with XTCTrajectoryFile(str(d / "trajectory.xtc")) as fh:
            xyz, _, steps, box = fh.read()
        runs[name] = (xyz, steps, box)
    np.testing.assert_array_equal(runs["killed"][1], runs["ref"][1])  # steps 100, 200, ..., 800
    np.testing.assert_array_equal(runs["killed"][0][:4], runs["ref"][0][:4])  # up to the checkpoint at step 400
    np.testing.assert_array_equal(runs["killed"][2][:4], runs["ref"][2][:4])
    for xyz, _, box in runs.values():
        assert len(set(b[0, 0] for b in box)) > 1 and np.all(np.isfinite(xyz))  # the box moved: an NPT run


def test_measure_density_runs_the_stage_in_its_folder_and_reports_what_it_measured(tmp_path):
    from systems.bulk import measure_density

    r = measure_density({"DME": 30}, tmp_path / "dme", pack_density_g_cm3=1.0, length_ps=0.4, frame_interval_ps=0.1, cutoff_nm=0.7, threads=1, platform_name="CPU")
    saved = json.loads((tmp_path / "dme/density.json").read_text())
    # 4 frames, the first floor(4 x 0.4) = 1 discarded
    assert saved["n_frames"] == r["n_frames"] == 3 and saved["counts"] == {"DME": 30} and saved["n_atoms"] == 480
    rho = density_series(tmp_path / "dme/state_log.csv")
    assert len(rho) == 4 and saved["mean_g_cm3"] == pytest.approx(rho[1:].mean()) and saved["platform"] == "CPU"
