"""Snakemake adapter: TFSI- and Li+ density versus height above the Li surface."""
import sys

sys.stdout = sys.stderr = open(snakemake.log[0], "w", buffering=1)
from analysis.figures import plot_density_profiles
from analysis.summary import load_grouped

p = snakemake.params
plot_density_profiles(load_grouped(snakemake.input.analyses, p.systems, len(p.replicas)), snakemake.output[0])
