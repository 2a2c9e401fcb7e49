"""Snakemake adapter: TFSI- mean-squared displacement of every replica."""
import sys

sys.stdout = sys.stderr = open(snakemake.log[0], "w", buffering=1)
from analysis.figures import plot_msd
from analysis.summary import load_grouped

p = snakemake.params
plot_msd(load_grouped(snakemake.input.analyses, p.systems, len(p.replicas)), snakemake.output[0])
