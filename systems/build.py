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
from systems import electrolyte
from systems.files import atomic_path
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
) -> Structure:
    """Pack ``n_pairs`` LiTFSI around the fixed atoms and write the full structure and its geometry.

    ``coating_json`` (written with the coating) gives the coating atoms' Lennard-Jones sigma, from which their
    excluded volume is counted; without it UFF by element is used. ``start`` places the ions at random, or with
    the anions next to the surface or away from it (:func:`systems.electrolyte.start_placements`).
    """
    slab = read_pdb(slab_pdb)
    box = _slab_box(slab)
    parts = [slab]
    coating = None
    if coating_pdb:
        coating = read_pdb(coating_pdb)
        parts.append(coating)
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
    lz = max(box_z_factor * z_wall, z_wall + 2 * cutoff_nm)
    cell = np.array([box[0], box[1], lz])
    region = electrolyte.PackingRegion(z_lo, z_hi)
    placements = electrolyte.start_placements(start, n_pairs, region, start_layer_nm)
    structure = electrolyte.pack_electrolyte(fixed, n_pairs, region, cell, seed=seed, tolerance_nm=clearance_nm, log=log, placements=placements)
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
    write_json(out_geometry, geometry)
    return structure


def assemble_system(packed_pdb, geometry_json, out_xml, coating_xml=None, lower_wall_nm=None, **settings):
    """Create the OpenMM System of a packed cell (with the coating's force field, if any) and serialise it.

    ``lower_wall_nm``: height of a floor on the mobile atoms above the top Li layer's plane (nm); none when None.
    """
    geometry = json.loads(Path(geometry_json).read_text())
    pdb = app.PDBFile(str(packed_pdb))
    z_floor = None if lower_wall_nm is None else geometry["z_surface_nm"] + float(lower_wall_nm)
    system = create_slab_system(pdb.topology, coating_xml, z_wall_nm=geometry["z_wall_nm"], z_floor_nm=z_floor, **settings)
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
