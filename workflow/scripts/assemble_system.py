"""Snakemake adapter: create and serialise the OpenMM System of a packed cell."""
import sys
from pathlib import Path

sys.stdout = sys.stderr = open(snakemake.log[0], "w", buffering=1)
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1]))  # the project root, also in a per-rule conda env
from systems.build import assemble_system

coating_xml = snakemake.input.coating_forcefield  # one path for a coated system, an empty list for bare Li
coating_xml = coating_xml if isinstance(coating_xml, str) else (coating_xml[0] if len(coating_xml) else None)
system = assemble_system(snakemake.input.pdb, snakemake.input.geometry, snakemake.output[0], coating_xml=coating_xml, **snakemake.params.settings)
print(f"System: {system.getNumParticles()} particles, forces {[f.getName() for f in system.getForces()]}")
