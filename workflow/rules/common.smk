# Shared helpers: config validation, wildcards, and input functions.
from snakemake.utils import validate

validate(config, schema="../schemas/config.schema.yaml")


def _whole_multiple(a, b):
    return abs(a / b - round(a / b)) < 1e-6 and round(a / b) >= 1


_md = config["md"]
for _key in ("length_ps", "checkpoint_interval_ps"):
    if not _whole_multiple(_md[_key], _md["frame_interval_ps"]):
        raise ValueError(
            f"config md.{_key} = {_md[_key]} ps is not a whole number of frame intervals "
            f"(md.frame_interval_ps = {_md['frame_interval_ps']} ps)"
        )

SYSTEMS = list(config["systems"])
FORCEFIELDS = f"{workflow.basedir}/forcefields"
# the force fields of every system: Li metal, TFSI-, Li+ (a coating adds its own file)
BASE_FORCEFIELDS = [
    f"{FORCEFIELDS}/{name}" for name in ("li_metal_uff.xml", "tfsi_clandp.xml", "li_ion_clandp.xml")
]

REPLICAS = [f"r{k}" for k in range(config["replicas"])]


wildcard_constraints:
    system="|".join(SYSTEMS),
    replica=r"r\d+",


def coating_of(wildcards):
    """The coating name of a system, or None for bare Li."""
    return config["systems"][wildcards.system]["coating"]


def coating_input(wildcards):
    """The placed coating structure of a coated system; nothing for bare Li."""
    if coating_of(wildcards):
        return f"results/{wildcards.system}/coating.pdb"
    return []


def coating_forcefield(wildcards):
    """The coating's force-field file (an input, so a change to it reruns the system)."""
    name = coating_of(wildcards)
    return [f"{FORCEFIELDS}/{name}.xml"] if name else []


def replica_index(wildcards):
    return int(wildcards.replica[1:])


def all_minimized(wildcards=None):
    return expand("results/{system}/{replica}/minimized.pdb", system=SYSTEMS, replica=REPLICAS)


def replica_analyses(wildcards=None):
    return expand("results/{system}/{replica}/analysis.npz", system=SYSTEMS, replica=REPLICAS)


def replica_provenance(wildcards=None):
    return expand("results/{system}/{replica}/provenance.json", system=SYSTEMS, replica=REPLICAS)


def all_forcefields(wildcards=None):
    """Every force-field file the configured systems use (their headers cite the sources)."""
    coatings = sorted({s["coating"] for s in config["systems"].values() if s["coating"]})
    return BASE_FORCEFIELDS + [f"{FORCEFIELDS}/{c}.xml" for c in coatings]


def system_settings():
    """OpenMM System settings from config, with units in the names the library expects."""
    ff, cell, slab, el = (
        config["forcefield"],
        config["cell"],
        config["slab"],
        config["electrolyte"],
    )
    return {
        "cutoff_nm": ff["cutoff_nm"],
        "switch_nm": ff["switch_nm"],
        "ewald_error_tolerance": ff["ewald_error_tolerance"],
        "wall_k_kj_nm2": cell["wall_k_kj_mol_nm2"],
        "dipole_correction": cell["dipole_correction"],
        "li_metal_epsilon_scale": slab["li_epsilon_scale"],
        "ion_charge_scale": el["charge_scale"],
    }


def paper_values():
    return {name: s.get("paper") for name, s in config["systems"].items()}


if config["analysis"]["r_max_nm"] >= 0.5 * config["slab"]["cells"] * config["slab"]["lattice_a_nm"]:
    raise ValueError(
        "config analysis.r_max_nm must be below half the lateral cell "
        f"({0.5 * config['slab']['cells'] * config['slab']['lattice_a_nm']:.3f} nm)"
    )
if config["forcefield"]["switch_nm"] is not None and not (
    0 < config["forcefield"]["switch_nm"] < config["forcefield"]["cutoff_nm"]
):
    raise ValueError("config forcefield.switch_nm must lie between 0 and forcefield.cutoff_nm")
