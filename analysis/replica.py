"""Analyse one replica's trajectory: pair histograms of every definition, heights, density profiles, penetration, MSD.

The paper's "TFSI- to lithium surface" coordination number leaves open what the surface is and what is counted,
so one replica is measured under each reading:

Reference sets A (``REFERENCES``)
    ``top``: the top layer of Li-metal atoms (the headline); ``both``: both Li layers; ``surface``: every
    electrode atom an anion can touch, the top Li layer plus every coating atom (the top layer alone for bare
    Li); ``coating``: the coating atoms alone (absent for bare Li); ``li_ion``: the Li+ ions (the paper's Forcite
    sets are unknown; Li+...O is the only pair of the model near 0.18 nm). A coating that declares sites (Fe,
    amino H, Co, ...) adds ``site_<name>``.
Targets B (``TARGETS``, and ``li_ion`` for the Li references)
    TFSI- counted once per anion through its N atom, every O atom, every F atom, each anion once through its
    closest atom (``any``); and Li+ (``li_ion``) around the Li and coating references.
Heights (reference ``height``)
    The height above the top-layer plane (mean z of the top Li layer) of each anion's N, of its lowest atom
    (``any``) and of each Li+: per-frame histograms from below the slab to above the electrolyte, so a count
    per top-layer Li atom within a height is what "distance from the lithium surface" says most literally.

Frames before ``equilibration_fraction`` of the run are discarded from the summed histograms and profiles; the
per-frame histograms (``frame_counts_{ref}_{target}``) keep every frame, for convergence and block averages.
The penetration counts (mobile atoms ever below the top-layer plane, and below the lowest Li layer) use every
frame. The MSD is over the whole run, from its first frame.
"""

from __future__ import annotations


import mdtraj as md
import numpy as np

from analysis import rdf
from systems.files import atomic_path, write_json

#: what an analysis.npz holds; a new number reruns every replica's analysis (a param of the compute_rdf rule)
#: 2: every reference set and target, heights, penetration counts (issue 14)
ANALYSIS_VERSION = 2

#: TFSI- targets: the anion through its N, every O, every F, the anion through its closest atom
TARGETS = ("N", "O", "F", "any")
#: Li+ as a target (around the Li and coating references) and as a reference (around TFSI-)
ION = "li_ion"
#: reference sets, in the order of the tables (site_<name> follow, per coating)
REFERENCES = ("top", "both", "surface", "coating", ION)
#: the height definition's reference name and its targets (N, the anion's lowest atom, Li+)
HEIGHT = "height"
HEIGHT_TARGETS = ("N", "any", ION)
#: targets of the per-site RDFs (coating sites such as Fe, amino H, Co)
SITE_TARGETS = TARGETS
#: how each reference reads in a table
REFERENCE_LABELS = {
    "top": "top Li layer",
    "both": "both Li layers",
    "surface": "top Li layer + coating",
    "coating": "coating only",
    ION: "Li+",
    HEIGHT: "height above the top Li plane",
}


def targets_of(reference: str) -> tuple:
    """The targets measured against a reference set."""
    if reference == HEIGHT:
        return HEIGHT_TARGETS
    if reference == ION or reference.startswith("site_"):
        return TARGETS
    return TARGETS + (ION,)


def edges_of(res: dict, reference: str) -> np.ndarray:
    """The bin edges (nm) of a reference's histograms: heights have their own, distances share ``r_edges_nm``."""
    return res["height_count_edges_nm"] if reference == HEIGHT else res["r_edges_nm"]


def load(trajectory, topology) -> md.Trajectory:
    """Load an XTC/DCD trajectory with the PDB topology it was written for."""
    traj = md.load(str(trajectory), top=str(topology))
    if traj.n_frames == 0:
        raise ValueError(f"{trajectory} has no frames")
    if traj.unitcell_lengths is None:
        raise ValueError(f"{trajectory} has no box; the analysis needs the periodic cell")
    return traj


def surface_indices(top: md.Topology, xyz0, tol_nm: float = 0.01) -> np.ndarray:
    """Top layer of Li-metal atoms (residue LIM) in the positions ``xyz0`` (nm)."""
    lim = top.select("resname LIM")
    if len(lim) == 0:
        raise ValueError("no Li-metal atoms (residue LIM) in the topology")
    z = xyz0[lim, 2]
    return lim[z > z.max() - tol_nm]


def coating_indices(top: md.Topology) -> np.ndarray:
    """Atoms of the coating, in the order the coating was built: everything but Li metal (the working electrode LIM
    and a constant-potential cell's counter electrode LIC) and the ions."""
    return top.select("not (resname LIM or resname LIC or resname TFS or resname LIP)")


def reference_indices(top: md.Topology, xyz0, reference: str) -> np.ndarray:
    """Atom indices of a reference set (see the module docstring); empty when the cell has no such atoms."""
    if reference in ("top", "both", "surface"):
        upper = surface_indices(top, xyz0)
        if reference == "top":
            return upper
        if reference == "both":
            return np.concatenate([upper, np.setdiff1d(top.select("resname LIM"), upper)]).astype(int)
        return np.concatenate([upper, coating_indices(top)]).astype(int)
    if reference == "coating":
        return np.asarray(coating_indices(top), int)
    if reference == ION:
        return np.asarray(top.select("resname LIP"), int)  # mdtraj gives an empty float array for no match
    raise ValueError(f"unknown reference set {reference!r}; choose from {REFERENCES}")


def target_indices(top: md.Topology, target: str):
    """Atom indices and (for ``any``) the molecule of each atom, for a target set."""
    if target == "N":
        return top.select("resname TFS and name N"), None
    if target == "O":
        return top.select("resname TFS and element O"), None
    if target == "F":
        return top.select("resname TFS and element F"), None
    if target == "any":
        idx = top.select("resname TFS")
        return idx, np.array([top.atom(i).residue.index for i in idx])
    if target == ION:
        return np.asarray(top.select("resname LIP"), int), None
    raise ValueError(f"unknown target {target!r}; choose from {TARGETS + (ION,)}")


def target_selections(top: md.Topology):
    """Every TFSI- atom (grouped by anion) then every Li+, and per target its columns and anion starts."""
    tfsi = np.asarray(top.select("resname TFS"), int)
    res = np.array([top.atom(i).residue.index for i in tfsi], int)
    order = np.argsort(res, kind="stable")
    tfsi, res = tfsi[order], res[order]
    li = np.asarray(top.select("resname LIP"), int)
    selections = {}
    for target in TARGETS:
        b_idx, groups = target_indices(top, target)
        if groups is None:
            selections[target] = (np.flatnonzero(np.isin(tfsi, b_idx)), None)
        else:
            selections[target] = (np.arange(len(tfsi)), np.flatnonzero(np.r_[True, res[1:] != res[:-1]]))
    selections[ION] = (len(tfsi) + np.arange(len(li)), None)
    return np.concatenate([tfsi, li]), selections


def production_slice(n_frames: int, equilibration_fraction: float) -> slice:
    """Frames after the discarded equilibration part (at least the last frame)."""
    if not 0.0 <= equilibration_fraction < 1.0:
        raise ValueError(f"equilibration fraction must be in [0, 1), got {equilibration_fraction}")
    first = min(int(np.floor(n_frames * equilibration_fraction)), n_frames - 1)
    return slice(first, n_frames)


def layer_planes(top: md.Topology, xyz0, tol_nm: float = 0.01) -> tuple[float, float]:
    """Heights (nm) of the top-layer plane and of the lowest Li layer's plane (mean z of their atoms)."""
    lim = top.select("resname LIM")
    if len(lim) == 0:
        raise ValueError("no Li-metal atoms (residue LIM) in the topology")
    z = xyz0[lim, 2]
    return float(z[z > z.max() - tol_nm].mean()), float(z[z < z.min() + tol_nm].mean())


def penetration(xyz_z, top: md.Topology, z_top: float, z_bottom: float) -> dict:
    """Mobile atoms found below the top Li plane and below the lowest Li layer, over the frames given.

    Returns, per species (``tfsi``, ``li_ion``): ions with any atom ever below the top-layer plane
    (``ions_below_top``) and below the lowest layer (``ions_below_slab``), frames with at least one such atom,
    and the lowest height (nm, relative to the top-layer plane) any of its atoms reached.
    """
    out = {}
    for species, sel in (("tfsi", "resname TFS"), (ION, "resname LIP")):
        idx = np.asarray(top.select(sel), int)
        if len(idx) == 0:
            out.update({f"{species}_ions_below_top": 0, f"{species}_ions_below_slab": 0, f"{species}_frames_below_top": 0,
                        f"{species}_frames_below_slab": 0, f"{species}_lowest_height_nm": np.nan})  # fmt: skip
            continue
        mol = np.array([top.atom(i).residue.index for i in idx])
        z = xyz_z[:, idx]
        lowest = z.min(axis=0)
        out[f"{species}_ions_below_top"] = len(np.unique(mol[lowest < z_top]))
        out[f"{species}_ions_below_slab"] = len(np.unique(mol[lowest < z_bottom]))
        out[f"{species}_frames_below_top"] = int((z < z_top).any(axis=1).sum())
        out[f"{species}_frames_below_slab"] = int((z < z_bottom).any(axis=1).sum())
        out[f"{species}_lowest_height_nm"] = float(lowest.min() - z_top)
    return out


def analyse_replica(trajectory, topology, geometry, equilibration_fraction=0.2, r_max_nm=1.2, bin_nm=0.005, dz_nm=0.05, sites=None) -> dict:
    """Histograms and profiles of one replica.

    Parameters
    ----------
    trajectory, topology : path
        XTC (or DCD) and the PDB it was written for.
    geometry : dict
        From the packing step: ``z_surface_nm`` and ``region_nm`` (z0, z1) of the electrolyte.
    sites : dict, optional
        Coating sites, name -> {"indices": atom indices within the coating, "label": text} (from coating.json).

    Returns
    -------
    dict of numpy arrays and scalars (saved with :func:`save`).
    """
    traj = load(trajectory, topology)
    top = traj.topology
    box = traj.unitcell_lengths
    if r_max_nm > 0.5 * box[:, :2].min():
        raise ValueError(f"r_max {r_max_nm} nm exceeds half the lateral cell ({0.5 * box[:, :2].min():.3f} nm)")
    a_idx = surface_indices(top, traj.xyz[0])
    z_a = traj.xyz[0, a_idx, 2]
    prod = production_slice(traj.n_frames, equilibration_fraction)
    xyz = traj.xyz[prod]
    edges = np.arange(0.0, r_max_nm + 0.5 * bin_nm, bin_nm)
    z0, z1 = geometry["region_nm"]
    area = float(box[0, 0] * box[0, 1])
    out = {
        "r_edges_nm": edges,
        "n_frames_total": traj.n_frames,
        "n_frames_used": len(xyz),
        "time_ps": traj.time,
        "n_surface": len(a_idx),
        "z_surface_atoms_nm": z_a,
        "region_nm": np.array([z0, z1]),
        "area_nm2": area,
        "cell_volume_nm3": float(np.prod(box[0])),
    }
    out["first_production_frame"] = prod.start
    out["analysis_version"] = ANALYSIS_VERSION
    # reference sets with atoms in this cell (no coating for bare Li, no Li+ in a cell without them)
    references = {ref: reference_indices(top, traj.xyz[0], ref) for ref in REFERENCES}
    coat = coating_indices(top)
    out["site_names"] = np.array(sorted(sites or {}), dtype=str)
    for name in out["site_names"]:
        idx = np.asarray(sites[name]["indices"], int)
        if len(idx) == 0 or idx.max() >= len(coat):
            raise ValueError(f"site {name}: atom indices outside the coating's {len(coat)} atoms")
        references[f"site_{name}"] = coat[idx]
        out[f"site_label_{name}"] = str(sites[name].get("label", name))
    references = {ref: idx for ref, idx in references.items() if len(idx)}
    out["references"] = np.array(list(references), dtype=str)
    b_idx, selections = target_selections(top)
    for target in TARGETS + (ION,):
        t_idx, groups = target_indices(top, target)
        out[f"n_b_{target}"] = len(t_idx) if groups is None else len(np.unique(groups))
    pairs = [(ref, t) for ref in references for t in targets_of(ref) if out[f"n_b_{t}"] > 0 and not (ref == ION and t == ION)]
    # every frame, equilibration included, so convergence and block averages can be computed later
    hists = rdf.pair_histograms(traj.xyz, box, references, b_idx, selections, edges, pairs)
    for ref, r_idx in references.items():
        out[f"n_ref_{ref}"] = len(r_idx)
        out[f"z_ref_atoms_{ref}"] = traj.xyz[0, r_idx, 2]  # a mobile reference (Li+) is normalised at its first frame
    for (ref, t), h in hists.items():
        out[f"frame_counts_{ref}_{t}"] = h
    for target in TARGETS:
        out[f"counts_{target}"] = out[f"frame_counts_top_{target}"][prod].sum(axis=0).astype(float)
    # heights above the top-layer plane, from below the slab to above the electrolyte
    z_top, z_bottom = layer_planes(top, traj.xyz[0])
    lo = -bin_nm * np.ceil((z_top - z_bottom + 0.5) / bin_nm)
    out["height_count_edges_nm"] = np.round(np.arange(lo, z1 - z_top + 0.5 + 0.5 * bin_nm, bin_nm), 9)  # 0 is an edge
    out["z_top_plane_nm"], out["z_bottom_plane_nm"] = z_top, z_bottom
    out[f"n_ref_{HEIGHT}"] = len(a_idx)  # a height count is per top-layer Li atom
    z_all = traj.xyz[:, :, 2]
    any_cols, anion_starts = selections["any"]  # every TFSI- atom, grouped by anion: its lowest atom per frame
    lowest = np.minimum.reduceat(z_all[:, b_idx[any_cols]], anion_starts, axis=1) if len(any_cols) else np.zeros((len(z_all), 0))
    heights = {"N": z_all[:, top.select("resname TFS and name N")], "any": lowest, ION: z_all[:, np.asarray(top.select("resname LIP"), int)]}
    for t, z in heights.items():
        if z.shape[1]:
            out[f"frame_counts_{HEIGHT}_{t}"] = rdf.value_histograms(z - z_top, out["height_count_edges_nm"])
    for key, value in penetration(z_all, top, z_top, z_bottom).items():
        out[f"penetration_{key}"] = value
    # density profiles (number per nm^3) vs height above the top Li layer
    z_surf = float(z_a.mean())
    h_edges = np.arange(0.0, z1 - z_surf + 0.5 + dz_nm / 2, dz_nm)
    for name, sel in (("tfsi", "resname TFS and name N"), ("li_ion", "resname LIP")):
        idx = np.asarray(top.select(sel), dtype=int)  # mdtraj gives an empty float array for no match (a cell without Li+)
        h = xyz[:, idx, 2].ravel() - z_surf
        out[f"density_{name}"] = np.histogram(h, bins=h_edges)[0] / (len(xyz) * area * dz_nm)
    h = heights["any"][prod].ravel() - z_surf  # each anion's lowest atom
    out["density_tfsi_lowest"] = np.histogram(h, bins=h_edges)[0] / (len(xyz) * area * dz_nm)
    out["height_edges_nm"] = h_edges
    out["coating_top_nm"] = float(traj.xyz[0, coat, 2].max() - z_surf) if len(coat) else 0.0
    n_idx = top.select("resname TFS and name N")
    disp = traj.xyz[:, n_idx, :] - traj.xyz[0, n_idx, :]
    out["msd_tfsi_nm2"] = (disp**2).sum(-1).mean(-1)
    out["msd_tfsi_z_nm2"] = (disp[..., 2] ** 2).mean(-1)
    return out


def save(result: dict, npz_path, json_path) -> None:
    """Arrays to ``npz_path``; a readable digest to ``json_path``. Both written atomically."""
    with atomic_path(npz_path) as tmp:
        np.savez_compressed(tmp, **{k: np.asarray(v) for k, v in result.items()})
    digest = {
        "n_frames_total": int(result["n_frames_total"]),
        "n_frames_used": int(result["n_frames_used"]),
        "n_surface_atoms": int(result["n_surface"]),
        "tfsi_msd_end_nm2": float(result["msd_tfsi_nm2"][-1]),
        "tfsi_rms_displacement_end_nm": float(np.sqrt(result["msd_tfsi_nm2"][-1])),
        "penetration (every frame)": {k[len("penetration_") :]: _plain(v) for k, v in result.items() if k.startswith("penetration_")},
    }
    write_json(json_path, digest)


def _plain(v):
    v = np.asarray(v).item()
    return None if isinstance(v, float) and not np.isfinite(v) else v


def load_result(npz_path) -> dict:
    """An analysis result; one written by another version of the analysis is refused, naming the rerun."""
    with np.load(npz_path) as data:
        res = {k: data[k] for k in data.files}
    check_version(res, npz_path)
    return res


def check_version(res: dict, where="an analysis result") -> None:
    """Raise when ``res`` was made by another version of :func:`analyse_replica` (its definitions would be missing)."""
    version = int(res["analysis_version"]) if "analysis_version" in res else 1
    if version != ANALYSIS_VERSION:
        raise ValueError(
            f"{where} was made by version {version} of the analysis, this is version {ANALYSIS_VERSION}: rerun the analysis "
            "(`snakemake -R compute_rdf` with your usual options; the MD is kept)"
        )
