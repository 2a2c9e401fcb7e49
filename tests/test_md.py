"""MD: fixed atoms stay fixed, an exploding run stops with a clear error, outputs are complete, platforms."""

import json

import numpy as np
import openmm as mm
import openmm.unit as unit
import pytest

from systems.molecules import build_li_ion, build_tfsi
from systems.md import SimulationExploded, minimize, run_nvt, steps_for
from systems.openmm_system import create_slab_system, frozen_indices
from systems.platforms import PlatformUnavailable, available_platforms, select_platform
from systems.slab import build_li_bcc100_slab
from systems.structure import combine


@pytest.fixture(scope="module")
def small_cell():
    slab = build_li_bcc100_slab()
    ions = [build_tfsi().translated([0.7 + 1.4 * (k % 2), 0.7 + 1.4 * (k // 2), 0.9]) for k in range(4)]
    ions += [build_li_ion().translated([1.4 * (k % 2), 1.4 * (k // 2), 1.4]) for k in range(4)]
    s = combine([slab] + ions, box=np.array([2.822, 2.822, 6.0]))
    top = s.to_topology()
    system = create_slab_system(top, None, z_wall_nm=2.0)
    return s, top, system


def test_frozen_atoms_have_zero_mass_and_do_not_move(small_cell, tmp_path):
    s, top, system = small_cell
    frozen = frozen_indices(system)
    assert list(frozen) == list(range(128))
    platform, props = select_platform("CPU", threads=1)
    pos, report = minimize(system, top, s.positions, platform, props, max_iterations=200)
    assert report["fixed_atom_max_move_nm"] == 0.0
    run_nvt(
        system, top, pos, temperature_k=298, timestep_fs=1.0, friction_per_ps=1.0, length_ps=0.1, frame_interval_ps=0.02,
        seed=5, platform=platform, properties=props, trajectory_path=tmp_path / "t.xtc", state_log_path=tmp_path / "s.csv",
        provenance_path=tmp_path / "p.json", final_state_path=tmp_path / "f.xml", label="small/r0",
    )  # fmt: skip
    final = mm.XmlSerializer.deserialize((tmp_path / "f.xml").read_text())
    end = final.getPositions(asNumpy=True).value_in_unit(unit.nanometer)
    assert np.abs(end[frozen] - pos[frozen]).max() == 0.0
    assert np.abs(end[128:] - pos[128:]).max() > 1e-4  # the ions did move
    prov = json.loads((tmp_path / "p.json").read_text())
    assert prov["n_frames"] == 5 and prov["seeds"]["velocities"] == 5
    assert prov["openmm_version"] == mm.Platform.getOpenMMVersion() and prov["platform"] == "CPU"
    import mdtraj as md

    traj = md.load(str(tmp_path / "t.xtc"), top=md.Topology.from_openmm(top))
    assert traj.n_frames == 5
    assert traj.time == pytest.approx([20, 40, 60, 80, 100], abs=1e-3) or traj.time == pytest.approx([0.02, 0.04, 0.06, 0.08, 0.1])
    assert not list(tmp_path.glob("*.part*"))


def test_exploding_run_stops_with_system_replica_and_step(small_cell, tmp_path):
    s, top, system = small_cell
    platform, props = select_platform("CPU", threads=1)
    pos = s.positions.copy()
    pos[130] = pos[129] + [0.0, 0.0, 0.01]  # two ion atoms on top of each other, no minimisation, 20 fs steps
    with pytest.raises(SimulationExploded, match=r"bare_li/r2: .* step \d+"):
        run_nvt(
            system, top, pos, temperature_k=298, timestep_fs=4.0, friction_per_ps=1.0, length_ps=4.0, frame_interval_ps=0.04,
            seed=1, platform=platform, properties=props, trajectory_path=tmp_path / "t.xtc", state_log_path=tmp_path / "s.csv",
            provenance_path=tmp_path / "p.json", label="bare_li/r2",
        )  # fmt: skip
    assert not (tmp_path / "t.xtc").exists()  # no file that looks finished


def test_run_length_must_be_whole_frames():
    assert steps_for(3000, 5, 1.0) == (3_000_000, 5000)
    with pytest.raises(ValueError, match="whole number"):
        steps_for(10, 3, 1.0)
    with pytest.raises(ValueError, match="whole number"):
        steps_for(1.0005, 0.5, 1.0)


def test_platform_selection():
    platform, props = select_platform("auto", threads=1)
    assert platform.getName() in available_platforms()
    if "CUDA" not in available_platforms() and "OpenCL" not in available_platforms():
        assert platform.getName() == "CPU" and props == {"Threads": "1"}
    with pytest.raises(PlatformUnavailable, match="NoSuchPlatform"):
        select_platform("NoSuchPlatform")


def _gpu_platforms():
    found = []
    for name in ("CUDA", "OpenCL"):
        try:
            select_platform(name)
            found.append(name)
        except PlatformUnavailable:
            pass
    return found


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["CUDA", "OpenCL"])
def test_gpu_platform_runs_the_cell_in_mixed_precision(small_cell, tmp_path, name):
    if name not in _gpu_platforms():
        pytest.skip(f"no {name} device here")
    s, top, system = small_cell
    platform, props = select_platform(name)
    assert props["Precision"] == "mixed"
    cpu, cpu_props = select_platform("CPU", threads=1)
    pos, _ = minimize(system, top, s.positions, cpu, cpu_props, max_iterations=200)
    prov = run_nvt(
        system, top, pos, temperature_k=298, timestep_fs=1.0, friction_per_ps=1.0, length_ps=0.2, frame_interval_ps=0.1,
        seed=3, platform=platform, properties=props, trajectory_path=tmp_path / "t.xtc", state_log_path=tmp_path / "s.csv",
        provenance_path=tmp_path / "p.json", label="gpu",
    )  # fmt: skip
    assert prov["platform"] == name and prov["properties"]["Precision"] == "mixed"
