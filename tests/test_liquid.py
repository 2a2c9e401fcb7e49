"""Molecule counts of a liquid electrolyte from its molarity, volume ratio and measured density (systems/liquid.py)."""

import pytest

from systems.liquid import composition_of, molecule_counts

# experimental pure-solvent densities near 298 K (shared/reference/electrolyte-and-electrode.md: DME 0.868, DOL 1.06)
RHO = {"DME": 0.868, "DOL": 1.06}


def test_the_counts_hold_the_molarity_ratio_and_additive_they_were_made_for():
    counts = molecule_counts(100, 1.0, {"DOL": 1, "DME": 1}, RHO, 1.15, {"LiNO3": 0.02})
    assert counts["LiTFSI"] == 100 and counts["volume_nm3"] == pytest.approx(166.05, abs=0.01)  # 100 / (1 mol/L N_A)
    back = composition_of(counts, RHO, 1.15)
    assert back["molarity_mol_l"] == pytest.approx(1.0, rel=0.01)  # to the rounding of whole molecules
    assert back["volume_share"] == pytest.approx({"DOL": 0.5, "DME": 0.5}, abs=0.005)
    assert back["mass_fraction"]["LiNO3"] == pytest.approx(0.02, rel=0.05)
    # by hand: 1.15 g/cm3 x 166.05 nm3 = 1.9096e-19 g; LiNO3 2 % of it = 33.4 pairs; LiTFSI 4.767e-20 g; the
    # solvents' 1.3951e-19 g split 1.06 : 0.868 by mass for 1:1 by volume: DOL 7.670e-20 g = 623.5, DME 419.7
    assert (counts["LiNO3"], counts["DOL"], counts["DME"]) == (33, 624, 420)
    # the reference's rough composition (6.2 mol DOL and 4.1 mol DME per litre): 620 and 410 per 100 LiTFSI
    atoms = 16 * counts["LiTFSI"] + 5 * counts["LiNO3"] + 11 * counts["DOL"] + 16 * counts["DME"]
    assert 11000 < atoms < 16000


def test_a_denser_solution_holds_more_solvent_per_salt_and_bad_input_is_refused():
    light, dense = (molecule_counts(100, 1.0, {"DOL": 1, "DME": 1}, RHO, rho) for rho in (1.0, 1.2))
    assert dense["DOL"] > light["DOL"] and dense["DME"] > light["DME"]
    with pytest.raises(ValueError, match="density"):
        molecule_counts(100, 1.0, {"DOL": 1, "TOL": 1}, RHO, 1.1)
    with pytest.raises(ValueError, match="outweigh"):
        molecule_counts(100, 10.0, {"DOL": 1}, RHO, 1.1)  # 10 M of LiTFSI weighs 2.9 g per cm3 of solution
    with pytest.raises(ValueError, match="mass fractions"):
        molecule_counts(100, 1.0, {"DOL": 1}, RHO, 1.1, {"LiNO3": 1.2})
