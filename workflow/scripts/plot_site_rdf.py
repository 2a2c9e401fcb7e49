"""Snakemake adapter: g(r) and running coordination of TFSI- around each coating site (Fe, amino H, Co, ...)."""
import json
import sys
from pathlib import Path

sys.stdout = sys.stderr = open(snakemake.log[0], "w", buffering=1)
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1]))  # the project root, also in a per-rule conda env
from analysis.figures import plot_site_rdf
from analysis.summary import load_grouped

p = snakemake.params
plot_site_rdf(load_grouped(snakemake.input.analyses, p.systems, len(p.replicas)), json.load(open(snakemake.input.summary)), snakemake.output[0])
