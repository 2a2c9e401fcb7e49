"""Snakemake adapter: build the coating from its definition, place it on the slab, write its force field."""
import sys
from pathlib import Path

sys.stdout = sys.stderr = open(snakemake.log[0], "w", buffering=1)
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1]))  # the project root, also in a per-rule conda env
from systems.build import build_coating

o = snakemake.output
build_coating(snakemake.params.coating, snakemake.input.slab, o.pdb, o.info, o.forcefield)
print(open(o.info).read())
