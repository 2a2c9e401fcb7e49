"""Coatings as data: the shipped definitions, every refusal (naming file and field), and a new coating end to end."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import openmm as mm
import openmm.unit as unit
import pytest
import yaml

from systems import coating
from systems.build import build_slab
from systems.openmm_system import create_slab_system
from systems.slab import build_li_bcc100_slab
from systems.structure import combine, read_pdb

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def slab():
    return build_li_bcc100_slab(8, 2, 0.35275)


# ------------------------------------------------------------------------------------------ shipped coatings


def _system_arrays(system):
    nb = next(f for f in system.getForces() if isinstance(f, mm.NonbondedForce))
    lj = next(f for f in system.getForces() if isinstance(f, mm.CustomNonbondedForce))
    n = system.getNumParticles()
    q = np.array([nb.getParticleParameters(i)[0].value_in_unit(unit.elementary_charge) for i in range(n)])
    se = np.array([lj.getParticleParameters(i) for i in range(n)])
    m = np.array([system.getParticleMass(i).value_in_unit(unit.dalton) for i in range(n)])
    ex = np.array(sorted(tuple(sorted(lj.getExclusionParticles(k))) for k in range(lj.getNumExclusions())))
    return q, se, m, ex


def test_nh2_mil101_fe_moved_into_the_format_builds_the_same_system(tmp_path):
    """Same placed atoms and the same System (charges, LJ, masses, exclusions) as before the move (tests/data)."""
    ref = np.load(ROOT / "tests/data/nh2_mil101_fe_built.npz")
    build_slab(tmp_path / "slab.pdb", 8, 2, 0.35275)
    b = coating.build_files("nh2_mil101_fe", tmp_path / "slab.pdb", tmp_path / "c.pdb", tmp_path / "c.json", tmp_path / "c.xml")
    placed = read_pdb(tmp_path / "c.pdb")
    assert placed.elements == list(ref["coating_elements"]) and placed.names == list(ref["coating_names"])
    np.testing.assert_allclose(placed.positions, ref["coating_positions_nm"], rtol=0, atol=1e-9)
    assert b.components[0]["gap_nm"] == pytest.approx(float(ref["gap_nm"]), abs=2e-5)  # the slab was read from PDB then too
    s = combine([read_pdb(tmp_path / "slab.pdb"), placed], box=ref["box_nm"])
    q, se, m, ex = _system_arrays(create_slab_system(s.to_topology(), tmp_path / "c.xml", z_wall_nm=3.0))
    np.testing.assert_allclose(q, ref["charges_e"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(se[:, 0], ref["sqrt_sigma"], rtol=1e-12)
    np.testing.assert_allclose(se[:, 1], ref["sqrt_epsilon"], rtol=1e-12)
    np.testing.assert_array_equal(m, ref["masses_da"])
    np.testing.assert_array_equal(ex, ref["exclusions"])
    info = json.loads((tmp_path / "c.json").read_text())
    assert {k: len(v["indices"]) for k, v in info["sites"].items()} == {"Fe": 18, "H_amino": 12}
    assert "Ferey" in (tmp_path / "c.xml").read_text()[:3000]


def test_copc_composite_lies_flat_on_the_mof_with_scheme_charges(slab):
    b = coating.build(coating.resolve("nh2_mil101_fe_copc"), slab)
    mof, copc = b.components
    assert (mof["n_atoms"], copc["n_atoms"], b.structure.n_atoms) == (234, 57, 291)
    lo, hi = copc["first_atom"], copc["first_atom"] + copc["n_atoms"]
    pc = b.structure.positions[lo:hi]
    els = b.structure.elements[lo:hi]
    assert els.count("Co") == 1 and els.count("N") == 8 and els.count("C") == 32 and els.count("H") == 16
    assert np.ptp(pc[:, 2]) < 0.005  # flat
    co = pc[els.index("Co")]
    d_co_n = sorted(np.linalg.norm(pc[[k for k, e in enumerate(els) if e == "N"]] - co, axis=1))[:4]
    assert 0.185 < min(d_co_n) and max(d_co_n) < 0.200 and np.ptp(d_co_n) < 1e-3  # four equal Co-N(pyrrole)
    # closest CoPc-MOF pair at the pi-pi stacking distance of the definition, and above the MOF
    d = np.linalg.norm(pc[:, None] - b.structure.positions[None, :234], axis=-1)
    assert d.min() == pytest.approx(0.34, abs=1e-6)
    assert pc[:, 2].min() >= b.structure.positions[:234, 2].max()
    # GFN2-xTB charges: neutral, D4h-equivalent atoms equal, Co positive, pyrrole N negative
    q = b.charges[lo:hi]
    assert q.sum() == pytest.approx(0.0, abs=1e-6) and b.charges.sum() == pytest.approx(0.0, abs=1e-6)
    assert q[els.index("Co")] > 0.1
    assert all(q[k] < -0.1 for k in range(len(els)) if els[k] == "N")
    qh = [q[k] for k, e in enumerate(els) if e == "H"]
    assert np.ptp(sorted(qh)[:8]) < 2e-3 and np.ptp(sorted(qh)[8:]) < 2e-3
    assert {k: len(v["indices"]) for k, v in b.sites.items()} == {"Fe": 18, "H_amino": 12, "Co": 1}
    assert "Janiak" in copc["placement"]["citation"] and "GFN2" in copc["charges_citation"]


def test_shipped_coatings_and_every_site_selector(slab):
    assert coating.available() == ["nh2_mil101_fe", "nh2_mil101_fe_copc", "nh2_mil101_fe_ljfree_h"]
    b = coating.build(coating.resolve("nh2_mil101_fe"), slab)
    h = [b.structure.names[i] for i in b.sites["H_amino"]["indices"]]
    assert all(n.startswith("H") for n in h) and len(h) == 12


def test_the_lj_free_amino_h_variant_differs_from_the_mof_only_in_the_amino_h_lennard_jones(tmp_path):
    """Same placed atoms, charges, masses and exclusions as NH2-MIL-101(Fe); in the built System the 12 amino H
    have sigma = epsilon = 0 (no LJ with anything), every other atom the same UFF parameters."""
    build_slab(tmp_path / "slab.pdb", 8, 2, 0.35275)
    systems = {}
    for name in ("nh2_mil101_fe", "nh2_mil101_fe_ljfree_h"):
        b = coating.build_files(name, tmp_path / "slab.pdb", tmp_path / f"{name}.pdb", tmp_path / f"{name}.json", tmp_path / f"{name}.xml")
        placed = read_pdb(tmp_path / f"{name}.pdb")
        s = combine([read_pdb(tmp_path / "slab.pdb"), placed], box=np.array([2.822, 2.822, 6.0]))
        systems[name] = (b, placed, _system_arrays(create_slab_system(s.to_topology(), tmp_path / f"{name}.xml", z_wall_nm=3.0)))
    (b0, p0, (q0, se0, m0, ex0)), (b1, p1, (q1, se1, m1, ex1)) = systems.values()
    np.testing.assert_array_equal(p0.positions, p1.positions)  # applied after placement: the same structure
    np.testing.assert_array_equal(q0, q1)
    np.testing.assert_array_equal(m0, m1)
    np.testing.assert_array_equal(ex0, ex1)
    amino = 128 + np.array(b1.sites["H_amino"]["indices"])  # slab atoms first in the System
    assert len(amino) == 12 and {p1.elements[i - 128] for i in amino} == {"H"}
    assert np.all(se1[amino] == 0.0) and np.all(se0[amino] > 0)
    other = np.setdiff1d(np.arange(len(q0)), amino)
    np.testing.assert_array_equal(se0[other], se1[other])
    h_other = [i for i in other if i >= 128 and p1.elements[i - 128] == "H"]
    assert h_other and np.all(se1[h_other] > 0)  # the other H (formate caps) keep UFF
    assert "site H_amino (12 atoms): sigma 0.0 nm" in json.loads((tmp_path / "nh2_mil101_fe_ljfree_h.json").read_text())["lennard_jones"]


# ------------------------------------------------------------------------------------------ refusals

XYZ_PAIR = "2\nC-F at 0.134 nm\nC 0.0 0.0 0.0\nF 1.34 0.0 0.0\n"


def _coating(tmp_path, files=None, **overrides):
    """A one-component coating folder in tmp_path: a C-F pair from XYZ with a charge file; ``overrides`` patch it."""
    folder = tmp_path / "my_coating"
    folder.mkdir(exist_ok=True)
    files = {"pair.xyz": XYZ_PAIR, "q.txt": "0.25\n-0.25\n", **(files or {})}
    for name, text in files.items():
        (folder / name).write_text(text)
    comp = {
        "name": "pair",
        "resname": "PAR",
        "structure": {"file": "pair.xyz", "citation": "test geometry"},
        "charges": {"file": "q.txt", "citation": "test charges"},
        "placement": {"on": "slab", "gap_nm": 0.3, "citation": "test gap"},
    }
    defn = {"name": "test pair", "components": [comp], "sites": {"F": {"component": "pair", "elements": ["F"]}}}
    for key, value in overrides.items():
        if key in comp:
            comp[key] = value
        else:
            defn[key] = value
    (folder / "coating.yaml").write_text(yaml.safe_dump(defn))
    return folder


def test_a_valid_test_coating_builds(tmp_path, slab):
    b = coating.build(_coating(tmp_path), slab)
    assert b.structure.n_atoms == 2 and b.structure.bonds == [(0, 1)]  # the C-F bond found from covalent radii
    assert b.structure.positions[:, 2].min() == pytest.approx(slab.positions[:, 2].max() + 0.3)
    assert b.sites["F"]["indices"] == [1]


REFUSALS = {
    "missing structure": (dict(structure={"file": "nothere.pdb", "citation": "x y z"}), "structure.file", "does not exist"),
    "unreadable structure": (dict(files={"pair.xyz": "two\nno count\n"}), "structure.file", "cannot read"),
    "unknown element": (dict(files={"pair.xyz": "2\n\nC 0 0 0\nQq 1.5 0 0\n"}), "structure.file", "unknown element"),
    "element without LJ": (dict(files={"pair.xyz": "2\n\nC 0 0 0\nXe 3 0 0\n"}), "lennard_jones", "'Xe'"),
    "charges not an integer": (dict(files={"q.txt": "0.25\n-0.2\n"}), "charges", "not an integer within 0.001"),
    "net charge unbalanced": (dict(files={"q.txt": "1.25\n-0.25\n"}), "charges", "net charge is +1 e"),
    "charge file length": (dict(files={"q.txt": "0.25\n-0.25\n0.0\n"}), "charges.file", "3 charges for 2 atoms"),
    "charge values length": (dict(charges={"values": [0.0], "citation": "x y z"}), "charges.values", "1 charges for 2 atoms"),
    "atoms too close": (dict(files={"pair.xyz": "3\n\nC 0 0 0\nF 1.34 0 0\nC 0.05 0.05 0\n", "q.txt": "0.25 -0.25 0"}), "structure", "closer than 0.15 nm"),
    "too close to the slab": (  # the C right above a top-layer Li atom, 0.05 nm up
        dict(placement={"on": "slab", "gap_nm": 0.05, "citation": "x y z"},
             structure={"file": "pair.xyz", "offset_nm": [-0.1095, -0.1765], "citation": "x y z"}),  # fmt: skip
        "placement", "0.050 nm from Li atom",
    ),
    "gap inside the slab": (dict(placement={"on": "slab", "gap_nm": -0.3, "citation": "x y z"}), "placement.gap_nm", "inside the slab"),
    "wider than the cell": (dict(files={"pair.xyz": "2\n\nC 0 0 0\nF 28.0 0 0\n", "q.txt": "0\n0\n"}), "structure", "wider than the slab's lateral cell"),
    "periodic without a cell": (dict(structure={"file": "pair.xyz", "periodic": True, "citation": "x y z"}), "structure.periodic", "has no cell"),
    "periodic in another cell": (
        dict(structure={"file": "cell.pdb", "periodic": True, "citation": "x y z"}, files={"cell.pdb": (
            "CRYST1   30.000   30.000   10.000  90.00  90.00  90.00 P 1           1\n"
            "HETATM    1  C1  PAR A   1       1.000   1.000   1.000  1.00  0.00           C\n"
            "HETATM    2  F1  PAR A   1       2.340   1.000   1.000  1.00  0.00           F\nEND\n")}),  # fmt: skip
        "structure.periodic", "not periodic in it",
    ),
    "unknown builder": (dict(structure={"builder": "graphene_sheet", "citation": "x y z"}), "structure.builder", "unknown builder"),
    "builder parameters": (dict(structure={"builder": "metal_phthalocyanine", "parameters": {"colour": 1}, "citation": "x y z"}), "structure.parameters", "refused"),
    "unknown charge scheme": (dict(charges={"scheme": "am1-bcc"}), "charges.scheme", "unknown charge scheme"),
    "builder without charges": (dict(charges={"builder": True, "citation": "x y z"}), "charges.builder", "no charge set"),
    "number without citation": (dict(placement={"on": "slab", "gap_nm": 0.3}), "placement", "citation"),
    "support that does not exist": (dict(placement={"on": "mof", "contact": "lj"}), "placement.on", "neither slab nor an earlier component"),
    "site selecting nothing": (dict(sites={"Co": {"component": "pair", "elements": ["Co"]}}), "sites.Co", "selects no atom"),
    "LJ for a site not declared": (
        dict(lennard_jones_sites={"H_amino": {"sigma_nm": 0.0, "epsilon_kj_mol": 0.0, "citation": "x y z"}}), "lennard_jones_sites.H_amino", "no site 'H_amino'",
    ),
    "LJ sigma zero, epsilon not": (
        dict(lennard_jones_sites={"F": {"sigma_nm": 0.0, "epsilon_kj_mol": 0.1, "citation": "x y z"}}), "lennard_jones_sites.F", "zero together",
    ),
    "empty structure file": (dict(files={"pair.xyz": ""}), "structure.file", "the file is empty"),
    "coordinate not a number": (dict(files={"pair.xyz": "2\n\nC 0 0 0\nF nan 0 0\n"}), "structure.file", "not a number"),
    "huge coordinates": (dict(files={"pair.xyz": "2\n\nC 0 0 0\nF 1e9 0 0\n"}), "structure.file", "check the file's units"),
    "positions in nm, not Angstrom": (  # a C6F6-sized pair written in nm: 0.0134 apart once read as Angstrom
        dict(files={"pair.xyz": "3\n\nC 0 0 0\nF 0.134 0 0\nC 0 0.139 0\n", "q.txt": "0.25 -0.25 0"}), "structure", "was the file written in nm?",
    ),
    "charge file not numbers": (dict(files={"q.txt": "0.25\nminus 0.25\n"}), "charges.file", "line 2: 'minus' is not a number"),
    "crystal of guessed bonds": (
        dict(structure={"file": "lif.pdb", "periodic": True, "citation": "x y z"}, files={"lif.pdb": None, "q.txt": "1 -1\n" * 196}),
        "structure.bonds", "ionic or metallic solid",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_bad_coating_is_refused_naming_file_and_field(tmp_path, slab, case):
    patch, field, message = REFUSALS[case]
    patch = dict(patch)
    files = patch.pop("files", None)
    if files and "lif.pdb" in files:
        from tests.test_readers import rock_salt_pdb

        files = dict(files, **{"lif.pdb": rock_salt_pdb()})
    folder = _coating(tmp_path, files=files, **patch)
    with pytest.raises(coating.CoatingError) as err:
        coating.check(str(folder), slab)
    text = str(err.value)
    assert str(folder / "coating.yaml") in text, text
    assert field in text and message in text, text


def test_atoms_closer_than_limit_are_refused_even_when_the_pdb_lists_no_bond(tmp_path, slab):
    pdb = (
        "HETATM    1  C1  PAR A   1       1.000   1.000   1.000  1.00  0.00           C\n"
        "HETATM    2  F1  PAR A   1       2.340   1.000   1.000  1.00  0.00           F\n"
        "HETATM    3  C2  PAR A   1       1.000   2.200   1.000  1.00  0.00           C\n"
        "HETATM    4  F2  PAR A   1       2.340   2.200   1.000  1.00  0.00           F\n"
        "CONECT    1    2\nCONECT    3    4\nEND\n"
    )  # C1...C2 1.2 A apart and not bonded
    folder = _coating(tmp_path, files={"four.pdb": pdb, "q.txt": "0.2 -0.2 0.2 -0.2"}, structure={"file": "four.pdb", "citation": "x y z"})
    with pytest.raises(coating.CoatingError, match=r"atoms 0 \(C1\) and 2 \(C2\) are 0.120 nm apart"):
        coating.check(str(folder), slab)


def test_unknown_coating_name_lists_the_shipped_ones():
    with pytest.raises(coating.CoatingError, match="no coating 'nope'.*nh2_mil101_fe, nh2_mil101_fe_copc, nh2_mil101_fe_ljfree_h"):
        coating.resolve("nope")


def test_structure_formats_read_the_same_atoms(tmp_path):
    """PDB, mmCIF, small-molecule CIF and XYZ of the same two atoms give the same positions (nm)."""
    (tmp_path / "a.xyz").write_text(XYZ_PAIR)
    (tmp_path / "a.pdb").write_text(
        "CRYST1   28.220   28.220   10.000  90.00  90.00  90.00 P 1           1\n"
        "HETATM    1  C1  PAR A   1       0.000   0.000   0.000  1.00  0.00           C\n"
        "HETATM    2  F1  PAR A   1       1.340   0.000   0.000  1.00  0.00           F\nEND\n"
    )
    (tmp_path / "a.cif").write_text(
        "data_pair\n_cell_length_a 28.22\n_cell_length_b 28.22\n_cell_length_c 10.0\n_cell_angle_alpha 90\n"
        "_cell_angle_beta 90\n_cell_angle_gamma 90\n_symmetry_space_group_name_H-M 'P 1'\nloop_\n_atom_site_label\n"
        "_atom_site_type_symbol\n_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\nC1 C 0 0 0\nF1 F 0.0474840538 0 0\n"
    )
    import openmm.app as app

    pdb = app.PDBFile(str(tmp_path / "a.pdb"))
    with open(tmp_path / "a.mmcif", "w") as fh:
        app.PDBxFile.writeFile(pdb.topology, pdb.positions, fh)
    for name in ("a.xyz", "a.pdb", "a.cif", "a.mmcif"):
        s, cell = coating.read_structure(tmp_path / name)
        assert s.elements == ["C", "F"], name
        np.testing.assert_allclose(s.positions, [[0, 0, 0], [0.134, 0, 0]], atol=1e-5, err_msg=name)
        if name != "a.xyz":
            np.testing.assert_allclose(cell[:2], [2.822, 2.822], atol=1e-4, err_msg=name)


# ------------------------------------------------------------------------------------------ the workflow


def _snakemake(args, cwd, timeout=600):
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONIOENCODING="utf-8")
    return subprocess.run([sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile")] + args, cwd=cwd,
                          capture_output=True, encoding="utf-8", errors="replace", timeout=timeout, env=env)  # fmt: skip


def _tiny_config(tmp_path, systems):
    cfg = yaml.safe_load((ROOT / "tests/configs/tiny.yaml").read_text())
    cfg["systems"] = systems
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    return ["--configfile", "config.yaml"]


@pytest.mark.parametrize(
    "coating_value, needle",
    [
        ("nope", "systems.coated.coating = 'nope': no coating 'nope'"),
        ("my_coating", "placement.gap_nm: -0.3 nm puts the lowest atom"),
        ("cut_structure", "structure.file: cannot read"),
    ],
)
def test_workflow_refuses_a_bad_coating_before_any_job_and_touches_no_result(tmp_path, coating_value, needle):
    if coating_value == "my_coating":
        _coating(tmp_path, placement={"on": "slab", "gap_nm": -0.3, "citation": "x y z"})
        coating_value = "my_coating/"  # a folder, relative to the working directory
    elif coating_value == "cut_structure":  # a PDB cut short mid-line, as an interrupted copy leaves it
        pdb = "HETATM    1  C1  PAR A   1       1.000   1.000   1.000  1.00  0.00           C\nHETATM    2  F1  PAR A   1       2.3"
        _coating(tmp_path, files={"cut.pdb": pdb}, structure={"file": "cut.pdb", "citation": "x y z"})
        coating_value, needle = "my_coating/", needle + " " + str(tmp_path / "my_coating/cut.pdb") + ": line 2: an HETATM record cut short"
    args = _tiny_config(tmp_path, {"bare_li": {"coating": None}, "coated": {"coating": coating_value}})
    (tmp_path / "results").mkdir()
    (tmp_path / "results/summary.csv").write_text("an earlier result\n")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    r = _snakemake(args + ["--cores", "1"], tmp_path, timeout=300)
    assert r.returncode != 0
    assert needle in r.stdout + r.stderr, r.stdout[-2000:] + r.stderr[-2000:]
    assert (tmp_path / "results/summary.csv").read_text() == "an earlier result\n"
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if ".snakemake" not in p.parts)
    assert after == [p for p in before if ".snakemake" not in p.parts]  # no log, no result, nothing written


HEXAFLUOROBENZENE = """12
C6F6, planar D6h: C-C 1.39 A, C-F 1.34 A (test geometry)
"""


def _c6f6_xyz():
    lines = [HEXAFLUOROBENZENE.rstrip("\n")]
    for k in range(6):
        a = np.radians(60 * k)
        lines.append(f"C {1.39 * np.cos(a):.5f} {1.39 * np.sin(a):.5f} 0.0")
    for k in range(6):
        a = np.radians(60 * k)
        lines.append(f"F {2.73 * np.cos(a):.5f} {2.73 * np.sin(a):.5f} 0.0")
    return "\n".join(lines) + "\n"


@pytest.mark.slow
def test_a_new_coating_from_a_temporary_folder_runs_the_tiny_workflow(tmp_path):
    """A coating that is not shipped (C6F6 from XYZ, charges from a file) in a temporary folder and config."""
    folder = tmp_path / "c6f6_layer"
    folder.mkdir()
    (folder / "c6f6.xyz").write_text(_c6f6_xyz())
    (folder / "c6f6.charges").write_text("# C then F, in the order of c6f6.xyz\n" + "0.12\n" * 6 + "-0.12\n" * 6)
    (folder / "coating.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "C6F6 flake",
                "components": [
                    {
                        "name": "flake",
                        "resname": "C6F",
                        "structure": {"file": "c6f6.xyz", "citation": "test geometry"},
                        "charges": {"file": "c6f6.charges", "citation": "test charges"},
                        "placement": {"on": "slab", "gap_nm": 0.32, "citation": "test gap"},
                    }
                ],
                "sites": {"F": {"component": "flake", "label": "flake F", "elements": ["F"]}},
            }
        )
    )
    args = _tiny_config(tmp_path, {"bare_li": {"coating": None}, "c6f6": {"coating": str(folder)}})
    targets = ["results/summary.json", "results/site_cn.csv", "results/figures/site_rdf.png"]  # what is checked below
    r = _snakemake(args + ["--cores", "2", *targets], tmp_path, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    res = tmp_path / "results"
    info = json.loads((res / "c6f6/coating.json").read_text())
    assert info["n_atoms"] == 12 and info["net_charge_e"] == pytest.approx(0.0, abs=1e-9)
    assert info["gap_above_top_li_layer_nm"] == pytest.approx(0.32)
    xml = (res / "c6f6/coating.xml").read_text()
    assert 'name="C6F"' in xml and "test charges" in xml
    packed = read_pdb(res / "c6f6/r0/packed.pdb")
    assert packed.resnames.count("C6F") == 12 and packed.resnames.count("LIM") == 128
    for rep in ("r0", "r1"):
        prov = json.loads((res / "c6f6" / rep / "provenance.json").read_text())
        assert prov["n_frames"] == 10
    sites = list(csv.DictReader(open(res / "site_cn.csv")))
    assert {(r["system"], r["site"], r["n_site_atoms"]) for r in sites} == {("c6f6", "F", "6")}
    summary = json.loads((res / "summary.json").read_text())
    assert set(summary) == {"bare_li", "c6f6"}
    assert (res / "figures/site_rdf.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the coating is frozen in the MD: its atoms did not move
    import mdtraj as md

    t = md.load(str(res / "c6f6/r0/trajectory.xtc"), top=str(res / "c6f6/r0/minimized.pdb"))
    idx = t.topology.select("resname C6F")
    assert len(idx) == 12 and np.abs(t.xyz[:, idx] - t.xyz[0, idx]).max() < 1e-3


def test_an_element_outside_uff_with_given_parameters_builds_and_packs(tmp_path, slab):
    """Zn is not in our UFF table: lennard_jones in the definition gives it, and packing uses that sigma."""
    from systems.build import pack_system

    folder = _coating(
        tmp_path,
        files={"pair.xyz": "2\n\nZn 0 0 0\nF 3.0 0 0\n", "q.txt": "0.4 -0.4"},
        lennard_jones={"Zn": {"sigma_nm": 0.246, "epsilon_kj_mol": 0.52, "citation": "test value"}},
    )
    build_slab(tmp_path / "slab.pdb", 8, 2, 0.35275)
    b = coating.build_files(str(folder), tmp_path / "slab.pdb", tmp_path / "c.pdb", tmp_path / "c.json", tmp_path / "c.xml")
    assert b.sigma_nm[0] == 0.246 and 'sigma="0.246000" epsilon="0.520000"' in (tmp_path / "c.xml").read_text()
    assert json.loads((tmp_path / "c.json").read_text())["sigma_nm"][0] == 0.246
    s = pack_system(tmp_path / "slab.pdb", tmp_path / "c.pdb", tmp_path / "p.pdb", tmp_path / "g.json", n_pairs=10,
                    density_g_cm3=1.5, seed=3, coating_json=tmp_path / "c.json")  # fmt: skip
    assert s.n_atoms == 128 + 2 + 10 * 16


def test_figures_say_so_when_there_is_nothing_to_draw(tmp_path):
    """The coatings and site figures are outputs of every run, bare-only configs included."""
    from analysis.figures import plot_coatings, plot_site_rdf

    plot_coatings([], tmp_path / "c.png")
    plot_site_rdf({}, {"bare_li": {"sites": {}}}, tmp_path / "s.png")
    for name in ("c.png", "s.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _lif_coating(tmp_path, bonds):
    """An artificial-SEI layer as users bring it: rock-salt LiF(100), 2 layers, 392 ions, a plain PDB in which
    every atom is named LI or F in one residue, formal charges +1/-1 from a file, periodic in the lateral cell."""
    from tests.test_readers import rock_salt_pdb

    folder = tmp_path / "lif_layer"
    folder.mkdir()
    (folder / "lif.pdb").write_text(rock_salt_pdb())
    (folder / "lif.charges").write_text("# formal charges, in the order of lif.pdb\n" + "".join("1\n" if line[76:78] == "LI" else "-1\n" for line in rock_salt_pdb().splitlines() if line.startswith("HETATM")))
    structure = {"file": "lif.pdb", "periodic": True, "citation": "rock-salt LiF, a = 0.4027 nm, strained 0.1 % to the cell"}
    if bonds:
        structure["bonds"] = bonds
    defn = {
        "name": "LiF layer",
        "components": [
            {
                "name": "lif",
                "resname": "LIF",
                "structure": structure,
                "charges": {"file": "lif.charges", "citation": "formal charges"},
                "placement": {"on": "slab", "contact": "lj"},
            }
        ],
        "sites": {"F": {"component": "lif", "elements": ["F"]}},
    }
    (folder / "coating.yaml").write_text(yaml.safe_dump(defn))
    return folder


def test_an_ionic_crystal_layer_from_a_plain_pdb_builds_packs_and_runs(tmp_path):
    """Before: the PDB reader merged the 392 ions into 2 ("392 charges for 2 atoms"); with names fixed by hand,
    guessed bonds gave atoms 10+ CONECT partners and packmol crashed (exit -11)."""
    folder = _lif_coating(tmp_path, "none")
    args = _tiny_config(tmp_path, {"lif": {"coating": str(folder)}})
    r = _snakemake(args + ["--cores", "2", "results/lif/r0/minimized.pdb"], tmp_path, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    placed = read_pdb(tmp_path / "results/lif/coating.pdb")
    assert placed.n_atoms == 392 and len(set(placed.names)) == 392 and placed.bonds == []
    packed = read_pdb(tmp_path / "results/lif/r0/packed.pdb")
    assert packed.resnames.count("LIF") == 392 and packed.resnames.count("TFS") == 150  # 10 TFSI- of 15 atoms
    info = json.loads((tmp_path / "results/lif/coating.json").read_text())
    assert info["net_charge_e"] == pytest.approx(0.0) and len(info["sites"]["F"]["indices"]) == 196


def test_run_systems_runs_only_the_systems_a_user_names(tmp_path):
    """A user's --configfile is merged into config/config.yaml: its systems join the shipped ones unless
    run_systems names the ones to run."""
    (tmp_path / "config").mkdir()
    (tmp_path / "config/config.yaml").write_text((ROOT / "config/config.yaml").read_text())  # as in the project folder
    folder = _coating(tmp_path)
    mine = {"systems": {"mine": {"coating": str(folder)}}}

    def planned(cfg):
        (tmp_path / "my.yaml").write_text(yaml.safe_dump(cfg))
        r = _snakemake(["-n", "--configfile", "my.yaml"], tmp_path, timeout=300)
        return r, {line.split("results/")[1].split("/")[0] for line in r.stdout.splitlines() if "output: results/" in line and "/r0/system.xml" in line}

    r, systems = planned(mine)
    assert r.returncode == 0, r.stderr[-2000:]
    assert systems == {"bare_li", "nh2_mil101_fe", "nh2_mil101_fe_copc", "mine"}  # merged: what surprised users
    r, systems = planned({**mine, "run_systems": ["bare_li", "mine"]})
    assert r.returncode == 0, r.stderr[-2000:]
    assert systems == {"bare_li", "mine"}
    r, _ = planned({**mine, "run_systems": ["bare_li", "typo"]})
    assert r.returncode != 0 and "config run_systems: ['typo'] are not systems of the config" in r.stdout + r.stderr


@pytest.mark.parametrize(
    "patch, needle",
    [
        ({"md": {"length_ps": "3 ns"}}, "'3 ns' is not of type 'number'"),
        ({"md": {"temperature_k": -5.0}}, "-5.0 is less than or equal to the minimum of 0"),
        ({"electrolyte": {"n_pairs": 0}}, "0 is less than the minimum of 1"),
        ({"md": {"lenght_ps": 10.0}}, "Additional properties are not allowed ('lenght_ps' was unexpected)"),
        ({"run_systems": ["nobody"]}, "config run_systems: ['nobody'] are not systems"),
    ],
)
def test_a_bad_config_is_refused_before_any_job_and_touches_no_result(tmp_path, patch, needle):
    args = _tiny_config(tmp_path, {"bare_li": {"coating": None}})
    cfg = yaml.safe_load((tmp_path / "config.yaml").read_text())
    for section, values in patch.items():
        cfg[section] = {**cfg.get(section, {}), **values} if isinstance(values, dict) else values
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    (tmp_path / "results").mkdir()
    (tmp_path / "results/summary.csv").write_text("an earlier result\n")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    r = _snakemake(args + ["--cores", "1"], tmp_path, timeout=300)
    assert r.returncode != 0 and needle in r.stdout + r.stderr, r.stdout[-2000:] + r.stderr[-2000:]
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if ".snakemake" not in p.parts)
    assert after == [p for p in before if ".snakemake" not in p.parts]
