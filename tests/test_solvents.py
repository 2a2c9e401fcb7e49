"""The solvent and nitrate force fields (forcefields/dme_oplsaa.xml, dol_oplsaa.xml, nitrate_clandp.xml) hold their
sources' numbers, and the molecules built by systems/molecules.py minimise to the geometry those numbers describe.

Reference tables: OPLS-AA as in GROMACS share/top/oplsaa.ff (ffnonbonded.itp, ffbonded.itp; Jorgensen et al.,
J. Am. Chem. Soc. 118 (1996) 11225) and CL&P nitrate (Canongia Lopes, Deschamps, Padua, J. Phys. Chem. B 108 (2004)
2038; il.ff of 2013).
"""

import itertools
import math
import xml.etree.ElementTree as ET

import numpy as np
import openmm as mm
import openmm.app as app
import openmm.unit as unit
import pytest

from systems.molecules import build_dme, build_dol, build_nitrate
from systems.openmm_system import FORCEFIELD_DIR, apply_geometric_mixing

# atom name -> (OPLS-AA / CL&P type, charge e, sigma nm, epsilon kJ/mol)
O_ETHER, C_METHYL, C_ETHYL, H_ETHER = ("opls_180", -0.40, 0.290, 0.58576), ("opls_181", 0.11, 0.350, 0.276144), ("opls_182", 0.14, 0.350, 0.276144), ("opls_185", 0.03, 0.250, 0.12552)
O_ACETAL, C_ACETAL, H_ACETAL = ("opls_186", -0.40, 0.290, 0.58576), ("opls_189", 0.20, 0.350, 0.276144), ("opls_190", 0.10, 0.250, 0.12552)
REFERENCE = {
    "dme_oplsaa.xml": {"C1": C_METHYL, "O1": O_ETHER, "C2": C_ETHYL, "C3": C_ETHYL, "O2": O_ETHER, "C4": C_METHYL,
                       **{h: H_ETHER for h in ("H11", "H12", "H13", "H21", "H22", "H31", "H32", "H41", "H42", "H43")}},
    "dol_oplsaa.xml": {"O1": O_ACETAL, "C2": C_ACETAL, "O3": O_ACETAL, "C4": C_ETHYL, "C5": C_ETHYL,
                       "H21": H_ACETAL, "H22": H_ACETAL, **{h: H_ETHER for h in ("H41", "H42", "H51", "H52")}},
    "nitrate_clandp.xml": {"N": ("NN", 0.95, 0.306, 0.3380), **{o: ("ON", -0.65, 0.277, 0.6100) for o in ("O1", "O2", "O3")}},
}  # fmt: skip
NET = {"dme_oplsaa.xml": 0.0, "dol_oplsaa.xml": 0.0, "nitrate_clandp.xml": -1.0}
BUILDERS = {"dme_oplsaa.xml": build_dme, "dol_oplsaa.xml": build_dol, "nitrate_clandp.xml": build_nitrate}


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_charges_and_lennard_jones_are_the_sources(name):
    root = ET.parse(FORCEFIELD_DIR / name).getroot()
    lj = {a.get("type"): (float(a.get("sigma")), float(a.get("epsilon"))) for a in root.find("NonbondedForce").iter("Atom")}
    atoms = {a.get("name"): (a.get("type"), float(a.get("charge"))) for a in root.find("Residues").iter("Atom")}
    assert set(atoms) == set(REFERENCE[name])
    for atom, (_, q, sigma, eps) in REFERENCE[name].items():
        t, charge = atoms[atom]
        assert charge == pytest.approx(q) and lj[t] == pytest.approx((sigma, eps)), atom
    assert sum(q for _, q in atoms.values()) == pytest.approx(NET[name], abs=1e-9)


# bonded terms by bond type (GROMACS oplsaa.ff ffbonded.itp; CL&P il.ff for nitrate): angle -> (deg, kJ/mol/rad2),
# proper dihedral -> Ryckaert-Bellemans C0..C3 (kJ/mol; C4 = C5 = 0)
ANGLES = {("CT", "OS", "CT"): (109.5, 502.080), ("CT", "CT", "OS"): (109.5, 418.400), ("HC", "CT", "OS"): (109.5, 292.880),
          ("HC", "CT", "HC"): (107.8, 276.144), ("CT", "CT", "HC"): (110.7, 313.800), ("OS", "CO", "OS"): (111.55, 774.876),
          ("CO", "OS", "CT"): (109.5, 502.080), ("OS", "CO", "HC"): (109.5, 292.880), ("HC", "CO", "HC"): (109.5, 276.144),
          ("O", "N", "O"): (120.0, 1011.0)}  # fmt: skip
ETHER_H = (1.58992, 4.76976, 0.0, -6.35968)
C_C_O_C = (1.71544, 2.84512, 1.04600, -5.60656)
TORSIONS = {("HC", "CT", "CT", "HC"): (0.62760, 1.88280, 0.0, -2.51040), ("HC", "CT", "CT", "OS"): (0.97905, 2.93716, 0.0, -3.91622),
            ("OS", "CT", "CT", "OS"): (-1.15060, 1.15060, 0.0, 0.0), ("CT", "OS", "CT", "HC"): ETHER_H, ("CT", "CT", "OS", "CT"): C_C_O_C,
            ("CO", "OS", "CT", "CT"): C_C_O_C, ("CO", "OS", "CT", "HC"): ETHER_H, ("CT", "OS", "CO", "HC"): ETHER_H,
            ("CT", "OS", "CO", "OS"): (-6.45801, 0.80961, 5.68187, -0.03347)}  # fmt: skip


def _classes(name):
    """Atom name -> bond type (the XML's class without its molecule prefix)."""
    root = ET.parse(FORCEFIELD_DIR / name).getroot()
    cls = {t.get("name"): t.get("class").split("_", 1)[1] for t in root.iter("Type")}
    return {a.get("name"): cls[a.get("type")] for a in root.find("Residues").iter("Atom")}


def _lookup(table, key):
    return table.get(key, table.get(tuple(reversed(key))))


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_every_angle_and_dihedral_gets_exactly_its_tables_term(name):
    """OpenMM leaves out an angle or torsion no template matches, silently: count them against the bond graph and
    check each one's parameters against the tables."""
    s, _, system = _system(name)
    cls = [_classes(name)[n] for n in s.names]
    neighbours = {i: set() for i in range(s.n_atoms)}
    for i, j in s.bonds:
        neighbours[i].add(j)
        neighbours[j].add(i)
    n_angles = sum(len(v) * (len(v) - 1) // 2 for v in neighbours.values())
    n_propers = sum((len(neighbours[j]) - 1) * (len(neighbours[k]) - 1) for j, k in s.bonds)  # a 5-ring has no 3-cycle
    angles = next(f for f in system.getForces() if isinstance(f, mm.HarmonicAngleForce))
    assert angles.getNumAngles() == n_angles
    for a in range(angles.getNumAngles()):
        i, j, k, theta, kk = angles.getAngleParameters(a)
        deg, k_ref = _lookup(ANGLES, (cls[i], cls[j], cls[k]))
        assert math.degrees(theta.value_in_unit(unit.radian)) == pytest.approx(deg, abs=1e-4) and kk._value == pytest.approx(k_ref)
    rb = [f for f in system.getForces() if isinstance(f, mm.RBTorsionForce)]
    assert sum(f.getNumTorsions() for f in rb) == n_propers and not any(isinstance(f, mm.PeriodicTorsionForce) and f.getNumTorsions() for f in system.getForces())
    for f in rb:
        for t in range(f.getNumTorsions()):
            i, j, k, l, *c = f.getTorsionParameters(t)
            ref = _lookup(TORSIONS, (cls[i], cls[j], cls[k], cls[l]))
            assert [x._value for x in c] == pytest.approx(list(ref) + [0.0, 0.0], abs=1e-5), (s.names[i], s.names[j], s.names[k], s.names[l])


def _system(name):
    """The molecule alone in a 4 nm box, built from its file as the workflow builds a cell (PME, geometric mixing)."""
    s = BUILDERS[name]()
    s.box = np.array([4.0, 4.0, 4.0])
    top = s.to_topology()
    system = app.ForceField(str(FORCEFIELD_DIR / name)).createSystem(top, nonbondedMethod=app.PME, nonbondedCutoff=1.2 * unit.nanometer, constraints=None)
    apply_geometric_mixing(system, None)
    return s, top, system


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_the_built_molecule_minimises_to_its_force_fields_geometry(name):
    s, top, system = _system(name)
    ctx = mm.Context(system, mm.VerletIntegrator(0.001), mm.Platform.getPlatformByName("Reference"))
    ctx.setPositions(s.positions + 2.0)
    mm.LocalEnergyMinimizer.minimize(ctx, 1e-3, 5000)
    x = ctx.getState(getPositions=True).getPositions(asNumpy=True).value_in_unit(unit.nanometer)
    bonds = next(f for f in system.getForces() if isinstance(f, mm.HarmonicBondForce))
    assert bonds.getNumBonds() == len(s.bonds)
    for k in range(bonds.getNumBonds()):  # every bond within 2 % of its equilibrium length
        i, j, r0, _ = bonds.getBondParameters(k)
        assert np.linalg.norm(x[i] - x[j]) == pytest.approx(r0.value_in_unit(unit.nanometer), rel=0.02), (s.names[i], s.names[j])

    def angle(a, b, c):
        u, v = x[a] - x[b], x[c] - x[b]
        return math.degrees(math.acos(np.dot(u, v) / np.linalg.norm(u) / np.linalg.norm(v)))

    ix = {n: k for k, n in enumerate(s.names)}
    if name == "nitrate_clandp.xml":  # planar: the three O-N-O angles close the circle
        total = sum(angle(ix[a], ix["N"], ix[b]) for a, b in itertools.combinations(("O1", "O2", "O3"), 2))
        assert total == pytest.approx(360.0, abs=0.5)
    if name == "dme_oplsaa.xml":  # ether C-O-C opens a little beyond its 109.5 deg under the 1-4 repulsions
        assert 109.0 < angle(ix["C1"], ix["O1"], ix["C2"]) < 116.0
    if name == "dol_oplsaa.xml":  # a five-membered ring: its angles sum to less than a planar pentagon's 540 deg
        ring = ["O1", "C2", "O3", "C4", "C5"]
        total = sum(angle(ix[ring[k - 1]], ix[ring[k]], ix[ring[(k + 1) % 5]]) for k in range(5))
        assert 500.0 < total < 540.0


def test_in_the_dioxolane_ring_no_heavy_atom_pair_is_a_scaled_1_4_pair():
    """Every two ring atoms are 1-2 or 1-3 neighbours (one way round the ring or the other), so their Coulomb and
    Lennard-Jones are excluded, never scaled as 1-4; a hydrogen and the ring atom across from it are 1-4 (0.5)."""
    s, _, system = _system("dol_oplsaa.xml")
    nb = next(f for f in system.getForces() if isinstance(f, mm.NonbondedForce))
    charges = [nb.getParticleParameters(k)[0].value_in_unit(unit.elementary_charge) for k in range(nb.getNumParticles())]
    pairs = {}
    for k in range(nb.getNumExceptions()):
        i, j, qq, _, _ = nb.getExceptionParameters(k)
        pairs[frozenset((s.names[i], s.names[j]))] = qq.value_in_unit(unit.elementary_charge**2)
    ring = ["O1", "C2", "O3", "C4", "C5"]
    for a, b in itertools.combinations(ring, 2):
        assert pairs[frozenset((a, b))] == 0.0, (a, b)
    ix = {n: k for k, n in enumerate(s.names)}
    assert pairs[frozenset(("H21", "C4"))] == pytest.approx(0.5 * charges[ix["H21"]] * charges[ix["C4"]])
    assert frozenset(("H21", "H51")) not in pairs  # 1-5 across the ring: a full non-bonded pair
