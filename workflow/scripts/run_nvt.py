"""Snakemake adapter: NVT run of one replica, with progress and ETA in the log; resumes from its work folder.

Exit status 75 means "stopped early with a checkpoint saved" (SIGTERM from a SLURM time limit or preemption,
or the wall-clock budget): the job counts as failed, Snakemake's retry (or the next snakemake call) resumes.
"""
import os
import sys
import time
from pathlib import Path

t_job = time.monotonic()
sys.stdout = sys.stderr = open(snakemake.log[0], "w", buffering=1)  # earlier attempts: provenance.json "attempts"
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1]))  # the project root, also in a per-rule conda env
from systems.build import replica_seeds
from systems.md import SimulationExploded, run_nvt_files, wall_budget
from systems.resume import EXIT_RESUME, RunFolderLocked, RunInterrupted

p = snakemake.params
label = f"{snakemake.wildcards.system}/{snakemake.wildcards.replica}"
print(f"{label}: job started {time.strftime('%Y-%m-%d %H:%M:%S')} on {os.uname().nodename}")
try:
    run_nvt_files(
        snakemake.input.system,
        snakemake.input.pdb,
        snakemake.output,
        p.md,
        seed=replica_seeds(p.seed, p.replica)["velocities"],
        threads=snakemake.threads,
        label=label,
        log=sys.stdout,
        geometry_json=snakemake.input.geometry,
        work_dir=p.work_dir,
        wall_budget_s=wall_budget(p.md, snakemake.resources.get("runtime"), time.monotonic() - t_job, sys.stdout, label),
    )
except RunInterrupted as exc:
    print(exc)
    sys.exit(EXIT_RESUME)
except (RunFolderLocked, SimulationExploded) as exc:
    print(exc)
    sys.exit(1)
