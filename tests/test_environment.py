"""The two install routes list the same packages, and CI runs the README's test command."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


#: conda-forge names of packages that pip knows by another name
CONDA_TO_PIP = {"tblite-python": "tblite"}


def _name(spec):
    name = re.split(r"[<>=!~\[ ]", spec.strip(), maxsplit=1)[0].lower()
    return CONDA_TO_PIP.get(name, name)


def test_requirements_and_environment_yml_agree():
    pip = {_name(l) for l in (ROOT / "requirements.txt").read_text().splitlines() if l.strip() and not l.startswith("#")}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = {_name(d) for d in env["dependencies"] if isinstance(d, str)} - {"python", "pip"}
    assert pip == conda
    rules = yaml.safe_load((ROOT / "workflow/envs/md.yaml").read_text())
    assert {_name(d) for d in rules["dependencies"] if isinstance(d, str)} - {"python"} == pip
    assert {"openmm", "mdtraj", "parmed", "numpy", "matplotlib", "snakemake", "snakemake-executor-plugin-slurm", "packmol", "pytest"} <= pip


def test_readme_opens_with_the_two_commands_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```(?:bash|sh)?\n(.*?)```", readme, flags=re.S)
    main_cmd, test_cmd = blocks[0].strip(), blocks[1].strip()
    assert "workflow/setup.sh" in main_cmd and "snakemake" in main_cmd
    assert "workflow/setup.sh" in test_cmd and "pytest" in test_cmd
    assert test_cmd in (ROOT / ".ci/run").read_text()
