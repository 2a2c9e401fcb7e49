"""Say how long the MD will take, from a short timing of each real system on the platform found."""

from __future__ import annotations

from pathlib import Path

import openmm.app as app
import openmm.unit as unit

from systems.files import write_json
from systems.md import _hms, load_system, ns_per_day, steps_for, time_md
from systems.platforms import select_platform


def estimate_md_time(minimized_pdbs, systems, replicas, md_config: dict, out_json, threads=None) -> dict:
    """Time ``md_config['timing_steps']`` steps of replica 0 of each system; extrapolate to all runs.

    The estimate is for running the jobs one after another; parallel jobs on separate devices or cores
    finish sooner. Written to ``out_json`` with a one-line ``message``.
    """
    platform, props = select_platform(md_config["platform"], threads=threads, precision=md_config["precision"])
    n_steps, _ = steps_for(md_config["length_ps"], md_config["frame_interval_ps"], md_config["timestep_fs"])
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
        seconds = sps * n_steps * len(replicas)
        total += seconds
        per_system[system] = {
            "ms_per_step": sps * 1e3,
            "ns_per_day": ns_per_day(sps, md_config["timestep_fs"]),
            "seconds_all_replicas": seconds,
        }
    lines = [
        f"MD estimate on {platform.getName()} {props}: {len(systems)} systems x {len(replicas)} replicas x "
        f"{md_config['length_ps']} ps = {_hms(total)} (h:mm:ss) if run one after another"
    ]
    for system, v in per_system.items():
        lines.append(f"  {system}: {v['ns_per_day']:.1f} ns/day ({v['ms_per_step']:.3f} ms/step)")
    out = {"platform": platform.getName(), "properties": props, "systems": per_system, "total_seconds": total, "message": "\n".join(lines)}
    write_json(out_json, out)
    return out
