"""A metal phthalocyanine (MPc, C32H16N8M) as a flat D4h molecule, built from bond lengths.

The start geometry of the shipped CoPc (``systems/coatings/nh2_mil101_fe_copc/copc.xyz``), which
``python -m systems.phthalocyanine`` then relaxes with GFN2-xTB (see :mod:`systems.charges`).

Construction (all in the molecular plane, metal at the origin): four isoindole units along +x, +y, -x, -y,
each with its pyrrole N (N_p) at ``m_n`` from the metal; the five-membered ring N_p-C_a-C_b-C_b-C_a has the angle
C_a-N_p-C_a = 107.5 deg and the bonds N_p-C_a 1.38, C_a-C_b 1.45, C_b-C_b 1.39 A; the benzo ring is a regular
hexagon (1.39 A) on the C_b-C_b edge, C-H 1.08 A; the aza (meso) N bridges the C_a of neighbouring units at
1.32 A on the diagonal. These are rounded mean bond lengths of metal phthalocyanine crystal structures
(M-N_p 1.91 A for Co(II)); the geometry that comes out (C_a-N_m-C_a 119.6 deg, N_p-C_a-N_m 128.9 deg, M...N_m
3.38 A) is close to them, and the GFN2-xTB relaxation takes out the rest.
"""

from __future__ import annotations

import numpy as np

from systems.structure import Structure

NP_CA, CA_CB, CB_CB, CA_NM, CC_AROM, C_H = 0.138, 0.145, 0.139, 0.132, 0.139, 0.108
ANGLE_CA_NP_CA = 107.5


def _rot(v, deg):
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    return np.array([c * v[0] - s * v[1], s * v[0] + c * v[1], 0.0])


def build_metal_phthalocyanine(metal: str = "Co", m_n_nm: float = 0.191, resname: str = "CPC") -> Structure:
    """Flat MPc (57 atoms for one metal) centred on the origin in the xy plane; bonds included."""
    if not 0.17 < m_n_nm < 0.23:
        raise ValueError(f"metal-N distance {m_n_nm} nm is outside 0.17-0.23 nm")
    half = np.radians(ANGLE_CA_NP_CA / 2)
    np_ = np.array([m_n_nm, 0.0, 0.0])
    ca = np_ + NP_CA * np.array([np.cos(half), np.sin(half), 0.0])  # the +y one
    dy = ca[1] - CB_CB / 2
    cb = np.array([ca[0] + np.sqrt(CA_CB**2 - dy**2), CB_CB / 2, 0.0])
    # benzo hexagon on the C_b-C_b edge, outward along +x
    centre = np.array([cb[0] + CC_AROM * np.sqrt(3) / 2, 0.0, 0.0])
    cg = centre + CC_AROM * np.array([np.cos(np.radians(90)), np.sin(np.radians(90)), 0.0])
    cd = centre + CC_AROM * np.array([np.cos(np.radians(30)), np.sin(np.radians(30)), 0.0])
    hg = cg + C_H * (cg - centre) / CC_AROM
    hd = cd + C_H * (cd - centre) / CC_AROM
    # aza N on the diagonal between this unit's +y C_a and the next unit's -y C_a (its mirror image)
    ca_next = np.array([ca[1], ca[0], 0.0])
    mid = 0.5 * (ca + ca_next)
    h = np.sqrt(CA_NM**2 - (np.linalg.norm(ca - ca_next) / 2) ** 2)
    nm = mid + h * np.array([1.0, 1.0, 0.0]) / np.sqrt(2)
    mirror = np.array([1.0, -1.0, 1.0])
    # one unit: N_p, C_a+, C_a-, C_b+, C_b-, C_g+, C_g-, C_d+, C_d-, H_g+, H_g-, H_d+, H_d-, N_m (at +45 deg)
    unit = [("N", np_), ("C", ca), ("C", ca * mirror), ("C", cb), ("C", cb * mirror), ("C", cg), ("C", cg * mirror)]
    unit += [("C", cd), ("C", cd * mirror), ("H", hg), ("H", hg * mirror), ("H", hd), ("H", hd * mirror), ("N", nm)]
    local_bonds = [(0, 1), (0, 2), (1, 3), (2, 4), (3, 4), (3, 5), (4, 6), (5, 7), (6, 8), (7, 8), (5, 9), (6, 10), (7, 11), (8, 12), (1, 13)]
    elements, pos, bonds = [metal], [np.zeros(3)], []
    n_unit = len(unit)
    for k in range(4):
        base = 1 + k * n_unit
        for el, xyz in unit:
            elements.append(el)
            pos.append(_rot(xyz, 90 * k))
        bonds += [(base + i, base + j) for i, j in local_bonds]
        bonds.append((0, base))  # metal-N_p
        nxt = 1 + ((k + 1) % 4) * n_unit
        bonds.append((base + 13, nxt + 2))  # N_m - C_a- of the next unit
    counts: dict = {}
    names = []
    for el in elements:
        counts[el] = counts.get(el, 0) + 1
        names.append(f"{el}{counts[el]}")
    return Structure(elements, names, [resname] * len(elements), [0] * len(elements), np.array(pos), bonds)


def write_xyz(structure: Structure, path, comment: str) -> None:
    """Write an XYZ file (Angstrom), atomically."""
    from systems.files import write_text

    lines = [str(structure.n_atoms), comment.replace("\n", " ")]
    for el, xyz in zip(structure.elements, structure.positions * 10.0):
        lines.append(f"{el:<2s} {xyz[0]:12.6f} {xyz[1]:12.6f} {xyz[2]:12.6f}")
    write_text(path, "\n".join(lines) + "\n")


def main(argv=None) -> int:
    """Build CoPc, relax it with GFN2-xTB (neutral, one unpaired electron) and write the XYZ file."""
    import argparse

    from systems.charges import gfn2_xtb_relax

    p = argparse.ArgumentParser(description=main.__doc__)
    p.add_argument("out", help="XYZ file to write")
    p.add_argument("--metal", default="Co")
    p.add_argument("--unpaired", type=int, default=1, help="unpaired electrons (Co(II): 1)")
    args = p.parse_args(argv)
    mpc = build_metal_phthalocyanine(args.metal)
    relaxed, info = gfn2_xtb_relax(mpc, total_charge=0, unpaired_electrons=args.unpaired)
    d = np.linalg.norm(relaxed.positions[1:] - relaxed.positions[0], axis=1)
    comment = (
        f"{args.metal}Pc relaxed with GFN2-xTB (tblite {info['tblite']}, charge 0, {args.unpaired} unpaired electron(s)); "
        f"start: systems/phthalocyanine.py; {info['iterations']} iterations, max |gradient| {info['max_gradient_kj_mol_nm']:.2f} kJ/mol/nm; "
        f"M-N_p {d[[14 * k for k in range(4)]].mean() * 10:.3f} A"
    )
    write_xyz(relaxed, args.out, comment)
    print(comment)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
