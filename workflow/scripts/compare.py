"""Snakemake adapter: blocked statistics, convergence checks, the sensitivity table and comparison.md."""
import sys
from pathlib import Path

sys.stdout = sys.stderr = open(snakemake.log[0], "w", buffering=1)
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1]))  # the project root, also in a per-rule conda env
from analysis.compare import compare_files

p = snakemake.params
compare_files(
    snakemake.input.analyses,
    p.systems,
    len(p.replicas),
    p.coatings,
    p.paper,
    p.analysis,
    snakemake.input.provenance,
    p.config,
    snakemake.input.forcefields,
    snakemake.output,
    electrode_paths=snakemake.input.electrode,
)
print(open(snakemake.output.comparison).read())
