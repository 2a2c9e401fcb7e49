"""Radial distribution functions and coordination numbers between a surface and the electrolyte.

Distances are minimum-image in an orthorhombic cell (nm). Two normalisations of g(r):

``region``
    For reference atoms at or below a slab of electrolyte between heights z0 and z1 (a surface under a liquid),
    the part of a spherical shell of radius r around atom i that lies inside the electrolyte has area
    2 pi r * overlap_i(r), where overlap_i(r) is the length of [z_i - r, z_i + r] inside [z0, z1] (Archimedes'
    hat-box theorem). With rho_B = N_B / (A (z1 - z0)) the density of B in that region,
    g(r) = counts(r) / (n_frames * rho_B * sum_i 2 pi r dr overlap_i(r)), which goes to 1 wherever an ideal gas
    fills the region. The vacuum above and the metal below are not counted.
``cell``
    The bulk normalisation over the whole cell volume (shell 4/3 pi ((r+dr)^3 - r^3), rho_B = N_B / V): right for a
    bulk liquid or crystal; in a slab cell it counts the vacuum (as Materials Studio Forcite does).

The coordination number is the direct mean count of B within r_c of an A atom, averaged over frames and A
atoms; it does not depend on how g(r) is normalised.
"""

from __future__ import annotations

import numpy as np


def minimum_image_distances(a_xyz, b_xyz, box) -> np.ndarray:
    """Distances (nm) between every a and every b in one frame, minimum image in all three directions.

    Parameters
    ----------
    a_xyz : ndarray, shape (n_a, 3)
    b_xyz : ndarray, shape (n_b, 3)
    box : ndarray, shape (3,)
        Orthorhombic edge lengths (nm).

    Returns
    -------
    ndarray, shape (n_a, n_b)
    """
    d = np.asarray(b_xyz)[None, :, :] - np.asarray(a_xyz)[:, None, :]
    d -= box * np.round(d / box)
    return np.sqrt(np.einsum("ijk,ijk->ij", d, d))


def distances_over_frames(xyz, boxes, a_idx, b_idx, b_groups=None):
    """Distances from each A atom to each B (atom, or group reduced by the minimum), frame by frame.

    Parameters
    ----------
    xyz : ndarray, shape (n_frames, n_atoms, 3)
        Positions in nm.
    boxes : ndarray, shape (n_frames, 3)
        Orthorhombic box lengths in nm.
    a_idx, b_idx : array of int
    b_groups : array of int, optional
        For each entry of ``b_idx``, the index of the molecule it belongs to; distances are then reduced to the
        closest atom of each molecule (one count per molecule).

    Yields
    ------
    ndarray, shape (n_a, n_b or n_molecules)
    """
    a_idx = np.asarray(a_idx)
    b_idx = np.asarray(b_idx)
    if b_groups is not None:
        b_groups = np.asarray(b_groups)
        order = np.argsort(b_groups, kind="stable")
        b_idx = b_idx[order]
        b_groups = b_groups[order]
        starts = np.flatnonzero(np.r_[True, b_groups[1:] != b_groups[:-1]])
    for f in range(len(xyz)):
        d = minimum_image_distances(xyz[f, a_idx], xyz[f, b_idx], boxes[f])
        if b_groups is not None:
            d = np.minimum.reduceat(d, starts, axis=1)
        yield d


def histogram_distances(distance_frames, r_edges):
    """Sum of per-frame histograms of distances, and the number of frames.

    Returns
    -------
    counts : ndarray, shape (n_bins,)
    n_frames : int
    """
    counts = np.zeros(len(r_edges) - 1)
    n = 0
    for d in distance_frames:
        counts += np.histogram(d, bins=r_edges)[0]
        n += 1
    return counts, n


def frame_histograms(distance_frames, r_edges) -> np.ndarray:
    """Histogram of distances in every frame, shape (n_frames, n_bins), as int32 counts."""
    r_edges = np.asarray(r_edges, float)
    n_bins = len(r_edges) - 1
    rows = []
    for d in distance_frames:
        d = np.asarray(d).ravel()
        d = d[d < r_edges[-1]]
        k = np.searchsorted(r_edges, d, side="right") - 1
        rows.append(np.bincount(k[k >= 0], minlength=n_bins)[:n_bins].astype(np.int32))
    return np.array(rows, dtype=np.int32).reshape(-1, n_bins)


def _bin_counts(d, r_edges, n_bins, inv_width):
    """Histogram of the values in ``d`` on ``r_edges`` (uniform bins through ``inv_width``, else searchsorted)."""
    d = np.asarray(d).ravel()
    if inv_width is not None:
        k = np.minimum((d * inv_width).astype(np.int64), n_bins)
    else:
        k = np.searchsorted(r_edges, d, side="right") - 1
        k[(k < 0) | (d >= r_edges[-1])] = n_bins
    return np.bincount(k, minlength=n_bins + 1)[:n_bins]


def pair_histograms(xyz, boxes, references: dict, b_idx, selections: dict, r_edges, pairs=None) -> dict:
    """Per-frame histograms for every (reference set, target) from one distance matrix per frame.

    One matrix of distances from the union of all reference atoms to every target atom is computed per frame;
    each target is a set of its columns, optionally reduced to the closest atom of each molecule, and each
    reference set is a set of its rows. This gives the same counts as :func:`frame_histograms` of
    :func:`distances_over_frames` for each pair of sets, at a fraction of the cost.

    Parameters
    ----------
    xyz : ndarray (n_frames, n_atoms, 3); boxes : ndarray (n_frames, 3)
    references : dict
        reference name -> atom indices (sets may overlap; an atom listed twice in one set counts twice).
    b_idx : array of int
        Every target atom; the atoms of one molecule are contiguous.
    selections : dict
        target name -> (columns of ``b_idx`` or None for all, molecule start columns within those columns for a
        closest-atom reduction, or None).
    pairs : list of (reference, target), optional
        The pairs to histogram; every combination when None.

    Returns
    -------
    dict
        ``(reference, target)`` -> int32 array (n_frames, n_bins).
    """
    r_edges = np.asarray(r_edges, float)
    n_bins = len(r_edges) - 1
    widths = np.diff(r_edges)
    inv = 1.0 / widths[0] if r_edges[0] == 0.0 and np.allclose(widths, widths[0], rtol=1e-9) else None
    refs = {name: np.asarray(idx, int) for name, idx in references.items()}
    pairs = list(pairs) if pairs is not None else [(r, t) for r in refs for t in selections]
    union = np.unique(np.concatenate([refs[r] for r, _ in pairs])) if pairs else np.zeros(0, int)
    rows = {r: np.searchsorted(union, refs[r]) for r in {r for r, _ in pairs}}
    targets = list(dict.fromkeys(t for _, t in pairs))
    b_idx = np.asarray(b_idx, int)
    n_frames = len(xyz)
    out = {p: np.zeros((n_frames, n_bins), np.int32) for p in pairs}
    for f in range(n_frames):
        d = minimum_image_distances(xyz[f, union], xyz[f, b_idx], boxes[f])
        for t in targets:
            cols, starts = selections[t]
            dt = d if cols is None else d[:, cols]
            if starts is not None:
                dt = np.minimum.reduceat(dt, starts, axis=1)
            for r, tt in pairs:
                if tt == t:
                    out[(r, t)][f] = _bin_counts(dt[rows[r]], r_edges, n_bins, inv)
    return out


def value_histograms(values, r_edges) -> np.ndarray:
    """Histogram of each frame's values (heights, say) on ``r_edges``; values outside the edges are not counted.

    Parameters
    ----------
    values : ndarray, shape (n_frames, n)

    Returns
    -------
    int32 array, shape (n_frames, n_bins)
    """
    r_edges = np.asarray(r_edges, float)
    n_bins = len(r_edges) - 1
    v = np.asarray(values, float)
    k = np.searchsorted(r_edges, v, side="right") - 1
    k[(v < r_edges[0]) | (v >= r_edges[-1])] = n_bins  # an overflow bin, cut off below
    return np.array([np.bincount(row, minlength=n_bins + 1)[:n_bins] for row in k.reshape(len(k), -1)], np.int32).reshape(-1, n_bins)


def coordination_series(frame_counts, r_edges, n_a, r_c) -> np.ndarray:
    """Per-frame coordination number: B within ``r_c`` (nearest bin edge, as :func:`coordination_at`) per A atom."""
    k = int(np.argmin(np.abs(np.asarray(r_edges)[1:] - r_c)))
    return np.asarray(frame_counts)[:, : k + 1].sum(axis=1) / float(n_a)


def zone_overlap(r, z_a, z0, z1) -> np.ndarray:
    """Length (nm) of [z_a - r, z_a + r] inside [z0, z1], for each r (broadcast over z_a)."""
    r = np.asarray(r, float)
    lo = np.maximum(np.asarray(z_a, float)[..., None] - r, z0)
    hi = np.minimum(np.asarray(z_a, float)[..., None] + r, z1)
    return np.clip(hi - lo, 0.0, None)


def shell_volumes(r_edges, normalization, z_a=None, region=None, n_sub=8) -> np.ndarray:
    """Volume (nm^3) of each shell summed over the A atoms, as the chosen normalisation counts it.

    ``region`` normalisation integrates 2 pi r overlap(r) over each bin with ``n_sub`` midpoints.
    """
    r_edges = np.asarray(r_edges, float)
    if normalization == "cell":
        n_a = 1 if z_a is None else len(z_a)
        return n_a * 4.0 / 3.0 * np.pi * (r_edges[1:] ** 3 - r_edges[:-1] ** 3)
    if normalization != "region":
        raise ValueError(f"normalization must be 'region' or 'cell', got {normalization!r}")
    if z_a is None or region is None:
        raise ValueError("region normalisation needs the heights of the A atoms and the region (z0, z1)")
    z0, z1 = region
    dr = np.diff(r_edges)
    frac = (np.arange(n_sub) + 0.5) / n_sub
    r_mid = r_edges[:-1, None] + dr[:, None] * frac[None, :]  # (n_bins, n_sub)
    ov = zone_overlap(r_mid.ravel(), z_a, z0, z1).sum(axis=0).reshape(r_mid.shape)  # summed over A atoms
    return (2.0 * np.pi * r_mid * ov).mean(axis=1) * dr


def rdf_from_counts(counts, n_frames, r_edges, n_b, volume_b, normalization, z_a=None, region=None):
    """g(r) from summed histogram counts.

    Parameters
    ----------
    counts : ndarray
        Pair counts per bin summed over frames and A atoms.
    n_frames : int
    r_edges : ndarray
    n_b : int
        Number of B particles.
    volume_b : float
        Volume (nm^3) the B particles are spread over: the electrolyte region for ``region``, the cell for ``cell``.
    """
    if n_frames < 1:
        raise ValueError("no frames to average")
    rho = n_b / volume_b
    vol = shell_volumes(r_edges, normalization, z_a=z_a, region=region)
    with np.errstate(invalid="ignore", divide="ignore"):
        g = counts / (n_frames * rho * vol)
    g[vol <= 0] = np.nan
    return g


def running_coordination(counts, n_frames, n_a) -> np.ndarray:
    """n(r) at each upper bin edge: mean number of B within r of an A atom."""
    return np.cumsum(counts) / (n_frames * n_a)


def coordination_at(r_edges, running, r_c) -> float:
    """Direct count at the bin edge nearest to ``r_c`` (the running n(r) at that edge)."""
    k = int(np.argmin(np.abs(np.asarray(r_edges)[1:] - r_c)))
    return float(running[k])


def _smooth(y, width_bins):
    y = np.nan_to_num(np.asarray(y, float))
    if width_bins <= 0:
        return y
    half = int(np.ceil(3 * width_bins))
    x = np.arange(-half, half + 1)
    k = np.exp(-0.5 * (x / width_bins) ** 2)
    k /= k.sum()
    pad = np.pad(y, half, mode="edge")
    return np.convolve(pad, k, mode="valid")


def first_shell(r_centres, g, smooth_nm=0.01, peak_fraction=0.5, rise_fraction=0.05, min_depth_fraction=0.1):
    """First peak of g(r), the first minimum after it, and where the first peak starts.

    The curve is smoothed with a Gaussian of ``smooth_nm``. The first peak is the first local maximum that
    reaches ``peak_fraction`` of the highest value; the minimum is the lowest point after it before the curve
    climbs back by ``rise_fraction`` of the peak-to-minimum depth (so noise does not end the shell early).
    A minimum less than ``min_depth_fraction`` below the peak is a wiggle on a rising curve, not the end of a
    shell, and counts as none. The shell starts at the first r where g(r) is non-zero.

    Returns
    -------
    dict
        ``peak_nm``, ``minimum_nm`` (None when g(r) never rises again within the range), ``start_nm``.
    """
    r = np.asarray(r_centres, float)
    g = np.asarray(g, float)
    if len(r) != len(g) or len(r) < 3:
        raise ValueError("first_shell needs matching r and g arrays of at least 3 points")
    dr = r[1] - r[0]
    gs = _smooth(g, smooth_nm / dr)
    finite = np.nan_to_num(g) > 0
    if not finite.any():
        return {"peak_nm": None, "minimum_nm": None, "start_nm": None}
    start = float(r[np.argmax(finite)])
    top = gs.max()
    i_peak = None
    for i in range(1, len(gs) - 1):
        if gs[i] >= gs[i - 1] and gs[i] >= gs[i + 1] and gs[i] >= peak_fraction * top:
            i_peak = i
            break
    if i_peak is None:
        i_peak = int(np.argmax(gs))
    m = i_peak
    found = False
    for j in range(i_peak + 1, len(gs)):
        if gs[j] < gs[m]:
            m = j
        elif gs[j] - gs[m] > rise_fraction * (gs[i_peak] - gs[m]) and gs[i_peak] > gs[m]:
            found = True
            break
    if found and gs[i_peak] - gs[m] < min_depth_fraction * gs[i_peak]:
        found = False
    return {"peak_nm": float(r[i_peak]), "minimum_nm": float(r[m]) if found else None, "start_nm": start}
