"""Statistics on synthetic data of known properties: block averaging, Welch's difference test, drift test."""

import math

import numpy as np
import pytest

from analysis.stats import block_average, drift_test, welch_difference


def ar1(n, phi, rng):
    """AR(1) series x_t = phi x_{t-1} + e_t, e ~ N(0, 1), started from its stationary distribution."""
    e = rng.normal(size=n)
    x = np.empty(n)
    x[0] = e[0] / math.sqrt(1 - phi**2)
    for t in range(1, n):
        x[t] = phi * x[t - 1] + e[t]
    return x


def ar1_standard_error(n, phi):
    """Exact standard error of the mean of n values of a stationary AR(1) with unit innovations."""
    var = 1.0 / (1 - phi**2)
    k = np.arange(1, n)
    return math.sqrt(var / n * (1 + 2 * np.sum((1 - k / n) * phi**k)))


@pytest.mark.parametrize("phi", [0.0, 0.5, 0.9])
def test_block_averaging_recovers_the_standard_error_of_an_ar1_series(phi):
    n = 2**14
    true = ar1_standard_error(n, phi)
    ratios = []
    for seed in range(10):
        b = block_average(ar1(n, phi, np.random.default_rng(seed)))
        ratios.append(b["se"] / true)
        assert b["plateau"]
    ratios = np.array(ratios)
    assert np.all(np.abs(ratios - 1) < 0.2), ratios
    if phi == 0.9:  # the correlated series needs long blocks and is far from the naive estimate
        b = block_average(ar1(n, phi, np.random.default_rng(0)))
        assert b["block_length"] >= 16
        assert b["statistical_inefficiency"] > 10  # exact value (1 + phi) / (1 - phi) = 19


def test_block_averaging_reports_no_plateau_when_the_series_is_too_short():
    x = ar1(256, 0.995, np.random.default_rng(3))  # correlation time ~ 400 frames > series length
    b = block_average(x)
    assert not b["plateau"]
    assert b["se"] == max(lv[2] for lv in b["levels"])


def test_welch_finds_no_difference_between_samples_of_one_distribution():
    """Three replicas per group, 100 seeded trials: at least 90 give p >= 0.05 and an interval containing 0."""
    no_diff = 0
    for seed in range(100):
        rng = np.random.default_rng(seed)
        a, b = rng.normal(0.2, 0.05, 3), rng.normal(0.2, 0.05, 3)
        d = welch_difference(a, b)
        if d["p_value"] >= 0.05 and d["low"] <= 0 <= d["high"]:
            no_diff += 1
    assert no_diff >= 90


def test_welch_finds_a_known_shift():
    found, covered = 0, 0
    for seed in range(100):
        rng = np.random.default_rng(1000 + seed)
        a, b = rng.normal(0.13, 0.03, 3), rng.normal(0.43, 0.03, 3)  # shift 0.30 = 10 sd
        d = welch_difference(a, b)
        found += d["p_value"] < 0.05 and d["low"] > 0
        covered += d["low"] <= 0.30 <= d["high"]
    assert found >= 90
    assert covered >= 88  # a 95 % interval


def test_welch_matches_the_textbook_formula():
    a, b = np.array([1.0, 2.0, 3.0]), np.array([2.0, 4.0, 6.0, 8.0])
    d = welch_difference(a, b)
    va, vb = 1.0 / 3, 20.0 / 3 / 4  # sample variances over n
    assert d["difference"] == pytest.approx(3.0)
    assert d["t"] == pytest.approx(3.0 / math.sqrt(va + vb))
    assert d["df"] == pytest.approx((va + vb) ** 2 / (va**2 / 2 + vb**2 / 3))


def test_welch_with_one_replica_gives_no_interval():
    d = welch_difference([0.1], [0.2, 0.3])
    assert d["difference"] == pytest.approx(0.15) and math.isnan(d["p_value"]) and math.isnan(d["low"])


def test_drift_test_tells_a_trend_from_a_stationary_series():
    rng = np.random.default_rng(5)
    stationary = [drift_test(ar1(2000, 0.8, np.random.default_rng(s)))["p_value"] for s in range(20)]
    assert sum(p >= 0.05 for p in stationary) >= 16
    trend = ar1(2000, 0.8, rng) + np.linspace(0, 3, 2000)
    assert drift_test(trend)["p_value"] < 1e-3



def test_replica_agreement_accepts_replicas_of_one_mean_and_rejects_shifted_ones():
    """Synthetic replicas with known errors: at the 5 % level, agreeing ones are rejected about 5 % of the time,
    replicas shifted by ten errors nearly always."""
    from analysis.stats import replica_agreement

    rng = np.random.default_rng(5)
    se = np.array([0.02, 0.03, 0.025, 0.02])
    agree = [replica_agreement(0.5 + rng.normal(0, se), se)["p_value"] for _ in range(2000)]
    assert np.mean(np.array(agree) < 0.05) == pytest.approx(0.05, abs=0.015)
    shifted = [replica_agreement(0.5 + rng.normal(0, se) + np.array([0, 0.25, -0.2, 0.3]), se) for _ in range(200)]
    assert np.mean([r["p_value"] < 0.05 for r in shifted]) > 0.99
    assert all(r["verdict"].startswith("replicas disagree") for r in shifted if r["p_value"] < 0.05)


def test_replica_agreement_matches_cochrans_q_by_hand_and_needs_two_errors():
    from scipy import stats as st

    from analysis.stats import replica_agreement

    r = replica_agreement([1.0, 2.0, 4.0], [0.5, 1.0, 1.0])
    # w = 4, 1, 1; M = (4 + 2 + 4) / 6 = 5/3; Q = 4 (2/3)^2 + (1/3)^2 + (7/3)^2 = 66/9
    assert r["weighted_mean"] == pytest.approx(5 / 3) and r["q"] == pytest.approx(66 / 9)
    assert r["p_value"] == pytest.approx(st.chi2.sf(66 / 9, 2)) and r["dof"] == 2
    assert r["i2"] == pytest.approx((66 / 9 - 2) / (66 / 9))
    assert r["variance_ratio"] == pytest.approx(np.var([1, 2, 4], ddof=1) / np.mean([0.25, 1, 1]))
    one = replica_agreement([0.4, 0.6], [0.1, 0.0])  # a zero error (a series that never changed) cannot weigh
    assert math.isnan(one["p_value"]) and one["verdict"].startswith("untested")


def _runs(cns, se=0.02, plateau=True):
    ses = se if isinstance(se, list) else [se] * len(cns)
    return [{"cn": c, "block_se": e, "block_plateau": plateau} for c, e in zip(cns, ses)]


def _start_config(**extra_systems):
    systems = {
        "near": {"coating": None, "electrolyte": {"start": "anions_near"}},
        "far": {"coating": None, "electrolyte": {"start": "anions_far"}},
        "rand": {"coating": None},
        "near_annealed": {"coating": None, "electrolyte": {"start": "anions_near"}, "md": {"protocol": "annealed"}},
        "far_annealed": {"coating": None, "electrolyte": {"start": "anions_far"}, "md": {"protocol": "annealed"}},
        "mof_near": {"coating": "nh2_mil101_fe", "electrolyte": {"start": "anions_near"}},
        **extra_systems,
    }
    return {"systems": systems, "electrolyte": {"n_pairs": 100}, "slab": {"cells": 8}, "md": {"length_ps": 50.0, "temperature_k": 298.0}}


def _tested(runs_by_system, config):
    from analysis.independence import start_groups, start_independence

    groups = start_groups(list(runs_by_system), config)
    return start_independence([{**g, "runs": {st: [r for s in names for r in runs_by_system[s]] for st, names in g["systems"].items()}} for g in groups])


def test_start_independence_groups_systems_that_differ_only_in_their_start_and_tests_near_against_far():
    from analysis.independence import markdown

    runs = {
        "near": _runs([0.90, 0.86], se=[0.03, 0.01]),  # the paper's protocol: the start is remembered
        "far": _runs([0.40, 0.44]),
        "rand": _runs([0.60]),
        "near_annealed": _runs([0.61, 0.58]),  # annealed: near and far agree within their errors
        "far_annealed": _runs([0.60, 0.62]),
        "mof_near": _runs([0.7]),  # another coating, one start: no row
    }
    rows = {r["label"]: r for r in _tested(runs, _start_config())}
    assert set(rows) == {"bare Li, paper protocol", "bare Li, annealed protocol"}
    paper, annealed = rows["bare Li, paper protocol"], rows["bare Li, annealed protocol"]
    assert paper["systems"] == {"anions_near": ["near"], "anions_far": ["far"], "random": ["rand"]}
    assert paper["starts"]["anions_near"]["cn"] == pytest.approx(0.88)
    # the SE of a mean of runs with unequal block errors: sqrt(sum se^2) / n, not mean(se) / sqrt(n)
    assert paper["starts"]["anions_near"]["se"] == pytest.approx(math.sqrt(0.03**2 + 0.01**2) / 2)
    t = paper["near_minus_far"]
    se = math.hypot(math.sqrt(0.03**2 + 0.01**2) / 2, math.sqrt(2 * 0.02**2) / 2)
    assert t["difference"] == pytest.approx(0.46) and t["se"] == pytest.approx(se)
    assert t["z"] == pytest.approx(0.46 / se) and t["p_value"] < 1e-6 and "remembers the start" in paper["verdict"]
    assert paper["all_runs"]["k"] == 5 and paper["all_runs"]["p_value"] < 1e-6
    t = annealed["near_minus_far"]
    assert t["difference"] == pytest.approx(-0.015) and t["z"] == pytest.approx(-0.75)  # se = 0.02 as above
    assert t["p_value"] == pytest.approx(0.4533, abs=1e-4) and annealed["verdict"] == "near and far starts agree within their errors"
    assert "random" not in annealed["starts"] and annealed["all_block_errors_plateaued"]
    text = "\n".join(markdown(list(rows.values())))
    assert "## Does the answer remember where the ions started?" in text and "not run" in text  # annealed has no random start
    assert "| bare Li, paper protocol | near, rand, far |" in text  # the systems of each row
    assert markdown([]) == []


def test_start_independence_keeps_apart_systems_that_differ_in_more_than_their_start_and_flags_lower_bound_errors():
    cfg = _start_config(
        far_uff={"coating": None, "electrolyte": {"start": "anions_far", "ion_lennard_jones": "uff"}},
        far_hotter={"coating": None, "electrolyte": {"start": "anions_far"}, "md": {"protocol": "annealed", "anneal": {"temperature_k": 800.0}}},
    )
    runs = {"near": _runs([0.5], plateau=False), "far_uff": _runs([0.5]), "near_annealed": _runs([0.5]), "far_hotter": _runs([0.5])}
    assert _tested(runs, cfg) == []  # another ion force field or another anneal is another system, not another start
    runs["rand"] = _runs([0.5], plateau=False)
    (row,) = _tested(runs, cfg)
    assert set(row["starts"]) == {"anions_near", "random"} and not row["all_block_errors_plateaued"]
    assert math.isnan(row["near_minus_far"]["p_value"]) and row["verdict"].startswith("untested")


def test_start_independence_groups_systems_whose_settings_mean_the_same():
    """An explicit default, a written-out default anneal and a stage list equal to the paper's are not other systems."""
    cfg = _start_config(
        far_clandp={"coating": None, "electrolyte": {"start": "anions_far", "ion_lennard_jones": "clandp"}},
        far_600={"coating": None, "electrolyte": {"start": "anions_far"}, "md": {"protocol": "annealed", "anneal": {"temperature_k": 600.0}}},
        far_list={"coating": None, "electrolyte": {"start": "anions_far"}, "md": {"protocol": [{"name": "production", "length_ps": 50.0, "temperature_k": 298.0}]}},
    )
    for far in ("far_clandp", "far_list"):
        (row,) = _tested({"near": _runs([0.5]), far: _runs([0.5])}, cfg)
        assert row["systems"] == {"anions_near": ["near"], "anions_far": [far]}
    (row,) = _tested({"near_annealed": _runs([0.5]), "far_600": _runs([0.5])}, cfg)
    assert row["label"] == "bare Li, annealed protocol"


def test_each_coated_system_is_set_against_the_bare_system_that_differs_from_it_only_in_the_coating():
    from analysis.compare import bare_partners

    cfg = _start_config(
        mof_far={"coating": "nh2_mil101_fe", "electrolyte": {"start": "anions_far"}},
        mof_far_annealed={"coating": "nh2_mil101_fe", "electrolyte": {"start": "anions_far"}, "md": {"protocol": "annealed"}},
        mof_uff={"coating": "nh2_mil101_fe", "electrolyte": {"ion_lennard_jones": "uff"}},
        mof_copc_random={"coating": "nh2_mil101_fe_copc"},
    )
    coatings = {name: s["coating"] for name, s in cfg["systems"].items()}
    partners = bare_partners(coatings, cfg)
    assert partners == {
        "mof_near": "near", "mof_far": "far", "mof_far_annealed": "far_annealed", "mof_copc_random": "rand",
        "mof_uff": "near",  # no bare system with UFF ions: the first bare system, as before
    }  # fmt: skip
    assert set(bare_partners(coatings).values()) == {"near"}  # without the config: the first bare system
    # an electrode at a potential is set only against a bare electrode at that potential, never the neutral slab
    cp = {"mode": "constant_potential", "gaussian_width_nm": 0.0505, "thomas_fermi_scale_per_nm": 0.17, "method": "matrix"}
    cfg["systems"].update(
        bare_p1V={"coating": None, "electrode": dict(cp, potential_v=1.0)},
        mof_p1V_uff={"coating": "nh2_mil101_fe", "electrolyte": {"ion_lennard_jones": "uff"}, "electrode": dict(cp, potential_v=1.0)},
        mof_m1V={"coating": "nh2_mil101_fe", "electrode": dict(cp, potential_v=-1.0)},
    )
    coatings = {name: s["coating"] for name, s in cfg["systems"].items()}
    partners = bare_partners(coatings, cfg)
    assert partners["mof_p1V_uff"] == "bare_p1V" and partners["mof_m1V"] is None and partners["mof_uff"] == "near"
