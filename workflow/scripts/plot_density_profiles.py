"""Snakemake adapter: TFSI- and Li+ density versus height above the Li surface."""
import sys
from pathlib import Path

sys.stdout = sys.stderr = open(snakemake.log[0], "w", buffering=1)
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1]))  # the project root, also in a per-rule conda env
from analysis.figures import plot_density_profiles
from analysis.summary import load_grouped

p = snakemake.params
plot_density_profiles(load_grouped(snakemake.input.analyses, p.systems, len(p.replicas)), snakemake.output[0])
