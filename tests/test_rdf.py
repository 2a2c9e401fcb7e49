"""Analysis against known answers: an ideal gas above a slab, and the first shell of a bcc lattice."""

import numpy as np
import pytest

from analysis import rdf
from analysis.stats import mean_ci_t


def _ideal_gas_above_plane(rng, n_frames=200, n_gas=400, box=(3.0, 3.0, 10.0), z_plane=1.0, region=(1.0, 4.0)):
    a_xy = rng.uniform(0, box[0], size=(50, 2))
    a = np.column_stack([a_xy, np.full(50, z_plane)])
    xyz = np.empty((n_frames, 50 + n_gas, 3))
    for f in range(n_frames):
        g = np.column_stack(
            [rng.uniform(0, box[0], n_gas), rng.uniform(0, box[1], n_gas), rng.uniform(region[0], region[1], n_gas)]
        )
        xyz[f] = np.vstack([a, g])
    return xyz, np.tile(box, (n_frames, 1)), np.arange(50), np.arange(50, 50 + n_gas)


def test_ideal_gas_above_slab_gives_g_of_one_and_the_analytic_count():
    rng = np.random.default_rng(1)
    box, region = (3.0, 3.0, 10.0), (1.0, 4.0)
    xyz, boxes, a, b = _ideal_gas_above_plane(rng)
    edges = np.arange(0, 1.2001, 0.02)
    counts, n = rdf.histogram_distances(rdf.distances_over_frames(xyz, boxes, a, b), edges)
    volume = box[0] * box[1] * (region[1] - region[0])
    g = rdf.rdf_from_counts(counts, n, edges, len(b), volume, "region", z_a=xyz[0, a, 2], region=region)
    assert np.nanmean(g[10:]) == pytest.approx(1.0, abs=0.02)
    assert np.all(np.abs(g[10:] - 1) < 0.15)
    # the whole-cell normalisation would count the vacuum and the metal: half the shell is below the plane
    g_cell = rdf.rdf_from_counts(counts, n, edges, len(b), box[0] * box[1] * box[2], "cell", z_a=xyz[0, a, 2])
    assert np.nanmean(g_cell[10:]) == pytest.approx(0.5 * 10 / 3, rel=0.05)
    # direct count within r_c: rho * (volume of the half ball), r_c below the region height
    rc = 0.8
    run = rdf.running_coordination(counts, n, len(a))
    expected = len(b) / volume * (2.0 / 3.0) * np.pi * rc**3
    assert rdf.coordination_at(edges, run, rc) == pytest.approx(expected, rel=0.03)


def test_zone_overlap_is_hat_box_length():
    assert rdf.zone_overlap(np.array([0.5]), 1.0, 1.0, 4.0)[0] == pytest.approx(0.5)
    assert rdf.zone_overlap(np.array([0.5]), 2.0, 1.0, 4.0)[0] == pytest.approx(1.0)
    assert rdf.zone_overlap(np.array([0.5]), 0.0, 1.0, 4.0)[0] == pytest.approx(0.0)


def _bcc(a=0.35, n=5, jitter=0.006, frames=20, seed=3):
    rng = np.random.default_rng(seed)
    base = np.array([[i, j, k] for i in range(n) for j in range(n) for k in range(n)], float) * a
    lattice = np.vstack([base, base + a / 2])
    xyz = np.stack([lattice + rng.normal(0, jitter, lattice.shape) for _ in range(frames)])
    return xyz, np.tile([n * a] * 3, (frames, 1))


def test_bcc_first_shell_coordination_is_eight():
    xyz, boxes = _bcc()
    idx = np.arange(xyz.shape[1])
    edges = np.arange(0, 0.8751, 0.0025)
    frames = (d[d > 0].reshape(len(idx), len(idx) - 1) for d in rdf.distances_over_frames(xyz, boxes, idx, idx))
    counts, n = rdf.histogram_distances(frames, edges)
    g = rdf.rdf_from_counts(counts, n, edges, len(idx) - 1, float(np.prod(boxes[0])), "cell", z_a=np.zeros(len(idx)))
    r = 0.5 * (edges[1:] + edges[:-1])
    shell = rdf.first_shell(r, g, smooth_nm=0.003)
    a = 0.35
    assert shell["peak_nm"] == pytest.approx(a * np.sqrt(3) / 2, abs=0.006)
    assert a * np.sqrt(3) / 2 < shell["minimum_nm"] < a
    cn = rdf.coordination_at(edges, rdf.running_coordination(counts, n, len(idx)), shell["minimum_nm"])
    assert cn == pytest.approx(8.0, abs=0.05)


def test_first_shell_survives_noise_and_reports_no_minimum_for_a_monotone_curve():
    r = np.linspace(0.0, 1.2, 241)
    g = np.exp(-((r - 0.5) ** 2) / 0.002) * 3 + np.where(r > 0.45, 1.0, 0.0) * (1 - np.exp(-(r - 0.45) / 0.1))
    g[r < 0.35] = 0
    noisy = g + np.random.default_rng(0).normal(0, 0.05, len(r)) * (g > 0)
    shell = rdf.first_shell(r, noisy)
    assert shell["peak_nm"] == pytest.approx(0.5, abs=0.02)
    assert 0.55 < shell["minimum_nm"] < 0.75
    assert shell["start_nm"] == pytest.approx(0.35, abs=0.01)
    assert rdf.first_shell(r, np.tanh(r))["minimum_nm"] is None
    # a 5 % dip on a rising curve is not the end of a first shell
    wiggle = np.clip(r - 0.35, 0, None) - 0.04 * np.exp(-((r - 1.0) ** 2) / 0.0005)
    assert rdf.first_shell(r, wiggle)["minimum_nm"] is None


def test_t_interval_known_value():
    st = mean_ci_t([1.0, 2.0, 3.0])
    assert st["mean"] == 2.0 and st["sd"] == pytest.approx(1.0)
    assert st["half_width"] == pytest.approx(4.302653 / np.sqrt(3), rel=1e-5)
    one = mean_ci_t([0.3])
    assert one["mean"] == 0.3 and np.isnan(one["half_width"])


@pytest.mark.parametrize("edges", [np.arange(0.0, 1.2001, 0.005), np.array([0.0, 0.1, 0.35, 0.4, 0.9, 1.2])])
def test_one_matrix_histograms_equal_the_pairwise_ones(edges):
    """pair_histograms (one distance matrix per frame over overlapping reference sets) = the pairwise histograms."""
    rng = np.random.default_rng(11)
    n_frames, box = 4, np.array([2.8, 2.8, 8.0])
    xyz = rng.uniform(0, 1, size=(n_frames, 200, 3)) * box
    boxes = np.tile(box, (n_frames, 1))
    top_idx, lower_idx, coat_idx = np.arange(0, 20), np.arange(20, 40), np.array([33, 5, 7, 39])
    refs = {"top": top_idx, "both": np.concatenate([top_idx, lower_idx]), "surface": np.concatenate([top_idx, coat_idx]), "coating": coat_idx}
    b_idx = np.arange(40, 200)  # 16 molecules of 10 atoms, contiguous
    mol = (b_idx - 40) // 10
    cols_n = np.arange(0, 160, 10)  # the first atom of each molecule
    sel = {"N": (cols_n, None), "any": (np.arange(160), np.arange(0, 160, 10)), "tail": (np.arange(150, 160), None)}
    pairs = [(r, t) for r in refs for t in ("N", "any")] + [("coating", "tail")]
    got = rdf.pair_histograms(xyz, boxes, refs, b_idx, sel, edges, pairs)
    assert set(got) == set(pairs)
    for ref, a in refs.items():
        want_n = rdf.frame_histograms(rdf.distances_over_frames(xyz, boxes, a, b_idx[cols_n]), edges)
        want_any = rdf.frame_histograms(rdf.distances_over_frames(xyz, boxes, a, b_idx, mol), edges)
        np.testing.assert_array_equal(got[(ref, "N")], want_n)
        np.testing.assert_array_equal(got[(ref, "any")], want_any)
    want_tail = rdf.frame_histograms(rdf.distances_over_frames(xyz, boxes, coat_idx, b_idx[150:]), edges)
    np.testing.assert_array_equal(got[("coating", "tail")], want_tail)
    assert got[("top", "any")].sum() > 0 and got[("coating", "tail")].sum() > 0


def test_value_histograms_count_every_value_inside_once_and_none_outside():
    edges = np.array([-1.0, 0.0, 0.5, 1.0])
    values = np.array([[-3.0, -0.5, 0.0, 0.49, 0.5, 7.0], [0.1, 0.2, 0.3, 0.4, 0.9, 1.0]])
    np.testing.assert_array_equal(rdf.value_histograms(values, edges), [[1, 2, 1], [0, 4, 1]])
    assert rdf.value_histograms(np.zeros((3, 0)), edges).shape == (3, 3)
