"""Every definition of the TFSI--surface coordination number on a toy cell where each count is known by hand.

The cell: the 8 x 8 x 2 Li(100) slab (64 atoms per layer), one coating atom 0.6 nm above a hollow site, three Li+
and one TFSI- at chosen places. With a 0.3 nm cutoff, Li+ #1 (0.2025 nm above top-layer atom L0) is the only
ion near the Li, Li+ #2 (0.2025 nm above the coating atom) the only one near the coating, and the anion sits
1.5 nm up with Li+ #3 0.5 nm above its N. Every other distance is far from the cutoffs used.
"""

import math

import mdtraj as md
import numpy as np
import pytest

from analysis.compare import cn_series, penetration_table, sensitivity
from analysis.replica import analyse_replica
from analysis.summary import closest_approach, pooled_curves
from systems.molecules import build_li_ion, build_tfsi
from systems.slab import build_li_bcc100_slab
from systems.structure import Structure, combine

A = 0.35275  # lattice constant of the slab (nm)
BOX = np.array([8 * A, 8 * A, 8.0])


def _toy(tmp_path, coated=True, frames=None):
    slab = build_li_bcc100_slab()
    z = slab.positions[:, 2]
    z_t, z_b = z.max(), z.min()
    top = np.flatnonzero(z > z_t - 0.01)
    l0 = slab.positions[top[np.argmin(slab.positions[top, 0] + slab.positions[top, 1])]]
    x_coat = l0 + np.array([4.5 * A, 4.5 * A, 0.6])  # above a hollow site
    n_pos = l0 + np.array([1.4, 0.0, 1.5])
    tfsi = build_tfsi()
    tfsi = tfsi.translated(n_pos - tfsi.positions[tfsi.names.index("N")])
    ions = [build_li_ion().translated(l0 + [0, 0, 0.2025]), build_li_ion().translated(x_coat + [0, 0, 0.2025]),
            build_li_ion().translated(n_pos + [0, 0, 0.5]), tfsi]  # fmt: skip
    parts = [slab] + ([Structure(["C"], ["C1"], ["COA"], [0], x_coat[None, :])] if coated else []) + ions
    s = combine(parts, box=BOX)
    s.write_pdb(tmp_path / "toy.pdb")
    xyz = np.repeat(s.positions[None], 4, axis=0) if frames is None else frames(s)
    ref = md.load(str(tmp_path / "toy.pdb"))
    md.Trajectory(xyz.astype(np.float32), ref.topology, time=np.arange(len(xyz), dtype=float),
                  unitcell_lengths=np.tile(BOX, (len(xyz), 1)), unitcell_angles=np.full((len(xyz), 3), 90.0)).save_xtc(str(tmp_path / "toy.xtc"))  # fmt: skip
    res = analyse_replica(tmp_path / "toy.xtc", tmp_path / "toy.pdb", {"z_surface_nm": z_t, "region_nm": [z_t, z_t + 4.0]}, equilibration_fraction=0.0)
    lowest = tfsi.positions[:, 2].min() - z_t
    return res, z_t, z_b, lowest, s


def _cn(res, reference, target, r_c):
    return float(cn_series(res, reference, target, r_c).mean())


def test_each_reference_and_target_counts_what_it_says(tmp_path):
    res, z_t, _, _, _ = _toy(tmp_path)
    assert list(res["references"]) == ["top", "both", "surface", "coating", "li_ion"]
    assert res["n_ref_top"] == 64 and res["n_ref_both"] == 128 and res["n_ref_surface"] == 65 and res["n_ref_coating"] == 1
    assert _cn(res, "top", "li_ion", 0.3) == pytest.approx(1 / 64)  # Li+ #1 over L0
    assert _cn(res, "both", "li_ion", 0.3) == pytest.approx(1 / 128)
    assert _cn(res, "coating", "li_ion", 0.3) == pytest.approx(1.0)  # Li+ #2 over the coating atom
    assert _cn(res, "surface", "li_ion", 0.3) == pytest.approx(2 / 65)  # both contacts, over top layer + coating
    assert _cn(res, "li_ion", "N", 0.55) == pytest.approx(1 / 3)  # Li+ #3 over the N, per Li+
    assert _cn(res, "li_ion", "N", 0.45) == 0.0
    for target in ("N", "O", "F", "any"):
        assert _cn(res, "surface", target, 0.3) == 0.0  # the anion is 1.5 nm up
    assert "frame_counts_li_ion_li_ion" not in res  # an ion is not its own neighbour


def test_heights_count_per_top_layer_atom_below_a_height(tmp_path):
    res, z_t, _, lowest, _ = _toy(tmp_path)
    assert res["z_top_plane_nm"] == pytest.approx(z_t, abs=1e-3)
    assert _cn(res, "height", "li_ion", 0.3) == pytest.approx(1 / 64)  # Li+ #1 at 0.2025 nm
    assert _cn(res, "height", "li_ion", 0.85) == pytest.approx(2 / 64)  # and Li+ #2 at 0.8025 nm
    assert _cn(res, "height", "li_ion", 2.1) == pytest.approx(3 / 64)  # and Li+ #3 at 2.0 nm
    assert _cn(res, "height", "N", 1.45) == 0.0 and _cn(res, "height", "N", 1.55) == pytest.approx(1 / 64)
    assert _cn(res, "height", "any", lowest - 0.01) == 0.0 and _cn(res, "height", "any", lowest + 0.01) == pytest.approx(1 / 64)
    edges = res["height_edges_nm"]  # the lowest-atom profile holds the one anion, in the bin of its lowest atom
    prof = res["density_tfsi_lowest"] * res["area_nm2"] * np.diff(edges)
    assert prof.sum() == pytest.approx(1.0) and edges[np.argmax(prof)] <= lowest < edges[np.argmax(prof) + 1]
    curves = pooled_curves([res], "any", reference="height")
    assert closest_approach(curves, 2.0)["closest_nm"] == pytest.approx(np.floor(lowest / 0.005) * 0.005, abs=0.0051)


def test_closest_approach_is_the_smallest_distance_seen(tmp_path):
    res, *_ = _toy(tmp_path)
    for reference in ("top", "surface", "coating"):
        got = closest_approach(pooled_curves([res], "li_ion", reference=reference), 0.3)
        assert got["closest_nm"] == pytest.approx(0.200) and got["onset_nm"] == pytest.approx(0.205)
    assert math.isnan(closest_approach(pooled_curves([res], "N", reference="top"), 0.3)["onset_nm"])  # nothing counted


def test_a_bare_cell_has_no_coating_reference_and_its_surface_is_the_top_layer(tmp_path):
    res, *_ = _toy(tmp_path, coated=False)
    assert "coating" not in list(res["references"]) and res["n_ref_surface"] == 64
    np.testing.assert_array_equal(res["frame_counts_surface_li_ion"], res["frame_counts_top_li_ion"])


def test_the_sensitivity_table_has_every_definition_and_marks_what_a_system_lacks(tmp_path):
    (tmp_path / "c").mkdir()
    (tmp_path / "b").mkdir()
    coated, *_ = _toy(tmp_path / "c")
    bare, *_ = _toy(tmp_path / "b", coated=False)
    rows = sensitivity({"bare": [bare, bare], "coated": [coated, coated]}, {"bare": None, "coated": "x"}, {}, fallback_nm=0.8)
    keyed = {(r["reference"], r["target"], r["cutoff_rule"], r["system"]): r for r in rows}
    fixed = "fixed 0.4 nm"
    assert keyed[("coating", "li_ion", fixed, "coated")]["cn_mean"] == pytest.approx(1.0)
    assert keyed[("coating", "li_ion", fixed, "bare")]["cn_per_replica"] == []
    assert keyed[("coating", "li_ion", fixed, "bare")]["cutoff_source"] == "no such atoms in this system"
    assert keyed[("surface", "li_ion", fixed, "coated")]["cn_mean"] == pytest.approx(2 / 65)
    assert keyed[("surface", "li_ion", fixed, "bare")]["cn_mean"] == pytest.approx(1 / 64)
    assert keyed[("height", "li_ion", "fixed 0.8 nm", "coated")]["cn_mean"] == pytest.approx(1 / 64)
    assert keyed[("height", "li_ion", "first minimum, whole-cell g(r) (Forcite)", "coated")]["cutoff_source"] == "not defined for a height"
    assert keyed[("top", "li_ion", fixed, "coated")]["closest_nm"] == pytest.approx(0.2)
    assert {r["reference"] for r in rows} == {"top", "both", "surface", "coating", "li_ion", "height"}


def test_penetration_counts_the_ions_below_the_top_plane_and_below_the_slab(tmp_path):
    def frames(s):
        xyz = np.repeat(s.positions[None], 4, axis=0)
        li1 = s.resnames.index("LIP")  # Li+ #1: in the top layer's plane at frame 2, below the slab at frame 3
        z_t, z_b = s.positions[:128, 2].max(), s.positions[:128, 2].min()
        xyz[2, li1, 2] = z_t - 0.05
        xyz[3, li1, 2] = z_b - 0.3
        return xyz

    res, z_t, z_b, _, _ = _toy(tmp_path, frames=frames)
    pen = penetration_table({"toy": [res]})["toy"][0]
    assert pen["li_ion_ions_below_top"] == 1 and pen["li_ion_frames_below_top"] == 2
    assert pen["li_ion_ions_below_slab"] == 1 and pen["li_ion_frames_below_slab"] == 1
    assert pen["li_ion_lowest_height_nm"] == pytest.approx(z_b - 0.3 - z_t, abs=2e-3)
    assert pen["tfsi_ions_below_top"] == 0 and pen["tfsi_frames_below_slab"] == 0
