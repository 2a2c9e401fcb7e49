"""Structure files as users' tools write them, turned into :class:`systems.structure.Structure` and checked at the
boundary: every atom read (no merging), elements known, coordinates finite, names unique, bonds decided.

Formats and where a periodic structure's cell comes from:

======================  ============================================  ==========================================
format                  reader                                        cell (nm), orthorhombic only
======================  ============================================  ==========================================
``.pdb``                our own fixed-column reader (every ATOM and   ``CRYST1`` a, b, c (angles 90)
                        HETATM line; elements from columns 77-78,
                        else from the atom name; ``CONECT`` bonds)
``.cif``/``.mmcif``     OpenMM's PDBx reader when ``_atom_site``      ``_cell.length_a/b/c``
with Cartesian          has ``Cartn_x``; bonds from ``struct_conn``
coordinates
``.cif`` (small         gemmi, symmetry expanded to the unit cell     ``_cell_length_a/b/c``
molecule, fractional)
``.xyz``                element x y z (Angstrom), one per line after  extended XYZ: ``Lattice="ax ay az bx by
                        the count and a comment line                  bz cx cy cz"`` in the comment line
======================  ============================================  ==========================================

A coating's periodic component must have the slab's lateral cell to a relative 1e-3
(:data:`systems.coating.CELL_TOLERANCE`).

Bonds (:func:`decide_bonds`) only set exclusions inside a frozen component. A file's own bonds are used as they
are; a file with none gets bonds guessed from covalent radii, unless its component says ``bonds: none`` (an ionic
or metallic solid has no bonds to guess). Guessing refuses structures where it would give an atom more than
:data:`MAX_GUESSED_BONDS` partners: that is a crystal, not a molecule.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from systems.structure import Structure, minimum_image_distances

#: covalent radii (nm), Cordero et al., Dalton Trans. (2008) 2832 (low-spin values for Mn, Fe, Co), used only to
#: find bonds in structure files that do not list them; a pair is bonded within r_i + r_j + 0.045 nm
COVALENT_RADII_NM = {
    "H": 0.031, "Li": 0.128, "B": 0.084, "C": 0.076, "N": 0.071, "O": 0.066, "F": 0.057, "Na": 0.166,
    "Mg": 0.141, "Al": 0.121, "Si": 0.111, "P": 0.107, "S": 0.105, "Cl": 0.102, "K": 0.203, "Ca": 0.176,
    "Ti": 0.160, "V": 0.153, "Cr": 0.139, "Mn": 0.139, "Fe": 0.132, "Co": 0.126, "Ni": 0.124, "Cu": 0.132,
    "Zn": 0.122, "Zr": 0.175, "Br": 0.120, "I": 0.139,
}  # fmt: skip
BOND_TOLERANCE_NM = 0.045
#: more covalent partners than this from guessing means a crystal (rock salt gives 6 + 12 Li-Li at these radii)
MAX_GUESSED_BONDS = 6
#: a coordinate (nm) beyond this is not a coating: a unit error (pm, or Angstrom read twice) or a broken file
MAX_COORDINATE_NM = 1000.0


class StructureFileError(ValueError):
    """A structure file that cannot be read as the atoms it claims to hold."""


def element_symbol(text: str) -> str | None:
    """The element whose symbol is ``text`` (any case), or None."""
    import openmm.app as app

    sym = text.strip().capitalize()
    try:
        return app.Element.getBySymbol(sym).symbol if sym else None
    except KeyError:
        return None


def read_structure(path) -> tuple[Structure, np.ndarray | None]:
    """Read a PDB, mmCIF, small-molecule CIF or XYZ file. Returns the Structure (nm) and its cell (nm) or None.

    Raises :class:`StructureFileError` naming the line or atom at fault; the coordinates are checked to be
    finite and within :data:`MAX_COORDINATE_NM`.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if path.stat().st_size == 0:
        raise StructureFileError("the file is empty")
    if suffix == ".pdb":
        s, cell = read_pdb_file(path)
    elif suffix in (".cif", ".mmcif"):
        text = path.read_text(errors="replace")
        if "_atom_site.Cartn_x" in text or "_atom_site.cartn_x" in text:
            import openmm.app as app

            s, cell = _from_openmm(app.PDBxFile(str(path)))
        else:
            s, cell = _read_small_cif(path)
    elif suffix == ".xyz":
        s, cell = read_xyz(path)
    else:
        raise StructureFileError(f"unknown structure format {suffix!r} (use .pdb, .cif, .mmcif or .xyz)")
    check_coordinates(s, cell)
    return s, cell


def check_coordinates(s: Structure, cell=None) -> None:
    if s.n_atoms == 0:
        raise StructureFileError("no atoms")
    bad = np.nonzero(~np.all(np.isfinite(s.positions), axis=1))[0]
    if len(bad):
        raise StructureFileError(f"atom {bad[0]} ({s.names[bad[0]]}) has a coordinate that is not a number")
    far = np.nonzero(np.abs(s.positions).max(axis=1) > MAX_COORDINATE_NM)[0]
    if len(far):
        raise StructureFileError(
            f"atom {far[0]} ({s.names[far[0]]}) is {np.abs(s.positions[far[0]]).max():.3g} nm from the origin: "
            "coordinates are read in Angstrom; check the file's units"
        )
    if cell is not None and not (np.all(np.isfinite(cell)) and np.all(np.asarray(cell) > 0)):
        raise StructureFileError(f"the cell {[float(x) for x in cell]} nm is not a positive, finite box")


def element_from_name(field: str) -> str | None:
    """The element of a PDB atom name (columns 13-16) by the PDB's alignment rule.

    A one-letter element stands in column 14 (column 13 blank or a digit: " CA " is carbon); a name starting in
    column 13 begins with a two-letter element ("CA  " is calcium, "FE1 " iron), except a four-character
    hydrogen name ("HE21"). Give columns 77-78 to be sure.
    """
    field = field.ljust(4)
    if field[0] == " " or field[0].isdigit():
        cands = [field[1:2], field[1:3]]
    elif field[0] in "Hh" and field[3] != " ":
        cands = [field[0]]
    else:
        cands = [field[0:2] if field[1:2].isalpha() else "", field[0:1]]
    for c in cands:
        el = element_symbol(c)
        if el:
            return el
    return None


def read_pdb_file(path) -> tuple[Structure, np.ndarray | None]:
    """Every ATOM/HETATM line of a PDB file (fixed columns), CRYST1 and CONECT.

    Atoms with the same name in one residue are kept (OpenMM's reader merges them as duplicates). The element is
    columns 77-78, else :func:`element_from_name`. ``CRYST1`` of zero (or 1 A) edges means no cell; a second
    ``MODEL`` is refused.
    """
    elements, names, resnames, pos, serials, repeated = [], [], [], [], {}, set()
    cell, conect, models = None, [], 0
    for n, line in enumerate(Path(path).read_text(errors="replace").splitlines(), start=1):
        rec = line[:6].strip().upper()
        if rec == "MODEL":
            models += 1
            if models > 1:
                raise StructureFileError(f"line {n}: a second MODEL: the file holds several structures; give one")
        elif rec in ("ATOM", "HETATM"):
            if len(line) < 54:
                raise StructureFileError(f"line {n}: an {rec} record cut short ({len(line)} characters; coordinates end at 54)")
            try:
                xyz = [float(line[30:38]), float(line[38:46]), float(line[46:54])]
            except ValueError:
                raise StructureFileError(f"line {n}: coordinates {line[30:54]!r} are not numbers (columns 31-54)") from None
            name = line[12:16].strip()
            el = element_symbol(line[76:78]) if len(line) >= 77 and line[76:78].strip() else None
            if el is None:
                el = element_from_name(line[12:16])
            if el is None:
                raise StructureFileError(f"line {n}: atom {name!r} has no element (columns 77-78) and its name names none")
            try:
                serial = int(line[6:11])
                if serial in serials:
                    repeated.add(serial)
                serials[serial] = len(elements)
            except ValueError:
                pass
            elements.append(el)
            names.append(name or el)
            resnames.append(line[17:20].strip() or "UNK")
            pos.append(xyz)
        elif rec == "CRYST1":
            try:
                a, b, c, al, be, ga = (float(line[k : k + w]) for k, w in ((6, 9), (15, 9), (24, 9), (33, 7), (40, 7), (47, 7)))
            except ValueError:
                raise StructureFileError(f"line {n}: CRYST1 {line[6:54]!r} is not a cell") from None
            if min(a, b, c) <= 1.0:
                continue  # CRYST1 0 0 0 (or 1 1 1): what VMD and others write for a structure without a cell
            if max(abs(al - 90), abs(be - 90), abs(ga - 90)) > 1e-3:
                raise StructureFileError(f"line {n}: the cell is not orthorhombic (angles {al}, {be}, {ga})")
            cell = np.array([a, b, c]) / 10.0
        elif rec == "CONECT":
            fields = [line[k : k + 5] for k in range(6, len(line.rstrip()), 5)]  # 4 partners by the standard; more seen
            try:
                ids = [int(f) for f in fields if f.strip()]
            except ValueError:
                raise StructureFileError(f"line {n}: CONECT {line[6:31]!r} is not a list of atom serials") from None
            conect += [(ids[0], j) for j in ids[1:]]
    if not elements:
        raise StructureFileError("no ATOM or HETATM record")
    bonds = set()
    for i, j in conect:
        if i not in serials or j not in serials:
            raise StructureFileError(f"CONECT {i} {j} names an atom serial that no ATOM/HETATM record has")
        if i in repeated or j in repeated:
            raise StructureFileError(f"CONECT {i} {j} names an atom serial that several ATOM/HETATM records share")
        a, b = sorted((serials[i], serials[j]))
        if a != b:
            bonds.add((a, b))
    s = Structure(elements, names, resnames, [0] * len(elements), np.array(pos) / 10.0, sorted(bonds))
    return s, cell


def _from_openmm(f):
    import openmm.unit as unit

    top = f.topology
    atoms = list(top.atoms())
    if any(a.element is None for a in atoms):
        bad = next(a for a in atoms if a.element is None)
        raise StructureFileError(f"atom {bad.index} ({bad.name}) has no element")
    index = {a: k for k, a in enumerate(atoms)}
    pos = np.array(f.getPositions(asNumpy=True).value_in_unit(unit.nanometer))
    box = top.getPeriodicBoxVectors()
    cell = None
    if box is not None:
        v = np.array([[box[i][j].value_in_unit(unit.nanometer) for j in range(3)] for i in range(3)])
        if np.abs(v - np.diag(np.diag(v))).max() > 1e-6:
            raise StructureFileError("the cell is not orthorhombic")
        cell = np.diag(v)
    s = Structure(
        [a.element.symbol for a in atoms],
        [a.name for a in atoms],
        ["UNK"] * len(atoms),
        [0] * len(atoms),
        pos,
        [(index[b[0]], index[b[1]]) for b in top.bonds()],
    )
    return s, cell


def _read_small_cif(path):
    import gemmi

    st = gemmi.read_small_structure(str(path))
    c = st.cell
    if max(abs(c.alpha - 90), abs(c.beta - 90), abs(c.gamma - 90)) > 1e-3:
        raise StructureFileError(f"the cell is not orthorhombic (angles {c.alpha}, {c.beta}, {c.gamma})")
    sites = st.get_all_unit_cell_sites()
    if not sites:
        raise StructureFileError("no atom sites")
    pos = np.array([[p.x, p.y, p.z] for p in (c.orthogonalize(s.fract) for s in sites)]) / 10.0
    elements = [s.element.name for s in sites]
    names = [s.label for s in sites]
    return Structure(elements, names, ["UNK"] * len(sites), [0] * len(sites), pos, []), np.array([c.a, c.b, c.c]) / 10.0


def read_xyz(path) -> tuple[Structure, np.ndarray | None]:
    """XYZ (Angstrom); an extended-XYZ ``Lattice="..."`` in the comment line gives an orthorhombic cell."""
    import shlex

    lines = Path(path).read_text(errors="replace").splitlines()
    try:
        n = int(lines[0].split()[0])
    except (IndexError, ValueError):
        raise StructureFileError("the first line must be the number of atoms") from None
    rows = [ln.split() for ln in lines[2 : 2 + n]]
    if len(rows) < n or any(len(r) < 4 for r in rows):
        raise StructureFileError(f"expected {n} atom lines 'element x y z' after the comment line, found {sum(len(r) >= 4 for r in rows)}")
    elements = []
    for k, r in enumerate(rows):
        sym = element_symbol(r[0])
        if sym is None:
            raise StructureFileError(f"atom {k} (line {k + 3}): unknown element {r[0]!r}")
        elements.append(sym)
    try:
        pos = np.array([[float(v) for v in r[1:4]] for r in rows]) / 10.0
    except ValueError:
        bad = next(k for k, r in enumerate(rows) if not _floats(r[1:4]))
        raise StructureFileError(f"atom {bad} (line {bad + 3}): coordinates {' '.join(rows[bad][1:4])!r} are not numbers") from None
    cell = None
    comment = lines[1] if len(lines) > 1 else ""
    if "lattice=" in comment.lower():
        try:
            fields = dict(f.split("=", 1) for f in shlex.split(comment) if "=" in f)
            lat = next(v for k, v in fields.items() if k.lower() == "lattice")
            v = np.array([float(x) for x in lat.split()]).reshape(3, 3) / 10.0
        except (ValueError, StopIteration):
            raise StructureFileError('line 2: Lattice="ax ay az bx by bz cx cy cz" (9 numbers, Angstrom) expected') from None
        if np.abs(v - np.diag(np.diag(v))).max() > 1e-6:
            raise StructureFileError("line 2: the Lattice is not orthorhombic")
        cell = np.diag(v)
    return Structure(elements, list(elements), ["UNK"] * n, [0] * n, pos, []), cell


def _floats(values) -> bool:
    try:
        [float(v) for v in values]
    except ValueError:
        return False
    return True


def read_charges(path) -> np.ndarray:
    """Per-atom charges (e): numbers separated by white space; ``#`` starts a comment."""
    values = []
    for n, ln in enumerate(Path(path).read_text(errors="replace").splitlines(), start=1):
        for v in ln.split("#", 1)[0].split():
            try:
                values.append(float(v))
            except ValueError:
                raise ValueError(f"line {n}: {v!r} is not a number") from None
    q = np.array(values, float)
    if not np.all(np.isfinite(q)):
        raise ValueError(f"charge {int(np.nonzero(~np.isfinite(q))[0][0])} is not a finite number")
    return q


def infer_bonds(s: Structure, cell=None) -> list:
    """Bonds from covalent radii (pairs within r_i + r_j + 0.045 nm, minimum image in ``cell`` x, y if given)."""
    r = np.array([COVALENT_RADII_NM.get(e, np.nan) for e in s.elements])
    box = None if cell is None else np.asarray(cell, float)
    d = minimum_image_distances(s.positions, s.positions, box) if box is not None else np.linalg.norm(s.positions[:, None] - s.positions[None], axis=-1)
    lim = r[:, None] + r[None, :] + BOND_TOLERANCE_NM
    i, j = np.nonzero(np.triu(d < lim, 1) & np.triu(d > 0.3 * (r[:, None] + r[None, :]), 1))
    return list(zip(i.tolist(), j.tolist()))


def decide_bonds(s: Structure, mode: str, cell=None) -> list:
    """The bonds of one component: ``file`` (the file's own), ``guess`` (covalent radii), ``none``, or ``auto``
    (the file's own if it lists any, else a guess). Raises ValueError when a guess makes a crystal of bonds."""
    if mode == "none":
        return []
    if mode == "file" or (mode == "auto" and s.bonds):
        return list(s.bonds)
    bonds = infer_bonds(s, cell)
    count = np.bincount(np.array(bonds, int).ravel(), minlength=s.n_atoms) if bonds else np.zeros(s.n_atoms, int)
    worst = int(np.argmax(count))
    if count[worst] > MAX_GUESSED_BONDS:
        raise ValueError(
            f"guessing bonds from covalent radii gives atom {worst} ({s.names[worst]}, {s.elements[worst]}) {count[worst]} "
            f"partners (more than {MAX_GUESSED_BONDS}): this is an ionic or metallic solid, not a molecule. Set "
            "structure.bonds: none (no bonds; every pair then keeps the 0.15 nm distance), or list the bonds in the file"
        )
    return bonds


def atom_names(elements) -> list[str]:
    """Unique names of at most 4 characters, element + count.

    Decimal while every atom of that element fits (Li1..Li99, F1..F999), else base 36 for all of them
    (Li01..LiZZ, F001..FZZZ): one numbering per element, so no two atoms share a name.
    """
    digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    total: dict = {}
    for el in elements:
        total[el] = total.get(el, 0) + 1
    width = {el: 4 - len(el) for el in total}
    for el, n in total.items():
        if n > 36 ** width[el] - 1:
            raise ValueError(f"{n} {el} atoms in one component: more than unique 4-character atom names allow ({36 ** width[el] - 1}); split it into components")
    counts: dict = {}
    out = []
    for el in elements:
        counts[el] = k = counts.get(el, 0) + 1
        if total[el] <= 10 ** width[el] - 1:
            out.append(f"{el}{k}")
        else:
            s = ""
            while k:
                k, rem = divmod(k, 36)
                s = digits[rem] + s
            out.append(f"{el}{s.rjust(width[el], '0')}")
    return out
