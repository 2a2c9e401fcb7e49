"""Slab electrostatics: the Yeh-Berkowitz correction against its analytic energy and forces; the upper wall and the floor."""

import math

import numpy as np
import openmm as mm
import openmm.unit as unit
import pytest

from systems.openmm_system import ONE_4PI_EPS0, add_dipole_correction, add_floor, add_wall


def _context(system, positions):
    ctx = mm.Context(system, mm.VerletIntegrator(0.001), mm.Platform.getPlatformByName("Reference"))
    ctx.setPositions(np.asarray(positions) * unit.nanometer)
    st = ctx.getState(getEnergy=True, getForces=True)
    return (
        st.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole),
        st.getForces(asNumpy=True).value_in_unit(unit.kilojoule_per_mole / unit.nanometer),
    )


def _system(n, box):
    s = mm.System()
    s.setDefaultPeriodicBoxVectors(mm.Vec3(box[0], 0, 0), mm.Vec3(0, box[1], 0), mm.Vec3(0, 0, box[2]))
    for _ in range(n):
        s.addParticle(1.0)
    return s


@pytest.mark.parametrize(
    "charges, z",
    [([1.0, -1.0], [1.0, 3.0]), ([0.5, 0.5, -1.0], [0.4, 2.2, 1.1]), ([2.0, -0.5, -0.5, -1.0], [4.0, 1.0, 5.5, 0.3])],
)
def test_dipole_correction_matches_analytic_energy_and_forces(charges, z):
    box = (3.0, 2.5, 10.0)
    system = _system(len(charges), box)
    add_dipole_correction(system, charges, np.array(box))
    pos = np.array([[0.3 * k, 0.7 * k % 2.5, zk] for k, zk in enumerate(z)])
    energy, forces = _context(system, pos)
    mz = sum(q * zk for q, zk in zip(charges, z))
    volume = box[0] * box[1] * box[2]
    assert energy == pytest.approx(2 * math.pi * ONE_4PI_EPS0 * mz**2 / volume, rel=1e-9)
    expected = [-4 * math.pi * ONE_4PI_EPS0 * q * mz / volume for q in charges]
    assert forces[:, 2] == pytest.approx(expected, rel=1e-9)
    assert np.abs(forces[:, :2]).max() == 0.0


def test_dipole_correction_ignores_lateral_positions():
    box = (3.0, 3.0, 9.0)
    system = _system(2, box)
    add_dipole_correction(system, [1.0, -1.0], np.array(box))
    e1, _ = _context(system, [[0.1, 0.2, 1.0], [2.0, 0.1, 2.5]])
    e2, _ = _context(system, [[1.7, 2.9, 1.0], [0.4, 1.3, 2.5]])
    assert e1 == pytest.approx(e2)
    assert e1 > 0


def test_wall_is_flat_below_and_harmonic_above():
    system = _system(2, (3, 3, 10))
    add_wall(system, [0, 1], z_wall_nm=5.0, k_kj_nm2=1000.0)
    e_below, f_below = _context(system, [[0, 0, 4.9], [1, 1, 1.0]])
    assert e_below == 0.0 and np.abs(f_below).max() == 0.0
    e_above, f_above = _context(system, [[0, 0, 5.2], [1, 1, 1.0]])
    assert e_above == pytest.approx(0.5 * 1000 * 0.2**2)
    assert f_above[0, 2] == pytest.approx(-1000 * 0.2)


def test_floor_is_flat_above_and_harmonic_below():
    system = _system(2, (3, 3, 10))
    add_floor(system, [0], z_floor_nm=1.0, k_kj_nm2=1000.0)
    e_above, f_above = _context(system, [[0, 0, 1.1], [1, 1, 0.2]])
    assert e_above == 0.0 and np.abs(f_above).max() == 0.0  # atom 1 is below but not on the floor's list
    e_below, f_below = _context(system, [[0, 0, 0.7], [1, 1, 0.2]])
    assert e_below == pytest.approx(0.5 * 1000 * 0.3**2)
    assert f_below[0, 2] == pytest.approx(1000 * 0.3) and f_below[1, 2] == 0.0


@pytest.mark.parametrize("floor", [False, True])
def test_the_floor_holds_a_li_ion_pushed_into_the_slab(floor):
    """A Li+ pushed down at 300 kJ/mol/nm crosses the porous two-layer UFF slab at 298 K without the floor
    (model-review.md: a 5.3 kJ/mol barrier), and with the floor on the top-layer plane it stays above the plane,
    less the push over the stiffness (0.06 nm) and a few thermal widths."""
    from systems.molecules import build_li_ion
    from systems.openmm_system import create_slab_system
    from systems.slab import build_li_bcc100_slab
    from systems.structure import combine

    slab = build_li_bcc100_slab()
    z_top, z_bottom = slab.positions[:, 2].max(), slab.positions[:, 2].min()
    ion = build_li_ion().translated([0.5 * 0.35275, 0.5 * 0.35275, z_top + 0.35])  # above a 4-fold hollow
    s = combine([slab, ion], box=np.array([2.822, 2.822, 6.0]))
    system = create_slab_system(s.to_topology(), None, z_wall_nm=3.0, z_floor_nm=z_top if floor else None, dipole_correction=False)
    push = mm.CustomExternalForce("300*z")
    push.addParticle(s.n_atoms - 1, [])
    system.addForce(push)
    integ = mm.LangevinMiddleIntegrator(298 * unit.kelvin, 5 / unit.picosecond, 0.001 * unit.picosecond)
    integ.setRandomNumberSeed(7)
    ctx = mm.Context(system, integ, mm.Platform.getPlatformByName("CPU"), {"Threads": "1"})
    ctx.setPositions(s.positions * unit.nanometer)
    ctx.setVelocitiesToTemperature(298 * unit.kelvin, 3)
    lowest = np.inf
    for _ in range(60):
        integ.step(50)
        z = ctx.getState(getPositions=True).getPositions(asNumpy=True)[-1, 2].value_in_unit(unit.nanometer)
        lowest = min(lowest, z)
    if floor:
        assert lowest > z_top - 0.06 - 5 * math.sqrt(2.479 / 5000.0)
    else:
        assert lowest < z_bottom - 0.1
