"""Snakemake adapter: pack the GPU bundle (wheels for the node, built cells of replica r0, run.sh)."""
import sys
from pathlib import Path

sys.stdout = sys.stderr = open(snakemake.log[0], "w", buffering=1)
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1]))  # the project root, also in a per-rule conda env
from systems.gpu_bundle import make_bundle

p = snakemake.params
cells = {
    name: {"system_xml": xml, "pdb": pdb, "geometry": geo}
    for name, xml, pdb, geo in zip(p.systems, snakemake.input.systems, snakemake.input.pdbs, snakemake.input.geometry)
}


def say(text):
    print(text)
    print(text, file=sys.__stderr__, flush=True)  # the terminal too


make_bundle(snakemake.output[0], cells, p.md, p.bundle, replicas=len(p.replicas), log=say)
