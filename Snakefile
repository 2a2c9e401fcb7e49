# Does an NH2-MIL-101(Fe) coating pull TFSI- to a lithium-metal surface? (Zhen et al., EES 2025)
# Entry point: settings, rule files, and the targets of a full run. See README.md.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/build.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/analyse.smk"
include: "workflow/rules/benchmark.smk"


# Figures take seconds and no GPU: with --executor slurm they run where snakemake runs, not as queued jobs
localrules:
    all,
    plot_coatings,
    plot_rdf,
    plot_site_rdf,
    plot_density_profiles,
    plot_msd,
    plot_convergence,
    plot_start_independence,
    plot_electrode,


rule all:
    input:
        "results/summary.csv",
        "results/summary.json",
        "results/figures/rdf_cn.png",
        "results/figures/site_rdf.png",
        "results/figures/coatings.png",
        "results/site_cn.csv",
        "results/figures/density_profiles.png",
        "results/figures/tfsi_msd.png",
        "results/figures/convergence.png",
        "results/figures/block_averaging.png",
        "results/sensitivity.csv",
        "results/comparison.md",
        "results/provenance.csv",
        # only for a config whose systems differ only in their start (config/start_independence.yaml)
        ["results/figures/start_independence.png"] if START_GROUPS else [],
        # only for a config with constant-potential systems (electrode.mode: constant_potential)
        ["results/figures/electrode.png"] if CONSTANT_POTENTIAL else [],
