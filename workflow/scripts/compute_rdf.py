"""Snakemake adapter: histograms, profiles and MSD of one replica (and per-site RDFs of a coating's sites)."""
import json
import sys
from pathlib import Path

sys.stdout = sys.stderr = open(snakemake.log[0], "w", buffering=1)
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1]))  # the project root, also in a per-rule conda env
from analysis.replica import analyse_replica, save

a = snakemake.params.analysis
coating = snakemake.input.coating  # coating.json of a coated system, an empty list for bare Li
coating = coating if isinstance(coating, str) else (coating[0] if len(coating) else None)
result = analyse_replica(
    snakemake.input.trajectory,
    snakemake.input.topology,
    json.load(open(snakemake.input.geometry)),
    equilibration_fraction=a["equilibration_fraction"],
    r_max_nm=a["r_max_nm"],
    bin_nm=a["bin_nm"],
    sites=json.load(open(coating)).get("sites") if coating else None,
)
save(result, snakemake.output.npz, snakemake.output.digest)
print(open(snakemake.output.digest).read())
