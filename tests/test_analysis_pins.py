"""Numbers the README and the tables quote, pinned against cases with known answers: the cutoff rule (pooled
g(r), fallback, config), the cutoff being the distance the count stops at, the two-sided Welch p-value, the
density profile of a uniform gas, the MSD of ballistic motion, and a cell without Li+."""

import math

import mdtraj as md
import numpy as np
import pytest
from scipy import stats

from analysis import rdf
from analysis.replica import analyse_replica
from analysis.stats import welch_difference
from analysis.summary import choose_cutoff, count_edge, pooled_curves

EDGES = np.round(np.arange(0.0, 1.2 + 0.0025, 0.005), 6)
CENTRES = 0.5 * (EDGES[1:] + EDGES[:-1])


def shell_curve():
    """A first peak at 0.30 nm, a deep first minimum near 0.50 nm, then the bulk value 1."""
    r = CENTRES
    return 1.0 + 2.0 * np.exp(-(((r - 0.30) / 0.04) ** 2)) - 0.9 * np.exp(-(((r - 0.50) / 0.05) ** 2)) - (r < 0.22) * 1.0


def test_choose_cutoff_gives_the_edge_after_the_first_minimum_or_the_fallback_or_the_config():
    g = np.clip(shell_curve(), 0, None)
    curves = {"r_edges_nm": EDGES, "r_nm": CENTRES, "g": g}
    shell, rc, source = choose_cutoff(curves)
    assert source == "first minimum of g(r)"
    assert shell["minimum_nm"] == pytest.approx(0.5025, abs=0.011)  # the curve's minimum, as a bin centre
    assert rc == pytest.approx(shell["minimum_nm"] + 0.0025) and np.isclose(EDGES, rc).any()  # that bin's upper edge
    mono = {"r_edges_nm": EDGES, "r_nm": CENTRES, "g": 1.0 - np.exp(-CENTRES / 0.1)}  # no shell at all
    assert choose_cutoff(mono, fallback_cutoff_nm=0.8)[1:] == (pytest.approx(0.8), "fallback (no first minimum found)")
    assert choose_cutoff(mono, fallback_cutoff_nm=0.8013)[1] == pytest.approx(0.8)  # snapped to the counting edge
    assert choose_cutoff(curves, fixed_cutoff_nm=0.4012)[1:] == (pytest.approx(0.4), "config")


def _result(frame_counts, n_production_from=0):
    return {
        "r_edges_nm": EDGES, "frame_counts_top_N": np.asarray(frame_counts), "first_production_frame": n_production_from,
        "n_ref_top": 4, "n_b_N": 10, "z_ref_atoms_top": np.zeros(4), "region_nm": np.array([0.0, 3.0]), "area_nm2": 8.0,
        "cell_volume_nm3": 48.0,
    }  # fmt: skip


def test_pooled_curves_weigh_replicas_by_their_production_frames():
    """Pooled g(r) over replicas is the g(r) of all production frames together: two replicas with the same
    per-frame counts pool to that curve (whatever their lengths); frames before the production cut do not count."""
    per_frame = np.round(40 * np.clip(shell_curve(), 0, None) * CENTRES**2).astype(int)
    one = _result(np.repeat(per_frame[None], 2, axis=0))
    two = _result(np.vstack([np.zeros((5, len(per_frame)), int), np.repeat(per_frame[None], 3, axis=0)]), n_production_from=5)
    pooled = pooled_curves([one, two], "N")
    alone = pooled_curves([one], "N")
    np.testing.assert_allclose(pooled["g"], alone["g"], rtol=1e-12)
    assert choose_cutoff(pooled)[1] == choose_cutoff(alone)[1]
    # running n(r) is the mean count per reference atom per frame: per_frame summed up to r, over 4 atoms
    np.testing.assert_allclose(pooled["running_cn"], np.cumsum(per_frame) / 4.0)


def test_the_reported_cutoff_is_the_distance_the_count_stops_at():
    """Brute force: for the cutoff choose_cutoff reports, the count is the mean number of B within that distance."""
    rng = np.random.default_rng(3)
    box = np.array([2.822, 2.822, 6.0])
    n_frames, n_a, n_b = 4, 16, 60
    xyz = np.concatenate([np.c_[rng.uniform(0, 2.822, (n_frames, n_a, 2)), np.zeros((n_frames, n_a, 1))],
                          np.c_[rng.uniform(0, 2.822, (n_frames, n_b, 2)), rng.uniform(0.1, 1.5, (n_frames, n_b, 1))]], axis=1)  # fmt: skip
    d = [rdf.minimum_image_distances(f[:n_a], f[n_a:], box) for f in xyz]
    running = rdf.running_coordination(rdf.frame_histograms(d, EDGES).sum(0), n_frames, n_a)
    for wanted in (0.4525, 0.4012, 0.8):  # a bin centre (where first_shell reports minima), an odd value, an edge
        rc = count_edge(EDGES, wanted)
        direct = np.mean([(f < rc).sum() / n_a for f in d])
        assert rdf.coordination_at(EDGES, running, rc) == pytest.approx(direct, rel=1e-12)
    # the old report, a bin centre, was half a bin from where the count stopped: not the same number
    assert rdf.coordination_at(EDGES, running, 0.4525) != pytest.approx(np.mean([(f < 0.4525).sum() / n_a for f in d]), rel=1e-9)


def test_welch_p_value_is_two_sided():
    a, b = np.array([1.0, 2.0, 3.0]), np.array([2.0, 4.0, 6.0, 8.0])
    d = welch_difference(a, b)
    ref = stats.ttest_ind(b, a, equal_var=False)  # scipy's Welch test, two-sided
    assert d["p_value"] == pytest.approx(ref.pvalue, rel=1e-12) and d["t"] == pytest.approx(ref.statistic, rel=1e-12)
    assert d["p_value"] == pytest.approx(0.0999, abs=5e-4)  # a halved (one-sided) p would be 0.050
    half = stats.t.ppf(0.975, d["df"]) * math.sqrt(a.var(ddof=1) / 3 + b.var(ddof=1) / 4)
    assert (d["low"], d["high"]) == (pytest.approx(3.0 - half), pytest.approx(3.0 + half))


@pytest.fixture(scope="module")
def cell(tmp_path_factory):
    """A Li slab and 30 TFSI- (no Li+), as a PDB; the N atom of each anion is its reference point."""
    from systems.molecules import build_tfsi
    from systems.slab import build_li_bcc100_slab
    from systems.structure import combine

    d = tmp_path_factory.mktemp("cell")
    ions = [build_tfsi().translated([0.4 + 0.45 * (k % 6), 0.4 + 0.45 * (k // 6), 1.0]) for k in range(30)]
    s = combine([build_li_bcc100_slab()] + ions, box=np.array([2.822, 2.822, 8.0]))
    s.write_pdb(d / "cell.pdb")
    return d / "cell.pdb", s


def _write(pdb, xyz, path):
    ref = md.load(str(pdb))
    n = len(xyz)
    md.Trajectory(
        xyz.astype(np.float32), ref.topology, time=np.arange(n, dtype=float),
        unitcell_lengths=np.repeat(ref.unitcell_lengths, n, axis=0), unitcell_angles=np.repeat(ref.unitcell_angles, n, axis=0),
    ).save_xtc(str(path))  # fmt: skip


def _anion_atoms(s):
    return [np.array([i for i in range(s.n_atoms) if s.resids[i] == r]) for r in sorted({s.resids[i] for i in range(s.n_atoms) if s.resnames[i] == "TFS"})]


def test_a_uniform_gas_gives_a_flat_density_profile_at_its_density_and_a_cell_without_li_ions_is_analysed(cell, tmp_path):
    pdb, s = cell
    z_s = float(s.positions[:128, 2].max())
    rng = np.random.default_rng(11)
    n_frames = 400
    xyz = np.repeat(s.positions[None], n_frames, axis=0)
    n_of = [next(i for i in atoms if s.elements[i] == "N") for atoms in _anion_atoms(s)]
    for atoms, n_idx in zip(_anion_atoms(s), n_of):  # move each anion so its N is uniform in [z_s + 0.5, z_s + 2.5]
        target = np.c_[rng.uniform(0, 2.822, (n_frames, 2)), rng.uniform(z_s + 0.5, z_s + 2.5, n_frames)]
        xyz[:, atoms] += (target - s.positions[n_idx])[:, None, :]
    _write(pdb, xyz, tmp_path / "t.xtc")
    res = analyse_replica(tmp_path / "t.xtc", pdb, {"z_surface_nm": z_s, "region_nm": [z_s, z_s + 3.0]}, equilibration_fraction=0.0)
    h = 0.5 * (res["height_edges_nm"][1:] + res["height_edges_nm"][:-1])
    rho = res["density_tfsi"]
    inside = (h > 0.55) & (h < 2.45)
    expected = 30 / (2.822**2 * 2.0)  # anions per nm^3 in the 2 nm band
    assert rho[inside].mean() == pytest.approx(expected, rel=0.02)
    assert np.abs(rho[inside] / expected - 1).max() < 0.35  # each 0.05 nm bin holds ~300 samples
    assert rho[(h < 0.45) | (h > 2.55)].max() == 0.0
    assert res["density_li_ion"].sum() == 0.0  # no Li+ in this cell: analysed, an empty profile


def test_ballistic_anions_give_msd_v2_t2(cell, tmp_path):
    pdb, s = cell
    n_frames = 50
    v = np.array([0.01, -0.02, 0.005])  # nm per frame (1 ps)
    t = np.arange(n_frames, dtype=float)
    xyz = np.repeat(s.positions[None], n_frames, axis=0)
    moving = np.concatenate(_anion_atoms(s))
    xyz[:, moving] += (t[:, None] * v)[:, None, :]
    _write(pdb, xyz, tmp_path / "b.xtc")
    z_s = float(s.positions[:128, 2].max())
    res = analyse_replica(tmp_path / "b.xtc", pdb, {"z_surface_nm": z_s, "region_nm": [z_s, z_s + 3.0]})
    np.testing.assert_allclose(res["msd_tfsi_nm2"][1:], (v @ v) * t[1:] ** 2, rtol=0.02, atol=2e-6)  # XTC keeps 0.001 nm
    np.testing.assert_allclose(res["msd_tfsi_z_nm2"][1:], v[2] ** 2 * t[1:] ** 2, rtol=0.05, atol=2e-6)


def test_the_height_profile_of_a_uniform_gas_is_its_density_over_the_region_mean_and_an_escaped_ion_is_no_first_peak(cell, tmp_path):
    """Anion N uniform in a 2 nm band of a 3 nm region: g(h) = 3/2 in the band, 0 outside; n(h) at the band's top is
    30 anions per 64 top-layer atoms. One anion dropped 1 nm below the slab in every frame is not the first peak
    (the profile has none below the top plane), and beyond the height edges it is not counted at all."""
    from analysis.compare import cutoff_for

    pdb, s = cell
    z_s = float(s.positions[:128, 2].max())
    rng = np.random.default_rng(3)
    n_frames = 400
    xyz = np.repeat(s.positions[None], n_frames, axis=0)
    atoms_of = _anion_atoms(s)
    for k, atoms in enumerate(atoms_of):
        n_idx = next(i for i in atoms if s.elements[i] == "N")
        lo, hi = (z_s - 1.5, z_s - 1.5) if k == 0 else (z_s + 0.5, z_s + 2.5)  # anion 0: far below the slab
        target = np.c_[rng.uniform(0, 2.822, (n_frames, 2)), rng.uniform(lo, hi, n_frames)]
        xyz[:, atoms] += (target - s.positions[n_idx])[:, None, :]
    _write(pdb, xyz, tmp_path / "h.xtc")
    res = analyse_replica(tmp_path / "h.xtc", pdb, {"z_surface_nm": z_s, "region_nm": [z_s, z_s + 3.0]}, equilibration_fraction=0.0)
    curves = pooled_curves([res], "N", reference="height")
    h, g = curves["r_nm"], curves["g"]
    inside = (h > 0.55) & (h < 2.45)
    assert np.nanmean(g[inside]) == pytest.approx(1.5 * 29 / 30, rel=0.03)  # 29 anions in the band, 30 counted in n_b
    assert np.nanmax(g[(h > 0) & (h < 0.45)]) == 0.0 and np.isnan(g[h < 0]).all()
    assert curves["running_cn"][np.argmin(np.abs(curves["r_edges_nm"][1:] - 2.6))] == pytest.approx(29 / 64)  # 1.5 nm down: not counted
    rc, source = cutoff_for([res], "height", "N", "first minimum, electrolyte-region g(r)", 0.8)
    assert rc > 0  # no peak below the plane; a flat band has no first minimum, so the fallback
    assert source.startswith("fallback") and rc == pytest.approx(0.8)
    assert res["penetration_tfsi_ions_below_slab"] == 1


def test_an_analysis_of_an_older_version_is_refused_with_the_rerun_to_do(tmp_path):
    from analysis.replica import load_result

    np.savez(tmp_path / "old.npz", r_edges_nm=EDGES)  # as version 1 wrote it: no analysis_version
    with pytest.raises(ValueError, match=r"version 1 of the analysis.*-R compute_rdf"):
        load_result(tmp_path / "old.npz")
