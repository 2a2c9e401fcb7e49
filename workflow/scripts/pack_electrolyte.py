"""Snakemake adapter: pack LiTFSI around the fixed atoms with packmol (seeded per replica)."""
import sys
from pathlib import Path

sys.stdout = sys.stderr = open(snakemake.log[0], "w", buffering=1)
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1]))  # the project root, also in a per-rule conda env
from systems.build import pack_system, replica_seeds

p = snakemake.params
coating = snakemake.input.coating  # one path for a coated system, an empty list for bare Li
coating = coating if isinstance(coating, str) else (coating[0] if len(coating) else None)
info = snakemake.input.coating_info  # its coating.json (LJ sigma of every coating atom), likewise
info = info if isinstance(info, str) else (info[0] if len(info) else None)
seeds = replica_seeds(p.seed, p.replica)
structure = pack_system(
    snakemake.input.slab,
    coating,
    snakemake.output.pdb,
    snakemake.output.geometry,
    n_pairs=p.electrolyte["n_pairs"],
    density_g_cm3=p.electrolyte["density_g_cm3"],
    seed=seeds["packing"],
    clearance_nm=p.electrolyte["clearance_nm"],
    wall_offset_nm=p.cell["wall_offset_nm"],
    box_z_factor=p.cell["box_z_factor"],
    cutoff_nm=p.cutoff_nm,
    log=sys.stdout,
    coating_json=info,
    start=p.electrolyte.get("start", "random"),  # absent: random, as before the key existed
    counter_back_gap_nm=p.cell.get("counter_back_gap_nm"),  # a constant-potential cell only
)
print(f"packed {structure.n_atoms} atoms; geometry: {open(snakemake.output.geometry).read()}")
