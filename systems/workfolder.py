"""The work folder of one MD stage: its lock, its record of attempts, trajectory segments, checkpoints and commits.

:class:`WorkFolder` owns everything a run leaves on disk while it runs and after it finishes; the MD loop
(:func:`systems.md.run_stage`) only asks it to open and close segments, save checkpoints and record how an
attempt ended. The file formats and the rules that make a killed run resumable (segments named by the record,
files checked against their size and sha256, the previous commit kept as a fallback, a finished run published
from the folder) are those of :mod:`systems.resume`; this class keeps the state that ties them together for one
process.
"""

from __future__ import annotations

import json
import os
import time
from contextlib import ExitStack
from pathlib import Path

import openmm as mm
import openmm.app as app
import openmm.unit as unit

from systems.files import atomic_path, fsync_file, write_text
from systems.resume import (
    FINAL,
    LOCK,
    Faults,
    commit,
    damaged_segments,
    file_record,
    finish,
    load_progress,
    restart_points,
    restore,
    roll_back,
    run_lock,
    verify,
)


class WorkFolder:
    """One stage's work folder, held (locked) for the life of a ``with`` block.

    Parameters
    ----------
    path : Path
        The folder (created if missing).
    fingerprint : str
        What its checkpoints belong to (:func:`systems.resume.fingerprint`); a record of another fingerprint is
        discarded.
    recipe : dict
        What else a finished run must share with this one to stand for it (steps, platform and precision,
        OpenMM version).
    label : str
        Names the run in messages; ``log`` receives them.
    faults : Faults
        Test hooks (never set in production).
    finished_keys : tuple of str, optional
        The parts of ``recipe`` a finished run must share to stand for this one (default: all of them).
    """

    def __init__(self, path, fingerprint: str, recipe: dict, label: str = "", log=None, faults: Faults | None = None, finished_keys=None,
                 log_volume: bool = False):  # fmt: skip
        self.path = Path(path)
        self.log_volume = bool(log_volume)  # an NPT stage's state log also holds the box volume and the density
        self.fingerprint = fingerprint
        self.recipe = recipe
        self.finished_keys = tuple(finished_keys) if finished_keys is not None else tuple(recipe)
        self.label = label
        self.log = log
        self.faults = faults if faults is not None else Faults()
        self.progress = None
        self.attempt = {}
        self._prior_attempts = []
        self._segment = {}
        self._n_checkpoints = 0
        self._t0 = time.perf_counter()
        self._stack = None

    # -- holding the folder ------------------------------------------------------------------------------------

    def __enter__(self):
        self._stack = ExitStack()
        self._stack.enter_context(run_lock(self.path))
        try:
            self.progress = load_progress(self.path, self.fingerprint, log=self.log, label=self.label)
        except BaseException:
            self._stack.close()  # the lock goes with the failure
            raise
        return self

    def __exit__(self, *exc):
        self.close_segment_files()
        self._stack.close()
        return False

    def say(self, text: str) -> None:
        if self.log:
            self.log.write(f"{self.label}: {text}\n")
            self.log.flush()

    def release(self) -> None:
        """Remove the lock file: the run is finished and nobody needs to know who held it."""
        (self.path / LOCK).unlink(missing_ok=True)

    # -- what is there when the run starts ---------------------------------------------------------------------

    def restore_finished(self, outputs: dict) -> dict | None:
        """If this run finished earlier with the same recipe, publish its outputs again and return its provenance.

        A finished record of another recipe, or one whose files fail their checks, is dropped (the run starts over).
        """
        if not (self.progress and self.progress.get("finished")):
            return None
        made_with = self.progress.get("recipe") or {}
        same = all(made_with.get(k) == self.recipe.get(k) for k in self.finished_keys)
        why = restore(self.path, self.progress, outputs) if same else f"made with {self.progress.get('recipe')}, this run is {self.recipe}"
        if why is None:
            self.say(f"this run finished earlier: its outputs were published again from {self.path}, nothing recomputed")
            return json.loads((self.path / FINAL["provenance"]).read_text())
        self.say(f"the finished run in {self.path} is not used ({why}); starting from the beginning")
        self.start_over()
        return None

    def start_over(self) -> None:
        """Forget the record (the attempts too) and empty the folder."""
        self.progress = None
        load_progress(self.path, "", log=None)

    def check_segments(self, n_steps: int) -> None:
        """Refuse damaged committed segments; start over from a record past the end of this run."""
        bad = damaged_segments(self.path, self.progress) if self.progress else []
        if bad:
            raise RuntimeError(
                f"{self.label}: committed trajectory segments in {self.path} differ from what was committed: {'; '.join(bad)}. Their "
                f"frames cannot be rebuilt from the checkpoints. Delete {self.path} to run this replica again from the start."
            )
        if self.progress and self.progress["step"] > n_steps:
            self.say(f"the checkpoint in {self.path} is past the end of this run ({self.progress['step']} > {n_steps} steps); starting from the beginning")
            self.start_over()

    @property
    def resuming(self) -> bool:
        return bool(self.progress and self.progress.get("checkpoint"))

    @property
    def n_attempts(self) -> int:
        return len(self.progress["attempts"]) if self.progress else 0

    def load_restart_point(self, context: mm.Context, info: dict) -> tuple[str, list[str]]:
        """Load the newest committed point that passes its checks into ``context``.

        Every committed point, newest first, checkpoint before State; each file is checked against the size and
        sha256 recorded when it was committed (OpenMM loads a cut checkpoint without a word), and a checkpoint
        of another platform or OpenMM version is not tried. A point older than the last commit becomes the
        current one. Returns where the run resumes from (``start`` when nothing loads) and what was rejected.
        """
        resumed_from, rejected = "start", []
        for point in restart_points(self.progress) if self.progress else []:
            for source in ("checkpoint", "state"):
                name = point[source]
                if source == "checkpoint" and (point.get("platform"), point.get("openmm_version")) != (info["platform"], info["openmm_version"]):
                    why = (
                        f"written by OpenMM {point.get('openmm_version')} on {point.get('platform')}, this is "
                        f"OpenMM {info['openmm_version']} on {info['platform']}"
                    )
                else:
                    why = verify(self.path / name, (point.get("files") or {}).get(name))
                if why is None:
                    try:
                        if source == "checkpoint":
                            context.loadCheckpoint((self.path / name).read_bytes())
                        else:
                            context.setState(mm.XmlSerializer.deserialize((self.path / name).read_text()))
                    except Exception as exc:  # OpenMM raises a plain Exception for a checkpoint of other hardware
                        why = f"not loadable: {exc}"
                if why is None:
                    resumed_from = source if point["which"] == "last commit" else f"previous {source}"
                    break
                rejected.append(f"{name} ({point['which']}, step {point['step']}): {why}")
                self.say(
                    f"{source} not loadable ({why}); continuing from the portable State instead"
                    if source == "checkpoint"
                    else f"State {name} of step {point['step']} not usable ({why})"
                )
            if resumed_from != "start":
                if point["which"] != "last commit":
                    self.say(f"the last commit's files failed their checks; going back to the previous commit, step {point['step']}")
                    roll_back(self.path, self.progress, point)
                break
        return resumed_from, rejected

    # -- one attempt -------------------------------------------------------------------------------------------

    def begin_attempt(self, resumed_from: str, rejected: list[str], integrator_seed: int, info: dict) -> int:
        """Record this attempt from its start (committed at once) and return the step it starts at.

        When nothing could be loaded from an existing record, the record starts afresh but keeps its attempts.
        """
        kept_attempts = []
        if self.progress and resumed_from == "start" and self.progress.get("checkpoint"):
            self.say("no committed checkpoint or State passes its checks; starting from the beginning (earlier attempts stay in the record)")
            kept_attempts = self.progress["attempts"]
            self.start_over()
        if self.progress and resumed_from != "start":
            start_step = self.progress["step"]
        else:
            start_step = 0
            prior = self.progress["attempts"] if self.progress else (kept_attempts if rejected else [])
            self.progress = {"fingerprint": self.fingerprint, "step": 0, "segments": [], "attempts": prior, "checkpoint": None, "state": None, "previous": None}
        self.attempt = {
            "start_step": start_step,
            "resumed_from": resumed_from,
            "integrator_seed": integrator_seed,
            "host": os.uname().nodename,
            "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
            "platform": info["platform"],
        }
        if rejected:
            self.attempt["rejected"] = rejected
        self._prior_attempts = list(self.progress["attempts"])
        self._t0 = time.perf_counter()
        self.record("lost before its first checkpoint (killed, or the node failed)")  # every attempt is in the record
        commit(self.path, self.progress)
        return start_step

    def record(self, stopped_by: str, step: int | None = None) -> None:
        """This attempt, as the record shows it: if the process dies, the last commit says how far it got."""
        if step is not None:
            self.attempt["end_step"] = step
        self.attempt.setdefault("end_step", self.attempt["start_step"])
        self.attempt.update(stopped_by=stopped_by, wall_time_s=time.perf_counter() - self._t0)
        self.progress["attempts"] = self._prior_attempts + [dict(self.attempt)]

    def commit(self) -> None:
        commit(self.path, self.progress)

    # -- trajectory segments and checkpoints -------------------------------------------------------------------

    def open_segment(self, topology, step: int, step_size, every: int) -> None:
        """Start a segment (XTC + state-log CSV) at ``step``; its first frame is the next multiple of ``every``."""
        k = len(self.progress["segments"])
        seg = {"xtc": f"segment_{k:04d}.xtc", "csv": f"segment_{k:04d}.csv", "first_step": step}
        first_frame_step = (step // every + 1) * every
        seg["_xtc"] = app.XTCFile(str(self.path / seg["xtc"]), topology, step_size, first_frame_step, every)
        seg["_csv_fh"] = open(self.path / seg["csv"], "w")
        seg["_log"] = app.StateDataReporter(
            seg["_csv_fh"], every, step=True, time=True, potentialEnergy=True, kineticEnergy=True, temperature=True, speed=True,
            volume=self.log_volume, density=self.log_volume,
        )  # fmt: skip
        seg["n_frames"] = 0
        self._segment = seg

    def write_frame(self, simulation: app.Simulation, state: mm.State, positions_nm, frame: int) -> None:
        """Append one frame to the segment's XTC and one row to its state log."""
        xtc_file = self.path / self._segment["xtc"]
        size_before = xtc_file.stat().st_size if xtc_file.exists() else 0
        self._segment["_xtc"].writeModel(positions_nm, periodicBoxVectors=state.getPeriodicBoxVectors())
        self.faults.in_frame_write(frame, xtc_file, size_before)
        self._segment["_log"].report(simulation, state)
        self._segment["n_frames"] += 1

    def close_segment_files(self) -> None:
        fh = self._segment.get("_csv_fh")
        if fh is not None and not fh.closed:
            fh.close()

    def _close_segment(self) -> dict:
        self.close_segment_files()
        for name in (self._segment["xtc"], self._segment["csv"]):
            fsync_file(self.path / name)  # on disk before the commit names it (creates an empty XTC if no frame)
        return {k: v for k, v in self._segment.items() if not k.startswith("_")}

    def save_checkpoint(self, context: mm.Context, state: mm.State, step: int, info: dict) -> None:
        """Close the segment, save checkpoint + State named by step, then commit the record."""
        seg = self._close_segment()
        seg["last_step"] = step
        seg["files"] = {seg[k]: file_record(self.path / seg[k]) for k in ("xtc", "csv")}  # checked when the run resumes
        ckpt, st = f"checkpoint_{step:012d}.chk", f"state_{step:012d}.xml"
        with atomic_path(self.path / ckpt, durable=True) as tmp:
            tmp.write_bytes(context.createCheckpoint())
        write_text(self.path / st, mm.XmlSerializer.serialize(state), durable=True)
        self._n_checkpoints += 1
        self.faults.in_checkpoint(self._n_checkpoints)
        previous = restart_points(self.progress)[:1]  # kept as a fallback in case this commit's files are damaged
        self.progress.update(
            step=step,
            time_ps=state.getTime().value_in_unit(unit.picosecond),
            checkpoint=ckpt,
            state=st,
            files={ckpt: file_record(self.path / ckpt), st: file_record(self.path / st)},
            platform=info["platform"],
            openmm_version=info["openmm_version"],
            previous={k: v for k, v in previous[0].items() if k != "which"} if previous else None,
        )
        self.progress["segments"].append(seg)
        self.record("lost after this checkpoint (killed, or the node failed)", step)
        self.commit()

    def exploded_note(self, at_step: int, detail: str) -> str:
        """Record the attempt as exploded (not as killed) and say what is kept."""
        self.record(f"exploded by step {at_step}: {detail}", at_step)
        self.commit()
        if self.progress.get("checkpoint"):
            return f"The last good checkpoint (step {self.progress['step']}) is kept in {self.path}."
        return "No checkpoint was committed yet: a rerun starts from the beginning."

    # -- the end -----------------------------------------------------------------------------------------------

    def segments(self) -> list[dict]:
        return self.progress["segments"]

    def attempts(self) -> list[dict]:
        return self.progress["attempts"]

    def finish(self, made: dict, outputs: dict) -> None:
        """Commit the made files as this finished run (with the recipe) and publish them (:func:`systems.resume.finish`)."""
        self.progress["recipe"] = self.recipe
        finish(self.path, self.progress, made, outputs, self.faults)
