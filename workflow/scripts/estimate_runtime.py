"""Snakemake adapter: time each system on the platform found and say how long the MD will take."""
import sys
from pathlib import Path

sys.stdout = sys.stderr = open(snakemake.log[0], "w", buffering=1)
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1]))  # the project root, also in a per-rule conda env
from systems.estimate import estimate_md_time
from systems.protocol import system_md, total_length_ps

p = snakemake.params
estimate = estimate_md_time(
    snakemake.input.minimized,
    p.systems,
    p.replicas,
    snakemake.config["md"],  # not a param (see the rule)
    snakemake.output[0],
    threads=snakemake.threads,
    warn_after_hours=p.warn_after_hours,
    lengths_ps={s: total_length_ps(system_md(snakemake.config, s)) for s in p.systems},  # each system's own protocol
)
print(estimate["message"])
print(estimate["message"], file=sys.__stderr__, flush=True)  # to the terminal too, before any MD starts
