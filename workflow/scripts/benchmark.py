"""Snakemake adapter: time the built systems (bare loop, production MD job, replicas at once, analysis)."""
import sys
from pathlib import Path

sys.stdout = sys.stderr = open(snakemake.log[0], "w", buffering=1)
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1]))  # the project root, also in a per-rule conda env
from systems.benchmark import format_table, run_benchmark

p = snakemake.params
files = {
    name: {"system_xml": xml, "pdb": pdb, "geometry": geo}
    for name, xml, pdb, geo in zip(p.systems, snakemake.input.systems, snakemake.input.pdbs, snakemake.input.geometry)
}
rows = run_benchmark(files, p.md, p.analysis, p.benchmark, snakemake.output[0], threads=p.md["threads"], log=sys.stdout)
sys.__stderr__.write(format_table(rows) + "\n")  # the table also goes to the terminal
