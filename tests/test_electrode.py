"""ConstantPotentialForce against analytic electrostatics (systems/electrode.py), on OpenMM's Reference platform.

No other program is the reference: an empty periodic capacitor, a point charge over a grounded plate, the
charge constraint through MD steps, and the energy and force of an ion approaching the plate.
"""

import math

import numpy as np
import openmm as mm
import pytest
from openmm import unit

from systems.electrode import (
    capacitor_charge_e,
    electrode_force,
    field_capacitor_charge_e,
    image_force_kj_mol_nm,
    plate_offset_nm,
    solved_charges,
    EPS0,
    KJ_MOL_PER_VOLT,
    ONE_4PI_EPS0,
)


def _plate(n, a, z):
    return [(i * a, j * a, z) for i in range(n) for j in range(n)]


def _context(box, positions, force, masses):
    system = mm.System()
    system.setDefaultPeriodicBoxVectors(*(mm.Vec3(*v) for v in np.diag(box)))
    for m in masses:
        system.addParticle(m)
    system.addForce(force)
    ctx = mm.Context(system, mm.VerletIntegrator(0.001), mm.Platform.getPlatformByName("Reference"))
    ctx.setPositions(np.asarray(positions))
    return ctx


def _capacitor(z2, mode, n=10, a=0.2, lz=6.0, z1=0.5, width=0.1, dpsi=1.0):
    pos = _plate(n, a, z1) + _plate(n, a, z2)
    lower, upper = list(range(n * n)), list(range(n * n, 2 * n * n))
    if mode == "potentials":
        electrodes, field = [(lower, 0.0), (upper, dpsi)], 0.0
    else:  # both at one potential, the finite field E = -dPsi / Lz
        electrodes, field = [(lower, 0.0), (upper, 0.0)], -dpsi / lz
    force = electrode_force([0.0] * len(pos), electrodes, width_nm=width, cutoff_nm=1.0, ewald_error_tolerance=1e-5, field_v_per_nm=field)
    ctx = _context((n * a, n * a, lz), pos, force, [0.0] * len(pos))
    q = solved_charges(force, ctx)
    return q[lower].sum(), q[upper].sum(), (n * a) ** 2


@pytest.mark.parametrize("z2", [2.5, 3.5])
def test_an_empty_periodic_capacitor_holds_the_analytic_charge(z2):
    """Two plates (spacing a = 0.2 nm, width w = 0.1 nm: a / w = 2, the continuum limit) 1 V apart in a 6 nm cell.

    Electrode potentials: the inner gap and the gap across the boundary are in parallel, and each smeared plate
    holds its charge w / sqrt(2 pi) in front of its atoms. That closed form is met to 0.1 %; the bare
    eps0 A dPsi / d form misses by more than 2 %, which is the width's effect the test must see. The field form
    (E = -dPsi / Lz) puts the drop across the gap through the boundary."""
    lz, z1 = 6.0, 0.5
    low, up, area = _capacitor(z2, "potentials")
    gaps = (z2 - z1, lz - (z2 - z1))
    expected = capacitor_charge_e(area, gaps, 1.0, 0.1)
    assert low + up == pytest.approx(0.0, abs=1e-9)  # the charge constraint
    assert up == pytest.approx(expected, rel=1e-3)
    bare = EPS0 * area * KJ_MOL_PER_VOLT * sum(1 / g for g in gaps)
    assert abs(up / bare - 1) > 0.02
    low, up, area = _capacitor(z2, "field")
    expected = field_capacitor_charge_e(area, lz - (z2 - z1), lz, 1.0, 0.1)
    # E = -dPsi / Lz points down: the lower plate takes the positive charge
    assert low == pytest.approx(expected, rel=1e-3) and low + up == pytest.approx(0.0, abs=1e-9)


def test_the_plate_offset_is_the_mean_distance_of_a_gaussian_sheet():
    """w / sqrt(2 pi) is half the mean |z| of a 1-D Gaussian of standard deviation w (numerical integral): the
    spread along z of two OpenMM Gaussians of width w (each exp(-r^2 / w^2)) seen through each other."""
    w = 0.13
    z = np.linspace(-10 * w, 10 * w, 200001)
    rho = np.exp(-(z**2) / (2 * w**2))
    mean_abs = np.trapezoid(np.abs(z) * rho, z) / np.trapezoid(rho, z)
    assert plate_offset_nm(w) == pytest.approx(mean_abs / 2, rel=1e-6)


def _ion_over_plate(height, n=10, a=0.35, width=0.175, lz=8.0, z_plate=1.0):
    pos = _plate(n, a, z_plate) + [(0.5 * a, 0.5 * a, z_plate + height)]
    plate = list(range(n * n))
    force = electrode_force([0.0] * (n * n) + [1.0], [(plate, 0.0)], width_nm=width, cutoff_nm=1.2, ewald_error_tolerance=1e-4)
    ctx = _context((n * a, n * a, lz), pos, force, [0.0] * (n * n) + [6.94])
    return ctx, force, plate


@pytest.mark.parametrize("height", [1.2, 2.0])
def test_a_charge_over_a_grounded_plate_feels_its_image(height):
    """+1 e at height d over a plate of Li's surface spacing (0.35 nm, w = 0.175 nm) in a 3.5 x 3.5 x 8 nm cell.

    In so small a cell the plate's uniform charge -q/A gives most of the force; the image part (the rest) is held
    to the module's closed form within 1 % (at 1.2 nm), and is 4 % off without the width (a plain image plane at the atoms)
    and 2 % off with a width sqrt(2) larger or smaller, so the test sees the width's effect and its convention.
    The plate holds exactly -1 e."""
    from systems.electrode import EPS0

    ctx, force, plate = _ion_over_plate(height)
    f = ctx.getState(getForces=True).getForces(asNumpy=True).value_in_unit(unit.kilojoule_per_mole / unit.nanometer)
    box, lz = 10 * 0.35, 8.0
    uniform = -1.0 / (EPS0 * box * box) * (0.5 - height / lz)
    image = f[-1][2] - uniform
    expected = image_force_kj_mol_nm(1.0, height, 0.175, box, lz, 0.35) - uniform
    # 1 %, or 0.02 kJ/mol/nm at 2.0 nm where the image part (0.3) nears the PME error of the 1e-4 tolerance
    assert image == pytest.approx(expected, rel=0.01, abs=0.02)
    if height < 1.5:  # at 2.0 nm the image part is small and all widths come close
        for other in (1e-6, 0.175 * math.sqrt(2), 0.175 / math.sqrt(2)):
            assert abs(image - (image_force_kj_mol_nm(1.0, height, other, box, lz, 0.35) - uniform)) > 0.015 * abs(image)
    assert solved_charges(force, ctx)[plate].sum() == pytest.approx(-1.0, abs=1e-9)


def test_the_periodic_image_force_becomes_the_textbook_one_for_a_wide_tall_cell():
    """-q^2 / (16 pi eps0 d'^2) for an isolated charge: the limit of the periodic form (lateral 60 nm, Lz 1e5 nm),
    for a narrow width (w / d = 0.025: the second order in k w is negligible)."""
    d = 0.8 - plate_offset_nm(0.02)
    wide = image_force_kj_mol_nm(1.0, 0.8, 0.02, 60.0, 1e5, 0.2)
    assert wide == pytest.approx(-ONE_4PI_EPS0 / (4 * d**2), rel=2e-3)


def test_the_total_charge_holds_and_the_force_is_the_gradient_of_the_energy_as_an_ion_approaches():
    """Through MD steps of the ion (electrode atoms massless: fixed), the solved charges sum to zero every step;
    along a path from 1.5 nm down to 0.6 nm, through the 1.2 nm real-space cutoff, the energy has no step and its
    finite-difference slope is the force."""
    ctx, force, plate = _ion_over_plate(1.0)
    ctx.setVelocities(np.vstack([np.zeros((len(plate), 3)), [[0.0, 0.0, -1.0]]]))
    integrator = ctx.getIntegrator()
    for _ in range(5):
        integrator.step(10)
        assert solved_charges(force, ctx).sum() == pytest.approx(0.0, abs=1e-9)
    base = np.array(ctx.getState(getPositions=True).getPositions(asNumpy=True).value_in_unit(unit.nanometer))
    z_plate = base[0][2]
    heights = np.arange(1.5, 0.6 - 1e-9, -0.03)
    energy, fz = [], []
    for h in heights:
        pos = base.copy()
        pos[-1] = (0.5 * 0.35, 0.5 * 0.35, z_plate + h)
        ctx.setPositions(pos)
        st = ctx.getState(getEnergy=True, getForces=True)
        energy.append(st.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole))
        fz.append(st.getForces(asNumpy=True).value_in_unit(unit.kilojoule_per_mole / unit.nanometer)[-1][2])
    energy, fz = np.array(energy), np.array(fz)
    slope = -np.diff(energy) / np.diff(heights)  # -dE/dz between neighbouring heights
    mid = 0.5 * (fz[1:] + fz[:-1])
    np.testing.assert_allclose(slope, mid, rtol=0.02, atol=0.5)
    assert np.all(np.diff(fz) < 0)  # the attraction grows monotonically as the ion approaches
    assert math.isfinite(energy.sum())


def _ion_pair_cell():
    """Bare two-layer Li slab, one TFSI- and one Li+ above it, as the workflow builds it (Yeh-Berkowitz on)."""
    from systems.molecules import build_li_ion, build_tfsi
    from systems.openmm_system import create_slab_system
    from systems.slab import build_li_bcc100_slab
    from systems.structure import combine

    slab = build_li_bcc100_slab()
    z_top = slab.positions[:, 2].max()
    parts = [slab, build_tfsi().translated([1.0, 1.0, z_top + 0.6]), build_li_ion().translated([1.9, 1.9, z_top + 0.45])]
    s = combine(parts, box=np.array([2.822, 2.822, 6.0]))
    return s, create_slab_system(s.to_topology(), None, z_wall_nm=3.0, dipole_correction=True), z_top


def _energies(system, positions):
    from systems.openmm_system import GROUP_COULOMB, GROUP_LJ

    ctx = mm.Context(system, mm.VerletIntegrator(0.001), mm.Platform.getPlatformByName("Reference"))
    ctx.setPositions(positions * unit.nanometer)
    out = {}
    for name, group in (("coulomb", GROUP_COULOMB), ("lj", GROUP_LJ)):
        st = ctx.getState(getEnergy=True, getForces=True, groups={group})
        out[name] = st.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole)
        out[name + "_forces"] = st.getForces(asNumpy=True).value_in_unit(unit.kilojoule_per_mole / unit.nanometer)
    return out, ctx


def test_moving_the_charges_of_a_workflow_cell_into_the_electrode_force_keeps_its_coulomb_and_lj_until_the_slab_conducts():
    """Without an electrode the new force is the same PME Coulomb (energy and every force), the NonbondedForce
    keeps exactly the 1-4 Lennard-Jones of its exceptions and the Yeh-Berkowitz term is gone; with the top Li layer
    a grounded electrode the ions are pulled to it (their images) and the layer is polarised. A refused call (an
    exception on an electrode atom) leaves the System as it was."""
    s, system, z_top = _ion_pair_cell()
    ions = slice(s.n_atoms - 16, s.n_atoms)
    before, _ = _energies(mm.XmlSerializer.deserialize(mm.XmlSerializer.serialize(system)), s.positions)
    plain = mm.XmlSerializer.deserialize(mm.XmlSerializer.serialize(system))
    from systems.electrode import move_coulomb_into_electrode_force

    move_coulomb_into_electrode_force(plain, [], width_nm=0.1, total_charge_e=None)
    assert not any(f.getName() == "YehBerkowitzDipoleCorrection" for f in plain.getForces())
    after, _ = _energies(plain, s.positions)
    assert after["coulomb"] == pytest.approx(before["coulomb"], rel=2e-3)
    np.testing.assert_allclose(after["coulomb_forces"][ions], before["coulomb_forces"][ions], atol=2.0)
    nb = next(f for f in plain.getForces() if isinstance(f, mm.NonbondedForce))
    lj14 = 0.0
    for k in range(nb.getNumExceptions()):
        i, j, qq, sig, eps = nb.getExceptionParameters(k)
        assert qq.value_in_unit(unit.elementary_charge**2) == 0.0
        r = np.linalg.norm(s.positions[i] - s.positions[j])
        sr6 = (sig.value_in_unit(unit.nanometer) / r) ** 6
        lj14 += 4 * eps.value_in_unit(unit.kilojoule_per_mole) * (sr6 * sr6 - sr6)
    nb.setForceGroup(20)
    ctx = mm.Context(plain, mm.VerletIntegrator(0.001), mm.Platform.getPlatformByName("Reference"))
    ctx.setPositions(s.positions * unit.nanometer)
    only_nb = ctx.getState(getEnergy=True, groups={20}).getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole)
    assert lj14 != 0.0 and only_nb == pytest.approx(lj14, rel=1e-6)
    top = [i for i in range(s.n_atoms - 16) if s.positions[i, 2] > z_top - 0.01]
    conducting = mm.XmlSerializer.deserialize(mm.XmlSerializer.serialize(system))
    force = move_coulomb_into_electrode_force(conducting, [(top, 0.0)], width_nm=0.1)
    metal, ctx = _energies(conducting, s.positions)
    q = solved_charges(force, ctx)
    assert q[top].sum() == pytest.approx(0.0, abs=1e-9) and np.abs(q[top]).max() > 1e-3  # polarised, neutral
    assert metal["coulomb"] < after["coulomb"]  # the images attract
    lip = s.n_atoms - 1
    assert metal["coulomb_forces"][lip][2] < after["coulomb_forces"][lip][2]  # Li+ pulled further down
    refused = mm.XmlSerializer.deserialize(mm.XmlSerializer.serialize(system))
    xml = mm.XmlSerializer.serialize(refused)
    tfsi_n = s.n_atoms - 16  # an atom of the anion, which has exceptions
    with pytest.raises(ValueError, match="electrode atom"):
        move_coulomb_into_electrode_force(refused, [([tfsi_n], 0.0)], width_nm=0.1)
    assert mm.XmlSerializer.serialize(refused) == xml
