"""Named partial-charge schemes a coating definition can ask for (``charges: {scheme: ...}``).

``gfn2-xtb``
    Mulliken charges of the GFN2-xTB tight-binding method (Bannwarth, Ehlert and Grimme, J. Chem. Theory Comput.
    15 (2019) 1652), computed by the ``tblite`` library (https://github.com/tblite/tblite) for the coating part
    as an isolated molecule with the declared total charge and number of unpaired electrons. GFN2-xTB has
    parameters for H to Rn, transition metals included, which is why it is the scheme for metal complexes
    such as cobalt phthalocyanine. The charges sum to the total charge by construction.

Also here: :func:`gfn2_xtb_relax`, the geometry relaxation behind the shipped CoPc structure.
"""

from __future__ import annotations

import numpy as np

from systems.structure import Structure

BOHR_NM = 0.0529177210903
HARTREE_KJ_MOL = 2625.499639

SCHEMES = ("gfn2-xtb",)


def _calculator(elements, positions_nm, total_charge: int, unpaired_electrons: int):
    try:
        from tblite.interface import Calculator
    except ImportError as err:  # pragma: no cover - tblite is in requirements.txt
        raise ImportError("charge scheme gfn2-xtb needs the Python package tblite (pip install tblite)") from err
    import openmm.app as app

    numbers = np.array([app.Element.getBySymbol(e).atomic_number for e in elements])
    calc = Calculator("GFN2-xTB", numbers, np.asarray(positions_nm, float) / BOHR_NM, charge=float(total_charge), uhf=int(unpaired_electrons))
    calc.set("verbosity", 0)
    return calc


def scheme_charges(scheme: str, elements, positions_nm, total_charge: int = 0, unpaired_electrons: int = 0) -> np.ndarray:
    """Partial charges (e) of one molecule by a named scheme."""
    if scheme != "gfn2-xtb":
        raise ValueError(f"unknown charge scheme {scheme!r}; known: {list(SCHEMES)}")
    result = _calculator(elements, positions_nm, total_charge, unpaired_electrons).singlepoint()
    return np.asarray(result.get("charges"), float)


def gfn2_xtb_relax(structure: Structure, total_charge: int = 0, unpaired_electrons: int = 0, gtol_kj_mol_nm: float = 5.0):
    """Relax a molecule with GFN2-xTB (L-BFGS on the analytic gradient). Returns the relaxed copy and a summary."""
    from importlib.metadata import version

    from scipy.optimize import minimize

    calc = _calculator(structure.elements, structure.positions, total_charge, unpaired_electrons)
    calls = {"n": 0}

    def energy(x):
        calc.update(x.reshape(-1, 3))
        res = calc.singlepoint()
        calls["n"] += 1
        return float(res.get("energy")), np.asarray(res.get("gradient"), float).ravel()

    x0 = structure.positions.ravel() / BOHR_NM
    gtol = gtol_kj_mol_nm / HARTREE_KJ_MOL * BOHR_NM  # Hartree/bohr
    opt = minimize(energy, x0, jac=True, method="L-BFGS-B", options={"gtol": gtol, "maxiter": 2000})
    out = structure.copy()
    out.positions = opt.x.reshape(-1, 3) * BOHR_NM
    grad = np.abs(energy(opt.x)[1]).max() * HARTREE_KJ_MOL / BOHR_NM
    info = {"tblite": version("tblite"), "iterations": int(opt.nit), "calls": calls["n"], "max_gradient_kj_mol_nm": float(grad), "converged": bool(opt.success)}
    return out, info
