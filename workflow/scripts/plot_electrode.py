"""Snakemake adapter: electrode charge against time and potential, CN against potential, induced charge maps."""
import json
import sys
from pathlib import Path

import numpy as np

sys.stdout = sys.stderr = open(snakemake.log[0], "w", buffering=1)
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1]))  # the project root, also in a per-rule conda env
from analysis.figures import plot_electrode

charges = {}
for path in snakemake.input.charges:  # results/{system}/{replica}/electrode_charge.npz
    charges.setdefault(Path(path).parent.parent.name, []).append(dict(np.load(path)))
plot_electrode(charges, json.load(open(snakemake.input.statistics)), snakemake.output[0])
