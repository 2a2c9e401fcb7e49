"""A liquid electrolyte as data: how many molecules of each kind a cell of a given salt molarity holds.

The paper's cells run on 1.0 M LiTFSI in DOL/DME 1:1 v/v with 2 % LiNO3. Molarity is per litre of solution, so the
number of solvent molecules per salt pair depends on the solution's density, which is a property of the force field
and is measured by a bulk NPT run, not guessed from a salt volume. Given that density:

- the solution volume is V = n_pairs / (c N_A);
- its mass is rho V, of which an additive given as a mass fraction w (LiNO3) takes w rho V;
- the solvents take the rest, split by the volume ratio of the pure solvents before mixing (what "1:1 v/v" means in
  the laboratory): solvent i gets the mass share phi_i rho_i / sum_j phi_j rho_j, with rho_i the real pure solvent's
  (experimental) density, since the recipe was mixed from real solvents.

The solution density is circular: the counts need it, and an NPT run of those counts measures it. Counts made from a
first guess, run, and made again from the measured density converge in a step or two (the density moves the counts
little); the force field's density error then sits in the salt-to-solvent ratio, which the experimental solution
density would avoid where it is known.

Counts are rounded to whole molecules; :func:`composition_of` gives back the molarity, volume ratio and mass fraction
that the rounded counts actually hold.
"""

from __future__ import annotations

from systems.electrolyte import AVOGADRO
from systems.molecules import DME_MOLAR_MASS, DOL_MOLAR_MASS, LINO3_MOLAR_MASS, LITFSI_MOLAR_MASS

MOLAR_MASS = {"DME": DME_MOLAR_MASS, "DOL": DOL_MOLAR_MASS, "LiNO3": LINO3_MOLAR_MASS, "LiTFSI": LITFSI_MOLAR_MASS}
NM3_PER_LITRE = 1e24


def molecule_counts(n_pairs: int, molarity_mol_l: float, solvent_volume_ratio: dict, solvent_density_g_cm3: dict,
                    solution_density_g_cm3: float, additive_mass_fraction: dict | None = None) -> dict:  # fmt: skip
    """Whole numbers of each molecule for ``n_pairs`` LiTFSI at ``molarity_mol_l``.

    Parameters
    ----------
    n_pairs : int
        LiTFSI ion pairs.
    molarity_mol_l : float
        LiTFSI per litre of solution (mol/L).
    solvent_volume_ratio : dict
        Solvent name (``DME``, ``DOL``) -> its share of the pure solvents' volume (any positive numbers, e.g. 1 and 1).
    solvent_density_g_cm3 : dict
        Solvent name -> density of the real pure solvent (g/cm^3), for the volume ratio.
    solution_density_g_cm3 : float
        Density of the whole solution (g/cm^3), from a bulk NPT run.
    additive_mass_fraction : dict, optional
        Additive salt (``LiNO3``) -> its mass fraction of the solution (0.02 for 2 %).

    Returns
    -------
    dict
        Name -> count: ``LiTFSI`` (pairs), each additive (pairs) and each solvent (molecules), and ``volume_nm3``, the
        solution volume the counts were made for.
    """
    if n_pairs < 1 or not molarity_mol_l > 0 or not solution_density_g_cm3 > 0:
        raise ValueError(f"need n_pairs >= 1, a positive molarity and density (got {n_pairs}, {molarity_mol_l}, {solution_density_g_cm3})")
    unknown = sorted(set(solvent_volume_ratio) - set(solvent_density_g_cm3))
    if unknown or not solvent_volume_ratio or any(not v > 0 for v in solvent_volume_ratio.values()):
        raise ValueError(f"every solvent needs a positive volume share and a density (missing density: {unknown})")
    additives = dict(additive_mass_fraction or {})
    if sum(additives.values()) >= 1.0 or any(w < 0 for w in additives.values()):
        raise ValueError(f"additive mass fractions {additives} must be non-negative and sum below 1")
    volume_l = n_pairs / (molarity_mol_l * AVOGADRO)
    mass_g = solution_density_g_cm3 * volume_l * 1000.0
    counts = {"LiTFSI": int(n_pairs)}
    solvent_mass_g = mass_g - n_pairs * LITFSI_MOLAR_MASS / AVOGADRO
    for name, w in additives.items():
        counts[name] = int(round(w * mass_g / MOLAR_MASS[name] * AVOGADRO))
        solvent_mass_g -= counts[name] * MOLAR_MASS[name] / AVOGADRO
    if solvent_mass_g <= 0:
        raise ValueError(f"at {solution_density_g_cm3} g/cm3 the salts alone outweigh {molarity_mol_l} mol/L of solution")
    weights = {s: solvent_volume_ratio[s] * solvent_density_g_cm3[s] for s in solvent_volume_ratio}
    for name, weight in weights.items():
        counts[name] = int(round(solvent_mass_g * weight / sum(weights.values()) / MOLAR_MASS[name] * AVOGADRO))
    counts["volume_nm3"] = volume_l * NM3_PER_LITRE
    return counts


def composition_of(counts: dict, solvent_density_g_cm3: dict, solution_density_g_cm3: float) -> dict:
    """What whole-number ``counts`` (as :func:`molecule_counts` returns) hold at ``solution_density_g_cm3``:
    ``molarity_mol_l``, each solvent's ``volume_share`` (of the pure solvents' volume) and each additive's
    ``mass_fraction``."""
    names = [n for n in counts if n != "volume_nm3"]
    mass_g = sum(counts[n] * MOLAR_MASS[n] for n in names) / AVOGADRO
    volume_l = mass_g / solution_density_g_cm3 / 1000.0
    solvents = {n: counts[n] * MOLAR_MASS[n] / AVOGADRO / solvent_density_g_cm3[n] for n in names if n in solvent_density_g_cm3}
    return {
        "molarity_mol_l": counts["LiTFSI"] / AVOGADRO / volume_l,
        "volume_share": {n: v / sum(solvents.values()) for n, v in solvents.items()},
        "mass_fraction": {n: counts[n] * MOLAR_MASS[n] / AVOGADRO / mass_g for n in names if n not in solvents and n != "LiTFSI"},
    }
