"""MD protocols as stages: presets and lists read from config, a multi-stage run killed inside each stage resumes to
the uninterrupted trajectories frame for frame, ramps reach their temperatures, and only production is the
trajectory the analysis reads.

Runs are real ``python -m systems.md`` processes on the small cell of tests/test_resume.py (Li slab, 4 Li+ and
4 TFSI-, CPU platform, 1 thread), killed with SIGKILL at exact steps through ``TFSI_MD_FAULT`` (``in_stage``
picks the stage).
"""

import csv
import json

import numpy as np
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
        ([{"name": "a", "length_ps": 1.0, "temperature_k": 300.0, "kind": "npt"}], "kind 'npt'"),
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
    assert len({s["integrator_seed"] for s in stages}) == 4 and all(s["attempts"] for s in stages[:-1])
    assert prov["start"].startswith("the previous stage's end")


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
    prov = json.loads((d / "provenance.json").read_text())
    assert prov["protocol"]["stages"][1]["mean_temperature_k"] == pytest.approx(600.0, rel=0.06)
