"""The constant-potential cell (systems/electrode_cell.py, systems/variants.py, the electrode mode of systems/build.py)
and the electrode charges recomputed from a trajectory (analysis/electrode_charge.py).

The physics check needs no other program: two electrodes of two layers each, the cell closed behind them through
the periodic boundary, the potential applied as the module applies it; the charge must be that of a capacitor whose
only gap is the electrolyte's.
"""

import json

import numpy as np
import openmm as mm
import pytest
from openmm import unit

from systems.electrode import EPS0, KJ_MOL_PER_VOLT, electrode_force, plate_offset_nm, solved_charges
from systems.electrode_cell import applied_potentials, back_gap_nm, counter_electrode, electrode_atoms
from systems.variants import expand_potentials, potential_tag


def _two_layer_cell(back_gap, dpsi, how, n=10, a=0.2, spacing=0.2, width=0.1, gap=3.0, platform="CPU"):
    """Working electrode (layers at g/2, g/2 + spacing) | ``gap`` | counter electrode (two layers); the cell closes
    ``back_gap`` behind the counter electrode's top layer. Plates of a / w = 2 (the continuum limit). Returns the
    charge of each layer, lowest first."""
    z0 = back_gap / 2
    heights = [z0, z0 + spacing, z0 + spacing + gap, z0 + 2 * spacing + gap]
    lz = heights[-1] + back_gap / 2
    pos, layers = [], []
    for k, z in enumerate(heights):
        layers.append(list(range(len(pos), len(pos) + n * n)))
        pos += [((i + 0.5 * (k % 2)) * a, (j + 0.5 * (k % 2)) * a, z) for i in range(n) for j in range(n)]
    work, counter = layers[0] + layers[1], layers[2] + layers[3]
    if how == "module":
        v = applied_potentials(dpsi, lz)
    else:  # electrode potentials alone, no field
        v = {"working_v": dpsi, "counter_v": 0.0, "field_v_per_nm": 0.0}
    force = electrode_force([0.0] * len(pos), [(work, v["working_v"]), (counter, v["counter_v"])], width_nm=width, cutoff_nm=1.0,
                            ewald_error_tolerance=1e-5, field_v_per_nm=v["field_v_per_nm"])  # fmt: skip
    system = mm.System()
    system.setDefaultPeriodicBoxVectors(mm.Vec3(n * a, 0, 0), mm.Vec3(0, n * a, 0), mm.Vec3(0, 0, lz))
    for _ in pos:
        system.addParticle(0.0)
    system.addForce(force)
    props = {"Threads": "1"} if platform == "CPU" else {"Precision": "mixed"}
    ctx = mm.Context(system, mm.VerletIntegrator(0.001), mm.Platform.getPlatformByName(platform), props)
    ctx.setPositions(np.array(pos))
    q = solved_charges(force, ctx)
    return np.array([q[L].sum() for L in layers]), (n * a) ** 2, gap


def test_the_applied_potential_drops_across_the_electrolyte_and_not_behind_the_electrodes():
    """Working electrode at dPsi, counter at 0, E = dPsi / Lz (applied_potentials): the working electrode holds the
    charge of a capacitor whose gap is the electrolyte's, eps0 A dPsi / (d - 2 w / sqrt(2 pi)), to 0.2 % with the
    periodic boundary 1.5 nm behind each electrode, and the charge no longer depends on that gap (the back gap holds
    no field). Electrode potentials alone (no field) put dPsi across the back gap too, in parallel: far more charge,
    which the test must see. The sign: a positive dPsi charges the working electrode positively."""
    q3, area, gap = _two_layer_cell(3.0, 1.0, "module")
    expected = EPS0 * area * 1.0 * KJ_MOL_PER_VOLT / (gap - 2 * plate_offset_nm(0.1))
    assert q3[:2].sum() == pytest.approx(expected, rel=2e-3)
    assert q3.sum() == pytest.approx(0.0, abs=1e-6)  # the CPU platform sums in single precision
    q2, _, _ = _two_layer_cell(2.0, 1.0, "module")
    assert q2[:2].sum() == pytest.approx(q3[:2].sum(), rel=5e-3)
    qm, _, _ = _two_layer_cell(3.0, -1.0, "module")
    assert qm[:2].sum() == pytest.approx(-q3[:2].sum(), rel=1e-5)
    qp, _, _ = _two_layer_cell(3.0, 1.0, "potentials")
    assert qp[:2].sum() > 1.5 * expected


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["CUDA", "OpenCL"])
def test_a_gpu_platform_solves_the_same_electrode_charges(name):
    """The cell of the test above on CUDA or OpenCL (PoCL on a CPU counts: CI installs it): every layer's charge as
    the CPU platform's. Measured on the workflow's bare-Li cells at -1 and +1 V (PoCL, mixed precision): every atom's
    charge within 3e-6 e of the Reference platform's."""
    from systems.platforms import PlatformUnavailable, select_platform

    try:
        select_platform(name)
    except PlatformUnavailable:
        pytest.skip(f"no {name} device here")
    cpu, _, _ = _two_layer_cell(3.0, 1.0, "module")
    gpu, _, _ = _two_layer_cell(3.0, 1.0, "module", platform=name)
    assert gpu == pytest.approx(cpu, abs=1e-4) and abs(gpu[:2].sum()) > 0.01


def test_the_back_gap_is_the_cutoff_at_least_two_layers():
    assert back_gap_nm(1.25, 0.176) == 1.25
    assert back_gap_nm(0.2, 0.176) == pytest.approx(0.352)


def test_the_counter_electrode_is_the_slab_mirrored_onto_the_wall():
    from systems.slab import build_li_bcc100_slab

    slab = build_li_bcc100_slab()
    c = counter_electrode(slab, 5.0)
    z, zc = slab.positions[:, 2], c.positions[:, 2]
    top = z > z.max() - 0.01
    face = zc < zc.min() + 0.01
    assert zc.min() == pytest.approx(5.0) and zc.max() == pytest.approx(5.0 + z.max() - z.min())
    # the face the electrolyte sees has the working electrode's top-layer sites
    np.testing.assert_allclose(np.sort(c.positions[face, :2], axis=0), np.sort(slab.positions[top, :2], axis=0))
    assert set(c.resnames) == {"LIC"} and c.n_atoms == slab.n_atoms
    work, counter = electrode_atoms(slab.resnames + c.resnames)
    assert len(work) == len(counter) == slab.n_atoms and counter.min() == slab.n_atoms


def test_potential_variants_are_named_and_run_systems_follows():
    cfg = {
        "systems": {"bare": {"coating": None}, "neutral": {"coating": None, "electrode": {"mode": "neutral"}}},
        "electrode": {"mode": "constant_potential", "potentials_v": [-1.0, 0.0, 0.5], "gaussian_width_nm": 0.05},
        "run_systems": ["bare"],
    }
    # a neutral system beside them ignores the top-level list; a list in its own section is refused
    assert expand_potentials(cfg)["systems"]["neutral"] == cfg["systems"]["neutral"]
    own_list = {**cfg, "systems": {**cfg["systems"], "neutral": {"coating": None, "electrode": {"mode": "neutral", "potentials_v": [1.0]}}}}
    with pytest.raises(ValueError, match="neutral.*needs electrode.mode: constant_potential"):
        expand_potentials(own_list)
    cfg["systems"].pop("neutral")
    out = expand_potentials(cfg)
    assert list(out["systems"]) == ["bare_m1V", "bare_0V", "bare_p0p5V"]
    assert [out["systems"][s]["electrode"]["potential_v"] for s in out["systems"]] == [-1.0, 0.0, 0.5]
    assert out["run_systems"] == ["bare_m1V", "bare_0V", "bare_p0p5V"]
    assert "potentials_v" not in out["electrode"] and cfg["electrode"]["potentials_v"] == [-1.0, 0.0, 0.5]  # input untouched
    assert expand_potentials(out) == out  # expanding twice changes nothing (a spawned job parses the config again)
    assert [potential_tag(v) for v in (-0.25, 0.0, -0.0, 2.0, 0.025, 1e-3, 12.5)] == ["m0p25V", "0V", "0V", "p2V", "p0p025V", "p0p001V", "p12p5V"]
    with pytest.raises(ValueError, match="not a whole number of millivolts"):
        potential_tag(1e-5)  # would share a name with 0 V
    with pytest.raises(ValueError, match="repeats a potential"):
        expand_potentials({**cfg, "electrode": {**cfg["electrode"], "potentials_v": [1.0, 1]}})
    with pytest.raises(ValueError, match="is also a system"):
        expand_potentials({**cfg, "systems": {**cfg["systems"], "bare_0V": {"coating": None}}})


def test_a_constant_potential_cell_is_packed_closed_and_built_with_every_charge_in_the_electrode_force(tmp_path):
    """20 LiTFSI on bare Li: the counter electrode stands on the wall's plane, the cell closes 1.25 nm behind the two
    electrodes with the boundary in the middle, the System has no Yeh-Berkowitz term and no charge outside the
    ConstantPotentialForce, the potentials and field are those of applied_potentials; at the packed positions the
    solved charges sum to zero and each volt adds the same positive charge to the working electrode and takes it from
    the counter electrode. A cell packed for a neutral electrode, and one too thin for the cutoff, are refused."""
    from systems.build import assemble_system, build_slab, pack_system

    build_slab(tmp_path / "slab.pdb")
    pack_system(tmp_path / "slab.pdb", None, tmp_path / "p.pdb", tmp_path / "g.json", n_pairs=20, density_g_cm3=1.5, seed=3, counter_back_gap_nm=1.25)
    g = json.loads((tmp_path / "g.json").read_text())
    text = (tmp_path / "p.pdb").read_text().splitlines()
    atoms = [(line[17:20].strip(), float(line[46:54]) / 10) for line in text if line.startswith(("ATOM", "HETATM"))]
    z_lim = [z for r, z in atoms if r == "LIM"]
    z_lic = [z for r, z in atoms if r == "LIC"]
    assert min(z_lim) == pytest.approx(0.625, abs=1e-3)  # half the back gap
    assert min(z_lic) == pytest.approx(g["z_wall_nm"], abs=1e-3) == pytest.approx(g["region_nm"][1], abs=1e-3)
    assert g["box_nm"][2] - max(z_lic) + min(z_lim) == pytest.approx(1.25, abs=2e-3)
    settings = {"potential_v": 1.0, "gaussian_width_nm": 0.0505, "thomas_fermi_scale_per_nm": 0.17, "method": "matrix"}
    system = assemble_system(tmp_path / "p.pdb", tmp_path / "g.json", tmp_path / "s.xml", lower_wall_nm=0.0, electrode=settings)
    names = [f.getName() for f in system.getForces()]
    assert "YehBerkowitzDipoleCorrection" not in names and "ConstantPotentialForce" in names
    nb = next(f for f in system.getForces() if isinstance(f, mm.NonbondedForce))
    assert all(nb.getParticleParameters(i)[0].value_in_unit(unit.elementary_charge) == 0.0 for i in range(nb.getNumParticles()))
    cpf = next(f for f in system.getForces() if isinstance(f, mm.ConstantPotentialForce))
    applied = applied_potentials(1.0, g["box_nm"][2])
    kj_e = unit.kilojoule_per_mole / unit.elementary_charge
    potentials = sorted(cpf.getElectrodeParameters(k)[1].value_in_unit(kj_e) for k in range(cpf.getNumElectrodes()))
    assert potentials == pytest.approx(sorted([applied["working_v"] * KJ_MOL_PER_VOLT, 0.0]))
    assert cpf.getExternalField()[2].value_in_unit(kj_e / unit.nanometer) == pytest.approx(applied["field_v_per_nm"] * KJ_MOL_PER_VOLT)
    from openmm import app

    pdb = app.PDBFile(str(tmp_path / "p.pdb"))
    work, counter = electrode_atoms([a.residue.name for a in pdb.topology.atoms()])
    charge = {}
    for v in (-1.0, 0.0, 1.0):
        built = assemble_system(tmp_path / "p.pdb", tmp_path / "g.json", tmp_path / "s.xml", lower_wall_nm=0.0, electrode={**settings, "potential_v": v})
        force = next(f for f in built.getForces() if isinstance(f, mm.ConstantPotentialForce))
        ctx = mm.Context(built, mm.VerletIntegrator(0.001), mm.Platform.getPlatformByName("CPU"), {"Threads": "1"})
        ctx.setPositions(pdb.positions)
        q = solved_charges(force, ctx)
        assert q.sum() == pytest.approx(0.0, abs=1e-4)
        charge[v] = (q[work].sum(), q[counter].sum())
    # the ions induce their own charge; the potential adds C dPsi on top, linearly, positive on the working side
    step_up, step_down = charge[1.0][0] - charge[0.0][0], charge[0.0][0] - charge[-1.0][0]
    assert step_up > 0.1 and step_up == pytest.approx(step_down, rel=1e-3)
    assert charge[1.0][1] - charge[0.0][1] == pytest.approx(-step_up, rel=1e-3)
    pack_system(tmp_path / "slab.pdb", None, tmp_path / "n.pdb", tmp_path / "n.json", n_pairs=20, density_g_cm3=1.5, seed=3)
    with pytest.raises(ValueError, match="no counter electrode"):
        assemble_system(tmp_path / "n.pdb", tmp_path / "n.json", tmp_path / "n.xml", electrode=settings)
    with pytest.raises(ValueError, match="less than twice the cutoff"):
        pack_system(tmp_path / "slab.pdb", None, tmp_path / "t.pdb", tmp_path / "t.json", n_pairs=2, density_g_cm3=1.5, seed=3, counter_back_gap_nm=0.4)
