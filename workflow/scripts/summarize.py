"""Snakemake adapter: pool replicas, coordination numbers with 95 % intervals, CSV and JSON."""
import sys
from pathlib import Path

sys.stdout = sys.stderr = open(snakemake.log[0], "w", buffering=1)
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1]))  # the project root, also in a per-rule conda env
from analysis.summary import summarize_files

p = snakemake.params
summarize_files(
    snakemake.input.analyses,
    p.systems,
    len(p.replicas),
    p.analysis,
    p.paper,
    snakemake.output.csv,
    snakemake.output.json,
    provenance_paths=snakemake.input.provenance,
    sites_csv=snakemake.output.sites,
)
print(open(snakemake.output.csv).read())
