"""Snakemake adapter: minimise with the fixed atoms fixed."""
import sys
from pathlib import Path

sys.stdout = sys.stderr = open(snakemake.log[0], "w", buffering=1)
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1]))  # the project root, also in a per-rule conda env
from systems.build import minimize_file
from systems.platforms import select_platform

p = snakemake.params
platform, props = select_platform(p.platform, threads=snakemake.threads, precision=p.precision)
minimize_file(
    snakemake.input.system,
    snakemake.input.pdb,
    snakemake.output.pdb,
    snakemake.output.report,
    platform,
    props,
    tolerance=p.minimize["tolerance_kj_mol_nm"],
    max_iterations=p.minimize["max_iterations"],
    label=f"{snakemake.wildcards.system}/{snakemake.wildcards.replica}",
    log=sys.stdout,
)
