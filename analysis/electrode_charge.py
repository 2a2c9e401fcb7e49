"""The charge a constant-potential electrode carries, frame by frame, recomputed from the trajectory.

The MD runner writes positions, not charges. The charges of a ConstantPotentialForce are a function of the
positions (solved so that every electrode sits at its potential; :mod:`systems.electrode`), so they are solved
again here for every saved frame with the replica's own System, on the CPU platform: the working electrode's total
charge against time, per atomic layer of each electrode, and the mean charge of every top-layer atom over the
production frames (the induced charge map of the surface). The production part (after the discarded fraction the
coordination numbers discard too) gets a mean with a block standard error (:func:`analysis.stats.block_average`).
"""

from __future__ import annotations

import numpy as np
import openmm as mm
from openmm import unit

from analysis.replica import load, production_slice
from analysis.stats import block_average
from systems.electrode import solved_charges
from systems.electrode_cell import electrode_atoms
from systems.files import atomic_path, write_json
from systems.md import load_system


def _layers(z: np.ndarray, tol_nm: float = 0.01) -> list[np.ndarray]:
    """Atom positions (indices into ``z``) grouped into atomic layers, lowest first."""
    order = np.argsort(z)
    layers, start = [], 0
    for k in range(1, len(order) + 1):
        if k == len(order) or z[order[k]] - z[order[k - 1]] > tol_nm:
            layers.append(np.sort(order[start:k]))
            start = k
    return layers


def electrode_charges(system_xml, trajectory, topology_pdb, equilibration_fraction: float = 0.2, threads: int = 1) -> dict:
    """Solve every frame's electrode charges.

    Returns
    -------
    dict
        ``time_ps``; ``working_e`` and ``counter_e`` (total charge of each electrode per frame, e);
        ``working_layers_e`` and ``counter_layers_e`` (frames x layers, lowest layer first) with the layers' heights
        ``working_layer_z_nm``, ``counter_layer_z_nm``; ``surface_xy_nm`` and ``surface_mean_e`` (the working
        electrode's top layer: lateral positions and each atom's mean charge over production frames);
        ``first_production_frame``; ``production`` (mean, block SE, plateau of the working electrode's charge, e,
        and the same per unit area, e/nm^2 and uC/cm^2).
    """
    system = load_system(system_xml)
    force = next((f for f in system.getForces() if isinstance(f, mm.ConstantPotentialForce)), None)
    if force is None:
        raise ValueError(f"{system_xml} has no ConstantPotentialForce: the system was built with a neutral electrode")
    traj = load(trajectory, topology_pdb)
    work, counter = electrode_atoms([a.residue.name for a in traj.topology.atoms])
    platform = mm.Platform.getPlatformByName("CPU")
    context = mm.Context(system, mm.VerletIntegrator(0.001), platform, {"Threads": str(max(1, int(threads)))})
    charges = np.empty((traj.n_frames, len(work) + len(counter)))
    for k in range(traj.n_frames):
        context.setPeriodicBoxVectors(*(mm.Vec3(*v) for v in traj.unitcell_vectors[k]))
        context.setPositions(traj.xyz[k] * unit.nanometer)
        q = solved_charges(force, context)
        charges[k] = np.concatenate([q[work], q[counter]])
    q_work, q_counter = charges[:, : len(work)], charges[:, len(work) :]
    z0 = traj.xyz[0]
    work_layers, counter_layers = _layers(z0[work, 2]), _layers(z0[counter, 2])
    prod = production_slice(traj.n_frames, equilibration_fraction)
    total = q_work.sum(axis=1)
    top = work_layers[-1]
    area = float(traj.unitcell_lengths[0, 0] * traj.unitcell_lengths[0, 1])
    blk = block_average(total[prod]) if len(total[prod]) >= 2 else None
    mean, se = float(total[prod].mean()), (blk["se"] if blk else float("nan"))
    # 1 e/nm^2 = 1.602176634e-19 C / 1e-14 cm^2 = 16.02 uC/cm^2
    per_area = {"mean_e_nm2": mean / area, "se_e_nm2": se / area, "mean_uc_cm2": mean / area * 16.02176634, "se_uc_cm2": se / area * 16.02176634}
    return {
        "time_ps": traj.time.astype(float),
        "working_e": total,
        "counter_e": q_counter.sum(axis=1),
        "working_layers_e": np.stack([q_work[:, L].sum(axis=1) for L in work_layers], axis=1),
        "counter_layers_e": np.stack([q_counter[:, L].sum(axis=1) for L in counter_layers], axis=1),
        "working_layer_z_nm": np.array([z0[work[L], 2].mean() for L in work_layers]),
        "counter_layer_z_nm": np.array([z0[counter[L], 2].mean() for L in counter_layers]),
        "surface_xy_nm": z0[work[top], :2],
        "surface_mean_e": q_work[prod][:, top].mean(axis=0),
        "first_production_frame": prod.start,
        "area_nm2": area,
        "production": {"mean_e": mean, "block_se_e": se, "block_plateau": bool(blk["plateau"]) if blk else False, "n_frames": len(total[prod]), **per_area},
    }


def save(result: dict, npz_path, json_path) -> None:
    """The arrays to ``npz_path``, the production summary and layer means to ``json_path``; both written atomically."""
    with atomic_path(npz_path) as tmp:
        np.savez_compressed(tmp, **{k: v for k, v in result.items() if isinstance(v, np.ndarray)})
    summary = {
        "production": result["production"],
        "first_production_frame": int(result["first_production_frame"]),
        "area_nm2": result["area_nm2"],
        "working_layer_z_nm": result["working_layer_z_nm"].tolist(),
        "working_layers_mean_e": result["working_layers_e"][result["first_production_frame"] :].mean(axis=0).tolist(),
        "counter_layers_mean_e": result["counter_layers_e"][result["first_production_frame"] :].mean(axis=0).tolist(),
        "counter_mean_e": float(result["counter_e"][result["first_production_frame"] :].mean()),
    }
    write_json(json_path, summary)
