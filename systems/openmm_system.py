"""The OpenMM System of a slab cell: force fields, geometric mixing, frozen atoms, wall and dipole correction.

Electrostatics: 3D PME in a cell that is tall in z (vacuum above the electrolyte), with the Yeh-Berkowitz
correction (J. Chem. Phys. 111 (1999) 3155), E = 2 pi / V * M_z^2 in Gaussian units, i.e.
E = 2 pi k_e M_z^2 / V with k_e = 1/(4 pi eps0) = 138.935 kJ mol^-1 nm e^-2 and M_z = sum_i q_i z_i, which
removes the spurious interaction between the periodic images along z. A flat-bottomed harmonic wall keeps the
mobile atoms out of the vacuum gap.

Lennard-Jones: CL&P and UFF combine sigma and epsilon geometrically, whereas OpenMM's NonbondedForce mixes
sigma arithmetically. The LJ part therefore lives in a CustomNonbondedForce with per-particle sqrt(sigma) and
sqrt(epsilon) (so the pair terms are plain products), the NonbondedForce keeps only charges, and the scaled
1-4 exceptions get the geometric sigma. No isotropic long-range correction is used: it assumes a homogeneous
fluid (wrong for a slab) and is a constant at fixed volume anyway.

Frozen atoms (slab and coating: every residue but TFS and LIP) get mass 0, so integrators and the minimiser leave them in place. Exclusions
come only from bonds inside each molecule; the energy between frozen atoms is a constant and no exception is
added for frozen pairs.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import openmm as mm
import openmm.app as app
import openmm.unit as unit

from systems.slab import COUNTER_RESNAME, LI_METAL_RESNAME
from systems.uff import uff_epsilon_kj, uff_sigma_nm

FORCEFIELD_DIR = Path(__file__).resolve().parent.parent / "forcefields"
#: 1/(4 pi eps0) in kJ mol^-1 nm e^-2 (OpenMM's ONE_4PI_EPS0)
ONE_4PI_EPS0 = 138.935456

#: force groups, so energies can be reported per term
GROUP_BONDED, GROUP_COULOMB, GROUP_LJ, GROUP_WALL, GROUP_DIPOLE = 0, 1, 2, 3, 4

#: the mobile residues; everything else (Li metal LIM and LIC, every coating component) is frozen
ION_RESNAMES = ("TFS", "LIP")


def forcefield_files(coating_xml=None, counter_electrode: bool = False) -> list[str]:
    """The force-field XML files of a system: Li metal, TFSI-, Li+, the coating's file (None for bare Li) and, for a
    constant-potential cell, the counter electrode's residue.

    A coating's file is written by the workflow from its definition (:func:`systems.coating.forcefield_xml`).
    """
    paths = [FORCEFIELD_DIR / f for f in ("li_metal_uff.xml", "tfsi_clandp.xml", "li_ion_clandp.xml")]
    if counter_electrode:
        paths.append(FORCEFIELD_DIR / "li_counter_uff.xml")
    if coating_xml:
        paths.append(Path(coating_xml))
    for p in paths:
        if not p.exists():
            raise FileNotFoundError(f"force-field file {p} not found")
    return [str(p) for p in paths]


def apply_geometric_mixing(system: mm.System, switch_nm: float | None) -> mm.CustomNonbondedForce:
    """Move Lennard-Jones out of the NonbondedForce into a geometric-mixing CustomNonbondedForce.

    The NonbondedForce must already hold the LJ parameters (as ForceField.createSystem leaves them). Every
    NonbondedForce exception becomes a CustomNonbondedForce exclusion; exceptions that keep LJ (scaled 1-4
    pairs) get sigma_ij = sqrt(sigma_i sigma_j).
    """
    nb = next(f for f in system.getForces() if isinstance(f, mm.NonbondedForce))
    lj = mm.CustomNonbondedForce("4*epsilon*(sr6^2 - sr6); sr6 = (sigma/r)^6; sigma = s1*s2; epsilon = e1*e2")
    lj.setName("LennardJonesGeometric")
    lj.addPerParticleParameter("s")  # sqrt(sigma / nm)
    lj.addPerParticleParameter("e")  # sqrt(epsilon / (kJ/mol))
    lj.setNonbondedMethod(mm.CustomNonbondedForce.CutoffPeriodic)
    lj.setCutoffDistance(nb.getCutoffDistance())
    if switch_nm is not None:
        lj.setUseSwitchingFunction(True)
        lj.setSwitchingDistance(switch_nm * unit.nanometer)
    lj.setUseLongRangeCorrection(False)
    sig = np.zeros(nb.getNumParticles())
    for i in range(nb.getNumParticles()):
        q, s, e = nb.getParticleParameters(i)
        s_nm = s.value_in_unit(unit.nanometer)
        e_kj = e.value_in_unit(unit.kilojoule_per_mole)
        sig[i] = s_nm
        lj.addParticle([math.sqrt(s_nm), math.sqrt(e_kj)])
        nb.setParticleParameters(i, q, s, 0.0)
    for k in range(nb.getNumExceptions()):
        i, j, qq, s, e = nb.getExceptionParameters(k)
        lj.addExclusion(i, j)
        if e.value_in_unit(unit.kilojoule_per_mole) != 0.0:
            nb.setExceptionParameters(k, i, j, qq, math.sqrt(sig[i] * sig[j]), e)
    nb.setUseDispersionCorrection(False)
    lj.setForceGroup(GROUP_LJ)
    system.addForce(lj)
    return lj


def set_ion_lj_uff(nb: mm.NonbondedForce, elements, ion) -> None:
    """UFF Lennard-Jones by element on the ions (the paper's Forcite setting), charges untouched.

    Intramolecular 1-4 pairs keep the force field's scaling of the mixed pair: their epsilon becomes
    scale x sqrt(eps_i eps_j) with the UFF values (sigma is mixed later, :func:`apply_geometric_mixing`).
    """
    old = {}
    for i in np.flatnonzero(ion):
        q, s, e = nb.getParticleParameters(int(i))
        old[int(i)] = e.value_in_unit(unit.kilojoule_per_mole)
        nb.setParticleParameters(int(i), q, uff_sigma_nm(elements[i]) * unit.nanometer, uff_epsilon_kj(elements[i]) * unit.kilojoule_per_mole)
    for k in range(nb.getNumExceptions()):
        i, j, qq, s, e = nb.getExceptionParameters(k)
        e_kj = e.value_in_unit(unit.kilojoule_per_mole)
        if i in old and j in old and e_kj != 0.0 and old[i] > 0 and old[j] > 0:
            scale = e_kj / math.sqrt(old[i] * old[j])
            nb.setExceptionParameters(k, i, j, qq, s, scale * math.sqrt(uff_epsilon_kj(elements[i]) * uff_epsilon_kj(elements[j])))


def add_dipole_correction(system: mm.System, charges, box_nm) -> mm.Force | None:
    """Add the Yeh-Berkowitz slab correction E = 2 pi k_e M_z^2 / V as a CustomCentroidBondForce.

    M_z = Q+ z+ - Q- z-, where z+ and z- are the charge-weighted mean heights of the positive and negative
    charges; the force on atom i is -4 pi k_e q_i M_z / V along z. ``charges`` are in e, ``box_nm`` the cell.
    Returns None when no atom is charged.
    """
    q = np.asarray(charges, float)
    pos = np.flatnonzero(q > 0)
    neg = np.flatnonzero(q < 0)
    if len(pos) == 0 or len(neg) == 0:
        return None
    volume = float(np.prod(box_nm))
    f = mm.CustomCentroidBondForce(2, "C_yb*(Qp*z1 - Qn*z2)^2")
    f.setName("YehBerkowitzDipoleCorrection")
    f.addGlobalParameter("C_yb", 2 * math.pi * ONE_4PI_EPS0 / volume)
    f.addGlobalParameter("Qp", float(q[pos].sum()))
    f.addGlobalParameter("Qn", float(-q[neg].sum()))
    f.addGroup([int(i) for i in pos], [float(x) for x in q[pos]])
    f.addGroup([int(i) for i in neg], [float(-x) for x in q[neg]])
    f.addBond([0, 1], [])
    f.setForceGroup(GROUP_DIPOLE)
    system.addForce(f)
    return f


def _z_wall(system: mm.System, atoms, name: str, expression: str, k_name: str, k_kj_nm2: float, z_name: str, z_nm: float):
    """A CustomExternalForce on ``atoms`` with the stiffness and height as global parameters, in the wall group."""
    f = mm.CustomExternalForce(expression)
    f.setName(name)
    f.addGlobalParameter(k_name, k_kj_nm2)
    f.addGlobalParameter(z_name, z_nm)
    for i in atoms:
        f.addParticle(int(i), [])
    f.setForceGroup(GROUP_WALL)
    system.addForce(f)
    return f


def add_wall(system: mm.System, atoms, z_wall_nm: float, k_kj_nm2: float) -> mm.CustomExternalForce:
    """Flat-bottomed harmonic wall, E = k/2 (z - z_wall)^2 for z > z_wall, on ``atoms``."""
    return _z_wall(system, atoms, "UpperWall", "0.5*k_wall*max(0, z - z_wall)^2", "k_wall", k_kj_nm2, "z_wall", z_wall_nm)


def add_floor(system: mm.System, atoms, z_floor_nm: float, k_kj_nm2: float) -> mm.CustomExternalForce:
    """Flat-bottomed harmonic floor, E = k/2 (z_floor - z)^2 for z < z_floor, on ``atoms`` (the lower wall).

    ``z`` is the coordinate the platform holds: the CPU and Reference platforms keep positions unwrapped, while CUDA
    and OpenCL translate every particle into one periodic cell and remember the shift (P. Eastman in
    openmm/openmm#988). The floor sits above the slab, inside the cell (0 < z_floor < Lz), where the two agree; held
    there, no ion reaches z = 0. Without it, an ion that crosses the slab to z < 0 is seen at z + Lz on a GPU, far
    above the upper wall, whose force then throws it back: another model than on the CPU.
    """
    return _z_wall(system, atoms, "LowerWall", "0.5*k_floor*max(0, z_floor - z)^2", "k_floor", k_kj_nm2, "z_floor", z_floor_nm)


def nonbonded_charges(system: mm.System) -> np.ndarray:
    nb = next(f for f in system.getForces() if isinstance(f, mm.NonbondedForce))
    return np.array([nb.getParticleParameters(i)[0].value_in_unit(unit.elementary_charge) for i in range(system.getNumParticles())])


def create_slab_system(
    topology: app.Topology,
    coating_xml=None,
    cutoff_nm: float = 1.25,
    switch_nm: float | None = 1.15,
    ewald_error_tolerance: float = 5e-4,
    z_wall_nm: float | None = None,
    wall_k_kj_nm2: float = 5000.0,
    z_floor_nm: float | None = None,
    dipole_correction: bool = True,
    ion_lennard_jones: str = "clandp",
    li_metal_epsilon_scale: float = 1.0,
    ion_charge_scale: float = 1.0,
    xml_files: list[str] | None = None,
) -> mm.System:
    """Build the OpenMM System for a slab cell.

    Parameters
    ----------
    topology : openmm.app.Topology
        Residues LIM (Li metal), the coating's residues (optional), TFS (TFSI-), LIP (Li+); periodic box set.
    coating_xml : path or None
        The coating's force-field file (None for bare Li). Every residue that is not TFS or LIP is frozen.
    cutoff_nm, switch_nm : float
        Real-space cutoff of PME and LJ, and where the LJ switching function starts (None: plain cutoff).
    ewald_error_tolerance : float
        PME accuracy.
    z_wall_nm : float, optional
        Height of the upper wall on mobile atoms; no wall when None.
    wall_k_kj_nm2 : float
        Force constant (kJ/mol/nm^2) of the upper wall and of the floor.
    z_floor_nm : float, optional
        Height of the lower wall (floor) on mobile atoms, so that no ion enters or crosses the Li slab; none when
        None (the paper's model).
    dipole_correction : bool
        Add the Yeh-Berkowitz correction.
    li_metal_epsilon_scale : float
        Factor on the Li-metal LJ epsilon (1 = UFF).
    ion_charge_scale : float
        Factor on the charges of TFSI- and Li+ (1 = CL&P; 0.8 = scaled-charge variant).
    ion_lennard_jones : str
        ``clandp`` (default) or ``uff``: UFF Lennard-Jones on the ions by element, CL&P charges kept
        (:func:`set_ion_lj_uff`).
    xml_files : list of str, optional
        Force-field files to use instead of :func:`forcefield_files`.

    Returns
    -------
    openmm.System
    """
    if topology.getPeriodicBoxVectors() is None:
        raise ValueError("topology has no periodic box")
    if switch_nm is not None and not 0 < switch_nm < cutoff_nm:
        raise ValueError(f"switching distance {switch_nm} nm must lie between 0 and the cutoff {cutoff_nm} nm")
    counter = any(res.name == COUNTER_RESNAME for res in topology.residues())
    ff = app.ForceField(*(xml_files or forcefield_files(coating_xml, counter_electrode=counter)))
    system = ff.createSystem(
        topology,
        nonbondedMethod=app.PME,
        nonbondedCutoff=cutoff_nm * unit.nanometer,
        constraints=None,
        rigidWater=False,
        removeCMMotion=False,
        ewaldErrorTolerance=ewald_error_tolerance,
        # Li metal and Li+ are both single Li atoms: graph matching cannot tell them apart, the name does
        residueTemplates={res: res.name for res in topology.residues()},
    )
    atoms = list(topology.atoms())
    resname = [a.residue.name for a in atoms]
    nb = next(f for f in system.getForces() if isinstance(f, mm.NonbondedForce))
    ion = np.array([r in ION_RESNAMES for r in resname])
    if ion_charge_scale != 1.0:
        for i in np.flatnonzero(ion):
            q, s, e = nb.getParticleParameters(int(i))
            nb.setParticleParameters(int(i), q * ion_charge_scale, s, e)
        for k in range(nb.getNumExceptions()):
            i, j, qq, s, e = nb.getExceptionParameters(k)
            if ion[i] and ion[j]:
                nb.setExceptionParameters(k, i, j, qq * ion_charge_scale**2, s, e)
    if ion_lennard_jones == "uff":
        set_ion_lj_uff(nb, [a.element.symbol for a in atoms], ion)
    elif ion_lennard_jones != "clandp":
        raise ValueError(f"ion_lennard_jones {ion_lennard_jones!r}: clandp or uff")
    if li_metal_epsilon_scale != 1.0:
        for i, r in enumerate(resname):
            if r in (LI_METAL_RESNAME, COUNTER_RESNAME):
                q, s, e = nb.getParticleParameters(i)
                nb.setParticleParameters(i, q, s, e * li_metal_epsilon_scale)
    for f in system.getForces():
        if isinstance(f, mm.NonbondedForce):
            f.setForceGroup(GROUP_COULOMB)
        elif f.getForceGroup() == 0:
            f.setForceGroup(GROUP_BONDED)
    apply_geometric_mixing(system, switch_nm)
    frozen = np.array([r not in ION_RESNAMES for r in resname])
    for i in np.flatnonzero(frozen):
        system.setParticleMass(int(i), 0.0)
    box = topology.getPeriodicBoxVectors()
    box_nm = np.array([box[k][k].value_in_unit(unit.nanometer) for k in range(3)])
    if z_wall_nm is not None:
        add_wall(system, np.flatnonzero(~frozen), z_wall_nm, wall_k_kj_nm2)
    if z_floor_nm is not None:
        add_floor(system, np.flatnonzero(~frozen), z_floor_nm, wall_k_kj_nm2)
    if dipole_correction:
        add_dipole_correction(system, nonbonded_charges(system), box_nm)
    return system


def frozen_indices(system: mm.System) -> np.ndarray:
    """Indices of particles with mass 0."""
    return np.array([i for i in range(system.getNumParticles()) if system.getParticleMass(i).value_in_unit(unit.dalton) == 0.0], int)
