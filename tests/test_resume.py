"""Runs that survive: kill -9 at chosen points, SIGTERM, a wall-clock budget, a lock, an explosion; then resume.

Each run is a real ``python -m systems.md`` process on a small built cell (Li slab, 4 Li+ + 4 TFSI-, CPU platform,
1 thread). 200 steps, a frame every 20 steps, a checkpoint every 60 steps. ``TFSI_MD_FAULT`` makes the process
SIGKILL itself at an exact point (see systems/resume.py), so what is on disk is what a kill there leaves.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import openmm.app as app
import openmm.unit as unit
import pytest
from mdtraj.formats import XTCTrajectoryFile

from systems.molecules import build_li_ion, build_tfsi
from systems.md import minimize, save_system
from systems.openmm_system import create_slab_system
from systems.platforms import select_platform
from systems.slab import build_li_bcc100_slab
from systems.structure import combine

ROOT = Path(__file__).resolve().parent.parent
MD = dict(
    temperature_k=298.0, timestep_fs=1.0, friction_per_ps=1.0, length_ps=0.2, frame_interval_ps=0.02, checkpoint_interval_ps=0.06,
    platform="CPU", precision="mixed",
)  # fmt: skip
FRAME_STEPS = list(range(20, 201, 20))
OUTPUTS = ("trajectory.xtc", "state_log.csv", "provenance.json", "final_state.xml")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A built replica folder: system.xml and minimized.pdb, as the workflow leaves them."""
    d = tmp_path_factory.mktemp("built")
    slab = build_li_bcc100_slab()
    ions = [build_tfsi().translated([0.7 + 1.4 * (k % 2), 0.7 + 1.4 * (k // 2), 0.9]) for k in range(4)]
    ions += [build_li_ion().translated([1.4 * (k % 2), 1.4 * (k // 2), 1.4]) for k in range(4)]
    s = combine([slab] + ions, box=np.array([2.822, 2.822, 6.0]))
    top = s.to_topology()
    system = create_slab_system(top, None, z_wall_nm=2.0)
    platform, props = select_platform("CPU", threads=1)
    pos, _ = minimize(system, top, s.positions, platform, props, max_iterations=200)
    save_system(system, d / "system.xml")
    with open(d / "minimized.pdb", "w") as fh:
        app.PDBFile.writeFile(top, pos * unit.nanometer, fh)
    return d


def _copy_built(built, dest):
    dest.mkdir()
    for name in ("system.xml", "minimized.pdb"):
        (dest / name).write_bytes((built / name).read_bytes())
    return dest


def run_md(run_dir, md=None, fault=None, timeout=120, wait=True):
    env = {k: v for k, v in os.environ.items() if k != "TFSI_MD_FAULT"}
    if fault:
        env["TFSI_MD_FAULT"] = fault
    cmd = [sys.executable, "-m", "systems.md", str(run_dir), "--md-config", json.dumps(md or MD), "--seed", "11", "--threads", "1"]
    if not wait:
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def frames(run_dir):
    with XTCTrajectoryFile(str(run_dir / "trajectory.xtc")) as fh:
        xyz, time_ps, steps, _ = fh.read()
    return xyz, time_ps, np.asarray(steps)


@pytest.fixture(scope="module")
def uninterrupted(built, tmp_path_factory):
    d = _copy_built(built, tmp_path_factory.mktemp("ref") / "run")
    r = run_md(d)
    assert r.returncode == 0, r.stdout + r.stderr
    return frames(d)


FINAL = {"trajectory.xtc": "final.xtc", "state_log.csv": "final.csv", "final_state.xml": "final_state.xml", "provenance.json": "final_provenance.json"}


def check_complete(run_dir):
    """Every output exists, the trajectory has one frame per interval, in order, and the work folder holds only
    the finished record and the outputs' data (the same files: hard links, no extra disk), no lock, no part file."""
    for name in OUTPUTS:
        assert (run_dir / name).exists(), name
    work = run_dir / "md_work"
    assert sorted(p.name for p in work.iterdir()) == sorted(["progress.json", *FINAL.values()])
    for out, kept in FINAL.items():
        assert (work / kept).stat().st_ino == (run_dir / out).stat().st_ino, out
    assert set(json.loads((work / "progress.json").read_text())["finished"]) == set(FINAL.values())
    assert not list(run_dir.glob("*.part*"))
    xyz, time_ps, steps = frames(run_dir)
    assert list(steps) == FRAME_STEPS  # exactly one frame per interval: no gap, no duplicate
    assert time_ps == pytest.approx(np.array(FRAME_STEPS) * 0.001, abs=1e-6)
    rows = (run_dir / "state_log.csv").read_text().splitlines()
    assert rows[0].startswith("#") and [int(r.split(",")[0]) for r in rows[1:]] == FRAME_STEPS
    return xyz, json.loads((run_dir / "provenance.json").read_text())


def _progress(run_dir):
    return json.loads((run_dir / "md_work" / "progress.json").read_text())


@pytest.mark.parametrize(
    "fault, committed_step",
    [
        ("kill_after_step=30", None),  # before the first checkpoint (step 60)
        ("kill_after_step=90", 60),  # between checkpoints
        ("kill_in_frame_write=5", 60),  # frame 5 (step 100) half written
        ("kill_in_checkpoint=2", 60),  # checkpoint files of step 120 written, not yet committed
    ],
)
def test_kill_9_then_resume_gives_the_uninterrupted_trajectory(built, uninterrupted, tmp_path, fault, committed_step):
    d = _copy_built(built, tmp_path / "run")
    r = run_md(d, fault=fault)
    assert r.returncode == -signal.SIGKILL, r.stdout + r.stderr
    for name in OUTPUTS:
        assert not (d / name).exists(), f"a killed run left {name}"
    if committed_step is None:  # the record has the attempt, and no point to resume from
        prog = _progress(d)
        assert prog["step"] == 0 and prog["checkpoint"] is None
        assert [a["stopped_by"] for a in prog["attempts"]] == ["lost before its first checkpoint (killed, or the node failed)"]
    else:
        assert _progress(d)["step"] == committed_step
    r = run_md(d)
    assert r.returncode == 0, r.stdout + r.stderr
    if committed_step is not None:
        assert f"resuming at step {committed_step}/200 from the checkpoint" in r.stdout
    xyz, prov = check_complete(d)
    # the checkpoint restores positions, velocities, step and the random-number state: on the CPU platform with
    # one thread the resumed run is the uninterrupted run, frame for frame (XTC precision is 0.001 nm)
    np.testing.assert_array_equal(xyz, uninterrupted[0])
    assert prov["attempts"][-1]["resumed_from"] == ("checkpoint" if committed_step else "start")
    assert len(prov["attempts"]) == 2  # every attempt, also one that died before its first checkpoint
    if committed_step:
        assert prov["attempts"][0]["end_step"] == committed_step
        assert "lost after this checkpoint" in prov["attempts"][0]["stopped_by"]
    else:
        assert prov["attempts"][0]["end_step"] == 0 and "before its first checkpoint" in prov["attempts"][0]["stopped_by"]


def test_sigterm_saves_exits_75_and_resumes(built, uninterrupted, tmp_path):
    """SIGTERM is what SLURM sends at a time limit, on preemption and on scancel."""
    d = _copy_built(built, tmp_path / "run")
    r = run_md(d, fault="sigterm_after_step=90")
    assert r.returncode == 75, r.stdout + r.stderr
    assert "stopped by signal SIGTERM at step" in r.stdout
    step = _progress(d)["step"]
    assert 90 <= step < 200
    assert not (d / "trajectory.xtc").exists()
    r = run_md(d)
    assert r.returncode == 0, r.stdout + r.stderr
    xyz, prov = check_complete(d)
    np.testing.assert_array_equal(xyz, uninterrupted[0])
    assert [a["stopped_by"] for a in prov["attempts"]] == ["signal SIGTERM", "end"]


def test_sigterm_just_after_a_checkpoint_leaves_an_empty_segment_that_joins(built, uninterrupted, tmp_path):
    d = _copy_built(built, tmp_path / "run")
    # 7 steps per call: the checkpoint at 60, SIGTERM seen at 67, before the next frame (80)
    r = run_md(d, fault="max_chunk=7,sigterm_after_step=61")
    assert r.returncode == 75, r.stdout + r.stderr
    prog = _progress(d)
    assert prog["step"] == 67 and prog["segments"][-1]["n_frames"] == 0
    r = run_md(d)
    assert r.returncode == 0, r.stdout + r.stderr
    xyz, prov = check_complete(d)
    np.testing.assert_array_equal(xyz, uninterrupted[0])


def test_sigterm_from_outside_mid_run(built, tmp_path):
    """A signal from another process, at whatever step the run is: saved, resumed, one frame per interval."""
    d = _copy_built(built, tmp_path / "run")
    long_md = dict(MD, length_ps=4.0, frame_interval_ps=0.02, checkpoint_interval_ps=0.4)
    p = run_md(d, md=long_md, wait=False)
    deadline = time.time() + 60

    def committed():
        try:
            return _progress(d)["step"]
        except (OSError, ValueError):  # not written yet, or mid-rename
            return 0

    # as soon as the first checkpoint (step 400) is committed: 90 % of the run is still ahead on any machine
    while committed() == 0 and p.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    p.send_signal(signal.SIGTERM)
    out, _ = p.communicate(timeout=60)
    assert p.returncode == 75, out
    assert 400 <= _progress(d)["step"] < 4000
    r = run_md(d, md=long_md)
    assert r.returncode == 0, r.stdout + r.stderr
    with XTCTrajectoryFile(str(d / "trajectory.xtc")) as fh:
        _, _, steps, _ = fh.read()
    assert list(steps) == list(range(20, 4001, 20))


def test_wall_clock_budget_stops_and_each_attempt_goes_further(built, uninterrupted, tmp_path):
    d = _copy_built(built, tmp_path / "run")
    md = dict(MD, length_ps=0.2, wall_budget_minutes=0.001, wall_margin_s=0.0)  # 0.06 s per attempt
    steps_seen = []
    for _ in range(40):
        r = run_md(d, md=md)
        if r.returncode == 0:
            break
        assert r.returncode == 75, r.stdout + r.stderr
        assert "wall-clock budget" in r.stdout
        steps_seen.append(_progress(d)["step"])
    assert r.returncode == 0, "the run never finished"
    assert steps_seen and steps_seen == sorted(steps_seen) and len(set(steps_seen)) == len(steps_seen)
    xyz, prov = check_complete(d)
    np.testing.assert_array_equal(xyz, uninterrupted[0])
    assert len(prov["attempts"]) == len(steps_seen) + 1


def test_checkpoint_of_another_platform_falls_back_to_the_state(built, uninterrupted, tmp_path):
    d = _copy_built(built, tmp_path / "run")
    assert run_md(d, fault="kill_after_step=90").returncode == -signal.SIGKILL
    r = run_md(d, md=dict(MD, platform="Reference"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "continuing from the portable State" in r.stdout and "on CPU, this is OpenMM" in r.stdout
    xyz, prov = check_complete(d)
    assert prov["attempts"][-1]["resumed_from"] == "state" and prov["attempts"][-1]["start_step"] == 60
    # frames up to the checkpoint come from the first attempt; the State holds the positions at step 60 exactly
    np.testing.assert_array_equal(xyz[:3], uninterrupted[0][:3])
    assert np.abs(xyz[3:] - uninterrupted[0][3:]).max() > 0  # new random numbers after a State
    assert prov["attempts"][-1]["integrator_seed"] != 11


def test_unreadable_checkpoint_falls_back_to_the_state(built, tmp_path):
    d = _copy_built(built, tmp_path / "run")
    assert run_md(d, fault="kill_after_step=130").returncode == -signal.SIGKILL
    ckpt = d / "md_work" / _progress(d)["checkpoint"]
    ckpt.write_bytes(b"not a checkpoint")
    r = run_md(d)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "checkpoint not loadable" in r.stdout
    _, prov = check_complete(d)
    assert prov["attempts"][-1]["resumed_from"] == "state" and prov["attempts"][-1]["start_step"] == 120


def test_other_inputs_do_not_resume_a_stale_checkpoint(built, tmp_path):
    d = _copy_built(built, tmp_path / "run")
    assert run_md(d, fault="kill_after_step=90").returncode == -signal.SIGKILL
    r = run_md(d, md=dict(MD, temperature_k=310.0))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "holds a run of other inputs or parameters; starting from the beginning" in r.stdout
    _, prov = check_complete(d)
    assert [a["resumed_from"] for a in prov["attempts"]] == ["start"]


def test_a_second_process_is_refused_while_the_first_holds_the_lock(built, tmp_path):
    d = _copy_built(built, tmp_path / "run")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; from systems.resume import run_lock\n"
         "with run_lock(Path(sys.argv[1])):\n    print('locked', flush=True); time.sleep(120)", str(d / "md_work")],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked"
        r = run_md(d)
        assert r.returncode == 2, r.stdout + r.stderr
        assert "another process is writing this run" in r.stdout and f'"pid": {holder.pid}' in r.stdout
        assert not (d / "trajectory.xtc").exists()
    finally:
        holder.kill()  # kill -9: the kernel releases the lock with the process
        holder.wait()
    r = run_md(d)
    assert r.returncode == 0, r.stdout + r.stderr
    check_complete(d)


def test_an_explosion_stops_with_a_message_and_keeps_the_last_good_checkpoint(built, tmp_path):
    d = _copy_built(built, tmp_path / "run")
    r = run_md(d, fault="nan_after_step=130")  # one mobile atom's position becomes NaN at step 130
    assert r.returncode == 3, r.stdout + r.stderr
    assert "the run exploded by step" in r.stdout and "The last good checkpoint (step 120) is kept in" in r.stdout
    prog = _progress(d)
    assert prog["step"] == 120
    assert (d / "md_work" / prog["checkpoint"]).exists() and (d / "md_work" / prog["state"]).exists()
    for name in OUTPUTS:
        assert not (d / name).exists()


def _temperatures(run_dir):
    rows = (run_dir / "state_log.csv").read_text().splitlines()
    head = rows[0].lstrip("#").replace('"', "").split(",")
    col = next(i for i, h in enumerate(head) if h.startswith("Temperature"))
    return {int(r.split(",")[0]): float(r.split(",")[col]) for r in rows[1:]}


@pytest.mark.parametrize("fraction", [0.5, 0.25])
def test_a_cut_checkpoint_is_caught_and_the_state_used(built, uninterrupted, tmp_path, fraction):
    """OpenMM loads a cut checkpoint without an error (all velocities zero at half, old positions at a quarter):
    the size and hash recorded at the commit catch it, and the run continues from the portable State."""
    ref = _copy_built(built, tmp_path / "ref")
    assert run_md(ref).returncode == 0
    d = _copy_built(built, tmp_path / "run")
    assert run_md(d, fault="kill_after_step=130").returncode == -signal.SIGKILL
    ckpt = d / "md_work" / _progress(d)["checkpoint"]
    data = ckpt.read_bytes()
    ckpt.write_bytes(data[: int(len(data) * fraction)])  # what a full disk or a copy cut short leaves
    r = run_md(d)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"has {int(len(data) * fraction)} bytes, {len(data)} were committed" in r.stdout
    xyz, prov = check_complete(d)
    last = prov["attempts"][-1]
    assert last["resumed_from"] == "state" and last["start_step"] == 120
    assert "cut or overwritten" in last["rejected"][0]
    np.testing.assert_array_equal(xyz[:6], uninterrupted[0][:6])  # the State holds step 120 exactly
    # the velocities came back with the State: 20 steps on, the temperature is the uninterrupted run's, give or
    # take the noise of 64 atoms; zeroed velocities would have roughly halved it
    t_resumed, t_ref = _temperatures(d)[140], _temperatures(ref)[140]
    assert 0.75 < t_resumed / t_ref < 1.33, (t_resumed, t_ref)


def test_a_damaged_last_commit_falls_back_to_the_previous_one(built, uninterrupted, tmp_path):
    d = _copy_built(built, tmp_path / "run")
    assert run_md(d, fault="kill_after_step=130").returncode == -signal.SIGKILL
    prog = _progress(d)
    assert prog["step"] == 120 and prog["previous"]["step"] == 60
    (d / "md_work" / prog["checkpoint"]).write_bytes(b"")  # both files of the last commit damaged
    state = d / "md_work" / prog["state"]
    text = state.read_text()
    at = text.index("<Position x=") + len('<Position x="') + 2  # a digit of the first position: same size, new value
    state.write_text(text[:at] + ("1" if text[at] != "1" else "2") + text[at + 1 :])
    r = run_md(d)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "going back to the previous commit, step 60" in r.stdout
    xyz, prov = check_complete(d)
    last = prov["attempts"][-1]
    assert last["resumed_from"] == "previous checkpoint" and last["start_step"] == 60
    assert len(last["rejected"]) == 2 and "differs from what was committed" in last["rejected"][1]
    np.testing.assert_array_equal(xyz, uninterrupted[0])  # the previous checkpoint restores step 60 exactly


def test_a_kill_while_the_segments_are_joined_is_finished_by_the_next_attempt(built, uninterrupted, tmp_path):
    d = _copy_built(built, tmp_path / "run")
    assert run_md(d, fault="kill_in_join=1").returncode == -signal.SIGKILL
    assert _progress(d)["step"] == 200 and not (d / "trajectory.xtc").exists()
    r = run_md(d)
    assert r.returncode == 0, r.stdout + r.stderr
    xyz, prov = check_complete(d)
    np.testing.assert_array_equal(xyz, uninterrupted[0])
    assert prov["attempts"][-1]["start_step"] == prov["attempts"][-1]["end_step"] == 200
    # the attempt that only joined ran no step: the speed over all attempts stands in, never null
    assert prov["ns_per_day"] == prov["ns_per_day_all_attempts"] > 0


@pytest.mark.parametrize("published", [0, 1, 2, 3])
def test_a_kill_while_finishing_never_redoes_the_md_nor_blocks_a_rerun(built, uninterrupted, tmp_path, published):
    """Killed after the finished commit with 0-3 of the 4 outputs published; Snakemake then deletes whatever
    outputs exist (an incomplete job) and runs the job again: the outputs come back from the work folder."""
    d = _copy_built(built, tmp_path / "run")
    assert run_md(d, fault=f"kill_in_finish={published}").returncode == -signal.SIGKILL
    assert sum((d / name).exists() for name in OUTPUTS) == published
    for name in OUTPUTS:
        (d / name).unlink(missing_ok=True)
    r = run_md(d)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "outputs were published again" in r.stdout and "NVT" not in r.stdout  # no MD set up, no step taken
    xyz, prov = check_complete(d)
    np.testing.assert_array_equal(xyz, uninterrupted[0])
    assert [a["stopped_by"] for a in prov["attempts"]] == ["end"]


def test_a_finished_run_is_republished_only_when_it_stands_for_this_run(built, uninterrupted, tmp_path):
    d = _copy_built(built, tmp_path / "run")
    assert run_md(d).returncode == 0
    for name in OUTPUTS:  # read-only: an in-place edit of an output would change the finished record too
        assert (d / name).stat().st_mode & 0o222 == 0
    r = run_md(d)  # outputs still there: published again in place, no temporary link left behind
    assert r.returncode == 0 and "published again" in r.stdout
    xyz, _ = check_complete(d)
    r = run_md(d, md=dict(MD, platform="Reference"))  # another platform: the finished CPU run does not stand for it
    assert r.returncode == 0 and "is not used (made with" in r.stdout and "NVT" in r.stdout
    _, prov = check_complete(d)
    assert prov["platform"] == "Reference" and [a["resumed_from"] for a in prov["attempts"]] == ["start"]


def test_a_damaged_finished_record_runs_the_md_again(built, uninterrupted, tmp_path):
    d = _copy_built(built, tmp_path / "run")
    assert run_md(d, fault="kill_in_finish=0").returncode == -signal.SIGKILL
    final = d / "md_work" / "final.csv"
    final.chmod(0o644)
    final.write_text(final.read_text() + "1,2,3\n")
    r = run_md(d)
    assert r.returncode == 0 and "final.csv has" in r.stdout and "starting from the beginning" in r.stdout
    xyz, prov = check_complete(d)
    np.testing.assert_array_equal(xyz, uninterrupted[0])


def test_a_damaged_committed_segment_stops_with_what_to_do(built, tmp_path):
    d = _copy_built(built, tmp_path / "run")
    assert run_md(d, fault="kill_after_step=130").returncode == -signal.SIGKILL
    seg = d / "md_work" / _progress(d)["segments"][0]["xtc"]
    seg.write_bytes(seg.read_bytes()[:-100])
    r = run_md(d)
    assert r.returncode == 1 and "segment_0000.xtc has" in r.stderr and "(steps 0-60)" in r.stderr
    assert f"Delete {d / 'md_work'} to run this replica again from the start" in r.stderr


def test_an_explosion_before_the_first_checkpoint_is_recorded_as_one(built, tmp_path):
    d = _copy_built(built, tmp_path / "run")
    r = run_md(d, fault="nan_after_step=25")
    assert r.returncode == 3, r.stdout + r.stderr
    assert "No checkpoint was committed yet: a rerun starts from the beginning" in r.stdout
    (attempt,) = _progress(d)["attempts"]
    assert attempt["stopped_by"].startswith("exploded by step")


@pytest.fixture(scope="module")
def built_constant_potential(tmp_path_factory):
    """The same ions between the Li slab and a counter electrode, every charge in a ConstantPotentialForce (+1 V,
    matrix method), as the electrode mode builds it (systems/electrode_cell.py)."""
    from systems.electrode import move_coulomb_into_electrode_force
    from systems.electrode_cell import applied_potentials, counter_electrode, electrode_atoms

    d = tmp_path_factory.mktemp("built_cp")
    up = np.array([0.0, 0.0, 0.525])  # the slab's lowest layer at half the 1.25 nm back gap
    slab = build_li_bcc100_slab().translated(up)
    ions = [build_tfsi().translated([0.7 + 1.4 * (k % 2), 0.7 + 1.4 * (k // 2), 0.9] + up) for k in range(4)]
    ions += [build_li_ion().translated([1.4 * (k % 2), 1.4 * (k // 2), 1.4] + up) for k in range(4)]
    counter = counter_electrode(slab, 2.5 + up[2])
    lz = counter.positions[:, 2].max() + 1.25 - slab.positions[:, 2].min()
    s = combine([slab] + ions + [counter], box=np.array([2.822, 2.822, lz]))
    top = s.to_topology()
    system = create_slab_system(top, None, z_wall_nm=2.5 + up[2], dipole_correction=False)
    work, other = electrode_atoms(s.resnames)
    v = applied_potentials(1.0, lz)
    move_coulomb_into_electrode_force(system, [(work.tolist(), v["working_v"]), (other.tolist(), v["counter_v"])], width_nm=0.0505,
                                      field_v_per_nm=v["field_v_per_nm"])  # fmt: skip
    platform, props = select_platform("CPU", threads=1)
    pos, _ = minimize(system, top, s.positions, platform, props, max_iterations=200)
    save_system(system, d / "system.xml")
    with open(d / "minimized.pdb", "w") as fh:
        app.PDBFile.writeFile(top, pos * unit.nanometer, fh)
    return d


def test_a_constant_potential_run_killed_between_checkpoints_resumes_to_the_uninterrupted_trajectory(built_constant_potential, tmp_path):
    """The electrode's charges are solved from the positions every step (matrix method), so they need no state of
    their own in the checkpoint: a run killed at step 90 and resumed from step 60 is the uninterrupted one."""
    ref = _copy_built(built_constant_potential, tmp_path / "ref")
    r = run_md(ref)
    assert r.returncode == 0, r.stdout + r.stderr
    d = _copy_built(built_constant_potential, tmp_path / "run")
    r = run_md(d, fault="kill_after_step=90")
    assert r.returncode == -signal.SIGKILL, r.stdout + r.stderr
    r = run_md(d)
    assert r.returncode == 0 and "resuming at step 60/200 from the checkpoint" in r.stdout, r.stdout + r.stderr
    xyz, _ = check_complete(d)
    np.testing.assert_array_equal(xyz, frames(ref)[0])
    # the analysis re-solves each frame's charges from the XTC (analysis/electrode_charge.py): its last frame, the
    # run's last step, holds the charges of the run's own final state to the XTC's 0.001 nm precision
    import openmm as mm

    from analysis.electrode_charge import electrode_charges
    from systems.electrode import solved_charges
    from systems.electrode_cell import electrode_atoms
    from systems.md import load_system

    result = electrode_charges(d / "system.xml", d / "trajectory.xtc", d / "minimized.pdb", threads=1)
    system = load_system(d / "system.xml")
    force = next(f for f in system.getForces() if isinstance(f, mm.ConstantPotentialForce))
    state = mm.XmlSerializer.deserialize((d / "final_state.xml").read_text())
    ctx = mm.Context(system, mm.VerletIntegrator(0.001), mm.Platform.getPlatformByName("CPU"), {"Threads": "1"})
    ctx.setPeriodicBoxVectors(*state.getPeriodicBoxVectors())
    ctx.setPositions(state.getPositions())
    q = solved_charges(force, ctx)
    work, counter = electrode_atoms([a.residue.name for a in app.PDBFile(str(d / "minimized.pdb")).topology.atoms()])
    assert result["working_e"][-1] == pytest.approx(q[work].sum(), abs=2e-3)
    assert result["counter_e"][-1] == pytest.approx(q[counter].sum(), abs=2e-3)
    assert q[work].sum() > 0.05  # +1 V: a charge the comparison could miss by a unit or a sign
