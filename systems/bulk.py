"""A bulk liquid electrolyte: a cubic periodic box of whole molecules, its OpenMM System, and its measured density.

The density of a liquid of the workflow's force fields is measured, not assumed: pack the molecules
(:func:`pack_liquid`) at a guessed density, run an NPT stage (:mod:`systems.protocol`, ``kind: npt``) and read the
density from its state log (:func:`density_estimate`). :mod:`systems.liquid` turns that density into the molecule
counts of a cell of given molarity.

The System is the slab cell's, without the slab: PME, Lennard-Jones mixed geometrically and switched off over the
last 0.1 nm before the cutoff (:func:`systems.openmm_system.apply_geometric_mixing`), 1-4 pairs scaled by 0.5. One
difference: a bulk liquid gets the isotropic long-range dispersion correction, which a density needs (OPLS-AA's
densities were fitted with it) and which the slab cell leaves out (it is wrong for an interface).
"""

from __future__ import annotations

import csv
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import openmm as mm
import openmm.app as app
import openmm.unit as unit

from systems.electrolyte import AVOGADRO, PackingError, packmol_executable
from systems.liquid import MOLAR_MASS
from systems.molecules import build_dme, build_dol, build_li_ion, build_nitrate, build_tfsi
from systems.openmm_system import FORCEFIELD_DIR, apply_geometric_mixing
from systems.structure import Structure, combine, minimum_image_distances, read_pdb

#: each kind of the liquid: the molecules one unit of it is (a salt is its anion and Li+) and their force fields
SPECIES = {
    "LiTFSI": ((build_tfsi, build_li_ion), ("tfsi_clandp.xml", "li_ion_clandp.xml")),
    "LiNO3": ((build_nitrate, build_li_ion), ("nitrate_clandp.xml", "li_ion_clandp.xml")),
    "DME": ((build_dme,), ("dme_oplsaa.xml",)),
    "DOL": ((build_dol,), ("dol_oplsaa.xml",)),
}


def _kinds(counts: dict) -> dict:
    """``counts`` without what is not a molecule count (``volume_nm3`` of :func:`systems.liquid.molecule_counts`),
    checked against :data:`SPECIES`."""
    kinds = {k: int(v) for k, v in counts.items() if k != "volume_nm3" and int(v) > 0}
    unknown = sorted(set(kinds) - set(SPECIES))
    if unknown or not kinds:
        raise ValueError(f"a liquid of {sorted(SPECIES)}; got {sorted(counts)}")
    return kinds


def box_edge_nm(counts: dict, density_g_cm3: float) -> float:
    """Edge (nm) of the cube that holds ``counts`` at ``density_g_cm3``."""
    mass_g = sum(n * MOLAR_MASS[k] for k, n in _kinds(counts).items()) / AVOGADRO
    return float((mass_g / density_g_cm3 * 1e21) ** (1.0 / 3.0))


def pack_liquid(counts: dict, density_g_cm3: float, seed: int, tolerance_nm: float = 0.2, workdir=None, timeout_s: float = 1800.0) -> Structure:
    """Place ``counts`` (kind -> number; a salt gives that many anions and as many Li+) at random (seeded) in a cube
    periodic in x, y and z, sized for ``density_g_cm3``; no two atoms of different molecules closer than
    ``tolerance_nm`` across the periodic boundaries. Molecules are ordered by kind as ``counts`` lists them, a salt's
    anions before its Li+, the Li+ of every salt together (after the first salt's anions).

    Raises
    ------
    PackingError
        packmol failed or could not keep the tolerance (pack at a lower density).
    """
    kinds = _kinds(counts)
    edge = box_edge_nm(kinds, density_g_cm3)
    A = 10.0  # packmol works in Angstrom
    # one entry per kind of molecule (Li+ of every salt together: a topology holds each residue name contiguous)
    per_builder = {}
    for kind, n in kinds.items():
        for build in SPECIES[kind][0]:
            per_builder[build] = per_builder.get(build, 0) + n
    molecules = [(build.__name__.removeprefix("build_"), build, n) for build, n in per_builder.items()]
    own_tmp = workdir is None
    wd = Path(tempfile.mkdtemp(prefix="liquid_")) if own_tmp else Path(workdir)
    wd.mkdir(parents=True, exist_ok=True)
    try:
        lines = [f"tolerance {tolerance_nm * A:.3f}", "filetype pdb", "output packed.pdb", f"seed {int(seed)}", f"pbc 0. 0. 0. {edge * A:.4f} {edge * A:.4f} {edge * A:.4f}"]
        for name, build, n in molecules:
            build().write_pdb(wd / f"{name}.pdb")
            lines += [f"structure {name}.pdb", f"  number {n}", f"  inside box 0. 0. 0. {edge * A:.4f} {edge * A:.4f} {edge * A:.4f}", "end structure"]
        (wd / "pack.inp").write_text("\n".join(lines) + "\n")
        with open(wd / "pack.inp") as fin:
            proc = subprocess.run([packmol_executable()], stdin=fin, cwd=wd, capture_output=True, text=True, timeout=timeout_s)
        if proc.returncode != 0 or not (wd / "packed.pdb").exists():
            raise PackingError(f"packmol exited with {proc.returncode}; its output ends:\n{proc.stdout[-2000:]}")
        if "ENDED WITHOUT PERFECT PACKING" in proc.stdout:
            raise PackingError(f"packmol could not place every molecule {tolerance_nm} nm apart at {density_g_cm3} g/cm3: pack at a lower density")
        packed = read_pdb(wd / "packed.pdb")
    finally:
        if own_tmp:
            shutil.rmtree(wd, ignore_errors=True)
    out = combine([build() for _, build, n in molecules for _ in range(n)], box=np.array([edge] * 3))
    if out.n_atoms != packed.n_atoms:
        raise PackingError(f"packmol wrote {packed.n_atoms} atoms, expected {out.n_atoms}")
    out.positions = packed.positions
    return out


def closest_intermolecular_nm(structure: Structure) -> float:
    """Smallest distance (nm) between atoms of different molecules, across the periodic boundaries."""
    d = minimum_image_distances(structure.positions, structure.positions, structure.box, periodic_axes=(0, 1, 2))
    resid = np.asarray(structure.resids)
    same = resid[:, None] == resid[None, :]
    return float(d[~same].min())


def forcefield_files(counts: dict) -> list[str]:
    """The force-field files of a liquid of ``counts`` (each once)."""
    files = []
    for kind in _kinds(counts):
        files += [f for f in SPECIES[kind][1] if f not in files]
    return [str(FORCEFIELD_DIR / f) for f in files]


#: the densest liquid an NPT stage may reach (g/cm3; LiTFSI solutions in DOL/DME are about 1.1-1.2): the box must
#: stay at least twice the cutoff there, or OpenMM stops the run mid-way (and a rerun resumes into the same stop)
MAX_DENSITY_G_CM3 = 1.5


def liquid_system(structure: Structure, counts: dict, cutoff_nm: float = 1.25, switch_width_nm: float = 0.1) -> tuple[app.Topology, mm.System]:
    """Topology and System of a packed liquid (module docstring: PME, geometric mixing, long-range correction).

    Refused when the cube of ``counts`` at :data:`MAX_DENSITY_G_CM3` would be less than twice the cutoff: an NPT stage
    shrinks the box towards the liquid's density."""
    smallest = box_edge_nm(counts, MAX_DENSITY_G_CM3)
    if cutoff_nm > 0.5 * min(smallest, float(min(structure.box))):
        raise ValueError(
            f"cutoff {cutoff_nm} nm is more than half the box of these molecules at {MAX_DENSITY_G_CM3} g/cm3 ({smallest:.3f} nm), "
            "where an NPT stage may take it: pack more molecules"
        )
    topology = structure.to_topology()
    ff = app.ForceField(*forcefield_files(counts))
    system = ff.createSystem(topology, nonbondedMethod=app.PME, nonbondedCutoff=cutoff_nm * unit.nanometer, constraints=None, rigidWater=False)
    lj = apply_geometric_mixing(system, cutoff_nm - switch_width_nm)
    lj.setUseLongRangeCorrection(True)
    return topology, system


def density_series(state_log) -> np.ndarray:
    """The density column (g/cm3) of an NPT stage's state log."""
    with open(state_log) as fh:
        rows = list(csv.DictReader(fh))
    key = next((k for k in (rows[0] if rows else {}) if k.startswith("Density")), None)
    if key is None:
        raise ValueError(f"{state_log} has no density column: not the log of an NPT stage")
    return np.array([float(r[key]) for r in rows])


def density_estimate(series, equilibration_fraction: float = 0.2) -> dict:
    """Mean density of the production part (the first ``equilibration_fraction`` of the frames discarded) with its
    block-averaged standard error (:func:`analysis.stats.block_average`), g/cm3."""
    from analysis.replica import production_slice
    from analysis.stats import block_average

    series = np.asarray(series, float)
    prod = series[production_slice(len(series), equilibration_fraction)]
    blk = block_average(prod) if len(prod) >= 2 else None
    return {"mean_g_cm3": float(prod.mean()), "block_se_g_cm3": blk["se"] if blk else float("nan"),
            "block_plateau": bool(blk["plateau"]) if blk else False, "n_frames": int(len(prod))}  # fmt: skip


def measure_density(counts: dict, out_dir, *, pack_density_g_cm3: float, length_ps: float, temperature_k: float = 298.0,
                    pressure_bar: float = 1.0, frame_interval_ps: float = 0.5, equilibration_fraction: float = 0.4,
                    cutoff_nm: float = 1.25, seed: int = 1, threads: int | None = None, platform_name: str = "auto",
                    log=None) -> dict:  # fmt: skip
    """Pack ``counts``, minimise, run one NPT stage (resumable, in ``out_dir``) and return its density estimate.

    Returns the :func:`density_estimate` of the stage's state log (the first ``equilibration_fraction`` discarded)
    with the counts, the stage's settings and the platform; also written to ``out_dir/density.json``.
    """
    import json

    from systems.md import minimize, run_protocol, save_system
    from systems.platforms import select_platform
    from systems.protocol import protocol_stages

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    structure = pack_liquid(counts, pack_density_g_cm3, seed)
    topology, system = liquid_system(structure, counts, cutoff_nm=cutoff_nm)
    save_system(system, out / "system.xml")
    platform, props = select_platform(platform_name, threads=threads)
    positions, _ = minimize(system, topology, structure.positions, platform, props, label=str(out), log=log)
    stages = protocol_stages({"temperature_k": temperature_k, "length_ps": length_ps,
                              "protocol": [{"name": "npt", "length_ps": length_ps, "temperature_k": temperature_k, "kind": "npt", "pressure_bar": pressure_bar}]})  # fmt: skip
    outputs = {k: out / f for k, f in dict(trajectory="trajectory.xtc", state_log="state_log.csv", provenance="provenance.json", final_state="final_state.xml").items()}
    prov = run_protocol(system, topology, positions, stages, seed=seed, outputs=outputs, timestep_fs=1.0, friction_per_ps=1.0,
                        frame_interval_ps=frame_interval_ps, platform=platform, properties=props, label=str(out), log=log)  # fmt: skip
    result = {
        **density_estimate(density_series(outputs["state_log"]), equilibration_fraction),
        "counts": _kinds(counts), "n_atoms": structure.n_atoms, "length_ps": length_ps, "temperature_k": temperature_k,
        "pressure_bar": pressure_bar, "equilibration_fraction": equilibration_fraction, "cutoff_nm": cutoff_nm,
        "platform": prov["platform"], "ns_per_day": prov["ns_per_day"], "openmm": prov.get("openmm_version"),
    }  # fmt: skip
    (out / "density.json").write_text(json.dumps(result, indent=1))
    return result


def main(argv=None) -> int:
    """``python -m systems.bulk OUT_DIR --counts DME=200 [...]``: measure a liquid's density by NPT."""
    import argparse
    import json
    import sys

    ap = argparse.ArgumentParser(prog="python -m systems.bulk", description=main.__doc__.splitlines()[0])
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--counts", nargs="+", required=True, help="KIND=N, e.g. DME=100 LiTFSI=10")
    ap.add_argument("--pack-density", type=float, default=1.0, help="g/cm3 to pack at (above the liquid's relaxes robustly)")
    ap.add_argument("--length-ps", type=float, required=True)
    ap.add_argument("--temperature-k", type=float, default=298.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--platform", default="auto")
    args = ap.parse_args(argv)
    counts = {k: int(v) for k, v in (c.split("=") for c in args.counts)}
    result = measure_density(counts, args.out_dir, pack_density_g_cm3=args.pack_density, length_ps=args.length_ps,
                             temperature_k=args.temperature_k, seed=args.seed, threads=args.threads, platform_name=args.platform, log=sys.stdout)  # fmt: skip
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
