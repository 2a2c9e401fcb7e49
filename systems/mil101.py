"""NH2-MIL-101(Fe) coating layer: a neutral, finite, frozen layer model built from trimer geometry.

The builder ``nh2_mil101_fe_ring`` of coating definitions (``systems/coatings/nh2_mil101_fe/coating.yaml``):
its structure and, through :data:`CHARGES` by site type, its charge set.

What it is
----------
A *coating model*, not a crystal facet: a 2.822 nm square cell cannot hold a periodic facet of MIL-101
(that needs 6.284 or 8.887 nm). The model is one hexagonal ring of six Fe3(mu3-O) trimers joined by six
2-aminoterephthalate (NH2-BDC) linkers, every other carboxylate site capped by a formate, 24 caps, 234 atoms,
net charge 0. The trimers alternate between a lower and an upper plane (the linkers leave a trimer at
about 50 degrees to its plane, as from an octahedral Fe), so the layer is about 1.3 nm thick with a pore of
about 1.6 nm across in its middle that reaches down to the Li surface.

Sources (``shared/reference/mil101-facts.md``)
---------------------------------------------
- Ferey et al., Science 309 (2005) 2040: trimers of octahedral M, mu3-O centre, one terminal anion (F) and two
  open metal sites per trimer, six carboxylates bridging the three M-M edges, two per edge.
- Geometry measured on the MIL-101(Cr) crystal model (RASPA2 structure set): M-(mu3-O) 2.02/2.12/2.12 A (mean
  2.09 A used, equilateral trimer, M-M 3.62 A), M-O(carboxylate) 1.88-2.05 A (1.97 A used), M-F 2.05 A.
- Partial charges of that model, transferred Cr -> Fe; amino group from OPLS-AA aniline (N -0.90, H +0.36,
  ring C +0.230); formate caps with H +0.030. Each trimer plus six half-linkers sums to 0.
- Bond lengths not in the facts are textbook values: carboxylate C-O 1.26 A, C(ring)-C(carboxyl) 1.50 A, aromatic
  C-C 1.39 A, C-H 1.08 A, C-N 1.40 A, N-H 1.01 A; formate C-H 1.09 A (facts).
"""

from __future__ import annotations

import numpy as np

from systems.structure import Structure

MOF_RESNAME = "MOF"

# geometry, nm
FE_MU3O = 0.209
FE_OCARB = 0.197
FE_F = 0.205
C_O = 0.126
C_CRING = 0.150
CC_AROM = 0.139
C_H = 0.108
C_N = 0.140
N_H = 0.101
FORMATE_C_H = 0.109

#: Partial charges (e) by site type; see module docstring for sources.
CHARGES = {
    "Fe_open": 1.619,
    "Fe_F": 1.350,
    "O_mu3": -0.853,
    "F_term": -0.547,
    "O_open": -0.574,
    "O_Fside": -0.438,
    "C_carb": 0.496,
    "C_ipso": -0.070,
    "C_CH": -0.058,
    "H_ring": 0.108,
    "C_NH2": 0.230,
    "N_am": -0.900,
    "H_am": 0.360,
    "H_cap": 0.030,
}
ELEMENT_OF_TYPE = {
    "Fe_open": "Fe",
    "Fe_F": "Fe",
    "O_mu3": "O",
    "F_term": "F",
    "O_open": "O",
    "O_Fside": "O",
    "C_carb": "C",
    "C_ipso": "C",
    "C_CH": "C",
    "H_ring": "H",
    "C_NH2": "C",
    "N_am": "N",
    "H_am": "H",
    "H_cap": "H",
}


def _unit(v):
    v = np.asarray(v, float)
    return v / np.linalg.norm(v)


class _Builder:
    def __init__(self):
        self.types, self.pos, self.bonds = [], [], []

    def add(self, typ, xyz):
        self.types.append(typ)
        self.pos.append(np.asarray(xyz, float))
        return len(self.types) - 1

    def bond(self, i, j):
        self.bonds.append((i, j))


def _trimer_local():
    """Local geometry of one trimer (centre at the origin, plane z = 0).

    Returns atom list [(type, xyz)], the in-trimer bonds, and the six carboxylate slots, each a dict with the
    azimuth (deg), up (+1/-1), the two O positions and their types, the index of the two Fe, the carboxyl C
    position and the outward axis u.
    """
    fe_az = [90.0, 210.0, 330.0]
    fe = [FE_MU3O * np.array([np.cos(np.radians(a)), np.sin(np.radians(a)), 0.0]) for a in fe_az]
    atoms = [("Fe_F", fe[0]), ("Fe_open", fe[1]), ("Fe_open", fe[2]), ("O_mu3", np.zeros(3))]
    bonds = [(0, 3), (1, 3), (2, 3)]
    atoms.append(("F_term", fe[0] + FE_F * _unit(fe[0])))
    bonds.append((0, 4))
    nz = np.array([0.0, 0.0, 1.0])
    slots = []
    for j, k in ((0, 1), (1, 2), (2, 0)):
        mid_fe = 0.5 * (fe[j] + fe[k])
        az = np.degrees(np.arctan2(mid_fe[1], mid_fe[0])) % 360
        for up in (+1, -1):
            o = []
            for a, b in ((j, k), (k, j)):
                # equatorial direction of Fe a that points towards its neighbour b, tilted up or down 45 deg
                r = _unit(fe[a])
                t = np.cross(nz, r)
                if np.dot(t, fe[b] - fe[a]) < 0:
                    t = -t
                o.append(fe[a] + FE_OCARB * (t + up * nz) / np.sqrt(2))
            mid_o = 0.5 * (o[0] + o[1])
            half = 0.5 * np.linalg.norm(o[0] - o[1])
            u = mid_o - mid_fe
            u -= np.dot(u, _unit(o[0] - o[1])) * _unit(o[0] - o[1])
            u = _unit(u)
            c = mid_o + np.sqrt(C_O**2 - half**2) * u
            otypes = ["O_Fside" if a == 0 else "O_open" for a in (j, k)]
            slots.append(dict(az=round(az) % 360, up=up, o=o, otypes=otypes, fe=(j, k), c=c, u=u, w=_unit(o[0] - o[1])))
    return atoms, bonds, slots


def _add_trimer(b: _Builder, centre, sign):
    """Add a trimer at ``centre``; ``sign=-1`` gives the inverted (upper) trimer. Returns its Fe indices and slots."""
    atoms, bonds, slots = _trimer_local()
    idx = [b.add(t, centre + sign * x) for t, x in atoms]
    for i, j in bonds:
        b.bond(idx[i], idx[j])
    placed = []
    for s in slots:
        placed.append(
            dict(
                az=(s["az"] + (180 if sign < 0 else 0)) % 360,
                up=s["up"] * sign,
                o=[centre + sign * x for x in s["o"]],
                otypes=s["otypes"],
                fe=(idx[s["fe"][0]], idx[s["fe"][1]]),
                c=centre + sign * s["c"],
                u=sign * s["u"],
                w=sign * s["w"],
            )
        )
    return placed


def _add_carboxylate(b: _Builder, slot):
    """The two O (bonded to their Fe) and the carboxyl C of a slot; returns the C index."""
    oi = [b.add(t, x) for t, x in zip(slot["otypes"], slot["o"])]
    b.bond(oi[0], slot["fe"][0])
    b.bond(oi[1], slot["fe"][1])
    ci = b.add("C_carb", slot["c"])
    b.bond(ci, oi[0])
    b.bond(ci, oi[1])
    return ci


def _add_formate_cap(b: _Builder, slot):
    ci = _add_carboxylate(b, slot)
    b.bond(ci, b.add("H_cap", slot["c"] + FORMATE_C_H * slot["u"]))


def _add_linker(b: _Builder, slot_a, slot_b):
    """NH2-BDC from slot_a's carboxylate to slot_b's; NH2 on the ring C next to the ipso C at end a."""
    ca = _add_carboxylate(b, slot_a)
    cb = _add_carboxylate(b, slot_b)
    u, w = slot_a["u"], slot_a["w"]
    centre = slot_a["c"] + (C_CRING + CC_AROM) * u
    ring = []
    for th in (180, 120, 60, 0, -60, -120):
        d = np.cos(np.radians(th)) * u + np.sin(np.radians(th)) * w
        typ = "C_ipso" if th in (180, 0) else ("C_NH2" if th == 120 else "C_CH")
        ring.append((b.add(typ, centre + CC_AROM * d), d))
    for k in range(6):
        b.bond(ring[k][0], ring[(k + 1) % 6][0])
    b.bond(ca, ring[0][0])
    b.bond(cb, ring[3][0])
    for (i, d), th in zip(ring, (180, 120, 60, 0, -60, -120)):
        if th in (180, 0):
            continue
        if th == 120:
            n = b.add("N_am", centre + (CC_AROM + C_N) * d)
            b.bond(i, n)
            npos = b.pos[n]
            for rot in (+60, -60):
                r = np.radians(rot)
                # rotate d about the ring normal within the ring plane
                dn = np.cross(u, w)
                hd = d * np.cos(r) + np.cross(dn, d) * np.sin(r)
                b.bond(n, b.add("H_am", npos + N_H * hd))
        else:
            b.bond(i, b.add("H_ring", centre + (CC_AROM + C_H) * d))


def _slot(slots, az, up):
    for s in slots:
        if s["az"] == az % 360 and s["up"] == up:
            return s
    raise KeyError((az, up))


def build_nh2_mil101_fe_layer() -> Structure:
    """Build the NH2-MIL-101(Fe) ring layer (234 atoms), centred laterally on the origin, lowest atom at z = 0.

    Returns a Structure whose residue is ``MOF`` (one molecule), atoms named by element and count (Fe1, O1, ...);
    charges and types are given by :func:`site_types`.
    """
    b = _Builder()
    # Lower trimers use the up-slots at 30/270/150 deg to reach upper trimers; upper ones come back down.
    _, _, loc = _trimer_local()

    def step(az):  # displacement from a lower trimer to the upper one along its up-slot at azimuth az
        s = _slot(loc, az, +1)
        # the upper trimer is the lower one inverted through the linker's midpoint
        return 2 * s["c"] + (2 * C_CRING + 2 * CC_AROM) * s["u"]

    # centres around the ring: lower(0) -30-> upper(0) -330-> lower(1) -270-> upper(1) -210-> lower(2) -150-> upper(2) -90-> lower(0)
    lower = [np.zeros(3)]
    upper = [lower[0] + step(30)]
    lower.append(upper[0] - step(150))
    upper.append(lower[1] + step(270))
    lower.append(upper[1] - step(30))
    upper.append(lower[2] + step(150))
    if not np.allclose(upper[2] - step(270), lower[0], atol=1e-9):
        raise RuntimeError("MIL-101 ring does not close; geometry constants inconsistent")
    lo_slots = [_add_trimer(b, c, +1) for c in lower]
    up_slots = [_add_trimer(b, c, -1) for c in upper]
    used = set()
    ring_links = [
        (0, 30, 0, 210),  # lower 0 up-slot 30 <-> upper 0 down-slot 210
        (1, 90 + 180, 1, 90),  # lower 1 up-slot 270 <-> upper 1 down-slot 90
        (2, 150, 2, 330),
        (1, 150, 0, 330),  # lower 1 up-slot 150 <-> upper 0 down-slot 330
        (2, 30, 1, 210),
        (0, 270, 2, 90),
    ]
    for li, laz, ui, uaz in ring_links:
        sa, sb = _slot(lo_slots[li], laz, +1), _slot(up_slots[ui], uaz, -1)
        if not np.allclose(sa["c"] + (2 * C_CRING + 2 * CC_AROM) * sa["u"], sb["c"], atol=1e-6):
            raise RuntimeError(f"linker lower {li}@{laz} -> upper {ui}@{uaz} does not meet")
        _add_linker(b, sa, sb)
        used.add(("lo", li, laz, +1))
        used.add(("up", ui, uaz, -1))
    for tag, group in (("lo", lo_slots), ("up", up_slots)):
        for ti, slots in enumerate(group):
            for s in slots:
                if (tag, ti, s["az"], s["up"]) not in used:
                    _add_formate_cap(b, s)
    pos = np.array(b.pos)
    pos[:, :2] -= 0.5 * (pos[:, :2].min(0) + pos[:, :2].max(0))
    pos[:, 2] -= pos[:, 2].min()
    n = len(b.types)
    type_index = {t: k for k, t in enumerate(CHARGES)}
    seen: dict = {}
    names = []
    for t in b.types:  # Fe1..Fe18, O1..O78, ...: unique, at most 4 characters
        el = ELEMENT_OF_TYPE[t]
        seen[el] = seen.get(el, 0) + 1
        names.append(f"{el}{seen[el]}")
    s = Structure([ELEMENT_OF_TYPE[t] for t in b.types], names, [MOF_RESNAME] * n, [0] * n, pos, b.bonds)
    s.site_types = list(b.types)  # type: ignore[attr-defined]
    s.type_index = type_index  # type: ignore[attr-defined]
    return s


def site_types(layer: Structure) -> list:
    """Site type of each atom of a layer built by :func:`build_nh2_mil101_fe_layer`."""
    return list(layer.site_types)  # type: ignore[attr-defined]


def net_charge(layer: Structure) -> float:
    return float(sum(CHARGES[t] for t in site_types(layer)))
