"""The constant-potential cell: working electrode | electrolyte | counter electrode, periodic in z, and how a
potential difference is applied across it.

Layout along z (nm). The working electrode is the Li slab (residue LIM) with its coating on it, as in the neutral
cell. The counter electrode (residue ``LIC``) is the same slab mirrored, its lowest layer on the upper wall's plane
``z_wall``, so the region the analysis reads, [top Li plane, z_wall], is bounded by a metal face on both sides. Behind
the two electrodes the cell closes through the periodic boundary with a gap ``back_gap_nm`` that holds no atom, the
boundary z = 0 (= Lz) in its middle.

The potential difference. OpenMM's ConstantPotentialForce holds every electrode atom at its electrode's potential
*including* the external field's -E z (z as stored, within the cell), so the field puts its whole drop E Lz across the
gap that holds the boundary (:func:`systems.electrode.field_capacitor_charge_e`), and electrode potentials alone put
theirs across both gaps in parallel (:func:`systems.electrode.capacitor_charge_e`). Together, working electrode at
dPsi, counter electrode at 0 and E = dPsi / Lz (the finite-field method of Dufils et al., Phys. Rev. Lett. 123,
195501 (2019)), the two cancel across the back gap and the whole dPsi lies across the electrolyte
(:func:`applied_potentials`): no field crosses the back gap and the electrode charge does not depend on it. The back
layer of each two-layer slab still holds part of the charge (measured, empty cell of 8 x 8 Li(100) cells, 3 nm between
the faces, +1 V, w = 0.0505 nm, no Thomas-Fermi term: 18 % of 0.142 e at a back gap of 1.25 nm and 2.5 nm alike): the
field reaches it through the open (100) top layer, whose spacing is seven Gaussian widths.
That holds only when the boundary lies several Gaussian widths and about one real-space cutoff from every electrode
atom: measured on Li(100) (w = 0.0505 nm, cutoff 1.25 nm, empty cell, 4 nm between the faces), the electrode charge at
a back gap of one layer spacing (0.176 nm, the metal continuous) is 4.3 % below its limit, at 1.25 nm 0.5 %, at 2.5 nm
0.2 %. Hence :func:`back_gap_nm`: the cutoff, at least twice the layer spacing. The gap is empty space without field, not
the vacuum of the neutral cell's Yeh-Berkowitz correction, which this mode has none of.
"""

from __future__ import annotations

import numpy as np

from systems.slab import COUNTER_RESNAME, LI_METAL_RESNAME
from systems.structure import Structure



def back_gap_nm(cutoff_nm: float, layer_spacing_nm: float) -> float:
    """Gap behind the two electrodes, across the periodic boundary (nm): the real-space cutoff, at least two layer
    spacings (see the module docstring for the measured error it keeps below 0.5 %)."""
    return max(float(cutoff_nm), 2.0 * float(layer_spacing_nm))


def counter_electrode(slab: Structure, z_face_nm: float) -> Structure:
    """The slab mirrored so that its top layer becomes the lowest, on ``z_face_nm``, as residue ``LIC``.

    The counter electrode offers the electrolyte the same (100) face with the same lateral registry as the working
    electrode's top layer, at the upper end of the electrolyte region.
    """
    z = slab.positions[:, 2]
    out = slab.copy()
    out.positions[:, 2] = z_face_nm + (z.max() - z)
    out.resnames = [COUNTER_RESNAME] * slab.n_atoms
    out.names = [f"C{k % 1000:03d}" for k in range(slab.n_atoms)]
    return out


def cell_height_nm(counter: Structure, back_gap: float, z_bottom_nm: float) -> float:
    """Cell height Lz (nm) that leaves ``back_gap`` between the counter electrode's top layer and the periodic image
    of the working electrode's lowest layer (at ``z_bottom_nm``, which the cell puts at ``back_gap / 2``, so the
    boundary lies in the middle of the gap)."""
    return float(counter.positions[:, 2].max()) + back_gap - float(z_bottom_nm)


def applied_potentials(dpsi_v: float, lz_nm: float) -> dict:
    """Electrode potentials (V) and field (V/nm) that put ``dpsi_v`` (working minus counter) across the electrolyte
    and nothing across the back gap: working at dPsi, counter at 0, E = dPsi / Lz along +z (module docstring).

    A positive dPsi charges the working electrode positively (it attracts anions)."""
    return {"working_v": float(dpsi_v), "counter_v": 0.0, "field_v_per_nm": float(dpsi_v) / float(lz_nm)}


def electrode_atoms(resnames) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the working electrode's atoms (LIM) and the counter electrode's (LIC)."""
    r = np.asarray(resnames)
    return np.flatnonzero(r == LI_METAL_RESNAME), np.flatnonzero(r == COUNTER_RESNAME)
