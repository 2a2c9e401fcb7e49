"""A polarisable electrode: OpenMM's ConstantPotentialForce, and the analytic electrostatics it is checked against.

OpenMM (since 8.4) implements the periodic finite-field constant-potential method (Dufils et al., Phys. Rev. Lett.
123, 195501 (2019)): every atom of an electrode carries a Gaussian charge whose magnitude is solved, every step, so
that the electrode sits at its potential; the cell is periodic in all three directions (no vacuum), and a
potential difference is applied either as electrode potentials or as a uniform external field E = -dPsi / Lz.
(In this module's closed forms dPsi is the drop the field puts across the gap that holds the periodic boundary; the
workflow's cell applies both at once, E = +dPsi / Lz with the working electrode at dPsi, so that its dPsi lies across
the electrolyte instead: :func:`systems.electrode_cell.applied_potentials`.)
Every charge of the System must live in this one force (it has no Lennard-Jones; LJ stays in another force).

This module builds the force from plain arrays and gives the closed-form results a user (and the tests) can hold
it to, derived here for a plate of Gaussians whose lateral spacing is at most about twice their width (below
that the plate acts as a continuous smeared sheet; the lattice term decays like exp(-2 pi^2 w^2 / a^2)):

- a plate of Gaussians of width w holds its charge as if its conducting surface stood w / sqrt(2 pi) in front of
  its atoms. OpenMM's ``gaussianWidth`` w is 1 / eta of MetalWalls: each atom's charge density goes as
  exp(-r^2 / w^2), and two such atoms meet through erfc(r / (sqrt(2) w)) (OpenMM's reference kernel), i.e. as a
  Gaussian of standard deviation w. The solver holds the potential averaged over each atom's own Gaussian fixed,
  so the plate's own charge enters smeared over a normal distribution of standard deviation w along z, whose
  potential at the plate differs from a sharp sheet's by -sigma <|z|> / (2 eps0), <|z|> = w sqrt(2 / pi); the
  field of an ion, averaged the same way, has no term linear in the wave number. Hence :func:`plate_offset_nm`;
- a capacitor of two such plates in a periodic cell, electrodes at potentials differing by dPsi: the two gaps
  (inside and across the periodic boundary) are in parallel, the two plates' offsets in series
  (:func:`capacitor_charge_e`);
- the same with both electrodes at one potential and the field E = -dPsi / Lz instead: the whole drop lies across
  the gap that crosses the periodic boundary (:func:`field_capacitor_charge_e`);
- a point charge q at height d over a grounded plate, in a cell periodic laterally (side L) and in z: the plate's
  uniform charge -q / A gives the force -q^2 / (eps0 A) (1/2 - d / Lz) (tin-foil boundary: the mean field is
  zero), the non-uniform part the image series -q^2 / (2 eps0 A) sum_{k != 0} exp(-2 |k| d) / erfc(|k| w / sqrt(2))
  over the cell's reciprocal lattice up to the plate's own (:func:`image_force_kj_mol_nm`), to first order the
  image of a plane at d' = d - w / sqrt(2 pi). For A -> infinity and d << Lz this is -q^2 / (16 pi eps0 d'^2),
  the textbook image force.
"""

from __future__ import annotations

import math

import numpy as np
import openmm as mm
from openmm import unit
from scipy import special

#: 1 / (4 pi eps0) in kJ mol^-1 nm e^-2 (OpenMM's ONE_4PI_EPS0)
ONE_4PI_EPS0 = 138.93545764
#: one volt times one elementary charge, in kJ/mol (Faraday constant / 1000)
KJ_MOL_PER_VOLT = 96.4853321233
#: eps0 in e^2 / (kJ/mol nm)
EPS0 = 1.0 / (4.0 * math.pi * ONE_4PI_EPS0)

METHODS = {"matrix": mm.ConstantPotentialForce.Matrix, "cg": mm.ConstantPotentialForce.CG}


def electrode_force(
    charges,
    electrodes: list[tuple[list[int], float]],
    *,
    width_nm: float,
    cutoff_nm: float,
    ewald_error_tolerance: float = 5e-4,
    thomas_fermi_scale_per_nm: float = 0.0,
    field_v_per_nm: float = 0.0,
    total_charge_e: float | None = 0.0,
    method: str = "matrix",
    exceptions=(),
) -> mm.ConstantPotentialForce:
    """A ConstantPotentialForce holding every charge of a System.

    Parameters
    ----------
    charges : sequence of float
        Charge (e) of every particle of the System; an electrode atom's is only its starting guess.
    electrodes : list of (indices, potential_v)
        Each electrode's atoms (an atom in at most one) and its potential (V).
    width_nm : float
        OpenMM's ``gaussianWidth`` of every electrode atom (nm): density proportional to exp(-r^2 / w^2), w = 1 / eta
        of MetalWalls.
    cutoff_nm, ewald_error_tolerance : float
        Real-space cutoff (nm; at least 2.7 w, at most half the box) and PME tolerance.
    thomas_fermi_scale_per_nm : float
        Thomas-Fermi scale of every electrode (1/nm; 0 for a perfect metal).
    field_v_per_nm : float
        Uniform external field along z (V/nm); the finite-field way to apply dPsi = -E Lz.
    total_charge_e : float or None
        Constrain the total charge of the System to this (e); None: no constraint.
    method : str
        ``matrix`` (electrode atoms massless and fixed, box fixed) or ``cg``.
    exceptions : iterable of (i, j, charge_product)
        Pairs whose Coulomb interaction is replaced (1-2, 1-3 excluded as 0, scaled 1-4); never an electrode atom.
    """
    if method not in METHODS:
        raise ValueError(f"method {method!r}: one of {sorted(METHODS)}")
    if not cutoff_nm >= 2.7 * width_nm:
        raise ValueError(f"cutoff {cutoff_nm} nm must be at least 2.7 x the Gaussian width {width_nm} nm (OpenMM's rule)")
    seen: set[int] = set()
    for atoms, _ in electrodes:
        overlap = seen & set(atoms)
        if overlap:
            raise ValueError(f"atoms {sorted(overlap)[:5]} belong to two electrodes")
        seen |= set(atoms)
    force = mm.ConstantPotentialForce()
    force.setCutoffDistance(cutoff_nm)
    force.setEwaldErrorTolerance(ewald_error_tolerance)
    force.setConstantPotentialMethod(METHODS[method])
    for q in charges:
        force.addParticle(float(q))
    for i, j, qq in exceptions:
        if i in seen or j in seen:
            raise ValueError(f"exception ({i}, {j}) involves an electrode atom (ConstantPotentialForce forbids it)")
        force.addException(int(i), int(j), float(qq))
    for atoms, potential_v in electrodes:
        force.addElectrode(set(int(i) for i in atoms), potential_v * KJ_MOL_PER_VOLT, width_nm, thomas_fermi_scale_per_nm)
    if field_v_per_nm:
        force.setExternalField(mm.Vec3(0.0, 0.0, field_v_per_nm * KJ_MOL_PER_VOLT))
    if total_charge_e is not None:
        force.setUseChargeConstraint(True)
        force.setChargeConstraintTarget(float(total_charge_e))
    return force


def solved_charges(force: mm.ConstantPotentialForce, context: mm.Context) -> np.ndarray:
    """Every particle's charge (e) as the force has solved it for the context's positions."""
    return np.array([q.value_in_unit(unit.elementary_charge) for q in force.getCharges(context)])


def plate_offset_nm(width_nm: float) -> float:
    """How far in front of its atoms a plate of Gaussians of OpenMM width w holds its charge: w / sqrt(2 pi) (nm),
    half the mean |z| of a normal distribution of standard deviation w (the pair width of two such Gaussians)."""
    return width_nm / math.sqrt(2.0 * math.pi)


def capacitor_charge_e(area_nm2: float, gaps_nm: tuple[float, float], dpsi_v: float, width_nm: float) -> float:
    """Charge (e) on the positive plate of two parallel plates in a periodic cell held dPsi apart (electrode
    potentials, no field): both gaps in parallel, each plate's offset (:func:`plate_offset_nm`) in series."""
    g_parallel = 1.0 / sum(1.0 / g for g in gaps_nm)
    return EPS0 * area_nm2 * dpsi_v * KJ_MOL_PER_VOLT / (g_parallel - 2.0 * plate_offset_nm(width_nm))


def field_capacitor_charge_e(area_nm2: float, gap_nm: float, lz_nm: float, dpsi_v: float, width_nm: float) -> float:
    """Charge (e) of two parallel plates at one potential in a periodic cell of height Lz under the field
    E = -dPsi / Lz, where ``gap_nm`` is the gap across the periodic boundary (the other is Lz - gap): the plates'
    offsets enter weighted by Lz / (Lz - gap), the share of the field's drop the inner gap takes."""
    inner = lz_nm - gap_nm
    return EPS0 * area_nm2 * dpsi_v * KJ_MOL_PER_VOLT / (gap_nm - 2.0 * plate_offset_nm(width_nm) * lz_nm / inner)


def image_force_kj_mol_nm(q_e: float, height_nm: float, width_nm: float, box_nm: float, lz_nm: float, spacing_nm: float) -> float:
    """z-force (kJ/mol/nm; negative: towards the plate) on a charge q at height d over a grounded plate of Gaussians
    (OpenMM width w, lattice spacing a) in a cell periodic laterally (a square of side ``box_nm``) and in z (height
    ``lz_nm``), the System neutral.

    Uniform part: -q^2 / (eps0 A) (1/2 - d / Lz). Every other lateral wave vector k of the cell: the ion's potential
    averaged over an atom's Gaussian is exp(-k d + k^2 w^2 / 4) and the plate's own response
    exp(k^2 w^2 / 2) erfc(k w / sqrt(2)) / k (its charge seen through its Gaussians, standard deviation w along z),
    so the induced charge acts back on the ion with -q^2 / (2 eps0 A) exp(-2 k d) / erfc(k w / sqrt(2)); to first
    order in k w that is the image of a plane w / sqrt(2 pi) in front of the atoms (:func:`plate_offset_nm`). A
    plate of atoms a apart carries no wave shorter than its lattice: the sum stops at |k_x|, |k_y| <= pi / a.
    """
    area = box_nm * box_nm
    kmax = int(box_nm / (2.0 * spacing_nm) + 1e-9)
    i = np.arange(-kmax, kmax + 1)
    kx, ky = np.meshgrid(2 * np.pi * i / box_nm, 2 * np.pi * i / box_nm)
    k = np.hypot(kx, ky).ravel()
    k = k[k > 0]
    uniform = -(q_e**2) / (EPS0 * area) * (0.5 - height_nm / lz_nm)
    response = np.exp(-2 * k * height_nm) / special.erfc(k * width_nm / math.sqrt(2.0))
    return uniform - q_e**2 / (2 * EPS0 * area) * float(np.sum(response))


def move_coulomb_into_electrode_force(
    system: mm.System,
    electrodes: list[tuple[list[int], float]],
    *,
    width_nm: float,
    thomas_fermi_scale_per_nm: float = 0.0,
    field_v_per_nm: float = 0.0,
    total_charge_e: float | None = 0.0,
    method: str = "matrix",
) -> mm.ConstantPotentialForce:
    """Move every charge of a slab System (:func:`systems.openmm_system.create_slab_system`) into a
    ConstantPotentialForce, in place, and return it.

    Particle charges and the charge products of the exceptions (excluded and scaled 1-4 pairs) go into the new
    force, with the NonbondedForce's cutoff and Ewald tolerance and its force group; the NonbondedForce keeps only
    the exceptions' Lennard-Jones (1-4 pairs; every particle's own LJ already lives in the geometric-mixing force)
    and stops doing PME. The Yeh-Berkowitz slab correction is removed: the finite-field cell is meant to be periodic
    in z with no vacuum (working electrode | electrolyte | counter electrode), and a charge elsewhere than this force
    would be wrong (OpenMM's rule). In today's cells, which have a vacuum gap, a finite field would drop mostly
    across the vacuum; with no electrode the result is the same PME Coulomb without the slab correction. A call
    that is refused (an exception on an electrode atom, atoms in two electrodes) leaves the System unchanged.
    """
    nb = next(f for f in system.getForces() if isinstance(f, mm.NonbondedForce))
    n = system.getNumParticles()
    charges = [nb.getParticleParameters(i)[0].value_in_unit(unit.elementary_charge) for i in range(n)]
    exceptions = [nb.getExceptionParameters(k) for k in range(nb.getNumExceptions())]
    force = electrode_force(
        charges, electrodes, width_nm=width_nm, cutoff_nm=nb.getCutoffDistance().value_in_unit(unit.nanometer),
        ewald_error_tolerance=nb.getEwaldErrorTolerance(), thomas_fermi_scale_per_nm=thomas_fermi_scale_per_nm,
        field_v_per_nm=field_v_per_nm, total_charge_e=total_charge_e, method=method,
        exceptions=[(i, j, qq.value_in_unit(unit.elementary_charge**2)) for i, j, qq, _, _ in exceptions],
    )  # fmt: skip
    # the System changes only now that the new force is built (a refused call leaves it as it was)
    for k, (i, j, _, sig, eps) in enumerate(exceptions):
        nb.setExceptionParameters(k, i, j, 0.0, sig, eps)
    for i in range(n):
        _, s, e = nb.getParticleParameters(i)
        nb.setParticleParameters(i, 0.0, s, e)
    nb.setNonbondedMethod(mm.NonbondedForce.CutoffPeriodic)  # no charge left: no PME to pay for
    force.setForceGroup(nb.getForceGroup())
    for k in reversed(range(system.getNumForces())):
        if system.getForce(k).getName() == "YehBerkowitzDipoleCorrection":
            system.removeForce(k)
    system.addForce(force)
    return force
