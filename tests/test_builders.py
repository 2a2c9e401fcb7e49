"""Builders: the Li(100) slab, the NH2-MIL-101(Fe) layer and its placement, TFSI- geometry, packing."""

import json

import numpy as np
import pytest

from systems import mil101
from systems.build import replica_seeds
from systems.electrolyte import (
    LITFSI_MOLAR_MASS,
    PackingError,
    PackingRegion,
    check_clearance,
    electrolyte_height_nm,
    pack_electrolyte,
)
from systems.molecules import build_tfsi
from systems.slab import build_li_bcc100_slab, top_layer_indices
from systems.structure import combine, minimum_image_distances, read_pdb
from systems.uff import uff_sigma_nm


def test_slab_is_the_papers_two_layer_bcc100():
    slab = build_li_bcc100_slab()
    assert slab.n_atoms == 128
    assert slab.box[:2] == pytest.approx([2.822, 2.822])
    z = np.unique(np.round(slab.positions[:, 2], 6))
    assert len(z) == 2 and z[1] - z[0] == pytest.approx(0.35275 / 2)
    assert len(top_layer_indices(slab)) == 64
    # bcc nearest neighbours: a sqrt(3)/2, 4 of them across the two layers for a surface atom
    d = minimum_image_distances(slab.positions, slab.positions, slab.box)
    d[d == 0] = np.inf
    assert d.min() == pytest.approx(0.35275 * np.sqrt(3) / 2)


def test_slab_pdb_round_trip_keeps_cell(tmp_path):
    slab = build_li_bcc100_slab()
    slab.write_pdb(tmp_path / "slab.pdb")
    back = read_pdb(tmp_path / "slab.pdb")
    assert back.box[:2] == pytest.approx(slab.box[:2], abs=1e-4)
    assert np.abs(back.positions - slab.positions).max() < 1e-3


def test_slab_refuses_nonsense():
    with pytest.raises(ValueError, match="at least one"):
        build_li_bcc100_slab(cells=0)
    with pytest.raises(ValueError, match="positive"):
        build_li_bcc100_slab(a_nm=-1)


@pytest.fixture(scope="module")
def layer():
    return mil101.build_nh2_mil101_fe_layer()


def test_mof_layer_composition_and_charge(layer):
    types = mil101.site_types(layer)
    count = {t: types.count(t) for t in set(types)}
    assert layer.n_atoms == 234
    assert count["Fe_F"] + count["Fe_open"] == 18 and count["Fe_F"] == 6  # 6 trimers, one F-bound Fe each
    assert count["O_mu3"] == 6 and count["F_term"] == 6
    assert count["N_am"] == 6 and count["H_am"] == 12  # 6 NH2-BDC linkers
    assert count["H_cap"] == 24  # formate caps
    assert mil101.net_charge(layer) == pytest.approx(0.0, abs=1e-9)


def test_mof_layer_geometry_follows_the_facts(layer):
    p = layer.positions
    types = mil101.site_types(layer)
    d = lambda i, j: np.linalg.norm(p[i] - p[j])  # noqa: E731
    for i, j in layer.bonds:
        pair = {types[i], types[j]}
        if pair == {"Fe_F", "O_mu3"} or pair == {"Fe_open", "O_mu3"}:
            assert 0.202 <= d(i, j) <= 0.212
        if pair & {"Fe_F", "Fe_open"} and pair & {"O_open", "O_Fside"}:
            assert 0.188 <= d(i, j) <= 0.205
        if pair == {"Fe_F", "F_term"}:
            assert d(i, j) == pytest.approx(0.205)
    # about 1.3 nm thick, fits the 2.822 nm cell with room between periodic images
    assert 1.2 < np.ptp(p[:, 2]) < 1.5
    box = np.array([2.822, 2.822, 10.0])
    for shift in ([2.822, 0, 0], [0, 2.822, 0], [2.822, 2.822, 0], [2.822, -2.822, 0]):
        assert minimum_image_distances(p, p + shift, box, periodic_axes=()).min() > 0.3


def test_mof_layer_has_no_clashes(layer):
    n = layer.n_atoms
    near = [set() for _ in range(n)]
    for i, j in layer.bonds:
        near[i].add(j)
        near[j].add(i)
    d = np.linalg.norm(layer.positions[:, None] - layer.positions[None], axis=-1)
    for i in range(n):
        for j in range(i + 1, n):
            if j in near[i] or near[i] & near[j]:
                continue  # 1-2 and 1-3 pairs
            assert d[i, j] > 0.15, (i, j, d[i, j])


def _placed_mof():
    from systems import coating

    slab = build_li_bcc100_slab()
    b = coating.build(coating.resolve("nh2_mil101_fe"), slab)
    return slab, b.structure, b.components[0]["gap_nm"]


def test_mof_sits_at_lennard_jones_contact(layer):
    slab, placed, gap = _placed_mof()
    rmin = 2 ** (1 / 6) * np.sqrt(np.array([uff_sigma_nm(e) for e in layer.elements])[:, None] * uff_sigma_nm("Li"))
    excess = minimum_image_distances(placed.positions, slab.positions, slab.box) - rmin
    assert excess.min() == pytest.approx(0.0, abs=1e-6)
    assert placed.positions[:, 2].min() - slab.positions[:, 2].max() == pytest.approx(gap)
    assert 0.15 < gap < 0.35


def test_tfsi_from_internal_coordinates():
    t = build_tfsi()
    assert t.n_atoms == 15 and len(t.bonds) == 14
    lengths = {frozenset(t.elements[i] + t.elements[j]): np.linalg.norm(t.positions[i] - t.positions[j]) for i, j in t.bonds}
    assert lengths[frozenset("NS")] == pytest.approx(0.157)
    assert lengths[frozenset("CF")] == pytest.approx(0.1323)


def test_electrolyte_height_from_density():
    h = electrolyte_height_nm(100, 1.5, 2.822**2)
    volume_cm3 = 100 * LITFSI_MOLAR_MASS / 6.02214076e23 / 1.5
    assert h * 2.822**2 * 1e-21 == pytest.approx(volume_cm3)
    assert electrolyte_height_nm(100, 1.5, 2.822**2, 2.0) == pytest.approx(h + 2.0 / 2.822**2)
    with pytest.raises(ValueError):
        electrolyte_height_nm(0, 1.5, 1.0)


def test_packing_keeps_clearance_and_is_seeded(layer):
    slab, placed, _ = _placed_mof()
    fixed = combine([slab, placed], box=slab.box)
    z0 = slab.positions[:, 2].max()
    box = np.array([2.822, 2.822, 8.0])
    region = PackingRegion(z0 + 0.2, z0 + 2.2)
    a = pack_electrolyte(fixed, 8, region, box, seed=11)
    b = pack_electrolyte(fixed, 8, region, box, seed=11)
    c = pack_electrolyte(fixed, 8, region, box, seed=12)
    assert a.n_atoms == fixed.n_atoms + 8 * 16
    assert np.allclose(a.positions, b.positions)
    assert not np.allclose(a.positions, c.positions)
    ions = a.positions[fixed.n_atoms :]
    assert minimum_image_distances(ions, fixed.positions, box).min() >= 0.2 * 0.99
    # ions may start inside the coating's pore, below its top
    assert ions[:, 2].min() < placed.positions[:, 2].max()


def test_clearance_check_refuses_an_ion_on_a_fixed_atom():
    slab = build_li_bcc100_slab()
    t = build_tfsi().translated(slab.positions[70] + [0, 0, 0.1])
    s = combine([slab, t], box=np.array([2.822, 2.822, 5.0]))
    with pytest.raises(PackingError, match="fixed atom"):
        check_clearance(s, slab.n_atoms, 0.2)


def test_replica_seeds_differ_and_are_reproducible():
    seeds = [replica_seeds(2025, r) for r in range(3)]
    assert len({s["packing"] for s in seeds}) == 3 and len({s["velocities"] for s in seeds}) == 3
    assert replica_seeds(2025, 1) == seeds[1]


@pytest.mark.parametrize("start", ["anions_near", "anions_far"])
def test_opposite_starts_put_the_anions_next_to_the_surface_or_away_from_it(tmp_path, start):
    """Same counts and region as a random packing; anions_near fills the lowest 0.8 nm with anions only (its share of
    the region's height), anions_far leaves no anion atom there and puts as many Li+ there instead."""
    from systems.build import build_slab, pack_system

    build_slab(tmp_path / "slab.pdb")
    n = 60  # a 2.4 nm region
    s = pack_system(tmp_path / "slab.pdb", None, tmp_path / "p.pdb", tmp_path / "g.json", n_pairs=n, density_g_cm3=1.5, seed=5, start=start)
    g = json.loads((tmp_path / "g.json").read_text())
    z_lo, z_hi = g["packing_region_nm"]
    cut = z_lo + 0.8
    n_layer = round(n * 0.8 / (z_hi - z_lo))
    assert g["start"] == start and sum(p[1] for p in g["placements"] if p[0] == "tfsi") == n
    res = np.array(s.resnames)
    z = s.positions[:, 2]
    tfsi_ids = sorted({s.resids[i] for i in range(s.n_atoms) if res[i] == "TFS"})
    tol = 0.01  # packmol holds an atom inside its box to within about 0.01 nm (a penalty, not a hard wall)
    tfsi_low = [r for r in tfsi_ids if max(z[i] for i in range(s.n_atoms) if s.resids[i] == r and res[i] == "TFS") <= cut + tol]
    li_below = int(((res == "LIP") & (z < cut - tol)).sum())  # surely in the layer
    li_upto = int(((res == "LIP") & (z <= cut + tol)).sum())  # in the layer, or at its top edge
    assert len(tfsi_ids) == n and int((res == "LIP").sum()) == n
    if start == "anions_near":
        assert len(tfsi_low) == n_layer and li_below == 0  # whole anions inside the layer, and no Li+ there
    else:
        assert int(((res == "TFS") & (z < cut - tol)).sum()) == 0 and li_below <= n_layer <= li_upto


def test_a_start_that_is_not_known_or_a_layer_too_thick_is_refused():
    from systems.electrolyte import PackingRegion, start_placements

    with pytest.raises(ValueError, match="random, anions_near or anions_far"):
        start_placements("anions_everywhere", 10, PackingRegion(0.3, 4.0))
    with pytest.raises(ValueError, match="thinner than the packing region"):
        start_placements("anions_near", 10, PackingRegion(0.3, 1.0), layer_nm=0.8)
    assert start_placements("random", 10, PackingRegion(0.3, 4.0)) == [("tfsi", 10, 0.3, 4.0), ("li", 10, 0.3, 4.0)]
