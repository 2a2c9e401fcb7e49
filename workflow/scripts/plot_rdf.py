"""Snakemake adapter: g(r) and running coordination number of every system."""
import json
import sys

sys.stdout = sys.stderr = open(snakemake.log[0], "w", buffering=1)
from analysis.figures import plot_rdf_cn
from analysis.summary import load_grouped

p = snakemake.params
plot_rdf_cn(load_grouped(snakemake.input.analyses, p.systems, len(p.replicas)), json.load(open(snakemake.input.summary)), snakemake.output[0])
