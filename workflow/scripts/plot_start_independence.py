"""Snakemake adapter: the headline CN of near-, random- and far-start runs side by side, per protocol."""
import json
import sys
from pathlib import Path

sys.stdout = sys.stderr = open(snakemake.log[0], "w", buffering=1)
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1]))  # the project root, also in a per-rule conda env
from analysis.figures import plot_start_independence
from analysis.summary import load_grouped

p = snakemake.params
stats = json.load(open(snakemake.input.statistics))
plot_start_independence(load_grouped(snakemake.input.analyses, p.systems, len(p.replicas)), stats, snakemake.output[0])
