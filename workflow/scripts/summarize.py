"""Snakemake adapter: pool replicas, coordination numbers with 95 % intervals, CSV and JSON."""
import sys

sys.stdout = sys.stderr = open(snakemake.log[0], "w", buffering=1)
from analysis.summary import summarize_files

p = snakemake.params
summarize_files(
    snakemake.input.analyses, p.systems, len(p.replicas), p.analysis, p.paper, snakemake.output.csv, snakemake.output.json
)
print(open(snakemake.output.csv).read())
