"""UFF van der Waals parameters (Rappe et al., J. Am. Chem. Soc. 114 (1992) 10024).

UFF gives a well depth D (kcal/mol) and a minimum-energy distance x (A) per element; in OpenMM's
4 eps [(sigma/r)^12 - (sigma/r)^6] form, sigma = x / 2^(1/6) and eps = 4.184 D. UFF mixes geometrically.
Values as tabulated in ``shared/reference/forcefield-parameters.md``.
"""

from __future__ import annotations

#: element -> (x in A, D in kcal/mol)
UFF_X_D = {
    "Li": (2.451, 0.025),
    "Fe": (2.912, 0.013),
    "Co": (2.872, 0.014),
    "O": (3.500, 0.060),
    "C": (3.851, 0.105),
    "N": (3.660, 0.069),
    "H": (2.886, 0.044),
    "S": (4.035, 0.274),
    "F": (3.364, 0.050),
}


def uff_sigma_nm(element: str) -> float:
    """Lennard-Jones sigma (nm) of ``element`` in UFF."""
    try:
        x, _ = UFF_X_D[element]
    except KeyError:
        raise ValueError(f"no UFF Lennard-Jones parameters for element {element!r}") from None
    return x / 2 ** (1 / 6) / 10.0


def uff_epsilon_kj(element: str) -> float:
    """Lennard-Jones epsilon (kJ/mol) of ``element`` in UFF."""
    try:
        _, d = UFF_X_D[element]
    except KeyError:
        raise ValueError(f"no UFF Lennard-Jones parameters for element {element!r}") from None
    return 4.184 * d
