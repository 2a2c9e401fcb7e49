"""Snakemake adapter: build the bcc Li(100) slab."""
import sys
from pathlib import Path

sys.stdout = sys.stderr = open(snakemake.log[0], "w", buffering=1)
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1]))  # the project root, also in a per-rule conda env
from systems.build import build_slab

p = snakemake.params.slab
slab = build_slab(snakemake.output[0], p["cells"], p["layers"], p["lattice_a_nm"])
print(f"Li(100) slab: {slab.n_atoms} atoms, lateral cell {slab.box[0]:.4f} nm")
