"""Snakemake adapter: CN versus time for every replica, and the block-averaging curves."""
import json
import sys
from pathlib import Path

sys.stdout = sys.stderr = open(snakemake.log[0], "w", buffering=1)
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1]))  # the project root, also in a per-rule conda env
from analysis.figures import plot_block_averaging, plot_convergence
from analysis.summary import load_grouped

p = snakemake.params
stats = json.load(open(snakemake.input.statistics))
plot_convergence(load_grouped(snakemake.input.analyses, p.systems, len(p.replicas)), stats, snakemake.output.convergence)
plot_block_averaging(stats, snakemake.output.blocks)
