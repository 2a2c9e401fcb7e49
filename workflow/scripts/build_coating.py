"""Snakemake adapter: build the coating layer and place it on the slab."""
import sys
from pathlib import Path

sys.stdout = sys.stderr = open(snakemake.log[0], "w", buffering=1)
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1]))  # the project root, also in a per-rule conda env
from systems.build import build_coating

layer = build_coating(snakemake.params.coating, snakemake.input.slab, snakemake.output.pdb, snakemake.output.info)
print(open(snakemake.output.info).read())
