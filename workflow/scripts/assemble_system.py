"""Snakemake adapter: create and serialise the OpenMM System of a packed cell."""
import sys
from pathlib import Path

sys.stdout = sys.stderr = open(snakemake.log[0], "w", buffering=1)
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1]))  # the project root, also in a per-rule conda env
from systems.build import assemble_system

system = assemble_system(
    snakemake.input.pdb, snakemake.input.geometry, snakemake.output[0], coating=snakemake.params.coating, **snakemake.params.settings
)
print(f"System: {system.getNumParticles()} particles, forces {[f.getName() for f in system.getForces()]}")
