"""Slab electrostatics: the Yeh-Berkowitz correction against its analytic energy and forces; the wall."""

import math

import numpy as np
import openmm as mm
import openmm.unit as unit
import pytest

from systems.openmm_system import ONE_4PI_EPS0, add_dipole_correction, add_wall


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
