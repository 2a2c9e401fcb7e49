"""Snakemake adapter: NVT run of one replica, with progress and ETA in the log."""
import sys
from pathlib import Path

sys.stdout = sys.stderr = open(snakemake.log[0], "w", buffering=1)
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1]))  # the project root, also in a per-rule conda env
from systems.build import replica_seeds
from systems.md import run_nvt_files

p = snakemake.params
run_nvt_files(
    snakemake.input.system,
    snakemake.input.pdb,
    snakemake.output,
    p.md,
    seed=replica_seeds(p.seed, p.replica)["velocities"],
    threads=snakemake.threads,
    label=f"{snakemake.wildcards.system}/{snakemake.wildcards.replica}",
    log=sys.stdout,
    geometry_json=snakemake.input.geometry,
)
