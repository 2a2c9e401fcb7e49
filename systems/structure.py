"""A minimal molecular structure container shared by the builders.

A :class:`Structure` holds atoms (element, name, residue name, residue index), Cartesian positions in nm,
bonds as index pairs, and an optional orthorhombic box in nm. Builders return Structures; they are combined,
written to PDB (with CONECT records, so VMD, mdtraj and OpenMM see the bonds) and turned into an OpenMM
Topology.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import numpy as np
import openmm.app as app
import openmm.unit as unit

from systems.files import atomic_path


@dataclass
class Structure:
    """Atoms, positions (nm), bonds and box (nm) of one or more molecules.

    Parameters
    ----------
    elements : list of str
        Element symbols, one per atom.
    names : list of str
        Atom names (at most 4 characters, unique within a residue).
    resnames : list of str
        Residue name of each atom (at most 3 characters).
    resids : list of int
        Residue index of each atom; atoms of one residue are contiguous.
    positions : ndarray, shape (n, 3)
        Cartesian coordinates in nm.
    bonds : list of tuple of int
        Bonded atom index pairs.
    box : ndarray, shape (3,), optional
        Orthorhombic box edge lengths in nm.
    """

    elements: list
    names: list
    resnames: list
    resids: list
    positions: np.ndarray
    bonds: list = field(default_factory=list)
    box: np.ndarray | None = None

    def __post_init__(self):
        self.positions = np.asarray(self.positions, dtype=float).reshape(-1, 3)
        n = len(self.elements)
        for label, seq in (("names", self.names), ("resnames", self.resnames), ("resids", self.resids)):
            if len(seq) != n:
                raise ValueError(f"Structure: {label} has {len(seq)} entries for {n} atoms")
        if self.positions.shape[0] != n:
            raise ValueError(f"Structure: positions has {self.positions.shape[0]} rows for {n} atoms")
        for i, j in self.bonds:
            if not (0 <= i < n and 0 <= j < n) or i == j:
                raise ValueError(f"Structure: bond ({i}, {j}) does not join two atoms of {n}")

    @property
    def n_atoms(self) -> int:
        return len(self.elements)

    def translated(self, shift_nm) -> "Structure":
        """A copy moved by ``shift_nm`` (3-vector, nm)."""
        out = self.copy()
        out.positions = out.positions + np.asarray(shift_nm, dtype=float)
        return out

    def copy(self) -> "Structure":
        return Structure(
            list(self.elements),
            list(self.names),
            list(self.resnames),
            list(self.resids),
            self.positions.copy(),
            list(self.bonds),
            None if self.box is None else np.array(self.box, dtype=float),
        )

    def to_topology(self) -> app.Topology:
        """An OpenMM Topology with one chain per residue name, bonds and box."""
        top = app.Topology()
        chains = {}
        atoms = []
        residue = None
        last = None
        for el, name, rn, rid in zip(self.elements, self.names, self.resnames, self.resids):
            if (rn, rid) != last:
                if rn not in chains:
                    chains[rn] = top.addChain()
                residue = top.addResidue(rn, chains[rn])
                last = (rn, rid)
            atoms.append(top.addAtom(name, app.Element.getBySymbol(el), residue))
        for i, j in self.bonds:
            top.addBond(atoms[i], atoms[j])
        if self.box is not None and np.all(np.asarray(self.box) > 0):
            top.setPeriodicBoxVectors(np.diag(self.box) * unit.nanometer)
        return top

    def write_pdb(self, path) -> None:
        """Write a PDB file (positions in A, CRYST1 box, CONECT for every bond)."""
        top = self.to_topology()
        with atomic_path(path) as tmp, open(tmp, "w") as fh:
            app.PDBFile.writeFile(top, self.positions * unit.nanometer, fh, keepIds=False)


def combine(parts, box=None) -> Structure:
    """Concatenate Structures into one, renumbering residues and bonds.

    Parameters
    ----------
    parts : iterable of Structure
    box : array-like of 3 floats, optional
        Box (nm) of the result; by default the first part's box.
    """
    parts = list(parts)
    elements, names, resnames, resids, bonds, pos = [], [], [], [], [], []
    offset = 0
    res_offset = 0
    for p in parts:
        elements += p.elements
        names += p.names
        resnames += p.resnames
        # residues renumbered to stay contiguous and distinct across parts
        mapping = {}
        for rid in p.resids:
            if rid not in mapping:
                mapping[rid] = res_offset + len(mapping)
        resids += [mapping[r] for r in p.resids]
        res_offset += len(mapping)
        bonds += [(i + offset, j + offset) for i, j in p.bonds]
        pos.append(p.positions)
        offset += p.n_atoms
    if box is None:
        box = next((p.box for p in parts if p.box is not None), None)
    return Structure(elements, names, resnames, resids, np.vstack(pos) if pos else np.zeros((0, 3)), bonds, box)


def read_pdb(path) -> Structure:
    """Read a PDB written by :meth:`Structure.write_pdb` (or any PDB with elements) into a Structure."""
    pdb = app.PDBFile(str(path))
    top = pdb.topology
    atoms = list(top.atoms())
    index = {a: k for k, a in enumerate(atoms)}
    pos = np.array(pdb.getPositions(asNumpy=True).value_in_unit(unit.nanometer))
    box = top.getPeriodicBoxVectors()
    box_nm = None if box is None else np.array([box[k][k].value_in_unit(unit.nanometer) for k in range(3)])
    return Structure(
        [a.element.symbol for a in atoms],
        [a.name for a in atoms],
        [a.residue.name for a in atoms],
        [a.residue.index for a in atoms],
        pos,
        [(index[b[0]], index[b[1]]) for b in top.bonds()],
        box_nm,
    )


def minimum_image_distances(a_nm, b_nm, box_nm, periodic_axes=(0, 1)) -> np.ndarray:
    """Distance matrix (nm) between two point sets, minimum image along ``periodic_axes`` only."""
    d = np.asarray(a_nm, float)[:, None, :] - np.asarray(b_nm, float)[None, :, :]
    for ax in periodic_axes:
        d[..., ax] -= box_nm[ax] * np.round(d[..., ax] / box_nm[ax])
    return np.sqrt((d**2).sum(-1))
