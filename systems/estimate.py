"""Say how long the MD will take, from a short timing of each real system on the platform found."""

from __future__ import annotations

from pathlib import Path

import openmm.app as app
import openmm.unit as unit

from systems.files import write_json
from systems.md import _hms, load_system, ns_per_day, steps_for, time_md
from systems.protocol import total_length_ps
from systems.platforms import GPU_PLATFORMS, select_platform

#: the faster ways to the same answer, said when a long MD is about to start without a GPU
CHOICES = (
    "see every output in minutes: snakemake --cores all --configfile config/demo.yaml",
    "shorter runs: --configfile config/cpu.yaml (3 systems x 3 replicas x 50 ps, about 1.5 h on 2 cores), or md.length_ps in your own config file",
    "a cluster: snakemake --workflow-profile workflow/profiles/slurm (README, \"On a SLURM cluster\")",
    "a GPU node, also one without network: snakemake --cores 1 gpu_bundle, copy results/gpu_bundle there and run "
    "bash gpu_bundle/run.sh OUT (README, \"Carry the run to a GPU node\")",
)


def long_run_warning(platform_name: str, total_seconds: float, warn_after_hours: float) -> str | None:
    """A plain warning when the MD will run on a CPU for longer than ``warn_after_hours``, else None.

    The run still goes on (the user asked for it); the warning names the faster choices.
    """
    if platform_name in GPU_PLATFORMS or total_seconds < warn_after_hours * 3600.0:
        return None
    lines = [
        f"WARNING: no GPU found. This MD runs on the {platform_name} platform and will take about {total_seconds / 3600.0:.0f} hours "
        f"({_hms(total_seconds)}, one job after another). It starts now, because you asked for it; Ctrl-C stops it with a "
        "checkpoint saved, and the next snakemake call resumes from there. Faster choices:"
    ]
    return "\n".join(lines + [f"  - {c}" for c in CHOICES])


def estimate_md_time(
    minimized_pdbs, systems, replicas, md_config: dict, out_json, threads=None, warn_after_hours: float = 4.0, lengths_ps: dict | None = None
) -> dict:
    """Time ``md_config['timing_steps']`` steps of replica 0 of each system; extrapolate to all runs.

    The estimate is for running the jobs one after another; parallel jobs on separate devices or cores
    finish sooner. Written to ``out_json`` with a ``message``; without a GPU and above ``warn_after_hours`` the
    message ends with :func:`long_run_warning`. ``lengths_ps`` gives each system's MD time (ps), every stage of
    its own protocol; absent, every system runs ``md_config``'s protocol.
    """
    platform, props = select_platform(md_config["platform"], threads=threads, precision=md_config["precision"])
    lengths_ps = lengths_ps or {s: total_length_ps(md_config) for s in systems}  # every stage of the protocol
    per_system = {}
    total = 0.0
    for system in systems:
        pdb_path = next(str(p) for p in minimized_pdbs if Path(p).parts[-3] == system)
        system_xml = Path(pdb_path).with_name("system.xml")
        pdb = app.PDBFile(pdb_path)
        sps = time_md(
            load_system(system_xml),
            pdb.getPositions(asNumpy=True).value_in_unit(unit.nanometer),
            platform,
            props,
            md_config["temperature_k"],
            md_config["timestep_fs"],
            md_config["friction_per_ps"],
            n_steps=md_config["timing_steps"],
        )
        n_steps, _ = steps_for(lengths_ps[system], md_config["frame_interval_ps"], md_config["timestep_fs"])
        seconds = sps * n_steps * len(replicas)
        total += seconds
        per_system[system] = {
            "ms_per_step": sps * 1e3,
            "ns_per_day": ns_per_day(sps, md_config["timestep_fs"]),
            "seconds_all_replicas": seconds,
            "length_ps": lengths_ps[system],
        }
    lengths = sorted(set(lengths_ps[s] for s in systems))
    length = f"{lengths[0]:g} ps" if len(lengths) == 1 else f"{lengths[0]:g}-{lengths[-1]:g} ps"
    lines = [
        f"MD estimate on {platform.getName()} {props}: {len(systems)} systems x {len(replicas)} replicas x "
        f"{length} = {_hms(total)} (h:mm:ss) if run one after another"
    ]
    for system, v in per_system.items():
        lines.append(f"  {system}: {v['ns_per_day']:.1f} ns/day ({v['ms_per_step']:.3f} ms/step), {v['length_ps']:g} ps per replica")
    warning = long_run_warning(platform.getName(), total, warn_after_hours)
    if warning:
        lines.append(warning)
    out = {
        "platform": platform.getName(), "properties": props, "systems": per_system, "total_seconds": total, "warning": warning,
        "message": "\n".join(lines),
    }  # fmt: skip
    write_json(out_json, out)
    return out
