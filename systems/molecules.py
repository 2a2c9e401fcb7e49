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
