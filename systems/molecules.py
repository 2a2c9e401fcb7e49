"""Molecules of the electrolyte, each built from its force field's equilibrium internal coordinates.

TFSI- (bis(trifluoromethanesulfonyl)imide) is built from the CL&P equilibrium bond lengths and angles
(Canongia Lopes & Padua, J. Phys. Chem. B 108 (2004) 16893; ``ntf2.zmat``), in the trans (C2) conformer
with C-S-N-S dihedrals of 90 degrees. Every builder returns one molecule as a :class:`Structure` with its residue
name, atom names matching its force-field file in ``forcefields/``, and bonds.
"""

from __future__ import annotations

import numpy as np

from systems.structure import Structure

TFSI_RESNAME = "TFS"
LI_ION_RESNAME = "LIP"
#: Molar mass of LiTFSI, g/mol (Li 6.941 + TFSI 280.15).
LITFSI_MOLAR_MASS = 6.941 + 14.007 + 2 * 32.066 + 4 * 15.999 + 2 * 12.011 + 6 * 18.998

# CL&P equilibrium geometry (nm, degrees)
_R = {"NS": 0.1570, "SO": 0.1437, "SC": 0.1818, "CF": 0.1323}
_A = {"SNS": 125.6, "NSO": 113.6, "NSC": 103.5, "SCF": 111.7}


def _place(a, b, c, bond, angle_deg, dihedral_deg):
    """Natural-extension reference frame: the atom d with |cd| = bond, angle bcd, dihedral abcd."""
    a, b, c = (np.asarray(v, float) for v in (a, b, c))
    bc = c - b
    bc /= np.linalg.norm(bc)
    n = np.cross(b - a, bc)
    n /= np.linalg.norm(n)
    m = np.cross(n, bc)
    th, ph = np.radians(angle_deg), np.radians(dihedral_deg)
    d2 = np.array([-bond * np.cos(th), bond * np.sin(th) * np.cos(ph), bond * np.sin(th) * np.sin(ph)])
    return c + d2[0] * bc + d2[1] * m + d2[2] * n


def build_tfsi(dihedral_csns_deg: float = 90.0) -> Structure:
    """One TFSI- anion (15 atoms) from CL&P internal coordinates, centred at the origin.

    Atom names: N, S1, S2, O1-O4, C1, C2, F1-F6; residue ``TFS``.
    """
    N = np.zeros(3)
    S1 = np.array([_R["NS"], 0.0, 0.0])
    th = np.radians(_A["SNS"])
    S2 = np.array([_R["NS"] * np.cos(th), _R["NS"] * np.sin(th), 0.0])
    C1 = _place(S2, N, S1, _R["SC"], _A["NSC"], dihedral_csns_deg)
    C2 = _place(S1, N, S2, _R["SC"], _A["NSC"], dihedral_csns_deg)
    O1 = _place(S2, N, S1, _R["SO"], _A["NSO"], dihedral_csns_deg + 120)
    O2 = _place(S2, N, S1, _R["SO"], _A["NSO"], dihedral_csns_deg - 120)
    O3 = _place(S1, N, S2, _R["SO"], _A["NSO"], dihedral_csns_deg + 120)
    O4 = _place(S1, N, S2, _R["SO"], _A["NSO"], dihedral_csns_deg - 120)
    F = [_place(N, S1, C1, _R["CF"], _A["SCF"], 180 + 120 * k) for k in range(3)]
    F += [_place(N, S2, C2, _R["CF"], _A["SCF"], 180 + 120 * k) for k in range(3)]
    pos = np.array([N, S1, S2, O1, O2, O3, O4, C1, C2] + F)
    pos -= pos.mean(axis=0)
    names = ["N", "S1", "S2", "O1", "O2", "O3", "O4", "C1", "C2", "F1", "F2", "F3", "F4", "F5", "F6"]
    elements = ["N", "S", "S", "O", "O", "O", "O", "C", "C", "F", "F", "F", "F", "F", "F"]
    ix = {n: k for k, n in enumerate(names)}
    bonds = [("N", "S1"), ("N", "S2"), ("S1", "O1"), ("S1", "O2"), ("S2", "O3"), ("S2", "O4"), ("S1", "C1"), ("S2", "C2")]
    bonds += [("C1", f"F{k}") for k in (1, 2, 3)] + [("C2", f"F{k}") for k in (4, 5, 6)]
    return Structure(elements, names, [TFSI_RESNAME] * 15, [0] * 15, pos, [(ix[a], ix[b]) for a, b in bonds])


def build_li_ion() -> Structure:
    """One Li+ cation, residue ``LIP``."""
    return Structure(["Li"], ["LI"], [LI_ION_RESNAME], [0], np.zeros((1, 3)), [])


DME_RESNAME = "DME"
DOL_RESNAME = "DOL"
NITRATE_RESNAME = "NO3"
#: Molar masses, g/mol (IUPAC standard atomic weights, as the force-field files' masses).
DME_MOLAR_MASS = 4 * 12.011 + 10 * 1.008 + 2 * 15.9994
DOL_MOLAR_MASS = 3 * 12.011 + 6 * 1.008 + 2 * 15.9994
LINO3_MOLAR_MASS = 6.941 + 14.007 + 3 * 15.999

# OPLS-AA equilibrium bond lengths (nm) and the tetrahedral angle (deg) the ethers' angles are near
_R_ETHER = {"CO": 0.1410, "CC": 0.1529, "CH": 0.1090, "acetal_CO": 0.1380}
_TETRAHEDRAL = 109.5


def _two_hydrogens(center, n1, n2, bond: float = _R_ETHER["CH"]) -> list[np.ndarray]:
    """The two H of a CH2 whose other neighbours are ``n1`` and ``n2``: in the plane normal to n1-C-n2, along its
    outward bisector, at the tetrahedral angle between them."""
    c, a, b = (np.asarray(v, float) for v in (center, n1, n2))
    out = (c - a) / np.linalg.norm(c - a) + (c - b) / np.linalg.norm(c - b)
    out /= np.linalg.norm(out)
    normal = np.cross(a - c, b - c)
    normal /= np.linalg.norm(normal)
    half = np.radians(_TETRAHEDRAL / 2)
    return [c + bond * (np.cos(half) * out + s * np.sin(half) * normal) for s in (1.0, -1.0)]


def build_dme() -> Structure:
    """One 1,2-dimethoxyethane (16 atoms), all-trans (the chain C1-O1-C2-C3-O2-C4 planar), centred at the origin.

    Atom names as ``forcefields/dme_oplsaa.xml``: C1 O1 C2 C3 O2 C4, then H11-H13, H21 H22, H31 H32, H41-H43.
    """
    r, t = _R_ETHER, _TETRAHEDRAL
    C1 = np.zeros(3)
    O1 = np.array([r["CO"], 0.0, 0.0])
    th = np.radians(180.0 - t)
    C2 = O1 + r["CO"] * np.array([np.cos(th), np.sin(th), 0.0])
    C3 = _place(C1, O1, C2, r["CC"], t, 180.0)
    O2 = _place(O1, C2, C3, r["CO"], t, 180.0)
    C4 = _place(C2, C3, O2, r["CO"], t, 180.0)
    H1 = [_place(C2, O1, C1, r["CH"], t, d) for d in (60.0, 180.0, 300.0)]
    H2 = _two_hydrogens(C2, O1, C3)
    H3 = _two_hydrogens(C3, C2, O2)
    H4 = [_place(C3, O2, C4, r["CH"], t, d) for d in (60.0, 180.0, 300.0)]
    pos = np.array([C1, O1, C2, C3, O2, C4] + H1 + H2 + H3 + H4)
    pos -= pos.mean(axis=0)
    names = ["C1", "O1", "C2", "C3", "O2", "C4", "H11", "H12", "H13", "H21", "H22", "H31", "H32", "H41", "H42", "H43"]
    elements = [n[0] for n in names]
    ix = {n: k for k, n in enumerate(names)}
    bonds = [("C1", "O1"), ("O1", "C2"), ("C2", "C3"), ("C3", "O2"), ("O2", "C4")]
    bonds += [("C" + n[1], n) for n in names[6:]]  # H<k><m> is bonded to C<k>
    return Structure(elements, names, [DME_RESNAME] * 16, [0] * 16, pos, [(ix[a], ix[b]) for a, b in bonds])


def build_dol() -> Structure:
    """One 1,3-dioxolane (11 atoms), the ring O1-C2-O3-C4-C5 an envelope (C5 out of the plane of the other four),
    centred at the origin. Atom names as ``forcefields/dol_oplsaa.xml``."""
    ring_names = ["O1", "C2", "O3", "C4", "C5"]
    # a regular pentagon with the ring's mean bond length as its side, C5 lifted out of plane by 0.04 nm
    side = (2 * _R_ETHER["acetal_CO"] + 2 * _R_ETHER["CO"] + _R_ETHER["CC"]) / 5
    radius = side / (2 * np.sin(np.pi / 5))
    ring = [np.array([radius * np.cos(2 * np.pi * k / 5), radius * np.sin(2 * np.pi * k / 5), 0.0]) for k in range(5)]
    ring[4][2] = 0.04
    O1, C2, O3, C4, C5 = ring
    H2 = _two_hydrogens(C2, O1, O3)
    H4 = _two_hydrogens(C4, O3, C5)
    H5 = _two_hydrogens(C5, C4, O1)
    pos = np.array(ring + H2 + H4 + H5)
    pos -= pos.mean(axis=0)
    names = ring_names + ["H21", "H22", "H41", "H42", "H51", "H52"]
    elements = [n[0] for n in names]
    ix = {n: k for k, n in enumerate(names)}
    bonds = [("O1", "C2"), ("C2", "O3"), ("O3", "C4"), ("C4", "C5"), ("C5", "O1")]
    bonds += [("C" + n[1], n) for n in names[5:]]
    return Structure(elements, names, [DOL_RESNAME] * 11, [0] * 11, pos, [(ix[a], ix[b]) for a, b in bonds])


def build_nitrate() -> Structure:
    """One nitrate anion, planar, N at the origin and N-O of CL&P (0.1226 nm). Residue ``NO3``."""
    r = 0.1226
    pos = [np.zeros(3)] + [r * np.array([np.cos(a), np.sin(a), 0.0]) for a in np.radians([90.0, 210.0, 330.0])]
    return Structure(["N", "O", "O", "O"], ["N", "O1", "O2", "O3"], [NITRATE_RESNAME] * 4, [0] * 4, np.array(pos), [(0, 1), (0, 2), (0, 3)])
