"""One function per workflow step, from config values to files: slab, coating, packing, System, minimisation.

Cell layout along z (nm): the bottom Li layer at 0.1, the top Li layer at ``z_surface``; the coating (if any)
sits on it as its definition says (:mod:`systems.coating`); ions are packed in ``[z_surface + clearance, z_hi]`` over the whole
lateral cell (coating pores included), with ``z_hi`` set by the electrolyte density in the space the coating
leaves free; a wall at ``z_hi + wall_offset`` keeps ions out of the vacuum; the cell height is
``box_z_factor`` times the wall height (vacuum for the Yeh-Berkowitz correction). The numbers are written
to ``geometry.json`` next to the packed structure, and the analysis reads the electrolyte region
``[z_surface, z_wall]`` from there.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import openmm.app as app
import openmm.unit as unit

from systems import coating as coatings
from systems import electrode_cell, electrolyte
from systems.files import atomic_path
from systems.electrode import move_coulomb_into_electrode_force
from systems.files import write_json
from systems.md import load_system, minimize, save_system
from systems.openmm_system import create_slab_system
from systems.slab import build_li_bcc100_slab
from systems.structure import Structure, combine, read_pdb
from systems.uff import uff_sigma_nm


def replica_seeds(base_seed: int, replica: int) -> dict:
    """Seeds of one replica: different packing and velocities for every replica, reproducible from the base."""
    if replica < 0:
        raise ValueError(f"replica index must be >= 0, got {replica}")
    return {"packing": int(base_seed) + 1000 * replica + 1, "velocities": int(base_seed) + 1000 * replica + 2}


def build_slab(out_pdb, cells=8, layers=2, lattice_a_nm=0.35275) -> Structure:
    slab = build_li_bcc100_slab(cells, layers, lattice_a_nm)
    slab.write_pdb(out_pdb)
    return slab


def build_coating(coating: str, slab_pdb, out_pdb, out_json, out_xml, base=None):
    """Build a coating from its definition (name or folder, :mod:`systems.coating`) on the slab: PDB, JSON, XML."""
    return coatings.build_files(coating, slab_pdb, out_pdb, out_json, out_xml, base=base)


def _slab_box(slab: Structure) -> np.ndarray:
    """Lateral cell of a slab read back from its PDB (CRYST1)."""
    if slab.box is None or slab.box[0] <= 0 or slab.box[1] <= 0:
        raise ValueError("the slab structure has no lateral cell (CRYST1 record missing)")
    return np.asarray(slab.box, float)


def pack_system(
    slab_pdb,
    coating_pdb,
    out_pdb,
    out_geometry,
    n_pairs: int,
    density_g_cm3: float,
    seed: int,
    clearance_nm: float = 0.2,
    wall_offset_nm: float = 0.5,
    box_z_factor: float = 3.0,
    cutoff_nm: float = 1.25,
    log=None,
    coating_json=None,
    start: str = "random",
    start_layer_nm: float = 0.8,
    counter_back_gap_nm: float | None = None,
) -> Structure:
    """Pack ``n_pairs`` LiTFSI around the fixed atoms and write the full structure and its geometry.

    ``coating_json`` (written with the coating) gives the coating atoms' Lennard-Jones sigma, from which their
    excluded volume is counted; without it UFF by element is used. ``start`` places the ions at random, or with
    the anions next to the surface or away from it (:func:`systems.electrolyte.start_placements`).

    ``counter_back_gap_nm`` (constant-potential mode, :mod:`systems.electrode_cell`): a counter electrode, the slab
    mirrored, closes the region at the wall's plane, and the cell closes behind the two electrodes with this gap,
    the periodic boundary in its middle (the slab and coating move up by half the gap); no vacuum above, so
    ``box_z_factor`` is not used. None: the neutral cell.
    """
    slab = read_pdb(slab_pdb)
    box = _slab_box(slab)
    coating = read_pdb(coating_pdb) if coating_pdb else None
    if counter_back_gap_nm is not None:
        shift = np.array([0.0, 0.0, 0.5 * counter_back_gap_nm - slab.positions[:, 2].min()])
        slab = slab.translated(shift)
        coating = None if coating is None else coating.translated(shift)
    parts = [slab] + ([coating] if coating is not None else [])
    fixed = combine(parts, box=box)
    z_surface = float(slab.positions[:, 2].max())
    z_lo = z_surface + clearance_nm
    area = box[0] * box[1]
    h = electrolyte.electrolyte_height_nm(n_pairs, density_g_cm3, area)
    excluded = 0.0
    if coating is not None:
        sigma = json.loads(Path(coating_json).read_text())["sigma_nm"] if coating_json else [uff_sigma_nm(e) for e in coating.elements]
        if len(sigma) != coating.n_atoms:
            raise ValueError(f"{coating_json} gives {len(sigma)} sigmas for {coating.n_atoms} coating atoms")
        radii = [s * 2 ** (1 / 6) / 2 for s in sigma]
        excluded = electrolyte.excluded_volume_nm3(coating, radii, z_lo, z_lo + h + (coating.positions[:, 2].max() - z_lo), box)
        h = electrolyte.electrolyte_height_nm(n_pairs, density_g_cm3, area, excluded)
    z_hi = z_lo + h
    z_wall = z_hi + wall_offset_nm
    counter = None
    if counter_back_gap_nm is None:
        lz = max(box_z_factor * z_wall, z_wall + 2 * cutoff_nm)
    else:
        counter = electrode_cell.counter_electrode(slab, z_wall)
        lz = electrode_cell.cell_height_nm(counter, counter_back_gap_nm, slab.positions[:, 2].min())
        if lz < 2 * cutoff_nm:
            raise ValueError(
                f"the constant-potential cell is {lz:.3f} nm high, less than twice the cutoff {cutoff_nm} nm "
                "(ConstantPotentialForce needs the cutoff at most half the box): pack more ion pairs"
            )
    cell = np.array([box[0], box[1], lz])
    region = electrolyte.PackingRegion(z_lo, z_hi)
    placements = electrolyte.start_placements(start, n_pairs, region, start_layer_nm)
    structure = electrolyte.pack_electrolyte(fixed, n_pairs, region, cell, seed=seed, tolerance_nm=clearance_nm, log=log, placements=placements)
    if counter is not None:
        structure = combine([structure, counter], box=cell)
    structure.write_pdb(out_pdb)
    geometry = {
        "box_nm": cell.tolist(),
        "z_surface_nm": z_surface,
        "packing_region_nm": [z_lo, z_hi],
        "z_wall_nm": z_wall,
        "region_nm": [z_surface, z_wall],
        "n_pairs": n_pairs,
        "density_g_cm3": density_g_cm3,
        "coating_excluded_volume_nm3": excluded,
        "n_fixed_atoms": fixed.n_atoms,
        "packing_seed": int(seed),
        "clearance_nm": clearance_nm,
        "start": start,
        "placements": [list(p) for p in placements],
    }
    if counter is not None:
        zc = counter.positions[:, 2]
        geometry["counter_electrode"] = {
            "z_face_nm": float(zc.min()),
            "z_back_nm": float(zc.max()),
            "back_gap_nm": float(counter_back_gap_nm),
            "n_atoms": counter.n_atoms,
        }
    write_json(out_geometry, geometry)
    return structure


def assemble_system(packed_pdb, geometry_json, out_xml, coating_xml=None, lower_wall_nm=None, electrode=None, **settings):
    """Create the OpenMM System of a packed cell (with the coating's force field, if any) and serialise it.

    ``lower_wall_nm``: height of a floor on the mobile atoms above the top Li layer's plane (nm); none when None.
    ``electrode``: None for the neutral Li slab, or the constant-potential settings (``potential_v`` of the working
    electrode against the counter electrode, ``gaussian_width_nm``, ``thomas_fermi_scale_per_nm``, ``method``): the
    cell's two Li slabs become electrodes and every charge moves into ConstantPotentialForce
    (:func:`systems.electrode.move_coulomb_into_electrode_force`, :func:`systems.electrode_cell.applied_potentials`).
    """
    geometry = json.loads(Path(geometry_json).read_text())
    pdb = app.PDBFile(str(packed_pdb))
    z_floor = None if lower_wall_nm is None else geometry["z_surface_nm"] + float(lower_wall_nm)
    if electrode is not None:
        if "counter_electrode" not in geometry:
            raise ValueError(f"{geometry_json} has no counter electrode: the cell was packed for a neutral electrode")
        settings["dipole_correction"] = False  # the cell is periodic in z with no vacuum (module electrode_cell)
    system = create_slab_system(pdb.topology, coating_xml, z_wall_nm=geometry["z_wall_nm"], z_floor_nm=z_floor, **settings)
    if electrode is not None:
        work, counter = electrode_cell.electrode_atoms([a.residue.name for a in pdb.topology.atoms()])
        applied = electrode_cell.applied_potentials(electrode["potential_v"], geometry["box_nm"][2])
        move_coulomb_into_electrode_force(
            system,
            [(work.tolist(), applied["working_v"]), (counter.tolist(), applied["counter_v"])],
            width_nm=electrode["gaussian_width_nm"],
            thomas_fermi_scale_per_nm=electrode["thomas_fermi_scale_per_nm"],
            field_v_per_nm=applied["field_v_per_nm"],
            method=electrode["method"],
        )
    save_system(system, out_xml)
    return system


def write_positions_pdb(topology, positions_nm, path):
    """Write positions (nm) with ``topology`` to a PDB, atomically."""
    with atomic_path(path) as tmp, open(tmp, "w") as fh:
        app.PDBFile.writeFile(topology, np.asarray(positions_nm) * unit.nanometer, fh)


def minimize_file(system_xml, packed_pdb, out_pdb, out_json, platform, properties, tolerance=10.0, max_iterations=0, label="", log=None):
    """Minimise a packed cell (fixed atoms held) and write the minimised PDB and an energy report."""
    system = load_system(system_xml)
    pdb = app.PDBFile(str(packed_pdb))
    pos = pdb.getPositions(asNumpy=True).value_in_unit(unit.nanometer)
    new, report = minimize(system, pdb.topology, pos, platform, properties, tolerance, max_iterations, label, log)
    write_positions_pdb(pdb.topology, new, out_pdb)
    write_json(out_json, report)
    return new, report
