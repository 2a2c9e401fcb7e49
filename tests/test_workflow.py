"""The Snakemake workflow: lint, config validation, the paper's protocol in a dry run, and a tiny real run."""

import csv
import re
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def _snakemake(args, cwd, timeout=600):
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONIOENCODING="utf-8")
    return subprocess.run(
        SNAKEMAKE + args, cwd=cwd, capture_output=True, encoding="utf-8", errors="replace", timeout=timeout, env=env
    )


def test_lint_is_clean():
    r = _snakemake(["--lint"], ROOT, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Lints for" not in r.stdout + r.stderr


def test_snakefmt_is_clean():
    r = subprocess.run(
        [sys.executable, "-m", "snakefmt", "--check", "Snakefile", "workflow/rules"],
        cwd=ROOT, capture_output=True, encoding="utf-8", errors="replace", env=dict(os.environ, PYTHONIOENCODING="utf-8"),
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr


def test_default_config_dry_run_is_the_papers_protocol():
    r = _snakemake(["-n", "--quiet", "rules"], ROOT, timeout=300)
    assert r.returncode == 0, r.stderr
    out = r.stdout + r.stderr
    for rule, n in (("run_nvt", 9), ("pack_electrolyte", 9), ("build_coating", 2), ("summarize", 1)):
        line = next(l for l in out.splitlines() if l.strip().startswith(rule))
        assert line.split()[-1] == str(n), line
    import yaml

    cfg = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    assert set(cfg["systems"]) == {"bare_li", "nh2_mil101_fe", "nh2_mil101_fe_copc"} and cfg["replicas"] == 3
    assert [cfg["systems"][s]["coating"] for s in cfg["systems"]] == [None, "nh2_mil101_fe", "nh2_mil101_fe_copc"]
    md = cfg["md"]
    assert (md["temperature_k"], md["timestep_fs"], md["length_ps"], md["frame_interval_ps"]) == (298.0, 1.0, 3000.0, 5.0)
    assert cfg["forcefield"]["cutoff_nm"] == 1.25 and cfg["electrolyte"]["n_pairs"] == 100


@pytest.mark.parametrize(
    "patch, key",
    [({"md": {"temprature_k": 300}}, "temprature_k"), ({"replicas": 0}, "replicas"), ({"md": {"platform": "GPU"}}, "platform")],
)
def test_config_typo_fails_before_any_job_and_names_the_key(tmp_path, patch, key):
    import yaml

    cfg = yaml.safe_load((ROOT / "tests/configs/tiny.yaml").read_text())
    for k, v in patch.items():
        if isinstance(v, dict):
            cfg.setdefault(k, {}).update(v)
        else:
            cfg[k] = v
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(cfg))
    r = _snakemake(["-s", str(ROOT / "Snakefile"), "--configfile", "bad.yaml", "-n", "--cores", "1"], tmp_path, timeout=300)
    assert r.returncode != 0
    assert key in r.stdout + r.stderr
    assert not (tmp_path / "results").exists()


def test_the_runtime_estimate_comes_before_every_md_job(tmp_path):
    """The estimate is said before any MD step: in the job graph every run_nvt waits for estimate_runtime, which
    itself waits for every minimised cell (so it times them all)."""
    import re

    r = _snakemake(["-s", str(ROOT / "Snakefile"), "--configfile", str(ROOT / "tests/configs/tiny.yaml"), "--dag"], tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    label = {int(m[0]): m[1].split("\\n")[0] for m in re.findall(r"^\s*(\d+)\[label = \"([^\"]+)\"", r.stdout, re.M)}
    edges = [(int(a), int(b)) for a, b in re.findall(r"^\s*(\d+) -> (\d+)", r.stdout, re.M)]
    (estimate,) = [k for k, v in label.items() if v == "estimate_runtime"]
    md_jobs = [k for k, v in label.items() if v == "run_nvt"]
    assert len(md_jobs) == 4  # 2 systems x 2 replicas
    assert all((estimate, k) in edges for k in md_jobs)
    assert {a for a, b in edges if b == estimate} == {k for k, v in label.items() if v == "minimize"}


def test_uff_ions_from_the_config_reach_the_built_system_and_leave_other_systems_params_alone(tmp_path):
    """One system with electrolyte.ion_lennard_jones: uff; the other system's assemble params are as before."""
    import openmm as mm
    import yaml

    from systems.uff import uff_sigma_nm

    cfg = yaml.safe_load((ROOT / "tests/configs/tiny.yaml").read_text())
    cfg["systems"] = {"bare_li": {"coating": None}}
    (tmp_path / "a.yaml").write_text(yaml.safe_dump(cfg))
    cfg["systems"]["bare_li_uff"] = {"coating": None, "electrolyte": {"ion_lennard_jones": "uff"}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    sm = ["-s", str(ROOT / "Snakefile")]
    r = _snakemake(sm + ["results/bare_li/r0/system.xml", "--configfile", "a.yaml", "--cores", "2"], tmp_path, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    # a config that adds a UFF-ion system leaves bare_li's params as they were: nothing of it reruns
    r = _snakemake(sm + ["-n", "results/bare_li/r0/system.xml", "--configfile", "c.yaml", "--rerun-triggers", "params"], tmp_path, timeout=300)
    assert r.returncode == 0 and "Nothing to be done" in r.stdout + r.stderr, r.stdout[-2000:]
    r = _snakemake(sm + ["results/bare_li_uff/r0/system.xml", "--configfile", "c.yaml", "--cores", "2"], tmp_path, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    lj = {}
    for name in ("bare_li", "bare_li_uff"):
        system = mm.XmlSerializer.deserialize((tmp_path / f"results/{name}/r0/system.xml").read_text())
        f = next(f for f in system.getForces() if isinstance(f, mm.CustomNonbondedForce))
        lj[name] = np.array([f.getParticleParameters(i) for i in range(system.getNumParticles())])
    li_ion = -1  # the last atom is a Li+ (TFSI- first, then Li+)
    assert lj["bare_li_uff"][li_ion][0] ** 2 == pytest.approx(uff_sigma_nm("Li"))
    assert lj["bare_li"][li_ion][0] ** 2 != pytest.approx(uff_sigma_nm("Li"))  # CL&P Li+
    np.testing.assert_array_equal(lj["bare_li"][:128], lj["bare_li_uff"][:128])  # the slab is the slab


@pytest.mark.parametrize("dipole", [True, False])
def test_the_system_the_workflow_builds_carries_the_configured_forces(tmp_path, dipole):
    """The joins: PME and the LJ cutoff and switch at the configured distances, the upper wall where geometry.json
    says at the configured stiffness on the mobile atoms only, the Yeh-Berkowitz term exactly when asked, and the floor (cell.lower_wall_nm) above the top Li plane when set."""
    import math

    import openmm as mm
    import yaml

    cfg = yaml.safe_load((ROOT / "tests/configs/tiny.yaml").read_text())
    cfg["systems"] = {"bare_li": cfg["systems"]["bare_li"]}
    cfg["forcefield"] = {"cutoff_nm": 1.1, "switch_nm": 0.9}
    cfg["cell"] = {"wall_k_kj_mol_nm2": 3210.0, "wall_offset_nm": 0.4, "dipole_correction": dipole}
    if dipole:  # the floor with the dipole correction on, none with it off (the two settings are independent)
        cfg["cell"]["lower_wall_nm"] = 0.05
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    r = _snakemake(["-s", str(ROOT / "Snakefile"), "results/bare_li/r0/system.xml", "--configfile", "c.yaml", "--cores", "2"], tmp_path, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    system = mm.XmlSerializer.deserialize((tmp_path / "results/bare_li/r0/system.xml").read_text())
    geometry = json.loads((tmp_path / "results/bare_li/r0/geometry.json").read_text())
    forces = {f.getName(): f for f in system.getForces()}
    nb = next(f for f in forces.values() if isinstance(f, mm.NonbondedForce))
    assert nb.getNonbondedMethod() == mm.NonbondedForce.PME and nb.getCutoffDistance()._value == pytest.approx(1.1)
    lj = next(f for f in forces.values() if isinstance(f, mm.CustomNonbondedForce))
    assert lj.getCutoffDistance()._value == pytest.approx(1.1)
    assert lj.getUseSwitchingFunction() and lj.getSwitchingDistance()._value == pytest.approx(0.9)
    assert not lj.getUseLongRangeCorrection()
    wall = forces["UpperWall"]
    params = {wall.getGlobalParameterName(k): wall.getGlobalParameterDefaultValue(k) for k in range(wall.getNumGlobalParameters())}
    assert params == {"k_wall": pytest.approx(3210.0), "z_wall": pytest.approx(geometry["z_wall_nm"])}
    assert geometry["z_wall_nm"] == pytest.approx(geometry["packing_region_nm"][1] + 0.4)
    mobile = [i for i in range(system.getNumParticles()) if system.getParticleMass(i)._value > 0]
    assert sorted(wall.getParticleParameters(k)[0] for k in range(wall.getNumParticles())) == mobile
    assert len(mobile) == 10 * 16  # 10 TFSI- of 15 atoms and 10 Li+
    if dipole:
        floor = forces["LowerWall"]
        params = {floor.getGlobalParameterName(k): floor.getGlobalParameterDefaultValue(k) for k in range(floor.getNumGlobalParameters())}
        assert params == {"k_floor": pytest.approx(3210.0), "z_floor": pytest.approx(geometry["z_surface_nm"] + 0.05)}
        assert sorted(floor.getParticleParameters(k)[0] for k in range(floor.getNumParticles())) == mobile
    else:
        assert "LowerWall" not in forces
    if dipole:
        yb = forces["YehBerkowitzDipoleCorrection"]
        g = {yb.getGlobalParameterName(k): yb.getGlobalParameterDefaultValue(k) for k in range(yb.getNumGlobalParameters())}
        box = system.getDefaultPeriodicBoxVectors()
        volume = box[0][0]._value * box[1][1]._value * box[2][2]._value
        assert volume == pytest.approx(math.prod(geometry["box_nm"]), rel=1e-4)  # the cell of the PDB (0.001 A)
        assert g["C_yb"] == pytest.approx(2 * math.pi * 138.935456 / volume, rel=1e-6)  # 2 pi k_e / V, k_e in kJ nm/mol/e^2
        q = [nb.getParticleParameters(i)[0]._value for i in range(system.getNumParticles())]
        assert g["Qp"] == pytest.approx(sum(x for x in q if x > 0)) == pytest.approx(g["Qn"])  # M_z of every charge, cell neutral
        groups = [sorted(yb.getGroupParameters(k)[0]) for k in range(yb.getNumGroups())]
        assert groups == [[i for i, x in enumerate(q) if x > 0], [i for i, x in enumerate(q) if x < 0]]  # every charge, once
    else:
        assert "YehBerkowitzDipoleCorrection" not in forces


@pytest.mark.slow
def test_tiny_end_to_end_workflow(tmp_path):
    """10 ion pairs, 200 steps on the CPU, two systems x two replicas: every output of the main job appears."""
    r = _snakemake(["-s", str(ROOT / "Snakefile"), "--configfile", str(ROOT / "tests/configs/tiny.yaml"), "--cores", "2"], tmp_path, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    res = tmp_path / "results"
    for system in ("bare_li", "nh2_mil101_fe"):
        for rep in ("r0", "r1"):
            d = res / system / rep
            for f in ("packed.pdb", "minimized.pdb", "trajectory.xtc", "state_log.csv", "provenance.json", "analysis.npz"):
                assert (d / f).stat().st_size > 0, d / f
            prov = json.loads((d / "provenance.json").read_text())
            assert prov["platform"] == "CPU" and prov["n_frames"] == 10 and "velocities" in prov["seeds"]
        log = (tmp_path / "logs/run_nvt" / f"{system}_r0.log").read_text()
        assert "ETA" in log and "ns/day" in log
    estimate = json.loads((res / "runtime_estimate.json").read_text())
    assert set(estimate["systems"]) == {"bare_li", "nh2_mil101_fe"} and estimate["total_seconds"] > 0
    rows = list(csv.DictReader(open(res / "summary.csv")))
    assert {(r["system"], r["target"]) for r in rows} == {(s, t) for s in ("bare_li", "nh2_mil101_fe") for t in ("N", "O", "F", "any")}
    for row in rows:
        per_rep = [float(x) for x in row["cn_per_replica"].split(";")]
        assert len(per_rep) == 2 and all(x >= 0 for x in per_rep)
        assert float(row["cn_mean"]) == pytest.approx(sum(per_rep) / 2, rel=1e-3)
        assert float(row["cn_ci95_low"]) <= float(row["cn_mean"]) <= float(row["cn_ci95_high"])
        assert 0 < float(row["cutoff_nm"]) <= 1.2
    summary = json.loads((res / "summary.json").read_text())
    assert summary["nh2_mil101_fe"]["paper"]["cn"] == 0.42
    produced = summary["bare_li"]["produced_by"]
    assert produced["platforms"] == ["CPU"] and produced["length_ps"] == [0.2]
    assert len({s["packing"] for s in produced["seeds"]}) == 2 and all(s["velocities"] for s in produced["seeds"])
    for fig in ("rdf_cn.png", "site_rdf.png", "coatings.png", "density_profiles.png", "tfsi_msd.png"):
        assert (res / "figures" / fig).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # per-site RDFs: the MOF declares Fe and the amino H; bare Li has no sites
    sites = list(csv.DictReader(open(res / "site_cn.csv")))
    assert {(r["system"], r["site"], r["target"]) for r in sites} == {("nh2_mil101_fe", s, t) for s in ("Fe", "H_amino") for t in ("N", "O", "F", "any")}
    assert {r["site"]: int(r["n_site_atoms"]) for r in sites} == {"Fe": 18, "H_amino": 12}
    assert summary["bare_li"]["sites"] == {} and summary["nh2_mil101_fe"]["sites"]["Fe"]["n_atoms"] == 18
    check_statistics_and_comparison(res)
    r = _snakemake(["-s", str(ROOT / "Snakefile"), "--configfile", str(ROOT / "tests/configs/tiny.yaml"), "--report", "results/report.html"], tmp_path, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    check_report(res / "report.html", res)


REPORT_FILES = {
    "figures/rdf_cn.png": "running\ncoordination number",
    "figures/site_rdf.png": "declares as sites",
    "figures/coatings.png": "Every coated system as built",
    "site_cn.csv": "coordination of each coating site",
    "figures/density_profiles.png": "Number density of TFSI-",
    "figures/tfsi_msd.png": "Mean-squared displacement",
    "figures/convergence.png": "Convergence of the headline",
    "figures/block_averaging.png": "Block averaging",
    "summary.csv": "Coordination numbers of every system",
    "sensitivity.csv": "under each definition",
    "comparison.md": "for a paper's supplement",
    "provenance.csv": "How the numbers were produced",
}


def check_report(html_path, res):
    """Every figure and table is embedded byte for byte in Snakemake's HTML report, with its caption."""
    import base64

    html = html_path.read_text(encoding="utf-8")
    for name, caption in REPORT_FILES.items():
        data = base64.b64encode((res / name).read_bytes()).decode()
        assert data in html, f"{name} is not in the report"
        assert caption.replace("\n", " ") in html.replace("\\n", " ").replace("\n", " "), f"caption of {name} is not in the report"


def check_statistics_and_comparison(res):
    """The statistics, the sensitivity table and comparison.md agree with the summary and cover every definition."""
    summary = {(r["system"], r["target"]): r for r in csv.DictReader(open(res / "summary.csv"))}
    sens = list(csv.DictReader(open(res / "sensitivity.csv")))
    systems = ("bare_li", "nh2_mil101_fe")
    keys = {(r["reference"], r["target"], r["cutoff_rule"], r["system"]) for r in sens}
    # (reference, target) pairs: top, both, surface, coating x (N, O, F, any, Li+); Li+ x 4; sites Fe, H_amino x 4; heights x 3
    assert len(sens) == len(keys) == (4 * 5 + 4 + 2 * 4 + 3) * 5 * 2  # x cutoff rules x systems
    keyed = {(r["reference"], r["target"], r["cutoff_rule"], r["system"]): r for r in sens}
    for r in sens:
        bare = keyed[(r["reference"], r["target"], r["cutoff_rule"], "bare_li")]
        if r["system"] == "nh2_mil101_fe" and r["cn_per_replica"] and bare["cn_per_replica"]:
            assert r["diff_vs_bare"] != "" and r["above_bare_95"] in ("True", "False", "")
        else:
            assert r["diff_vs_bare"] == ""
        if r["cn_per_replica"]:
            assert r["closest_nm"] != "" or float(r["cn_mean"]) == 0.0
        if r["system"] == "bare_li" and (r["reference"] == "coating" or r["reference"].startswith("site_")):
            assert r["cn_per_replica"] == "" and r["cutoff_source"] == "no such atoms in this system"
        if r["system"] == "bare_li" and r["reference"] == "surface":  # bare Li's surface is its top layer
            assert r["cn_per_replica"] == keyed[("top", r["target"], r["cutoff_rule"], "bare_li")]["cn_per_replica"]
        if r["cutoff_rule"] == "fixed 0.4 nm" and r["cn_per_replica"]:
            assert float(r["cutoff_nm"]) == 0.4
    for system in systems:
        head = [r for r in sens if r["system"] == system and r["headline"] == "True"]
        assert len(head) == 1 and (head[0]["reference"], head[0]["target"]) == ("top", "N")
        # the headline of the sensitivity table is the summary's N row: one definition, two code paths
        assert float(head[0]["cn_mean"]) == pytest.approx(float(summary[(system, "N")]["cn_mean"]), rel=1e-3, abs=1e-6)
        assert float(head[0]["cutoff_nm"]) == pytest.approx(float(summary[(system, "N")]["cutoff_nm"]), rel=1e-3)
        both = [r for r in sens if r["system"] == system and r["reference"] == "both" and r["target"] == "N" and r["cutoff_rule"] == "fixed 0.8 nm"][0]
        top = [r for r in sens if r["system"] == system and r["reference"] == "top" and r["target"] == "N" and r["cutoff_rule"] == "fixed 0.8 nm"][0]
        assert float(both["cn_mean"]) <= float(top["cn_mean"]) + 1e-9  # the lower layer is farther from the liquid
    stats = json.loads((res / "statistics.json").read_text())
    for system in systems:
        reps = stats["systems"][system]["replicas"]
        assert len(reps) == 2
        for rep in reps:
            assert rep["n_frames_production"] + rep["n_frames_discarded"] == 10
            assert rep["block_length_frames"] >= 1 and rep["block_levels"]
            assert "discarded_drift_p_value" in rep and "drift_p_value" in rep
    assert "nh2_mil101_fe - bare_li" in stats["differences"]
    for system in systems:  # whether the replicas agree, from their means and block errors
        a = stats["systems"][system]["replica_agreement"]
        assert a["k"] <= 2 and ("untested" in a["verdict"] or 0.0 <= a["p_value"] <= 1.0)
    for system in systems:  # every replica's penetration counts, in the statistics and the comparison
        assert [set(p) >= {"tfsi_ions_below_top", "li_ion_ions_below_slab"} for p in stats["penetration"][system]] == [True, True]
    md_text = (res / "comparison.md").read_text()
    for needle in ("| bare_li |", "| nh2_mil101_fe |", "0.42", "0.13", "Welch", "## Sensitivity", "**(headline)**", "## Convergence", "## Closest approach", "## Did ions enter the Li slab?", "Cochran's Q"):
        assert needle in md_text, needle
    for fig in ("convergence.png", "block_averaging.png"):
        assert (res / "figures" / fig).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_protocol_that_heats_is_refused_without_the_floor_and_the_shipped_annealed_config_plans_its_stages(tmp_path):
    import yaml

    cfg = yaml.safe_load((ROOT / "config/annealed.yaml").read_text())
    cfg["cell"] = {}
    (tmp_path / "no_floor.yaml").write_text(yaml.safe_dump(cfg))
    r = _snakemake(["-s", str(ROOT / "Snakefile"), "-n", "--configfile", "no_floor.yaml", "--cores", "1"], tmp_path, timeout=300)
    assert r.returncode != 0 and "cell.lower_wall_nm is null" in r.stdout + r.stderr
    r = _snakemake(["-s", str(ROOT / "Snakefile"), "-n", "--configfile", str(ROOT / "config/annealed.yaml"), "--cores", "1"], tmp_path, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert re.search(r"run_nvt\s+9\b", r.stdout), r.stdout[-2000:]  # 3 systems x 3 replicas, each one job of 4 stages


def test_the_shipped_sensitivity_config_plans_every_variant(tmp_path):
    r = _snakemake(["-s", str(ROOT / "Snakefile"), "-n", "--configfile", str(ROOT / "config/sensitivity.yaml"), "--cores", "1"], tmp_path, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert re.search(r"run_nvt\s+18\b", r.stdout), r.stdout[-2000:]  # 6 systems x 3 replicas


def test_a_systems_start_and_protocol_reach_its_packing_and_its_md_and_a_hot_one_needs_the_floor(tmp_path):
    """electrolyte.start and md.protocol per system: the near start packs anions in the lowest layer and the far
    start none there; the system with its own protocol runs its stages, the other the paper's one stage."""
    import yaml

    cfg = yaml.safe_load((ROOT / "tests/configs/tiny.yaml").read_text())
    cfg["electrolyte"] = {"n_pairs": 40}  # a packing region thicker than the 0.8 nm start layer
    two_stages = [{"name": "warm", "length_ps": 0.04, "temperature_k": 298.0}, {"name": "production", "length_ps": 0.2, "temperature_k": 298.0}]
    cfg["systems"] = {
        "near": {"coating": None, "electrolyte": {"start": "anions_near"}},
        "far": {"coating": None, "electrolyte": {"start": "anions_far"}, "md": {"protocol": two_stages}},
    }
    cfg["replicas"] = 1
    hot = json.loads(json.dumps(cfg))
    hot["systems"]["far"]["md"]["protocol"][0]["temperature_k"] = [298.0, 400.0]
    (tmp_path / "hot.yaml").write_text(yaml.safe_dump(hot))
    r = _snakemake(["-s", str(ROOT / "Snakefile"), "-n", "--configfile", "hot.yaml", "--cores", "1"], tmp_path, timeout=300)
    assert r.returncode != 0 and "config md (with systems.far.md ['protocol'] over it): the protocol heats the ions to 400 K" in r.stdout + r.stderr
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    targets = ["results/comparison.md"]
    r = _snakemake(["-s", str(ROOT / "Snakefile"), "--configfile", "c.yaml", "--cores", "2", *targets], tmp_path, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    cfg_clearance = 0.2
    for system, anions_in_layer in (("near", True), ("far", False)):
        geometry = json.loads((tmp_path / f"results/{system}/r0/geometry.json").read_text())
        cut = min(hi for sp, n, lo, hi in geometry["placements"] if lo == min(p[2] for p in geometry["placements"]))
        pdb = (tmp_path / f"results/{system}/r0/packed.pdb").read_text().splitlines()
        atoms = [(l[17:20].strip(), float(l[46:54]) / 10) for l in pdb if l.startswith(("ATOM", "HETATM"))]
        lowest_anion = min(z for res, z in atoms if res == "TFS")  # molecules.TFSI_RESNAME
        # packmol keeps whole molecules inside their box to within its tolerance (the clearance)
        assert (lowest_anion < cut - cfg_clearance) == anions_in_layer, (system, lowest_anion, cut)
    stages = {s: [st["name"] for st in json.loads((tmp_path / f"results/{s}/r0/provenance.json").read_text())["protocol"]["stages"]] for s in ("near", "far")}
    assert stages == {"near": ["production"], "far": ["warm", "production"]}
    estimate = json.loads((tmp_path / "results/runtime_estimate.json").read_text())  # each system's own protocol
    assert {s: v["length_ps"] for s, v in estimate["systems"].items()} == {"near": 0.2, "far": pytest.approx(0.24)}
    # near and far differ in their protocol as well as their start, so they are not one start-independence group
    assert json.loads((tmp_path / "results/statistics.json").read_text())["start_independence"] == []
    cfg["systems"]["far"].pop("md")  # now they differ only in their start: one group, one cutoff
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    targets = ["results/figures/start_independence.png", "results/comparison.md"]
    r = _snakemake(["-s", str(ROOT / "Snakefile"), "--configfile", "c.yaml", "--cores", "2", *targets], tmp_path, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert (tmp_path / "results/figures/start_independence.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (row,) = json.loads((tmp_path / "results/statistics.json").read_text())["start_independence"]
    assert row["systems"] == {"anions_near": ["near"], "anions_far": ["far"]} and 0 < row["cutoff_nm"] <= 1.2
    assert [row["starts"][st]["n_runs"] for st in ("anions_near", "anions_far")] == [1, 1]
    assert "## Does the answer remember where the ions started?" in (tmp_path / "results/comparison.md").read_text()


@pytest.mark.parametrize("name, n_md", [("start_independence.yaml", 36), ("start_independence_cpu.yaml", 4)])
def test_the_shipped_start_independence_configs_plan_every_start_and_protocol(tmp_path, name, n_md):
    r = _snakemake(["-s", str(ROOT / "Snakefile"), "-n", "--configfile", str(ROOT / "config" / name), "--cores", "1"], tmp_path, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert re.search(rf"run_nvt\s+{n_md}\b", r.stdout), r.stdout[-2000:]


def test_a_constant_potential_series_runs_through_the_workflow_and_leaves_neutral_systems_alone(tmp_path):
    """electrode.potentials_v [-1, +1] on a tiny bare-Li system: two variants packed with a counter electrode, run,
    their electrode charges solved per frame, one series in statistics.json and comparison.md, electrode.png. A
    neutral system's params are those of a config without the electrode section: adding it reruns nothing there."""
    import yaml

    cfg = yaml.safe_load((ROOT / "tests/configs/tiny.yaml").read_text())
    cfg["systems"] = {"bare_li": {"coating": None}}
    cfg["replicas"] = 1
    cfg["electrolyte"] = {"n_pairs": 20}  # a cell at least twice the cutoff high
    cfg["cell"] = {"lower_wall_nm": 0.0}
    (tmp_path / "a.yaml").write_text(yaml.safe_dump(cfg))
    cfg["systems"]["cp"] = {"coating": None, "electrode": {"mode": "constant_potential", "potentials_v": [-1.0, 1.0]}}
    cfg["electrode"] = {"gaussian_width_nm": 0.0505, "thomas_fermi_scale_per_nm": 0.17, "method": "matrix"}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    sm = ["-s", str(ROOT / "Snakefile")]
    r = _snakemake(sm + ["results/bare_li/r0/system.xml", "--configfile", "a.yaml", "--cores", "2"], tmp_path, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    r = _snakemake(sm + ["-n", "results/bare_li/r0/system.xml", "--configfile", "c.yaml", "--rerun-triggers", "params"], tmp_path, timeout=300)
    assert r.returncode == 0 and "Nothing to be done" in r.stdout + r.stderr, r.stdout[-2000:]
    bad = {  # refused before any job, naming the system and what is wrong
        "config systems.cp_m1V: electrode.mode constant_potential needs ['gaussian_width_nm', 'thomas_fermi_scale_per_nm']": dict(cfg, electrode={"method": "matrix"}),
        "config systems.cp_m1V: electrode.mode constant_potential needs cell.lower_wall_nm": dict(cfg, cell={}),
        "config systems.cp.electrode: 'constant-potential' is not one of": dict(cfg, systems={"cp": {"coating": None, "electrode": {"mode": "constant-potential", "potentials_v": [1.0]}}}),
        "config analysis.r_max_nm must be below 1.253 nm for the constant-potential system cp_m1V": dict(cfg, forcefield={"cutoff_nm": 0.9}, analysis={"r_max_nm": 1.3}),
        "config systems.cp: electrode potential 0.0005 V is not a whole number of millivolts": dict(cfg, systems={"cp": {"coating": None, "electrode": {"mode": "constant_potential", "potentials_v": [0.0005]}}}),
    }  # fmt: skip
    for message, variant in bad.items():
        (tmp_path / "bad.yaml").write_text(yaml.safe_dump(variant))
        r = _snakemake(sm + ["-n", "--configfile", "bad.yaml"], tmp_path, timeout=300)
        assert r.returncode != 0 and message in r.stdout + r.stderr, (message, (r.stdout + r.stderr)[-1500:])
    r = _snakemake(sm + ["--configfile", "c.yaml", "--cores", "2", "results/comparison.md", "results/figures/electrode.png"], tmp_path, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    (series,) = json.loads((tmp_path / "results/statistics.json").read_text())["potential_series"]
    assert [p["potential_v"] for p in series["points"]] == [-1.0, 1.0] and "w 0.0505 nm" in series["label"]
    assert [p["systems"] for p in series["points"]] == [["cp_m1V"], ["cp_p1V"]]
    low, high = (p["charge_e"] for p in series["points"])
    assert high - low > 0.2  # one packing, two potentials: 2 V more puts more positive charge on the working side
    charge = json.loads((tmp_path / "results/cp_p1V/r0/electrode_charge.json").read_text())
    assert sum(charge["working_layers_mean_e"]) == pytest.approx(charge["production"]["mean_e"], abs=1e-4)
    assert charge["counter_mean_e"] == pytest.approx(-charge["production"]["mean_e"], abs=1e-3)
    assert "## TFSI- at the surface against the electrode's potential" in (tmp_path / "results/comparison.md").read_text()
    assert (tmp_path / "results/figures/electrode.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (tmp_path / "results/bare_li/r0/electrode_charge.json").exists()


@pytest.mark.parametrize("name, n_md, n_charge", [("electrode.yaml", 27, 27), ("electrode_cpu.yaml", 5, 4)])
def test_the_shipped_electrode_configs_plan_every_potential(tmp_path, name, n_md, n_charge):
    r = _snakemake(["-s", str(ROOT / "Snakefile"), "-n", "--configfile", str(ROOT / "config" / name), "--cores", "1"], tmp_path, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert re.search(rf"run_nvt\s+{n_md}\b", r.stdout) and re.search(rf"electrode_charge\s+{n_charge}\b", r.stdout), r.stdout[-2000:]
