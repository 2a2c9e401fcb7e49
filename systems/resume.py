"""The MD run's work folder: a lock, checkpoints, trajectory segments and the record that ties them together.

A run writes into ``<run folder>/md_work/``, which is not a declared output, so Snakemake does not delete it
when a job fails. The trajectory is written as segments, one per checkpoint interval. At every checkpoint the
current segment is closed, the OpenMM checkpoint (exact: step count and random-number state, but only loadable
by the same OpenMM version on the same platform and hardware) and a portable State (XML) are saved under
names carrying the step, and then ``progress.json`` is replaced: that rename is the commit. Whatever a killed
process wrote after its last commit (a half-written frame, a checkpoint without its record) is not listed in
``progress.json`` and is deleted when the run resumes, so the joined trajectory has exactly one frame per
interval, contiguous, with no duplicates.

The record holds the size and sha256 of each checkpoint and State, and the previous commit's pair besides the
current one: a file that does not match its record is never loaded (OpenMM loads a cut checkpoint silently), and
the run falls back to the State, then to the previous commit. Each attempt is recorded from its start. A finished
run's outputs are committed into the folder (:func:`finish`) and published from there as hard links, so a kill
while finishing is repaired by publishing again (:func:`restore`), never by redoing the MD.

A lock (``fcntl`` POSIX lock, released by the kernel when its process dies, also over NFS) keeps a second
process, such as an orphaned SLURM job, from writing into the same folder.

``TFSI_MD_FAULT`` (for the tests, never set in production) makes the run kill itself with SIGKILL, send itself
SIGTERM, or spoil its positions at a chosen point, so a test can interrupt it at an exact place.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import signal
import socket
import time
from contextlib import contextmanager
from pathlib import Path

from systems.files import fsync_file, json_safe, write_text

PROGRESS = "progress.json"
LOCK = "lock"

#: exit status of a run that saved its state and stopped early (SIGTERM, wall-clock budget): "try again"
#: (EX_TEMPFAIL). Snakemake retries any failed job when ``retries`` is set; the retry resumes.
EXIT_RESUME = 75


class RunInterrupted(Exception):
    """The run saved a checkpoint and stopped before its end (a signal or the wall-clock budget)."""

    def __init__(self, message: str, step: int, n_steps: int):
        super().__init__(message)
        self.step = step
        self.n_steps = n_steps


class RunFolderLocked(RuntimeError):
    """Another live process holds the run folder's lock."""


def holder_description() -> dict:
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
        "since": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


@contextmanager
def run_lock(work: Path):
    """Hold ``work/lock`` for the life of the block; raise :class:`RunFolderLocked` naming the holder."""
    work.mkdir(parents=True, exist_ok=True)
    fh = open(work / LOCK, "a+")
    try:
        try:
            fcntl.lockf(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            raise RunFolderLocked(
                f"{work}: another process is writing this run ({holder}). If it is an orphaned job (e.g. of a "
                "killed snakemake), cancel it (scancel) or wait for it; the lock goes when that process ends."
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(json.dumps(holder_description()))
        fh.flush()
        yield
    finally:
        fh.close()  # closing releases the POSIX lock


def fingerprint(system_xml: str, positions_nm, params: dict) -> str:
    """What a checkpoint belongs to: the System, the starting positions, and the dynamics parameters."""
    import numpy as np

    h = hashlib.sha256()
    h.update(system_xml.encode())
    h.update(np.ascontiguousarray(np.round(np.asarray(positions_nm, dtype=float), 8)).tobytes())
    h.update(json.dumps(params, sort_keys=True).encode())
    return h.hexdigest()


#: what a finished run keeps in its work folder: the outputs' data (hard links to the outputs, no extra disk)
FINAL = {"trajectory": "final.xtc", "state_log": "final.csv", "final_state": "final_state.xml", "provenance": "final_provenance.json"}


def file_record(path: Path) -> dict:
    """Size and sha256 of a file, recorded when it is committed and checked before it is used."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return {"bytes": path.stat().st_size, "sha256": h.hexdigest()}


def verify(path: Path, record: dict | None) -> str | None:
    """None if ``path`` is the file ``record`` describes; else why not (missing, cut, changed)."""
    if record is None:
        return None  # committed before records were kept: nothing to check against
    if not path.exists():
        return f"{path.name} is missing"
    size = path.stat().st_size
    if size != record["bytes"]:
        return f"{path.name} has {size} bytes, {record['bytes']} were committed (cut or overwritten)"
    if file_record(path)["sha256"] != record["sha256"]:
        return f"{path.name} differs from what was committed (sha256)"
    return None


def named_files(progress: dict) -> set:
    """Every file the record names: segments, the current and the previous checkpoint and State, a finished run's files."""
    names = set()
    for seg in progress.get("segments", []):
        names.update({seg["xtc"], seg["csv"]})
    for snap in (progress, progress.get("previous") or {}):
        names.update(n for n in (snap.get("checkpoint"), snap.get("state")) if n)
    names.update((progress.get("finished") or {}).keys())
    return names


def damaged_segments(work: Path, progress: dict) -> list[str]:
    """Committed segments whose files differ from their record (size and sha256), each with why."""
    bad = []
    for seg in progress.get("segments", []):
        for key in ("xtc", "csv"):
            why = verify(work / seg[key], (seg.get("files") or {}).get(seg[key]))
            if why:
                bad.append(f"{why} (steps {seg.get('first_step')}-{seg.get('last_step')})")
    return bad


def restart_points(progress: dict) -> list[dict]:
    """The committed points a run can resume from, newest first: this commit's, then the previous commit's."""
    points = []
    if progress.get("checkpoint"):
        points.append({k: progress.get(k) for k in ("step", "time_ps", "checkpoint", "state", "files", "platform", "openmm_version")})
        points[-1]["n_segments"] = len(progress["segments"])
        points[-1]["which"] = "last commit"
    prev = progress.get("previous")
    if prev and prev.get("checkpoint"):
        points.append(dict(prev, which="previous commit"))
    return points


def roll_back(work: Path, progress: dict, point: dict) -> None:
    """Make ``point`` (the previous commit) the current one: later segments and files are dropped."""
    progress.update({k: point[k] for k in ("step", "time_ps", "checkpoint", "state", "files", "platform", "openmm_version")})
    progress["segments"] = progress["segments"][: point["n_segments"]]
    progress["previous"] = None
    keep = named_files(progress) | {LOCK, PROGRESS}
    for p in work.iterdir():
        if p.is_file() and p.name not in keep:
            p.unlink()


def load_progress(work: Path, fp: str, log=None, label: str = "") -> dict | None:
    """The committed progress of a run with fingerprint ``fp``, or None (and a clean folder) to start afresh."""
    path = work / PROGRESS
    progress = None
    if path.exists():
        try:
            progress = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            if log:
                log.write(f"{label}: {path} unreadable ({exc}); starting from the beginning\n")
        if progress is not None and progress.get("fingerprint") != fp:
            if log:
                log.write(f"{label}: {work} holds a run of other inputs or parameters; starting from the beginning\n")
            progress = None
    keep = ({LOCK, PROGRESS} | named_files(progress)) if progress else {LOCK}
    for p in work.iterdir():
        if p.name not in keep and p.is_file():
            p.unlink()  # written after the last commit, or by a run of other inputs
    return progress


def commit(work: Path, progress: dict) -> None:
    """Replace ``progress.json`` (the commit), then delete the files it no longer names.

    The record keeps the previous commit's checkpoint and State besides the current ones, so a damaged current
    pair still leaves a point to resume from.
    """
    write_text(work / PROGRESS, json.dumps(json_safe(progress), indent=1, allow_nan=False), durable=True)
    named = named_files(progress)
    for p in list(work.glob("checkpoint_*.chk")) + list(work.glob("state_*.xml")) + list(work.glob("segment_*")):
        if p.name not in named:
            p.unlink()


def publish(src: Path, dst: Path) -> None:
    """Put ``src`` at ``dst`` in one rename: a hard link (no copy, no extra disk), or a copy where links fail."""
    import shutil

    if dst.exists() and os.path.samefile(src, dst):
        return  # already published (renaming a link onto itself would do nothing and leave the temporary link)
    tmp = dst.with_name(f"{dst.name}.part.{os.getpid()}")
    tmp.unlink(missing_ok=True)
    try:
        os.link(src, tmp)
    except OSError:  # a file system without hard links
        shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def finish(work: Path, progress: dict, made: dict, outputs: dict, faults: Faults | None = None) -> None:
    """End a run so that no kill can lose it: the made files move into the work folder and are committed as
    finished (with sizes and hashes), checkpoints and segments go, then each output is published from there.

    ``made`` and ``outputs`` map keys of :data:`FINAL` to the files written (anywhere on the same file system)
    and to the declared outputs. A process killed at any point leaves either the old record (the rerun joins
    again) or the finished one (the rerun publishes the outputs again, see :func:`restore`); the MD is never
    redone and the folder never blocks a rerun.
    """
    for key, path in made.items():
        os.replace(path, work / FINAL[key])
        fsync_file(work / FINAL[key])
        # read-only: the outputs are the same files, and a tool rewriting one in place would change the finished
        # record's data (then a rerun could not publish it again); deleting or replacing them still works
        (work / FINAL[key]).chmod(0o444)
    progress["finished"] = {FINAL[k]: file_record(work / FINAL[k]) for k in made}
    progress["segments"], progress["previous"] = [], None
    progress["checkpoint"] = progress["state"] = None
    commit(work, progress)
    for p in work.iterdir():
        if p.is_file() and p.name not in named_files(progress) | {LOCK, PROGRESS}:
            p.unlink()
    for k, (key, dst) in enumerate(outputs.items()):
        if faults:
            faults.in_finish(k)
        publish(work / FINAL[key], Path(dst))


def restore(work: Path, progress: dict, outputs: dict) -> str | None:
    """Publish a finished run's outputs again; None on success, else why not (then the run starts over)."""
    for name, record in progress["finished"].items():
        why = verify(work / name, record)
        if why:
            return why
    for key, dst in outputs.items():
        publish(work / FINAL[key], Path(dst))
    return None



class StopSignals:
    """Turn SIGTERM (SLURM time limit, preemption, scancel) and SIGINT into a flag the MD loop checks."""

    def __init__(self, signals=(signal.SIGTERM, signal.SIGINT)):
        self.received = None
        self._signals = signals
        self._previous = {}

    def _handler(self, signum, frame):
        self.received = signal.Signals(signum).name

    def __enter__(self):
        try:
            for s in self._signals:
                self._previous[s] = signal.signal(s, self._handler)
        except ValueError:  # not the main thread: signals cannot be caught here
            pass
        return self

    def __exit__(self, *exc):
        for s, h in self._previous.items():
            signal.signal(s, h)
        return False


class Faults:
    """Test hooks from ``TFSI_MD_FAULT``, e.g. ``kill_after_step=120`` or ``kill_in_frame_write=4,kill_in_checkpoint=1``.

    - ``kill_after_step=N``: SIGKILL itself once the step count reaches N or more.
    - ``kill_in_frame_write=N``: during the write of frame N (1-based, whole run): leave the frame half written
      in the segment file (cut to half its bytes), then SIGKILL.
    - ``kill_in_checkpoint=N``: at the N-th checkpoint of this process, after writing the checkpoint and State
      files and before the commit, SIGKILL.
    - ``sigterm_after_step=N``: send itself SIGTERM once the step count reaches N.
    - ``nan_after_step=N``: set one mobile atom's position to NaN once the step count reaches N.
    - ``max_chunk=N``: at most N steps per integrator call (a slow machine, where a stop falls between frames).
    - ``kill_in_join=1``: at the end, with the segments joined into the work folder's part files, SIGKILL.
    - ``kill_in_finish=K``: at the end, after the finished record is committed and K outputs are published, SIGKILL.
    - ``in_stage=K``: the faults above fire only in stage K (0-based) of a protocol (:func:`systems.md.run_protocol`
      sets :attr:`stage`); step counts are the stage's own.

    With ``TFSI_MD_FAULT_ONCE=PATH`` the faults fire in one process only: the first to fire creates PATH, and a
    process that finds PATH has none (so a retried job, a new process, runs clean).
    """

    def __init__(self, text: str | None = None):
        text = os.environ.get("TFSI_MD_FAULT", "") if text is None else text
        self._once_file = os.environ.get("TFSI_MD_FAULT_ONCE")
        if self._once_file and os.path.exists(self._once_file):
            text = ""
        self.points = {}
        for item in filter(None, (t.strip() for t in text.split(","))):
            key, _, value = item.partition("=")
            self.points[key] = int(value)
        self._fired = set()
        self.stage = 0

    def _once(self, key, reached: bool) -> bool:
        if self.points.get("in_stage", self.stage) != self.stage:
            return False
        if key in self.points and key not in self._fired and reached:
            self._fired.add(key)
            if self._once_file:
                open(self._once_file, "w").close()
            return True
        return False

    def after_steps(self, step: int, context=None, mobile_index: int | None = None) -> None:
        if self._once("kill_after_step", step >= self.points.get("kill_after_step", 1 << 62)):
            os.kill(os.getpid(), signal.SIGKILL)
        if self._once("sigterm_after_step", step >= self.points.get("sigterm_after_step", 1 << 62)):
            os.kill(os.getpid(), signal.SIGTERM)
        if self._once("nan_after_step", step >= self.points.get("nan_after_step", 1 << 62)):
            import numpy as np
            import openmm.unit as unit

            pos = context.getState(getPositions=True).getPositions(asNumpy=True).value_in_unit(unit.nanometer)
            pos[mobile_index] = np.nan
            context.setPositions(pos * unit.nanometer)

    def in_frame_write(self, frame: int, path: Path, size_before: int) -> None:
        if self._once("kill_in_frame_write", frame == self.points.get("kill_in_frame_write")):
            size_after = path.stat().st_size
            os.truncate(path, size_before + (size_after - size_before) // 2)
            os.kill(os.getpid(), signal.SIGKILL)

    def in_join(self) -> None:
        if self._once("kill_in_join", "kill_in_join" in self.points):
            os.kill(os.getpid(), signal.SIGKILL)

    def in_finish(self, published: int) -> None:
        if self._once("kill_in_finish", published == self.points.get("kill_in_finish")):
            os.kill(os.getpid(), signal.SIGKILL)

    def in_checkpoint(self, count: int) -> None:
        if self._once("kill_in_checkpoint", count == self.points.get("kill_in_checkpoint")):
            os.kill(os.getpid(), signal.SIGKILL)


def join_segments(work: Path, segments: list[dict], xtc_out: Path, csv_out: Path) -> None:
    """Concatenate the committed segments: XTC frames are self-contained, so bytes join; CSV keeps one header."""
    with open(xtc_out, "wb") as out:
        for seg in segments:
            out.write((work / seg["xtc"]).read_bytes())
    with open(csv_out, "w") as out:
        header_written = False
        for seg in segments:
            lines = (work / seg["csv"]).read_text().splitlines(keepends=True)
            if not lines:
                continue
            if not header_written:
                out.write(lines[0])
                header_written = True
            out.writelines(lines[1:])


def check_frames(xtc_path: Path, every: int, n_frames: int) -> None:
    """The joined trajectory must hold steps every, 2*every, ..., n_frames*every: no gap, no duplicate."""
    import numpy as np
    from mdtraj.formats import XTCTrajectoryFile

    with XTCTrajectoryFile(str(xtc_path)) as fh:
        _, _, steps, _ = fh.read()
    expected = every * np.arange(1, n_frames + 1)
    if len(steps) != n_frames or not np.array_equal(np.asarray(steps, dtype=np.int64), expected):
        raise RuntimeError(
            f"{xtc_path}: the joined trajectory has {len(steps)} frames at steps {list(steps)[:5]}..., expected "
            f"{n_frames} at {list(expected[:5])}...; the work folder is inconsistent"
        )
