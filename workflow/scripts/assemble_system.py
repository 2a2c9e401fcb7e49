"""Snakemake adapter: create and serialise the OpenMM System of a packed cell."""
import sys

sys.stdout = sys.stderr = open(snakemake.log[0], "w", buffering=1)
from systems.build import assemble_system

system = assemble_system(
    snakemake.input.pdb, snakemake.input.geometry, snakemake.output[0], coating=snakemake.params.coating, **snakemake.params.settings
)
print(f"System: {system.getNumParticles()} particles, forces {[f.getName() for f in system.getForces()]}")
