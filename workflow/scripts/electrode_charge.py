"""Snakemake adapter: a constant-potential run's electrode charges, solved again for every saved frame."""
import sys
from pathlib import Path

sys.stdout = sys.stderr = open(snakemake.log[0], "w", buffering=1)
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1]))  # the project root, also in a per-rule conda env
from analysis.electrode_charge import electrode_charges, save

result = electrode_charges(
    snakemake.input.system,
    snakemake.input.trajectory,
    snakemake.input.topology,
    equilibration_fraction=snakemake.params.equilibration_fraction,
    threads=snakemake.threads,
)
save(result, snakemake.output.npz, snakemake.output.summary)
print(open(snakemake.output.summary).read())
