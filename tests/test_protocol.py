"""MD protocols as stages: presets and lists read from config, a multi-stage run killed inside each stage resumes to
the uninterrupted trajectories frame for frame, ramps reach their temperatures, and only production is the
trajectory the analysis reads.

Runs are real ``python -m systems.md`` processes on the small cell of tests/test_resume.py (Li slab, 4 Li+ and
4 TFSI-, CPU platform, 1 thread), killed with SIGKILL at exact steps through ``TFSI_MD_FAULT`` (``in_stage``
picks the stage).
"""

import csv
import json

import shutil

import numpy as np
import openmm as mm
import openmm.app as app
import openmm.unit as unit
import pytest
from mdtraj.formats import XTCTrajectoryFile

from systems.protocol import ANNEAL_DEFAULTS, Stage, protocol_stages, total_length_ps
from tests.test_resume import MD, _copy_built, built, run_md  # noqa: F401 (built is a fixture)

#: heat 60 steps, hold 60, cool 60, production 200; a frame every 20 steps, a checkpoint every 40
STAGES = [
    {"name": "heat", "length_ps": 0.06, "temperature_k": [298.0, 500.0]},
    {"name": "hold", "length_ps": 0.06, "temperature_k": 500.0},
    {"name": "cool", "length_ps": 0.06, "temperature_k": [500.0, 298.0]},
    {"name": "production", "length_ps": 0.2, "temperature_k": 298.0},
]
MD_STAGED = dict(MD, protocol=STAGES, checkpoint_interval_ps=0.04)


def test_presets_and_lists_become_stages():
    md = {"temperature_k": 298.0, "length_ps": 3000.0}
    assert protocol_stages(md) == [Stage("production", 3000.0, 298.0, production=True)]  # absent key: the paper's
    heat, hold, cool, prod = protocol_stages(dict(md, protocol="annealed", anneal={"temperature_k": 550.0, "hold_ps": 50.0}))
    assert (heat.temperature_k, heat.end_temperature_k, heat.length_ps) == (298.0, 550.0, ANNEAL_DEFAULTS["heat_ps"])
    assert (hold.temperature_k, hold.end_temperature_k, hold.length_ps) == (550.0, None, 50.0)
    assert (cool.temperature_k, cool.end_temperature_k) == (550.0, 298.0) and prod.production and not cool.production
    assert total_length_ps(dict(md, protocol="annealed", anneal={"hold_ps": 50.0})) == 3000.0 + 50.0 + 2 * ANNEAL_DEFAULTS["heat_ps"]
    listed = protocol_stages(dict(md, protocol=STAGES))
    assert [s.name for s in listed] == ["heat", "hold", "cool", "production"] and listed[-1].production
    assert listed[0].temperature_at(30, 60) == pytest.approx(399.0) and listed[1].temperature_at(30, 60) == 500.0


@pytest.mark.parametrize(
    "protocol, message",
    [
        ([{"name": "a", "length_ps": 1.0, "temperature_k": [298.0, 500.0]}], "must hold one temperature"),
        ([{"name": "a", "length_ps": 1.0, "temperature_k": 300.0}, {"name": "a", "length_ps": 1.0, "temperature_k": 300.0}], "unique"),
        ([{"name": "a", "length_ps": 1.0, "temperature_k": 300.0, "kind": "nve"}], "kind 'nve'"),
        ([{"name": "a", "length_ps": 1.0, "temperature_k": 300.0, "kind": "npt"}], "an npt stage needs a positive pressure_bar"),
        ([{"name": "a", "length_ps": 1.0, "temperature_k": [300.0, 400.0], "kind": "npt", "pressure_bar": 1.0}, {"name": "b", "length_ps": 1.0, "temperature_k": 400.0}], "one temperature"),
        ([{"name": "a", "length_ps": 1.0, "temperature_k": 300.0, "pressure_bar": 1.0}], "pressure_bar belongs to an npt stage"),
        ([{"name": "a", "length_ps": 1.0}], "needs name, length_ps and temperature_k"),
        ([{"name": "a b", "length_ps": 1.0, "temperature_k": 300.0}], "names a folder"),
        ("quenched", "'paper', 'annealed' or a list"),
    ],
)
def test_bad_protocols_are_refused_with_what_is_wrong(protocol, message):
    with pytest.raises(ValueError, match=message):
        protocol_stages({"temperature_k": 298.0, "length_ps": 1.0, "protocol": protocol})


def _frames(path):
    with XTCTrajectoryFile(str(path)) as fh:
        xyz, _, steps, _ = fh.read()
    return xyz, list(steps)


def _all_frames(run_dir):
    out = {"production": _frames(run_dir / "trajectory.xtc")}
    for k, s in enumerate(STAGES[:-1]):
        out[s["name"]] = _frames(run_dir / "stages" / f"{k}_{s['name']}" / "trajectory.xtc")
    return out


@pytest.fixture(scope="module")
def staged_reference(built, tmp_path_factory):  # noqa: F811
    d = _copy_built(built, tmp_path_factory.mktemp("staged") / "run")
    r = run_md(d, md=MD_STAGED)
    assert r.returncode == 0, r.stdout + r.stderr
    return d, _all_frames(d)


def test_only_production_is_the_trajectory_and_the_provenance_lists_every_stage(staged_reference):
    d, frames = staged_reference
    assert frames["production"][1] == list(range(20, 201, 20))  # production's own steps, nothing of the earlier stages
    for name in ("heat", "hold", "cool"):
        assert frames[name][1] == [20, 40, 60]
    prov = json.loads((d / "provenance.json").read_text())
    stages = prov["protocol"]["stages"]
    assert [s["name"] for s in stages] == ["heat", "hold", "cool", "production"]
    assert [s["end_temperature_k"] for s in stages] == [500.0, None, 298.0, None]
    assert all(s["attempts"] for s in stages[:-1])
    # each earlier stage says how far the ions went: the RMS displacement from its start to its end, recomputed here
    start = app.PDBFile(str(d / "minimized.pdb")).getPositions(asNumpy=True).value_in_unit(unit.nanometer)
    heat_end = mm.XmlSerializer.deserialize((d / "stages" / "0_heat" / "final_state.xml").read_text()).getPositions(asNumpy=True)._value
    moved = np.abs(heat_end - start).max(axis=1) > 0
    assert stages[0]["rms_displacement_nm"] == pytest.approx(float(np.sqrt(((heat_end[moved] - start[moved]) ** 2).sum(axis=1).mean())), rel=1e-6)
    assert all(s["rms_displacement_nm"] > 0 for s in stages[:-1])
    assert prov["start"].startswith("the previous stage's end")
    # each stage starts where the one before ended: its first frame (20 fs on) is near that end, not the minimised start
    start = app.PDBFile(str(d / "minimized.pdb")).getPositions(asNumpy=True).value_in_unit(unit.nanometer)
    for k, (name, nxt) in enumerate((("heat", "hold"), ("hold", "cool"), ("cool", "production"))):
        end = mm.XmlSerializer.deserialize((d / "stages" / f"{k}_{name}" / "final_state.xml").read_text())
        end = end.getPositions(asNumpy=True).value_in_unit(unit.nanometer)
        first = frames[nxt][0][0]
        mobile = np.abs(end - start).max(axis=1) > 0
        assert np.abs(first[mobile] - end[mobile]).max() < 0.5 * np.abs(first[mobile] - start[mobile]).max(), nxt


@pytest.mark.parametrize("stage, step", [(0, 50), (1, 10), (2, 50), (3, 130)])
def test_a_run_killed_inside_each_stage_resumes_to_the_uninterrupted_trajectories(built, staged_reference, tmp_path, stage, step):  # noqa: F811
    _, want = staged_reference
    d = _copy_built(built, tmp_path / "run")
    r = run_md(d, md=MD_STAGED, fault=f"kill_after_step={step},in_stage={stage}")
    assert r.returncode == -9, r.stdout + r.stderr
    assert not (d / "trajectory.xtc").exists()
    r = run_md(d, md=MD_STAGED)
    assert r.returncode == 0, r.stdout + r.stderr
    got = _all_frames(d)
    for name, (xyz, steps) in want.items():
        assert got[name][1] == steps, name
        np.testing.assert_array_equal(got[name][0], xyz, err_msg=name)  # frame for frame, bit for bit
    prov = json.loads((d / "provenance.json").read_text())
    attempts = [len(s.get("attempts", prov["attempts"])) for s in prov["protocol"]["stages"][:-1]] + [len(prov["attempts"])]
    assert attempts == [2 if k == stage else 1 for k in range(4)]  # the killed stage, and only it, ran twice


def _log_rows(path):
    """State-log rows without the speed column (the only one that depends on the machine's load)."""
    with open(path) as fh:
        rows = list(csv.reader(fh))
    keep = [i for i, h in enumerate(rows[0]) if "Speed" not in h]
    return [[r[i] for i in keep] for r in rows]


def _logs_and_ends(run_dir):
    out = {"production": (_log_rows(run_dir / "state_log.csv"), (run_dir / "final_state.xml").read_text())}
    for k, s in enumerate(STAGES[:-1]):
        d = run_dir / "stages" / f"{k}_{s['name']}"
        out[s["name"]] = (_log_rows(d / "state_log.csv"), (d / "final_state.xml").read_text())
    return out


def test_a_ramp_stopped_between_frames_resumes_to_the_same_temperatures_and_states(built, tmp_path):  # noqa: F811
    """SIGTERM at step 25 of the heating ramp (frames every 20 steps, at most 5 steps per call): the checkpoint falls
    between frames, and the resumed run must hold the temperature the uninterrupted one held there. Energies,
    temperatures and final states (positions and velocities, full precision) equal those of an uninterrupted run
    made in the same chunks of 5 steps, on the Reference platform (the CPU platform is not bitwise reproducible from
    one process to the next: its first frames already differ in the ninth digit)."""
    md = dict(MD_STAGED, platform="Reference")
    ref_dir = _copy_built(built, tmp_path / "ref")
    r = run_md(ref_dir, md=md, fault="max_chunk=5")
    assert r.returncode == 0, r.stdout + r.stderr
    want = _logs_and_ends(ref_dir)
    d = _copy_built(built, tmp_path / "run")
    r = run_md(d, md=md, fault="sigterm_after_step=25,max_chunk=5,in_stage=0")
    assert r.returncode == 75, r.stdout + r.stderr
    r = run_md(d, md=md, fault="max_chunk=5")
    assert r.returncode == 0, r.stdout + r.stderr
    got = _logs_and_ends(d)
    for name in want:
        assert got[name][0] == want[name][0], name
        assert got[name][1] == want[name][1], name


def test_a_finished_earlier_stage_stands_for_itself_on_another_platform(staged_reference, tmp_path):
    """An earlier stage finished on another platform (here: its record says CUDA) is published again, not rerun, so
    the stages after it keep their start; production, run again, is the same."""
    ref_dir, want = staged_reference
    d = tmp_path / "run"
    shutil.copytree(ref_dir, d)
    rec = d / "md_work" / "stage_0_heat" / "progress.json"
    progress = json.loads(rec.read_text())
    progress["recipe"]["platform"] = "CUDA"
    rec.write_text(json.dumps(progress))
    shutil.rmtree(d / "md_work" / "stage_1_hold")  # the hold must run again, from the heat's end
    for f in list((d / "md_work").glob("*")):
        if f.is_file():
            f.unlink()
    for name in ("trajectory.xtc", "state_log.csv", "provenance.json", "final_state.xml"):
        (d / name).unlink()
    r = run_md(d, md=MD_STAGED)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "[heat]: this run finished earlier" in r.stdout
    got = _all_frames(d)
    for name in ("hold", "production"):
        np.testing.assert_array_equal(got[name][0], want[name][0], err_msg=name)


def test_the_paper_preset_keeps_the_configured_numbers_as_given():
    """The fingerprint of a run holds its temperature as the config wrote it: 298 stays 298, so a run begun before
    protocols existed still resumes from its checkpoints."""
    (stage,) = protocol_stages({"temperature_k": 298, "length_ps": 3000})
    assert type(stage.temperature_k) is int and stage.temperature_k == 298


def _temperatures(path):
    with open(path) as fh:
        rows = list(csv.reader(fh))
    col = next(i for i, h in enumerate(rows[0]) if "Temperature" in h)
    step = next(i for i, h in enumerate(rows[0]) if "Step" in h)
    return np.array([int(r[step]) for r in rows[1:]]), np.array([float(r[col]) for r in rows[1:]])


def test_a_ramp_reaches_its_temperatures(built, tmp_path):  # noqa: F811
    """Heat 298 -> 600 K, hold, cool back, produce, with a strong thermostat (20/ps: 0.05 ps to follow it). The
    kinetic temperature of 64 mobile atoms fluctuates by about 10 % per frame; the means over each stage's frames
    are within 6 % of the set points (about three standard errors)."""
    stages = [
        {"name": "heat", "length_ps": 0.5, "temperature_k": [298.0, 600.0]},
        {"name": "hold", "length_ps": 1.0, "temperature_k": 600.0},
        {"name": "cool", "length_ps": 0.5, "temperature_k": [600.0, 298.0]},
        {"name": "production", "length_ps": 1.0, "temperature_k": 298.0},
    ]
    md = dict(MD, protocol=stages, friction_per_ps=20.0, length_ps=1.0, checkpoint_interval_ps=0.5)
    d = _copy_built(built, tmp_path / "run")
    r = run_md(d, md=md, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    for k, s in enumerate(stages):
        path = d / "state_log.csv" if k == 3 else d / "stages" / f"{k}_{s['name']}" / "state_log.csv"
        steps, temps = _temperatures(path)
        st = Stage(s["name"], s["length_ps"], *(s["temperature_k"] if isinstance(s["temperature_k"], list) else [s["temperature_k"], None]))
        set_points = np.array([st.temperature_at(int(x) - 20, len(steps) * 20) for x in steps])  # set one frame earlier
        assert temps.mean() == pytest.approx(set_points.mean(), rel=0.06), s["name"]
        half = len(temps) // 2
        if st.end_temperature_k is not None:  # the ramp goes the way it should: its second half is on the far side
            assert (temps[half:].mean() - temps[:half].mean()) * (st.end_temperature_k - st.temperature_k) > 0, s["name"]
    prov = json.loads((d / "provenance.json").read_text())
    assert prov["protocol"]["stages"][1]["mean_temperature_k"] == pytest.approx(600.0, rel=0.06)
