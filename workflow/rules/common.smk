# Shared helpers: config validation, coating checks, wildcards, and input functions.
import sys
from pathlib import Path

import jsonschema
import yaml
from snakemake.utils import validate

sys.path.insert(0, workflow.basedir)  # the project's packages (systems, analysis)
from analysis.independence import start_groups
from analysis.replica import ANALYSIS_VERSION
from systems import coating as coatings
from systems import protocol as protocols
from systems.protocol import protocol_stages
from systems.electrode_cell import back_gap_nm
from systems.slab import build_li_bcc100_slab
from systems.variants import electrode_section, expand_potentials, is_constant_potential

validate(config, schema="../schemas/config.schema.yaml")
_SCHEMA = yaml.safe_load(Path(workflow.basedir, "workflow/schemas/config.schema.yaml").read_text())
# a system with electrode.potentials_v becomes one system per potential (systems/variants.py); from here on
# config holds the variants, so every rule and script sees ordinary systems
for _name, _own in config[
    "systems"
].items():  # each system's own electrode keys, before they make variants
    try:
        jsonschema.validate(
            {**(config.get("electrode") or {}), **((_own or {}).get("electrode") or {})},
            _SCHEMA["properties"]["electrode"],
        )
    except jsonschema.ValidationError as _err:
        raise ValueError(f"config systems.{_name}.electrode: {_err.message}") from None
try:
    _expanded = expand_potentials(config)
except ValueError as _err:
    raise ValueError(str(_err)) from None
config.clear()
config.update(_expanded)


def _whole_multiple(a, b):
    return abs(a / b - round(a / b)) < 1e-6 and round(a / b) >= 1


_md = config["md"]
for _key in ("length_ps", "checkpoint_interval_ps"):
    if not _whole_multiple(_md[_key], _md["frame_interval_ps"]):
        raise ValueError(
            f"config md.{_key} = {_md[_key]} ps is not a whole number of frame intervals "
            f"(md.frame_interval_ps = {_md['frame_interval_ps']} ps)"
        )

# run_systems: the systems this call runs. A --configfile adds its systems to config/config.yaml's (Snakemake
# merges config files), so a user's config names its own here to run only them.
if config.get("run_systems"):
    _unknown = [n for n in config["run_systems"] if n not in config["systems"]]
    if _unknown:
        raise ValueError(
            f"config run_systems: {_unknown} are not systems of the config (systems: {sorted(config['systems'])})"
        )
    SYSTEMS = list(config["run_systems"])
else:
    SYSTEMS = list(config["systems"])
FORCEFIELDS = f"{workflow.basedir}/forcefields"
# the force fields of every system: Li metal, TFSI-, Li+ (a coating adds its own file)
BASE_FORCEFIELDS = [
    f"{FORCEFIELDS}/{name}" for name in ("li_metal_uff.xml", "tfsi_clandp.xml", "li_ion_clandp.xml")
]

REPLICAS = [f"r{k}" for k in range(config["replicas"])]


wildcard_constraints:
    system="|".join(SYSTEMS),  # names are letters, digits and underscores (schema), no regex characters
    replica=r"r\d+",


def system_section(system, section):
    """A system's ``slab`` or ``electrolyte``: the top-level section with the system's own keys over it."""
    return {**config[section], **(config["systems"][system].get(section) or {})}


def system_slab(system):
    return system_section(system, "slab")


def system_electrolyte(system):
    return system_section(system, "electrolyte")


def system_md(system):
    """A system's ``md``: the top-level section with the system's own protocol and anneal over it."""
    return protocols.system_md(config, system)


_ELECTRODE_KEYS = ("potential_v", "gaussian_width_nm", "thomas_fermi_scale_per_nm", "method")


def system_electrode(system):
    """A system's constant-potential settings (potential, width, Thomas-Fermi scale, method), or None for the
    neutral Li slab (electrode.mode absent or neutral)."""
    el = electrode_section(config, system)
    if not is_constant_potential(el):
        return None
    missing = [k for k in _ELECTRODE_KEYS if k not in el]
    if missing:
        raise ValueError(
            f"config systems.{system}: electrode.mode constant_potential needs {missing} (top level or the "
            "system's own electrode section; README, 'A polarisable electrode', says where the values come from)"
        )
    if config["cell"].get("lower_wall_nm") is None:
        raise ValueError(
            f"config systems.{system}: electrode.mode constant_potential needs cell.lower_wall_nm (0.0: a floor on "
            "the top Li plane): a Li+ that crosses the porous two-layer slab would reach the empty gap behind the "
            "electrodes, where the applied field's energy jumps by e dPsi across the periodic boundary"
        )
    return {k: el[k] for k in _ELECTRODE_KEYS}


def system_cell(system):
    """The cell section as the packing sees it; a constant-potential system adds the counter electrode's back gap
    (systems/electrode_cell.py), others get the section unchanged (so their params do not change).
    """
    if system_electrode(system) is None:
        return config["cell"]
    slab = system_slab(system)
    gap = back_gap_nm(config["forcefield"]["cutoff_nm"], 0.5 * slab["lattice_a_nm"])
    return {**config["cell"], "counter_back_gap_nm": gap}


def check_protocol(system):
    """The MD protocol of a system (md.protocol; absent: the paper's one NVT stage), checked: every stage a whole
    number of frame intervals, and nothing heated above md.temperature_k without the floor that keeps ions out of
    the porous Li slab."""
    md = system_md(system)
    own = config["systems"][system].get("md")
    where = f"md (with systems.{system}.md {sorted(own)} over it)" if own else "md"
    try:
        jsonschema.validate(md, _SCHEMA["properties"]["md"])
        stages = protocol_stages(md)
    except (jsonschema.ValidationError, ValueError) as err:
        msg = getattr(err, "message", err)
        at = ".".join(str(k) for k in getattr(err, "absolute_path", []))
        at = f" at {at}" if at else ""
        raise ValueError(f"config {where}{at}: {msg}") from None
    for stage in stages:
        if not _whole_multiple(stage.length_ps, md["frame_interval_ps"]):
            raise ValueError(
                f"config {where}, protocol stage {stage.name!r}: {stage.length_ps} ps is not a whole number of frame "
                f"intervals (md.frame_interval_ps = {md['frame_interval_ps']} ps)"
            )
    hottest = max(max(s.temperature_k, s.end_temperature_k or 0.0) for s in stages)
    if hottest > stages[-1].temperature_k and config["cell"].get("lower_wall_nm") is None:
        raise ValueError(
            f"config {where}: the protocol heats the ions to {hottest:g} K but cell.lower_wall_nm is null: above room "
            "temperature a Li+ crosses the porous two-layer Li slab (its barrier is about 2 kT at 298 K, less than "
            "1 kT at 600 K; model-review.md). Set cell.lower_wall_nm: 0.0 (a floor on the top Li plane), as "
            "config/annealed.yaml does."
        )
    return stages


for _name in SYSTEMS:
    for _section in ("slab", "electrolyte"):
        try:
            jsonschema.validate(system_section(_name, _section), _SCHEMA["properties"][_section])
        except jsonschema.ValidationError as _err:
            raise ValueError(f"config systems.{_name}.{_section}: {_err.message}") from None
    check_protocol(_name)
    system_electrode(_name)
    _slab = system_slab(_name)
    _half = 0.5 * _slab["cells"] * _slab["lattice_a_nm"]
    if config["analysis"]["r_max_nm"] >= _half:
        raise ValueError(
            f"config analysis.r_max_nm must be below half the lateral cell of system {_name} ({_half:.3f} nm)"
        )
    if system_electrode(_name) is not None:
        # an ion reaches the periodic image of the working electrode's top layer across the counter electrode (its
        # layers on and above the wall) and the back gap, at no less than their sum: the g(r) must stop short of it
        _image = (
            system_cell(_name)["counter_back_gap_nm"]
            + 2 * (_slab["layers"] - 1) * 0.5 * _slab["lattice_a_nm"]
        )
        if config["analysis"]["r_max_nm"] >= _image:
            raise ValueError(
                f"config analysis.r_max_nm must be below {_image:.3f} nm for the constant-potential system {_name}: "
                "farther out an ion's g(r) would count the working electrode's image behind the counter electrode"
            )

# Every coating is read, built and checked now, before any job runs: a bad definition stops the workflow
# with the file and field at fault, and nothing in results/ is touched.
COATING_FOLDERS = {}
for _name in SYSTEMS:
    _sys = config["systems"][_name]
    if _sys.get("coating"):
        _slab = system_slab(_name)
        try:
            COATING_FOLDERS[_name] = str(coatings.resolve(_sys["coating"], Path.cwd()))
            coatings.check(
                COATING_FOLDERS[_name],
                build_li_bcc100_slab(_slab["cells"], _slab["layers"], _slab["lattice_a_nm"]),
            )
        except coatings.CoatingError as _err:
            raise ValueError(
                f"config systems.{_name}.coating = {_sys['coating']!r}: {_err}"
            ) from None


COATED = [s for s in SYSTEMS if s in COATING_FOLDERS]
# systems whose Li is a constant-potential electrode (systems/electrode_cell.py)
CONSTANT_POTENTIAL = [s for s in SYSTEMS if system_electrode(s) is not None]

# systems that differ only in where the ions start: a config with any gets the start-independence figure
START_GROUPS = start_groups(SYSTEMS, config)


def coating_of(wildcards):
    """The coating folder of a system, or None for bare Li."""
    return COATING_FOLDERS.get(wildcards.system)


def coating_definition(wildcards):
    """coating.yaml and the files it names: inputs of the coating build, so an edit rebuilds the system."""
    return coatings.definition_files(COATING_FOLDERS[wildcards.system])


def coating_input(wildcards):
    """The placed coating structure of a coated system; nothing for bare Li."""
    if coating_of(wildcards):
        return f"results/{wildcards.system}/coating.pdb"
    return []


def coating_info(wildcards):
    """The coating summary (sites for the per-site RDFs); nothing for bare Li."""
    if coating_of(wildcards):
        return f"results/{wildcards.system}/coating.json"
    return []


def coating_forcefield(wildcards):
    """The coating's force-field file, written from its definition; nothing for bare Li."""
    if coating_of(wildcards):
        return f"results/{wildcards.system}/coating.xml"
    return []


def replica_index(wildcards):
    return int(wildcards.replica[1:])


def all_minimized(wildcards=None):
    return expand("results/{system}/{replica}/minimized.pdb", system=SYSTEMS, replica=REPLICAS)


def replica_analyses(wildcards=None):
    return expand("results/{system}/{replica}/analysis.npz", system=SYSTEMS, replica=REPLICAS)


def replica_provenance(wildcards=None):
    return expand("results/{system}/{replica}/provenance.json", system=SYSTEMS, replica=REPLICAS)


def electrode_summaries(wildcards=None):
    """The electrode-charge summaries of every constant-potential run (none for neutral systems)."""
    return expand(
        "results/{system}/{replica}/electrode_charge.json",
        system=CONSTANT_POTENTIAL,
        replica=REPLICAS,
    )


def all_forcefields(wildcards=None):
    """Every force-field file the configured systems use (their headers cite the sources)."""
    counter = (
        [f"{FORCEFIELDS}/li_counter_uff.xml"] if any(system_electrode(s) for s in SYSTEMS) else []
    )
    return (
        BASE_FORCEFIELDS
        + counter
        + [f"results/{s}/coating.xml" for s in SYSTEMS if s in COATING_FOLDERS]
    )


def system_settings(wildcards):
    """OpenMM System settings of a system from config, with units in the names the library expects."""
    ff, cell, slab, el = (
        config["forcefield"],
        config["cell"],
        system_slab(wildcards.system),
        system_electrolyte(wildcards.system),
    )
    settings = {
        "cutoff_nm": ff["cutoff_nm"],
        "switch_nm": ff["switch_nm"],
        "ewald_error_tolerance": ff["ewald_error_tolerance"],
        "wall_k_kj_nm2": cell["wall_k_kj_mol_nm2"],
        "dipole_correction": cell["dipole_correction"],
        "li_metal_epsilon_scale": slab["li_epsilon_scale"],
        "ion_charge_scale": el["charge_scale"],
    }
    # only when set: the params of every system that does not use it stay as they were (no rerun)
    if el.get("ion_lennard_jones", "clandp") != "clandp":
        settings["ion_lennard_jones"] = el["ion_lennard_jones"]
    if cell.get("lower_wall_nm") is not None:
        settings["lower_wall_nm"] = cell["lower_wall_nm"]
    electrode = system_electrode(wildcards.system)
    if electrode is not None:
        settings["electrode"] = electrode
    return settings


def system_forcefields(wildcards):
    """The base force-field files, and the counter electrode's residue for a constant-potential system."""
    if system_electrode(wildcards.system) is None:
        return BASE_FORCEFIELDS
    return BASE_FORCEFIELDS + [f"{FORCEFIELDS}/li_counter_uff.xml"]


def paper_values():
    return {name: config["systems"][name].get("paper") for name in SYSTEMS}


if config["forcefield"]["switch_nm"] is not None and not (
    0 < config["forcefield"]["switch_nm"] < config["forcefield"]["cutoff_nm"]
):
    raise ValueError("config forcefield.switch_nm must lie between 0 and forcefield.cutoff_nm")
