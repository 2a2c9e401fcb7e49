"""Electrolyte: the ions (built in :mod:`systems.molecules`) packed with packmol over the surface.

Packing uses packmol (Martinez et al., J. Comput. Chem. 30 (2009) 2157) through the binary its PyPI wheel ships,
with a seed, so a replica's start is reproducible.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from systems.molecules import LITFSI_MOLAR_MASS, build_li_ion, build_tfsi
from systems.structure import Structure, combine, minimum_image_distances, read_pdb

AVOGADRO = 6.02214076e23

@dataclass
class PackingRegion:
    """Where packmol may place ion centres: the slab of height ``z_lo_nm``..``z_hi_nm`` over the whole cell."""

    z_lo_nm: float
    z_hi_nm: float


def electrolyte_height_nm(n_pairs: int, density_g_cm3: float, area_nm2: float, excluded_volume_nm3: float = 0.0) -> float:
    """Height (nm) of the region that holds ``n_pairs`` LiTFSI at ``density_g_cm3`` over ``area_nm2``.

    ``excluded_volume_nm3`` (volume taken by a coating inside the region) is added so that the density of the
    electrolyte in the space it can actually occupy is the stated one.
    """
    if n_pairs < 1:
        raise ValueError(f"need at least one ion pair, got {n_pairs}")
    if not density_g_cm3 > 0:
        raise ValueError(f"electrolyte density must be positive, got {density_g_cm3} g/cm3")
    volume_nm3 = n_pairs * LITFSI_MOLAR_MASS / AVOGADRO / density_g_cm3 * 1e21
    return (volume_nm3 + excluded_volume_nm3) / area_nm2


def excluded_volume_nm3(fixed: Structure, radii_nm, z_lo_nm: float, z_hi_nm: float, box_nm, spacing_nm: float = 0.05) -> float:
    """Volume (nm^3) within ``z_lo..z_hi`` that lies inside the van der Waals spheres of ``fixed`` atoms.

    Counted on a grid of ``spacing_nm`` with minimum image in x and y.
    """
    if fixed.n_atoms == 0 or z_hi_nm <= z_lo_nm:
        return 0.0
    radii = np.asarray(radii_nm, float)
    xs = np.arange(spacing_nm / 2, box_nm[0], spacing_nm)
    ys = np.arange(spacing_nm / 2, box_nm[1], spacing_nm)
    zs = np.arange(z_lo_nm + spacing_nm / 2, z_hi_nm, spacing_nm)
    grid = np.stack(np.meshgrid(xs, ys, zs, indexing="ij"), -1).reshape(-1, 3)
    inside = np.zeros(len(grid), bool)
    sel = (fixed.positions[:, 2] + radii > z_lo_nm) & (fixed.positions[:, 2] - radii < z_hi_nm)
    for p, r in zip(fixed.positions[sel], radii[sel]):
        d = grid - p
        d[:, 0] -= box_nm[0] * np.round(d[:, 0] / box_nm[0])
        d[:, 1] -= box_nm[1] * np.round(d[:, 1] / box_nm[1])
        inside |= (d**2).sum(1) < r * r
    return inside.sum() * spacing_nm**3


class PackingError(RuntimeError):
    """packmol failed, or its result breaks the distance rule."""


def packmol_executable() -> str:
    """Path of the packmol binary: $PACKMOL, the PyPI wheel's, or one on PATH."""
    env = os.environ.get("PACKMOL")
    if env:
        return env
    try:
        import packmol  # the PyPI wheel ships the binary inside the package

        cand = Path(packmol.__file__).parent / "binaries" / "packmol"
        if cand.exists():
            return str(cand)
    except ImportError:
        pass
    exe = shutil.which("packmol")
    if exe is None:
        raise PackingError("packmol not found: install the 'packmol' package from PyPI or set $PACKMOL")
    return exe


def pack_electrolyte(
    fixed: Structure,
    n_pairs: int,
    region: PackingRegion,
    box_nm,
    seed: int,
    tolerance_nm: float = 0.2,
    workdir=None,
    timeout_s: float = 1800.0,
    log=None,
    placements=None,
) -> Structure:
    """Place ``n_pairs`` TFSI- and Li+ at random (seeded) in ``region`` around the fixed atoms.

    ``placements`` (optional) puts them in parts of the region instead: a list of (``"tfsi"`` or ``"li"``,
    number, z_lo_nm, z_hi_nm), TFSI- entries first, numbers summing to ``n_pairs`` per species; every atom of a
    molecule lies inside its part.

    The fixed atoms (slab and coating) are given to packmol as a fixed structure, so no ion atom comes within
    ``tolerance_nm`` of them, nor of another ion; x and y are periodic with the cell. The region spans the whole
    lateral cell, so the open space inside a coating (its pores, down to the surface) is part of it.

    Returns
    -------
    Structure
        The fixed atoms followed by the ions (TFSI- first, then Li+), box ``box_nm``.

    Raises
    ------
    PackingError
        packmol failed, or an ion atom ended closer than ``tolerance_nm`` (less 1 %) to a fixed atom.
    """
    box_nm = np.asarray(box_nm, float)
    if region.z_hi_nm <= region.z_lo_nm:
        raise ValueError(f"empty packing region: z from {region.z_lo_nm} to {region.z_hi_nm} nm")
    A = 10.0  # packmol works in Angstrom
    tfsi, li = build_tfsi(), build_li_ion()
    own_tmp = workdir is None
    wd = Path(tempfile.mkdtemp(prefix="pack_")) if own_tmp else Path(workdir)
    wd.mkdir(parents=True, exist_ok=True)
    try:
        for name, s in (("tfsi.pdb", tfsi), ("li.pdb", li)):
            s.write_pdb(wd / name)  # the names the placements use: tfsi, li
        lines = [
            f"tolerance {tolerance_nm * A:.3f}",
            "filetype pdb",
            "output packed.pdb",
            f"seed {int(seed)}",
            # periodic in x, y; z extent generous so the z images never meet
            f"pbc 0. 0. {-0.5 * A:.3f} {box_nm[0] * A:.4f} {box_nm[1] * A:.4f} {(region.z_hi_nm + 2.0) * A:.3f}",
        ]
        if fixed.n_atoms:
            # positions only: packmol needs no bonds of a fixed structure, and it crashes (SIGSEGV) on an atom
            # with many CONECT partners, as a crystal's guessed bonds give
            bare = fixed.copy()
            bare.bonds = []
            bare.write_pdb(wd / "fixed.pdb")
            lines += ["structure fixed.pdb", "  number 1", "  fixed 0. 0. 0. 0. 0. 0.", "end structure"]
        for species, number, z_lo, z_hi in check_placements(placements, n_pairs, region):
            if number == 0:
                continue
            lines += [
                f"structure {species}.pdb",
                f"  number {number}",
                f"  inside box 0. 0. {z_lo * A:.3f} {box_nm[0] * A:.4f} {box_nm[1] * A:.4f} {z_hi * A:.3f}",
                "end structure",
            ]
        (wd / "pack.inp").write_text("\n".join(lines) + "\n")
        with open(wd / "pack.inp") as fin:
            proc = subprocess.run(
                [packmol_executable()], stdin=fin, cwd=wd, capture_output=True, text=True, timeout=timeout_s
            )
        (wd / "packmol.out").write_text(proc.stdout + proc.stderr)
        if log is not None:
            log.write(proc.stdout[-3000:])
        if proc.returncode != 0 or not (wd / "packed.pdb").exists():
            raise PackingError(f"packmol exited with {proc.returncode}; its output ends:\n{proc.stdout[-2000:]}")
        if "ENDED WITHOUT PERFECT PACKING" in proc.stdout:
            raise PackingError(
                "packmol could not place every ion with the tolerance; lower the density or enlarge the region"
            )
        packed = read_pdb(wd / "packed.pdb")
    finally:
        if own_tmp:
            shutil.rmtree(wd, ignore_errors=True)
    n_fixed = fixed.n_atoms
    ions_pos = packed.positions[n_fixed:]
    # rebuild from our own templates so names, residues and bonds are exactly ours
    mols = [tfsi] * n_pairs + [li] * n_pairs
    ions = combine(mols)
    if ions.n_atoms != len(ions_pos):
        raise PackingError(f"packmol wrote {len(ions_pos)} ion atoms, expected {ions.n_atoms}")
    ions.positions = ions_pos
    out = combine([fixed, ions], box=box_nm)
    check_clearance(out, n_fixed, tolerance_nm * 0.99)
    return out


def check_placements(placements, n_pairs: int, region: PackingRegion) -> list:
    """The packing's parts, checked: TFSI- first, ``n_pairs`` of each species, every part inside ``region``."""
    if placements is None:
        return [("tfsi", n_pairs, region.z_lo_nm, region.z_hi_nm), ("li", n_pairs, region.z_lo_nm, region.z_hi_nm)]
    placements = [(str(sp), int(n), float(lo), float(hi)) for sp, n, lo, hi in placements]
    species = [p[0] for p in placements]
    if set(species) - {"tfsi", "li"} or species != sorted(species, key=lambda x: x != "tfsi"):
        raise ValueError(f"placements: species 'tfsi' then 'li', got {species}")
    for sp in ("tfsi", "li"):
        total = sum(n for s_, n, _, _ in placements if s_ == sp)
        if total != n_pairs:
            raise ValueError(f"placements put {total} {sp}, expected {n_pairs}")
    for sp, n, lo, hi in placements:
        if n < 0 or not region.z_lo_nm - 1e-9 <= lo < hi <= region.z_hi_nm + 1e-9:
            raise ValueError(f"placement ({sp}, {n}, {lo}, {hi}) lies outside the packing region {region}")
    return placements


def start_placements(start: str, n_pairs: int, region: PackingRegion, layer_nm: float = 0.8) -> list:
    """Where the ions start: ``random`` over the region, or one of two deliberately opposite starts.

    ``anions_near``: the lowest ``layer_nm`` of the region (next to the surface) holds only anions, as many as its
    share of the region's height; the other anions and every Li+ fill the rest. ``anions_far``: no anion in that
    layer; it holds as many Li+ as the near start puts anions there, and every anion sits above it (packed
    denser by h / (h - layer)). Same counts, same region and cell as the random start, so after a protocol the
    coordination numbers of the two extremes should agree if the result no longer remembers the start.
    """
    lo, hi = region.z_lo_nm, region.z_hi_nm
    if start == "random":
        return check_placements(None, n_pairs, region)
    if not 0 < layer_nm < hi - lo:
        raise ValueError(f"start layer {layer_nm} nm must be thinner than the packing region ({hi - lo:.2f} nm)")
    n_layer = max(1, int(round(n_pairs * layer_nm / (hi - lo))))
    cut = lo + layer_nm
    if start == "anions_near":
        return check_placements([("tfsi", n_layer, lo, cut), ("tfsi", n_pairs - n_layer, cut, hi), ("li", n_pairs, cut, hi)], n_pairs, region)
    if start == "anions_far":
        return check_placements([("tfsi", n_pairs, cut, hi), ("li", n_layer, lo, cut), ("li", n_pairs - n_layer, cut, hi)], n_pairs, region)
    raise ValueError(f"electrolyte start {start!r}: random, anions_near or anions_far")


def check_clearance(structure: Structure, n_fixed: int, min_nm: float) -> None:
    """Raise :class:`PackingError` if a mobile atom (index >= ``n_fixed``) is closer than ``min_nm`` to a fixed one."""
    if n_fixed == 0:
        return
    d = minimum_image_distances(structure.positions[n_fixed:], structure.positions[:n_fixed], structure.box)
    k = np.unravel_index(np.argmin(d), d.shape)
    if d[k] < min_nm:
        raise PackingError(
            f"ion atom {k[0] + n_fixed} is {d[k]:.3f} nm from fixed atom {k[1]} (rule: at least {min_nm:.3f} nm)"
        )
