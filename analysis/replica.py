"""Analyse one replica's trajectory: TFSI--surface pair histograms, density profiles and TFSI- MSD.

Reference set A is the top layer of Li-metal atoms (the headline) or both layers. Target sets B: TFSI- counted once per anion through its
N atom (the headline), every O atom, every F atom, and each anion counted once through its closest atom
("any"). Li+ is added for the density profile. A coating that declares sites (Fe, amino H, Co, ...) adds one
reference set per site (``site_<name>``) against the N and "any" targets. Frames before ``equilibration_fraction`` of the run are
discarded from the summed histograms and profiles; the per-frame histograms (``frame_counts_{ref}_{target}``)
keep every frame, for convergence and block averages. The MSD is over the whole run, from its first frame.
"""

from __future__ import annotations


import mdtraj as md
import numpy as np

from analysis import rdf
from systems.files import atomic_path, write_json

TARGETS = ("N", "O", "F", "any")
#: targets of the per-site RDFs (coating sites such as Fe, amino H, Co): the anion through its N, and its closest atom
SITE_TARGETS = ("N", "any")


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
    """Atoms of the coating, in the order the coating was built: everything but Li metal and the ions."""
    return top.select("not (resname LIM or resname TFS or resname LIP)")


REFERENCES = ("top", "both")


def reference_indices(top: md.Topology, xyz0, reference: str) -> np.ndarray:
    """Reference set A: the top Li layer (``top``) or every Li-metal atom (``both`` layers)."""
    if reference == "top":
        return surface_indices(top, xyz0)
    if reference == "both":
        lim = top.select("resname LIM")
        if len(lim) == 0:
            raise ValueError("no Li-metal atoms (residue LIM) in the topology")
        return lim
    raise ValueError(f"unknown reference set {reference!r}; choose from {REFERENCES}")


def target_indices(top: md.Topology, target: str):
    """Atom indices and (for ``any``) the molecule of each atom, for a TFSI- target set."""
    if target == "N":
        return top.select("resname TFS and name N"), None
    if target == "O":
        return top.select("resname TFS and element O"), None
    if target == "F":
        return top.select("resname TFS and element F"), None
    if target == "any":
        idx = top.select("resname TFS")
        return idx, np.array([top.atom(i).residue.index for i in idx])
    raise ValueError(f"unknown target {target!r}; choose from {TARGETS}")


def target_selections(top: md.Topology):
    """Every TFSI- atom (grouped by anion) and, per target, its columns and anion starts for the histograms."""
    tfsi = top.select("resname TFS")
    res = np.array([top.atom(i).residue.index for i in tfsi])
    order = np.argsort(res, kind="stable")
    tfsi, res = tfsi[order], res[order]
    selections = {}
    for target in TARGETS:
        b_idx, groups = target_indices(top, target)
        if groups is None:
            selections[target] = (np.flatnonzero(np.isin(tfsi, b_idx)), None)
        else:
            selections[target] = (None, np.flatnonzero(np.r_[True, res[1:] != res[:-1]]))
    return tfsi, selections


def production_slice(n_frames: int, equilibration_fraction: float) -> slice:
    """Frames after the discarded equilibration part (at least the last frame)."""
    if not 0.0 <= equilibration_fraction < 1.0:
        raise ValueError(f"equilibration fraction must be in [0, 1), got {equilibration_fraction}")
    first = min(int(np.floor(n_frames * equilibration_fraction)), n_frames - 1)
    return slice(first, n_frames)


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
    references = {"top": a_idx, "both": reference_indices(top, traj.xyz[0], "both")}
    # every frame, equilibration included, so convergence and block averages can be computed later
    tfsi, selections = target_selections(top)
    lower = np.setdiff1d(references["both"], a_idx)
    hists = rdf.surface_pair_histograms(traj.xyz, box, a_idx, lower, tfsi, selections, edges)
    references["both"] = np.concatenate([a_idx, lower])  # the order the histograms used
    for ref, r_idx in references.items():
        out[f"n_ref_{ref}"] = len(r_idx)
        out[f"z_ref_atoms_{ref}"] = traj.xyz[0, r_idx, 2]
    for target in TARGETS:
        b_idx, groups = target_indices(top, target)
        out[f"n_b_{target}"] = len(b_idx) if groups is None else len(np.unique(groups))
        for ref in references:
            out[f"frame_counts_{ref}_{target}"] = hists[(ref, target)]
        out[f"counts_{target}"] = out[f"frame_counts_top_{target}"][prod].sum(axis=0).astype(float)
    coat = coating_indices(top)
    out["site_names"] = np.array(sorted(sites or {}), dtype=str)
    for name in out["site_names"]:
        idx = np.asarray(sites[name]["indices"], int)
        if len(idx) == 0 or idx.max() >= len(coat):
            raise ValueError(f"site {name}: atom indices outside the coating's {len(coat)} atoms")
        s_idx = coat[idx]
        h = rdf.surface_pair_histograms(traj.xyz, box, s_idx, [], tfsi, {t: selections[t] for t in SITE_TARGETS}, edges)
        out[f"site_label_{name}"] = str(sites[name].get("label", name))
        out[f"n_ref_site_{name}"] = len(s_idx)
        out[f"z_ref_atoms_site_{name}"] = traj.xyz[0, s_idx, 2]
        for target in SITE_TARGETS:
            out[f"frame_counts_site_{name}_{target}"] = h[("top", target)]
    # density profiles (number per nm^3) vs height above the top Li layer
    z_surf = float(z_a.mean())
    h_edges = np.arange(0.0, z1 - z_surf + 0.5 + dz_nm / 2, dz_nm)
    for name, sel in (("tfsi", "resname TFS and name N"), ("li_ion", "resname LIP")):
        idx = np.asarray(top.select(sel), dtype=int)  # mdtraj gives an empty float array for no match (a cell without Li+)
        h = xyz[:, idx, 2].ravel() - z_surf
        out[f"density_{name}"] = np.histogram(h, bins=h_edges)[0] / (len(xyz) * area * dz_nm)
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
    }
    write_json(json_path, digest)


def load_result(npz_path) -> dict:
    with np.load(npz_path) as data:
        return {k: data[k] for k in data.files}
