"""Lithium-metal slab: bcc Li(100), built from its lattice constant.

The paper's electrode is 28.22 A x 28.22 A with two layers of Li metal. bcc Li(100) with a = 3.5275 A gives
8 x 8 cells = 28.22 A exactly; two atomic (100) layers are a/2 apart, 64 atoms per layer (corner and body-centre
sites), 128 atoms in all. See ``shared/reference/paper-md-protocol.md``.
"""

from __future__ import annotations

import numpy as np

from systems.structure import Structure

#: Lattice constant of bcc Li used for the slab (nm); 8 cells give the paper's 2.822 nm.
LI_BCC_A_NM = 0.35275
#: Residue name of a Li metal atom (one atom per residue, no bonds).
LI_METAL_RESNAME = "LIM"
#: Residue name of the counter electrode's Li atoms in a constant-potential cell (:mod:`systems.electrode_cell`).
COUNTER_RESNAME = "LIC"


def build_li_bcc100_slab(cells: int = 8, layers: int = 2, a_nm: float = LI_BCC_A_NM, z0_nm: float = 0.1) -> Structure:
    """Build a bcc(100) Li slab of ``cells x cells`` conventional cells and ``layers`` atomic layers.

    Layer k lies at height ``z0_nm + k * a_nm / 2``; even layers hold the cube-corner sites (i a, j a), odd
    layers the body-centre sites ((i + 1/2) a, (j + 1/2) a).

    Parameters
    ----------
    cells : int
        Conventional cells along x and y (lateral size ``cells * a_nm``).
    layers : int
        Number of atomic (100) layers.
    a_nm : float
        bcc lattice constant in nm.
    z0_nm : float
        Height of the bottom layer in nm (kept above 0 so no atom sits on the periodic boundary).

    Returns
    -------
    Structure
        ``layers * cells**2`` Li atoms, residue ``LIM``, lateral box ``cells a`` square.
    """
    if cells < 1 or layers < 1:
        raise ValueError(f"slab needs at least one cell and one layer, got cells={cells}, layers={layers}")
    if not a_nm > 0:
        raise ValueError(f"lattice constant must be positive, got {a_nm} nm")
    pos = []
    for k in range(layers):
        shift = 0.5 * (k % 2)
        for i in range(cells):
            for j in range(cells):
                pos.append(((i + shift) * a_nm, (j + shift) * a_nm, z0_nm + k * a_nm / 2))
    n = len(pos)
    names = [f"L{k % 1000:03d}"[:4] for k in range(n)]
    return Structure(
        ["Li"] * n,
        names,
        [LI_METAL_RESNAME] * n,
        list(range(n)),
        np.array(pos),
        [],
        # z of the box: just the slab's own extent (the full cell height is set when the electrolyte is packed)
        np.array([cells * a_nm, cells * a_nm, 2 * z0_nm + (layers - 1) * a_nm / 2]),
    )


def top_layer_indices(slab: Structure, tol_nm: float = 0.01) -> np.ndarray:
    """Indices of the atoms in the topmost layer (within ``tol_nm`` of the highest z)."""
    z = slab.positions[:, 2]
    return np.flatnonzero(z > z.max() - tol_nm)
