"""Snakemake adapter: top and side views of every coated system's slab and coating, as built."""
import sys
from pathlib import Path

sys.stdout = sys.stderr = open(snakemake.log[0], "w", buffering=1)
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1]))  # the project root, also in a per-rule conda env
from analysis.figures import plot_coatings

i = snakemake.input
plot_coatings(list(zip(snakemake.params.systems, i.slabs, i.coatings, i.infos)), snakemake.output[0])
