"""Snakemake adapter: build the coating layer and place it on the slab."""
import sys

sys.stdout = sys.stderr = open(snakemake.log[0], "w", buffering=1)
from systems.build import build_coating

layer = build_coating(snakemake.params.coating, snakemake.input.slab, snakemake.output.pdb, snakemake.output.info)
print(open(snakemake.output.info).read())
