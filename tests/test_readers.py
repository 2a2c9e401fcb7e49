"""Structure files as users' tools write them: every atom read, unique names, the cell per format, bonds decided,
and every broken file refused with the line or atom at fault."""

import numpy as np
import pytest

from systems.readers import MAX_GUESSED_BONDS, StructureFileError, atom_names, decide_bonds, element_from_name, read_charges, read_structure

LIF_A_NM = 2.822 / 7  # rock-salt LiF, a = 0.4027 nm (Wyckoff, Crystal Structures), strained 0.1 % onto the 2.822 nm cell


def rock_salt_pdb(n_cells=7, layers=2, a_nm=LIF_A_NM, names=("LI", "F"), element_columns=True) -> str:
    """A LiF(100) slab as many tools write it: one residue, every atom named LI or F, no CONECT."""
    lines = [f"CRYST1{n_cells * a_nm * 10:9.3f}{n_cells * a_nm * 10:9.3f}{30.0:9.3f}  90.00  90.00  90.00 P 1           1"]
    k = 0
    h = a_nm * 10 / 2  # Angstrom, half the cubic cell: the ion-ion distance
    for z in range(layers):
        for i in range(2 * n_cells):
            for j in range(2 * n_cells):
                li = (i + j + z) % 2 == 0
                k += 1
                el = "Li" if li else "F"
                col = f"{el.upper():>2}" if element_columns else "  "
                lines.append(f"HETATM{k:5d} {names[0] if li else names[1]:<4} LIF A   1    {i * h:8.3f}{j * h:8.3f}{z * h + 1.0:8.3f}  1.00  0.00          {col}")
    return "\n".join(lines + ["END"]) + "\n"


def test_a_pdb_with_hundreds_of_atoms_sharing_names_is_read_atom_for_atom(tmp_path):
    (tmp_path / "lif.pdb").write_text(rock_salt_pdb())
    s, cell = read_structure(tmp_path / "lif.pdb")
    assert s.n_atoms == 392 and s.elements.count("Li") == 196 and s.elements.count("F") == 196
    np.testing.assert_allclose(cell, [2.822, 2.822, 3.0], atol=1e-4)
    assert s.bonds == []  # no CONECT
    # the nearest neighbours are a/2 apart: nothing merged, nothing moved
    d = np.linalg.norm(s.positions[0] - s.positions[1])
    assert d == pytest.approx(LIF_A_NM / 2, abs=1e-4)


def test_elements_come_from_the_name_when_columns_77_78_are_blank(tmp_path):
    (tmp_path / "lif.pdb").write_text(rock_salt_pdb(n_cells=1, layers=1, names=("LI1", "F1"), element_columns=False))
    s, _ = read_structure(tmp_path / "lif.pdb")
    assert s.elements == ["Li", "F", "F", "Li"]


def test_automatic_names_are_unique_past_every_width():
    """The 108th Li used to be named like an earlier one (decimal, then base 36 with the same digits)."""
    for n in (99, 100, 108, 300, 1295):
        names = atom_names(["Li"] * n + ["F"] * n)
        assert len(set(names)) == 2 * n and all(len(x) <= 4 for x in names), n
    assert atom_names(["Li", "F", "Li"]) == ["Li1", "F1", "Li2"]  # small components keep readable names
    with pytest.raises(ValueError, match="1296 Li atoms in one component"):
        atom_names(["Li"] * 1296)


def test_bonds_are_guessed_for_a_molecule_and_refused_for_a_crystal(tmp_path):
    (tmp_path / "lif.pdb").write_text(rock_salt_pdb(n_cells=3))
    lif, cell = read_structure(tmp_path / "lif.pdb")
    with pytest.raises(ValueError, match=r"partners \(more than 6\): this is an ionic or metallic solid.*bonds: none"):
        decide_bonds(lif, "auto", cell)
    assert decide_bonds(lif, "none", cell) == []
    (tmp_path / "cf.xyz").write_text("2\n\nC 0 0 0\nF 1.34 0 0\n")
    cf, _ = read_structure(tmp_path / "cf.xyz")
    assert decide_bonds(cf, "auto") == [(0, 1)] and decide_bonds(cf, "file") == []
    assert MAX_GUESSED_BONDS == 6


def test_the_cell_of_each_format(tmp_path):
    (tmp_path / "a.xyz").write_text('2\nLattice="28.22 0 0 0 28.22 0 0 0 30" Properties=species:S:1:pos:R:3\nC 0 0 0\nF 1.34 0 0\n')
    s, cell = read_structure(tmp_path / "a.xyz")
    np.testing.assert_allclose(cell, [2.822, 2.822, 3.0])
    (tmp_path / "b.xyz").write_text("2\nno lattice here\nC 0 0 0\nF 1.34 0 0\n")
    assert read_structure(tmp_path / "b.xyz")[1] is None
    (tmp_path / "c.xyz").write_text('2\nLattice="28.22 1 0 0 28.22 0 0 0 30"\nC 0 0 0\nF 1.34 0 0\n')
    with pytest.raises(StructureFileError, match="not orthorhombic"):
        read_structure(tmp_path / "c.xyz")


GOOD = "HETATM    1  C1  PAR A   1       1.000   1.000   1.000  1.00  0.00           C\n"
BROKEN = {
    "empty.pdb": ("", "the file is empty"),
    "noatoms.pdb": ("REMARK nothing\nEND\n", "no ATOM or HETATM record"),
    "cut.pdb": (GOOD + "HETATM    2  F1  PAR A   1       2.340   1.0", "line 2: an HETATM record cut short"),
    "garbled.pdb": (GOOD + "HETATM    2  F1  PAR A   1       2.34x   1.000   1.000  1.00  0.00           F\n", "line 2: coordinates"),
    "nan.pdb": (GOOD + "HETATM    2  F1  PAR A   1         nan   1.000   1.000  1.00  0.00           F\n", "atom 1 (F1) has a coordinate that is not a number"),
    "huge.pdb": (GOOD + "HETATM    2  F1  PAR A   1    99999.00   1.000   1.000  1.00  0.00           F\n", "from the origin: coordinates are read in Angstrom"),
    "noelement.pdb": ("HETATM    1  QQ1 PAR A   1       1.000   1.000   1.000  1.00  0.00            \n", "has no element"),
    "conect.pdb": (GOOD + "CONECT    1    7\n", "CONECT 1 7 names an atom serial"),
    "cryst.pdb": ("CRYST1   28.220   28.220   abcdef  90.00  90.00  90.00 P 1           1\n" + GOOD, "line 1: CRYST1"),
    "short.xyz": ("3\n\nC 0 0 0\nF 1.34 0 0\n", "expected 3 atom lines"),
    "letters.xyz": ("2\n\nC 0 0 0\nF 1.34 zero 0\n", "atom 1 (line 4): coordinates"),
    "binary.xyz": ("\x00\x01\x02garbage", "the first line must be the number of atoms"),
    "lattice.xyz": ('2\nLattice="28.22 0 0"\nC 0 0 0\nF 1.34 0 0\n', 'line 2: Lattice="ax ay az'),
    "unknown.sdf": ("x", "unknown structure format '.sdf'"),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_a_broken_structure_file_is_refused_naming_the_cause(tmp_path, name):
    text, message = BROKEN[name]
    (tmp_path / name).write_text(text)
    with pytest.raises(StructureFileError) as err:
        read_structure(tmp_path / name)
    assert message in str(err.value)


@pytest.mark.parametrize("text, message", [("0.1 abc\n", "line 1: 'abc' is not a number"), ("0.1\nnan\n", "charge 1 is not a finite number")])
def test_a_broken_charge_file_is_refused_naming_the_line(tmp_path, text, message):
    (tmp_path / "q.txt").write_text(text)
    with pytest.raises(ValueError, match=message):
        read_charges(tmp_path / "q.txt")


def test_packmol_gets_positions_only_so_a_crystal_with_many_bonds_packs(tmp_path):
    """Packmol crashed (SIGSEGV) on a fixed structure with 10+ CONECT partners on one atom; it needs no bonds."""
    from systems.electrolyte import PackingRegion, pack_electrolyte
    from systems.readers import infer_bonds

    (tmp_path / "lif.pdb").write_text(rock_salt_pdb(n_cells=7, layers=2))
    lif, cell = read_structure(tmp_path / "lif.pdb")
    lif.bonds = infer_bonds(lif, cell)  # what a file full of CONECT records would bring
    lif.names = atom_names(lif.elements)  # as the coating build names them
    assert np.bincount(np.array(lif.bonds).ravel()).max() > 10
    packed = pack_electrolyte(lif, 2, PackingRegion(0.9, 1.6), np.array([2.822, 2.822, 5.0]), seed=3, tolerance_nm=0.2, workdir=tmp_path / "pack")
    assert packed.n_atoms == 392 + 2 * 16
    assert "CONECT" not in (tmp_path / "pack/fixed.pdb").read_text()
    assert len(packed.bonds) >= len(lif.bonds)  # the structure itself keeps its bonds


@pytest.mark.parametrize(
    "field, element",
    [(" CA ", "C"), ("CA  ", "Ca"), ("HE21", "H"), (" HG1", "H"), ("HG1 ", "Hg"), (" LI1", "Li"), ("LI1 ", "Li"), ("FE1 ", "Fe"), ("F1  ", "F"), ("1HB ", "H"), (" QQ ", None)],
)
def test_elements_from_names_follow_the_pdb_alignment(field, element):
    """Column 13 blank: a one-letter element in 14 (" CA " is an alpha carbon); a name from column 13 starts with
    a two-letter element ("CA  " is calcium), but a four-character name starting with H is hydrogen."""
    assert element_from_name(field) == element


def test_pdb_edge_cases_of_real_files(tmp_path):
    atom = "HETATM{:5d}  C{:<2d} PAR A   1    {:8.3f}   1.000   1.000  1.00  0.00           C"
    lines = ["CRYST1    0.000    0.000    0.000  90.00  90.00  90.00 P 1           1"]  # VMD: no cell
    lines += [atom.format(k, k, 1.5 * k) for k in range(1, 8)]
    lines += ["CONECT    1    2    3    4    5    6    7"]  # six partners on one line: all read
    (tmp_path / "a.pdb").write_text("\n".join(lines) + "\n")
    s, cell = read_structure(tmp_path / "a.pdb")
    assert cell is None and s.bonds == [(0, k) for k in range(1, 7)]
    (tmp_path / "b.pdb").write_text("\n".join([atom.format(1, 1, 1.0), atom.format(1, 2, 2.5), "CONECT    1    1"]) + "\n")
    with pytest.raises(StructureFileError, match="CONECT 1 1 names an atom serial that several ATOM/HETATM records share"):
        read_structure(tmp_path / "b.pdb")
    (tmp_path / "c.pdb").write_text("\n".join(["MODEL        1", atom.format(1, 1, 1.0), "ENDMDL", "MODEL        2", atom.format(1, 1, 1.0), "ENDMDL"]) + "\n")
    with pytest.raises(StructureFileError, match="line 4: a second MODEL"):
        read_structure(tmp_path / "c.pdb")
