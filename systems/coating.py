"""Coatings as data: read a definition (``systems/coatings/<name>/coating.yaml``), check it, build it.

A definition (schema: ``workflow/schemas/coating.schema.yaml``) lists the coating's components in order; each
has a structure (a file or a builder the project ships), per-atom charges, and a placement on the slab or on an
earlier component. Lennard-Jones parameters are UFF by element (:mod:`systems.uff`) unless the definition gives
them; ``sites`` name atoms that get their own TFSI- RDF.

:func:`build` turns a definition and a slab into the placed, frozen coating (a :class:`CoatingBuild`); it checks
everything a run would trip over later and raises :class:`CoatingError` naming the file and the field:
unreadable structures, elements without LJ parameters, charges that do not sum to an integer (within 1e-3) or
leave the cell charged, charge files of the wrong length, atoms closer than 0.15 nm (not bonded) to each other
or to the slab, structures wider than the lateral cell or periodic in another cell, gaps that put a component
inside its support, unknown builders and charge schemes. The workflow runs these checks when the Snakefile is
read (``check=True`` and no charge scheme computed), so a bad coating stops everything before any job runs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import yaml

from systems import charges as charge_schemes
from systems import mil101, phthalocyanine
from systems.readers import StructureFileError, atom_names, decide_bonds, read_charges, read_structure
from systems.structure import Structure, combine
from systems.uff import UFF_X_D, uff_epsilon_kj, uff_sigma_nm

ROOT = Path(__file__).resolve().parent.parent
COATINGS_DIR = ROOT / "systems" / "coatings"
SCHEMA = ROOT / "workflow" / "schemas" / "coating.schema.yaml"
DEFINITION = "coating.yaml"
#: closest distance (nm) allowed between atoms that are not bonded, and from the coating to the slab
MIN_DISTANCE_NM = 0.15
#: integer net charge tolerance (e)
CHARGE_TOLERANCE = 1e-3
#: a periodic structure's cell must match the lateral cell to this relative tolerance
CELL_TOLERANCE = 1e-3

#: builder name -> function returning a Structure (names, resname set by the builder; may carry ``site_types``)
BUILDERS = {
    "nh2_mil101_fe_ring": mil101.build_nh2_mil101_fe_layer,
    "metal_phthalocyanine": phthalocyanine.build_metal_phthalocyanine,
}
#: builder name -> function(structure) -> charges, for builders that come with a charge set
BUILDER_CHARGES = {"nh2_mil101_fe_ring": lambda s: np.array([mil101.CHARGES[t] for t in mil101.site_types(s)])}



class CoatingError(ValueError):
    """A coating definition that cannot be built; the message names the file and the field."""


@dataclass
class CoatingBuild:
    """A placed coating: structure (all components), per-atom charges and LJ, sites, and a summary."""

    name: str
    folder: Path
    structure: Structure
    charges: np.ndarray | None  # None until a charge scheme is computed (check-only builds)
    sigma_nm: np.ndarray
    epsilon_kj: np.ndarray
    components: list  # dicts: name, resname, first, n_atoms, charge source and citations
    sites: dict  # site name -> {"indices": [...], "label": str, "component": str}
    info: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------------- finding


def resolve(coating: str, base=None) -> Path:
    """The folder of a coating: a name under ``systems/coatings/``, or a path to a folder (contains a ``/``)."""
    if "/" in coating or "\\" in coating:
        folder = Path(base or ".") / coating
    else:
        folder = COATINGS_DIR / coating
    if not (folder / DEFINITION).is_file():
        known = ", ".join(available()) or "none"
        raise CoatingError(f"no coating {coating!r}: {folder / DEFINITION} does not exist (coatings shipped: {known})")
    return folder.resolve()


def available() -> list[str]:
    """Names of the coatings shipped in ``systems/coatings/``."""
    return sorted(p.parent.name for p in COATINGS_DIR.glob(f"*/{DEFINITION}"))


def definition_files(folder) -> list[str]:
    """coating.yaml and every file it names (inputs of the build, so an edit reruns it)."""
    folder = Path(folder)
    defn = yaml.safe_load((folder / DEFINITION).read_text()) or {}
    files = [folder / DEFINITION]
    for comp in defn.get("components") or []:
        for key in ("structure", "charges"):
            f = (comp.get(key) or {}).get("file")
            if isinstance(f, str) and (folder / f).is_file():
                files.append(folder / f)
    return [str(f) for f in files]


# ---------------------------------------------------------------------------------------------------- reading


def load(folder) -> dict:
    """Read and schema-check ``folder/coating.yaml``; returns the definition with defaults filled in."""
    import jsonschema

    path = Path(folder) / DEFINITION
    try:
        defn = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise CoatingError(f"{path}: cannot read the definition: {err}") from None
    schema = yaml.safe_load(SCHEMA.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(defn), key=lambda e: list(e.absolute_path))
    if errors:
        e = jsonschema.exceptions.best_match(errors)
        where = _field(list(e.absolute_path)) or "(top level)"
        raise CoatingError(f"{path}: {where}: {_schema_message(e)}")
    for comp in defn["components"]:
        comp["structure"].setdefault("periodic", False)
        comp["charges"].setdefault("total_charge", 0)
        comp["charges"].setdefault("unpaired_electrons", 0)
    defn.setdefault("lennard_jones", {})
    defn.setdefault("sites", {})
    defn.setdefault("lennard_jones_sites", {})
    return defn


def _field(path) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _schema_message(e) -> str:
    if e.validator == "oneOf":
        keys = [sorted(s.get("required", [])) for s in e.validator_value]
        return f"give exactly one of {' / '.join('+'.join(k) for k in keys)} (a citation is required for every number that is not computed)"
    if e.validator == "additionalProperties":
        return f"{e.message} (allowed: {', '.join(sorted(e.schema.get('properties', {})))})"
    return e.message


def _distances(a, b, cell=None):
    d = np.asarray(a)[:, None, :] - np.asarray(b)[None, :, :]
    if cell is not None:
        for ax in (0, 1):
            d[..., ax] -= cell[ax] * np.round(d[..., ax] / cell[ax])
    return np.sqrt((d**2).sum(-1))


# ---------------------------------------------------------------------------------------------------- building


def build(folder, slab: Structure, compute_charges: bool = True, defn: dict | None = None) -> CoatingBuild:
    """Build the coating of ``folder`` on ``slab`` (a Structure with its lateral cell in ``slab.box``).

    With ``compute_charges=False`` charge schemes are not run (a check-only build: everything else is checked).
    """
    folder = Path(folder)
    yml = folder / DEFINITION
    defn = defn or load(folder)
    if slab.box is None:
        raise ValueError("the slab has no lateral cell")
    cell = np.asarray(slab.box, float)
    placed: dict = {}  # component name -> placed Structure
    lj: dict = {}  # component name -> (sigma_nm, epsilon_kj) per atom
    parts, charges, comps = [], [], []
    resnames = set()
    n_total = 0
    for k, comp in enumerate(defn["components"]):
        where = f"{yml}: components[{k}]"
        cname = comp["name"]
        if cname in placed or cname == "slab":
            raise CoatingError(f"{where}.name: {cname!r} is used twice (or is 'slab')")
        if comp["resname"] in resnames:
            raise CoatingError(f"{where}.resname: {comp['resname']!r} is used by another component")
        resnames.add(comp["resname"])
        s, file_cell, site_types = _component_structure(comp, folder, where)
        q = _component_charges(comp, s, folder, where, compute_charges)
        lj[cname] = _lj(defn, s, where, yml)
        s = _place(comp, s, file_cell, cell, lj[cname][0], slab, placed, {n: v[0] for n, v in lj.items()}, where)
        s.resnames = [comp["resname"]] * s.n_atoms
        s.resids = [k] * s.n_atoms
        s.site_types = site_types  # type: ignore[attr-defined]
        placed[cname] = s
        parts.append(s)
        charges.append(q)
        comps.append(
            {
                "name": cname,
                "resname": comp["resname"],
                "first_atom": n_total,
                "n_atoms": s.n_atoms,
                "structure": comp["structure"].get("file") or f"builder {comp['structure']['builder']}",
                "structure_citation": _oneline(comp["structure"]["citation"]),
                "charges": _charge_source(comp["charges"]),
                "charges_citation": _oneline(comp["charges"].get("citation") or _scheme_citation(comp["charges"].get("scheme"))),
                "net_charge_e": None if q is None else float(q.sum()),
                "placement": {k: _oneline(v) if k == "citation" else v for k, v in comp["placement"].items()},
                "gap_nm": s.gap_nm,  # type: ignore[attr-defined]
            }
        )
        n_total += s.n_atoms
    _check_net_charge(defn, comps, yml)
    structure = combine(parts, box=cell)
    sig = np.concatenate([lj[c["name"]][0] for c in comps])
    eps = np.concatenate([lj[c["name"]][1] for c in comps])
    _check_between(parts, comps, slab, cell, yml)
    sites = _sites(defn, comps, parts, yml)
    for name, given in defn["lennard_jones_sites"].items():  # after placement: the structure does not change
        if name not in sites:
            raise CoatingError(f"{yml}: lennard_jones_sites.{name}: no site {name!r} (sites: {sorted(sites) or 'none'})")
        if (given["sigma_nm"] == 0) != (given["epsilon_kj_mol"] == 0):
            raise CoatingError(f"{yml}: lennard_jones_sites.{name}: sigma_nm and epsilon_kj_mol are zero together (no LJ) or neither")
        idx = np.asarray(sites[name]["indices"], int)
        sig[idx], eps[idx] = given["sigma_nm"], given["epsilon_kj_mol"]
    q_all = None if any(q is None for q in charges) else np.concatenate(charges)
    z = structure.positions[:, 2]
    info = {
        "coating": defn["name"],
        "folder": str(folder),
        "n_atoms": structure.n_atoms,
        "components": comps,
        "net_charge_e": None if q_all is None else float(q_all.sum()),
        "gap_above_top_li_layer_nm": comps[0]["gap_nm"],
        "thickness_nm": float(z.max() - z.min()),
        "top_above_top_li_layer_nm": float(z.max() - slab.positions[:, 2].max()),
        "sites": sites,
        "sigma_nm": [float(x) for x in sig],
        "lennard_jones": "UFF by element (Rappe et al., J. Am. Chem. Soc. 114 (1992) 10024), geometric mixing"
        + (f"; given in the definition: {sorted(defn['lennard_jones'])}" if defn["lennard_jones"] else "")
        + "".join(
            f"; site {n} ({len(sites[n]['indices'])} atoms): sigma {v['sigma_nm']} nm, epsilon {v['epsilon_kj_mol']} kJ/mol ({_oneline(v['citation'])})"
            for n, v in defn["lennard_jones_sites"].items()
        ),
    }
    return CoatingBuild(defn["name"], folder, structure, q_all, sig, eps, comps, sites, info)


def _component_structure(comp, folder, where):
    st = comp["structure"]
    site_types = None
    if "builder" in st:
        fn = BUILDERS.get(st["builder"])
        if fn is None:
            raise CoatingError(f"{where}.structure.builder: unknown builder {st['builder']!r}; known: {sorted(BUILDERS)}")
        try:
            s = fn(**(st.get("parameters") or {}))
        except (TypeError, ValueError) as err:
            raise CoatingError(f"{where}.structure.parameters: builder {st['builder']!r} refused them: {err}") from None
        site_types = getattr(s, "site_types", None)
        return s, None, site_types
    path = folder / st["file"]
    if not path.is_file():
        raise CoatingError(f"{where}.structure.file: {path} does not exist")
    try:
        s, cell = read_structure(path)
    except StructureFileError as err:
        raise CoatingError(f"{where}.structure.file: cannot read {path}: {err}") from None
    except Exception as err:  # any other parser error: the file is unreadable as a structure
        raise CoatingError(f"{where}.structure.file: cannot read {path}: {type(err).__name__}: {err}") from None
    try:
        names_ok = len(set(s.names)) == s.n_atoms and all(0 < len(n) <= 4 for n in s.names) and s.names != s.elements
        s.names = list(s.names) if names_ok else atom_names(s.elements)
    except ValueError as err:
        raise CoatingError(f"{where}.structure.file: {err}") from None
    try:
        s.bonds = decide_bonds(s, st.get("bonds", "auto"), cell if st.get("periodic") else None)
    except ValueError as err:
        raise CoatingError(f"{where}.structure.bonds: {path}: {err}") from None
    return s, cell, site_types


def _oneline(text):
    return " ".join(str(text).split()) if text else text


def _charge_source(c) -> str:
    for key in ("builder", "file", "values", "scheme"):
        if key in c:
            return {"builder": "the builder's charge set", "values": "values in coating.yaml"}.get(key, f"{key} {c[key]}")
    return "?"


def _scheme_citation(scheme):
    if scheme == "gfn2-xtb":
        return "GFN2-xTB Mulliken charges (Bannwarth, Ehlert, Grimme, J. Chem. Theory Comput. 15 (2019) 1652) by tblite"
    return None


def _component_charges(comp, s, folder, where, compute):
    c = comp["charges"]
    if "builder" in c:
        b = comp["structure"].get("builder")
        if b not in BUILDER_CHARGES:
            raise CoatingError(f"{where}.charges.builder: {'builder ' + repr(b) if b else 'a structure file'} has no charge set of its own; give file, values or scheme")
        q = BUILDER_CHARGES[b](s)
    elif "file" in c:
        path = folder / c["file"]
        if not path.is_file():
            raise CoatingError(f"{where}.charges.file: {path} does not exist")
        try:
            q = read_charges(path)
        except ValueError as err:
            raise CoatingError(f"{where}.charges.file: cannot read {path}: {err}") from None
        if len(q) != s.n_atoms:
            raise CoatingError(f"{where}.charges.file: {path} has {len(q)} charges for {s.n_atoms} atoms of the structure")
    elif "values" in c:
        q = np.array(c["values"], float)
        if len(q) != s.n_atoms:
            raise CoatingError(f"{where}.charges.values: {len(q)} charges for {s.n_atoms} atoms of the structure")
    else:
        if c["scheme"] not in charge_schemes.SCHEMES:
            raise CoatingError(f"{where}.charges.scheme: unknown charge scheme {c['scheme']!r}; known: {list(charge_schemes.SCHEMES)}")
        if not compute:
            return None
        q = charge_schemes.scheme_charges(c["scheme"], s.elements, s.positions, c["total_charge"], c["unpaired_electrons"])
    total = float(q.sum())
    if abs(total - round(total)) > CHARGE_TOLERANCE:
        raise CoatingError(
            f"{where}.charges: the charges sum to {total:+.4f} e, not an integer within {CHARGE_TOLERANCE} e "
            "(a component must carry a whole number of charges)"
        )
    return q


def _check_net_charge(defn, comps, yml):
    totals = [c["net_charge_e"] if c["net_charge_e"] is not None else defn["components"][k]["charges"]["total_charge"] for k, c in enumerate(comps)]
    net = int(round(sum(totals)))
    if net != 0:
        detail = ", ".join(f"{c['name']} {t:+.3f} e" for c, t in zip(comps, totals))
        raise CoatingError(
            f"{yml}: charges: the coating's net charge is {net:+d} e ({detail}) and nothing balances it: the electrolyte "
            "has as many Li+ as TFSI-. Balance it within the coating (counter-ions or another component as a component)."
        )


def _lj(defn, s, where, yml):
    given = defn["lennard_jones"]
    sig, eps = [], []
    for k, el in enumerate(s.elements):
        if el in given:
            sig.append(given[el]["sigma_nm"])
            eps.append(given[el]["epsilon_kj_mol"])
        elif el in UFF_X_D:
            sig.append(uff_sigma_nm(el))
            eps.append(uff_epsilon_kj(el))
        else:
            raise CoatingError(
                f"{yml}: lennard_jones: element {el!r} (atom {k} {s.names[k]} of {where.split(': ')[-1] or 'the coating'}) has no "
                f"Lennard-Jones parameters: UFF here covers {', '.join(sorted(UFF_X_D))}; add lennard_jones: {{{el}: "
                "{sigma_nm: ..., epsilon_kj_mol: ..., citation: ...}}"
            )
    return np.array(sig), np.array(eps)


def _place(comp, s, file_cell, cell, sigma, slab, placed, placed_sigma, where):
    """Put one component in the lateral cell and on its support; returns the placed copy (``gap_nm`` set)."""
    st, pl = comp["structure"], comp["placement"]
    lx, ly = cell[0], cell[1]
    if st["periodic"]:
        if file_cell is None:
            raise CoatingError(f"{where}.structure.periodic: the structure claims to be periodic but its file has no cell (CRYST1 or CIF cell)")
        if abs(file_cell[0] - lx) > CELL_TOLERANCE * lx or abs(file_cell[1] - ly) > CELL_TOLERANCE * ly:
            raise CoatingError(
                f"{where}.structure.periodic: the structure's cell is {file_cell[0]:.4f} x {file_cell[1]:.4f} nm, "
                f"not the slab's lateral cell {lx:.4f} x {ly:.4f} nm: it is not periodic in it"
            )
        pos = s.positions.copy()
        pos[:, 0] %= lx
        pos[:, 1] %= ly
        out = s.copy()
        out.positions = pos
    else:
        ext = np.ptp(s.positions[:, :2], axis=0)
        if ext[0] + MIN_DISTANCE_NM > lx or ext[1] + MIN_DISTANCE_NM > ly:
            raise CoatingError(
                f"{where}.structure: the structure is {ext[0]:.3f} x {ext[1]:.3f} nm wide, wider than the slab's lateral cell "
                f"{lx:.3f} x {ly:.3f} nm less {MIN_DISTANCE_NM} nm (it would touch its periodic images); use a smaller piece, "
                "or a periodic tile of this cell with structure.periodic: true"
            )
        centre = 0.5 * (s.positions[:, :2].min(0) + s.positions[:, :2].max(0))
        off = np.array(st.get("offset_nm") or [0.0, 0.0])
        out = s.translated([lx / 2 - centre[0] + off[0], ly / 2 - centre[1] + off[1], 0.0])
    _check_internal(out, cell, where)
    out = out.translated([0, 0, -out.positions[:, 2].min()])
    on = pl["on"]
    if on == "slab":
        support, sup_sigma, what = slab.positions, np.full(slab.n_atoms, uff_sigma_nm("Li")), "the slab's top Li layer"
    elif on in placed:
        support = placed[on].positions
        sup_sigma = placed_sigma[on]
        what = f"component {on!r}"
    else:
        raise CoatingError(f"{where}.placement.on: {on!r} is neither slab nor an earlier component ({sorted(placed) or 'none yet'})")
    z_top = float(support[:, 2].max())
    if "gap_nm" in pl:
        gap = float(pl["gap_nm"])
        if gap < 0:
            raise CoatingError(
                f"{where}.placement.gap_nm: {gap} nm puts the lowest atom {-gap:.3f} nm below the top of {what}, "
                f"inside {'the slab' if on == 'slab' else 'it'}; the gap must be positive"
            )
    else:
        rmin = np.full((out.n_atoms, len(support)), float(pl["contact_nm"])) if "contact_nm" in pl else 2 ** (1 / 6) * np.sqrt(np.outer(sigma, sup_sigma))
        gap = _contact_gap(out.positions, support, rmin, cell, z_top)
    out = out.translated([0, 0, z_top + gap])
    out.gap_nm = gap  # type: ignore[attr-defined]
    return out


def _contact_gap(pos, support, rmin, cell, z_top):
    """Smallest vertical gap (bisection, 60 steps in [0, 1] nm) at which no pair is closer than its ``rmin``."""
    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        d = _distances(pos + [0, 0, z_top + mid], support, cell)
        if np.min(d - rmin) < 0:
            lo = mid
        else:
            hi = mid
    return hi


def _check_internal(s, cell, where):
    d = _distances(s.positions, s.positions, cell)
    np.fill_diagonal(d, np.inf)
    for i, j in s.bonds:
        d[i, j] = d[j, i] = np.inf
    i, j = np.unravel_index(np.argmin(d), d.shape)
    if d[i, j] < MIN_DISTANCE_NM:
        img = " (with periodic images in the lateral cell)" if np.linalg.norm(s.positions[i] - s.positions[j]) > d[i, j] + 1e-9 else ""
        units = " (positions are read in Angstrom: was the file written in nm?)" if d[i, j] < 0.05 else ""
        raise CoatingError(
            f"{where}.structure: atoms {i} ({s.names[i]}) and {j} ({s.names[j]}) are {d[i, j]:.3f} nm apart{img}, closer than "
            f"{MIN_DISTANCE_NM} nm, and not bonded{units}"
        )


def _check_between(parts, comps, slab, cell, yml):
    for k, p in enumerate(parts):
        d = _distances(p.positions, slab.positions, cell)
        i, j = np.unravel_index(np.argmin(d), d.shape)
        if d[i, j] < MIN_DISTANCE_NM:
            raise CoatingError(
                f"{yml}: components[{k}].placement: atom {i} ({p.names[i]}) is {d[i, j]:.3f} nm from Li atom {j} of the slab, "
                f"closer than {MIN_DISTANCE_NM} nm"
            )
        for m in range(k):
            d = _distances(p.positions, parts[m].positions, cell)
            i, j = np.unravel_index(np.argmin(d), d.shape)
            if d[i, j] < MIN_DISTANCE_NM:
                raise CoatingError(
                    f"{yml}: components[{k}].placement: atom {i} ({p.names[i]}) is {d[i, j]:.3f} nm from atom {j} "
                    f"({parts[m].names[j]}) of component {comps[m]['name']!r}, closer than {MIN_DISTANCE_NM} nm"
                )


def _sites(defn, comps, parts, yml) -> dict:
    out = {}
    by_name = {c["name"]: (c, p) for c, p in zip(comps, parts)}
    for name, sel in defn["sites"].items():
        where = f"{yml}: sites.{name}"
        if sel["component"] not in by_name:
            raise CoatingError(f"{where}.component: no component {sel['component']!r} (have {sorted(by_name)})")
        c, p = by_name[sel["component"]]
        if "elements" in sel:
            idx = [k for k, e in enumerate(p.elements) if e in sel["elements"]]
        elif "names" in sel:
            idx = [k for k, n in enumerate(p.names) if n in sel["names"]]
        elif "types" in sel:
            types = getattr(p, "site_types", None)
            if types is None:
                raise CoatingError(f"{where}.types: component {c['name']!r} has no site types (only builders give them)")
            idx = [k for k, t in enumerate(types) if t in sel["types"]]
        else:
            bad = [k for k in sel["indices"] if k >= p.n_atoms]
            if bad:
                raise CoatingError(f"{where}.indices: {bad} beyond the {p.n_atoms} atoms of component {c['name']!r}")
            idx = list(sel["indices"])
        if not idx:
            raise CoatingError(f"{where}: selects no atom of component {c['name']!r}")
        out[name] = {"component": c["name"], "label": sel.get("label", name), "indices": [c["first_atom"] + k for k in idx]}
    return out


# ---------------------------------------------------------------------------------------------------- writing


def forcefield_xml(b: CoatingBuild) -> str:
    """OpenMM ForceField XML of a built coating: one residue template per component, one atom type per atom.

    Bonds in the templates define the exclusions inside the frozen coating (1-2 and 1-3 excluded, 1-4 scaled 0.5);
    there are no bonded terms, every coating atom is fixed.
    """
    import openmm.app as app

    header = [
        f"Coating {b.name}: written by systems/coating.py from {b.folder / DEFINITION}; do not edit.",
        "Lennard-Jones: " + b.info["lennard_jones"] + ".",
        "Bonds only define exclusions inside the frozen coating; it has no bonded terms (all atoms fixed).",
    ]
    for c in b.components:
        header.append(f"{c['name']} ({c['resname']}, {c['n_atoms']} atoms): structure {c['structure']} ({c['structure_citation']}); charges {c['charges']} ({c['charges_citation']}).")
    lines = ["<!--", *(escape(h).replace("--", "- -") for h in header), "-->", "<ForceField>", " <AtomTypes>"]
    s = b.structure
    tname = [f"{s.resnames[i]}_{i}" for i in range(s.n_atoms)]
    for i, el in enumerate(s.elements):
        mass = app.Element.getBySymbol(el).mass._value
        lines.append(f'  <Type name="{tname[i]}" class="{tname[i]}" element="{el}" mass="{mass}"/>')
    lines += [" </AtomTypes>", " <Residues>"]
    for c in b.components:
        lo, hi = c["first_atom"], c["first_atom"] + c["n_atoms"]
        lines.append(f'  <Residue name="{c["resname"]}">')
        for i in range(lo, hi):
            lines.append(f'   <Atom name="{s.names[i]}" type="{tname[i]}" charge="{b.charges[i]:.6f}"/>')
        for i, j in s.bonds:
            if lo <= i < hi and lo <= j < hi:
                lines.append(f'   <Bond atomName1="{s.names[i]}" atomName2="{s.names[j]}"/>')
        lines.append("  </Residue>")
    lines += [" </Residues>", ' <NonbondedForce coulomb14scale="0.5" lj14scale="0.5">', '  <UseAttributeFromResidue name="charge"/>']
    for i in range(s.n_atoms):
        lines.append(f'  <Atom type="{tname[i]}" sigma="{b.sigma_nm[i]:.6f}" epsilon="{b.epsilon_kj[i]:.6f}"/>')
    lines += [" </NonbondedForce>", "</ForceField>", ""]
    return "\n".join(lines)


def write(b: CoatingBuild, out_pdb, out_json, out_xml) -> None:
    """The placed coating (PDB), its force field (XML) and a summary (JSON, with sites and citations); atomic."""
    from systems.files import write_json, write_text

    if b.charges is None:
        raise ValueError("the coating's charges were not computed (check-only build)")
    b.structure.write_pdb(out_pdb)
    write_text(out_xml, forcefield_xml(b))
    write_json(out_json, {**b.info, "net_charge_e": float(b.charges.sum())})


def build_files(coating: str, slab_pdb, out_pdb, out_json, out_xml, base=None) -> CoatingBuild:
    """Workflow step: build coating ``coating`` (name or folder) on the slab PDB and write PDB, JSON and XML."""
    from systems.structure import read_pdb

    slab = read_pdb(slab_pdb)
    b = build(resolve(coating, base), slab)
    write(b, out_pdb, out_json, out_xml)
    return b


def check(coating: str, slab: Structure, base=None) -> dict:
    """Check a coating without computing scheme charges (what the Snakefile runs before any job); its summary."""
    b = build(resolve(coating, base), slab, compute_charges=False)
    return b.info


def sites_of(coating_json) -> dict:
    """Sites (name -> label, component, coating atom indices) recorded by :func:`write`."""
    return json.loads(Path(coating_json).read_text()).get("sites", {})

