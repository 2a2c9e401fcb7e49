# Read the trajectories: per-replica histograms, pooled coordination numbers, figures.


rule compute_rdf:
    input:
        trajectory="results/{system}/{replica}/trajectory.xtc",
        topology="results/{system}/{replica}/minimized.pdb",
        geometry="results/{system}/{replica}/geometry.json",
        coating=coating_info,
    output:
        npz="results/{system}/{replica}/analysis.npz",
        digest="results/{system}/{replica}/analysis.json",
    log:
        "logs/compute_rdf/{system}_{replica}.log",
    conda:
        "../envs/md.yaml"
    params:
        analysis=config["analysis"],
        # what the analysis measures: a new version reruns every replica's analysis (the MD is kept)
        version=ANALYSIS_VERSION,
    script:
        "../scripts/compute_rdf.py"


rule electrode_charge:
    input:
        system="results/{system}/{replica}/system.xml",
        trajectory="results/{system}/{replica}/trajectory.xtc",
        topology="results/{system}/{replica}/minimized.pdb",
    output:
        npz="results/{system}/{replica}/electrode_charge.npz",
        summary="results/{system}/{replica}/electrode_charge.json",
    log:
        "logs/electrode_charge/{system}_{replica}.log",
    conda:
        "../envs/md.yaml"
    threads: config["md"]["threads"]
    params:
        equilibration_fraction=config["analysis"]["equilibration_fraction"],
    script:
        "../scripts/electrode_charge.py"


rule summarize:
    input:
        analyses=replica_analyses(),
        provenance=replica_provenance(),
    output:
        csv=report(
            "results/summary.csv",
            caption="../report/summary.rst",
            category="Tables",
            labels={"table": "summary"},
        ),
        json="results/summary.json",
        sites=report(
            "results/site_cn.csv",
            caption="../report/site_cn.rst",
            category="Tables",
            labels={"table": "coating sites"},
        ),
    log:
        "logs/summarize/all.log",
    conda:
        "../envs/md.yaml"
    params:
        systems=SYSTEMS,
        replicas=REPLICAS,
        analysis=config["analysis"],
        paper=paper_values(),
    script:
        "../scripts/summarize.py"


rule plot_rdf:
    input:
        analyses=replica_analyses(),
        summary="results/summary.json",
    output:
        report(
            "results/figures/rdf_cn.png",
            caption="../report/rdf_cn.rst",
            category="Figures",
            labels={"figure": "g(r) and coordination"},
        ),
    log:
        "logs/plot_rdf/all.log",
    conda:
        "../envs/md.yaml"
    params:
        systems=SYSTEMS,
        replicas=REPLICAS,
    script:
        "../scripts/plot_rdf.py"


rule plot_site_rdf:
    input:
        analyses=replica_analyses(),
        summary="results/summary.json",
    output:
        report(
            "results/figures/site_rdf.png",
            caption="../report/site_rdf.rst",
            category="Figures",
            labels={"figure": "TFSI- around coating sites"},
        ),
    log:
        "logs/plot_site_rdf/all.log",
    conda:
        "../envs/md.yaml"
    params:
        systems=SYSTEMS,
        replicas=REPLICAS,
    script:
        "../scripts/plot_site_rdf.py"


rule plot_density_profiles:
    input:
        analyses=replica_analyses(),
    output:
        report(
            "results/figures/density_profiles.png",
            caption="../report/density_profiles.rst",
            category="Figures",
            labels={"figure": "density profiles"},
        ),
    log:
        "logs/plot_density_profiles/all.log",
    conda:
        "../envs/md.yaml"
    params:
        systems=SYSTEMS,
        replicas=REPLICAS,
    script:
        "../scripts/plot_density_profiles.py"


rule plot_msd:
    input:
        analyses=replica_analyses(),
    output:
        report(
            "results/figures/tfsi_msd.png",
            caption="../report/tfsi_msd.rst",
            category="Figures",
            labels={"figure": "TFSI- MSD"},
        ),
    log:
        "logs/plot_msd/all.log",
    conda:
        "../envs/md.yaml"
    params:
        systems=SYSTEMS,
        replicas=REPLICAS,
    script:
        "../scripts/plot_msd.py"


rule compare:
    input:
        analyses=replica_analyses(),
        provenance=replica_provenance(),
        forcefields=all_forcefields(),
        electrode=electrode_summaries(),
    output:
        statistics="results/statistics.json",
        sensitivity=report(
            "results/sensitivity.csv",
            caption="../report/sensitivity.rst",
            category="Tables",
            labels={"table": "sensitivity"},
        ),
        comparison=report(
            "results/comparison.md",
            caption="../report/comparison.rst",
            category="Tables",
            labels={"table": "comparison (Markdown)"},
        ),
        provenance=report(
            "results/provenance.csv",
            caption="../report/provenance.rst",
            category="Provenance",
            labels={"table": "provenance"},
        ),
    log:
        "logs/compare/all.log",
    conda:
        "../envs/md.yaml"
    params:
        systems=SYSTEMS,
        replicas=REPLICAS,
        coatings={name: config["systems"][name]["coating"] for name in SYSTEMS},
        analysis=config["analysis"],
        paper=paper_values(),
        config=config,
    script:
        "../scripts/compare.py"


rule plot_convergence:
    input:
        analyses=replica_analyses(),
        statistics="results/statistics.json",
    output:
        convergence=report(
            "results/figures/convergence.png",
            caption="../report/convergence.rst",
            category="Figures",
            labels={"figure": "convergence"},
        ),
        blocks=report(
            "results/figures/block_averaging.png",
            caption="../report/block_averaging.rst",
            category="Figures",
            labels={"figure": "block averaging"},
        ),
    log:
        "logs/plot_convergence/all.log",
    conda:
        "../envs/md.yaml"
    params:
        systems=SYSTEMS,
        replicas=REPLICAS,
    script:
        "../scripts/plot_convergence.py"


rule plot_start_independence:
    input:
        analyses=replica_analyses(),
        statistics="results/statistics.json",
    output:
        report(
            "results/figures/start_independence.png",
            caption="../report/start_independence.rst",
            category="Figures",
            labels={"figure": "start independence"},
        ),
    log:
        "logs/plot_start_independence/all.log",
    conda:
        "../envs/md.yaml"
    params:
        systems=SYSTEMS,
        replicas=REPLICAS,
    script:
        "../scripts/plot_start_independence.py"


rule plot_electrode:
    input:
        charges=expand(
            "results/{system}/{replica}/electrode_charge.npz",
            system=CONSTANT_POTENTIAL,
            replica=REPLICAS,
        ),
        statistics="results/statistics.json",
    output:
        report(
            "results/figures/electrode.png",
            caption="../report/electrode.rst",
            category="Figures",
            labels={"figure": "electrode charge and CN against potential"},
        ),
    log:
        "logs/plot_electrode/all.log",
    conda:
        "../envs/md.yaml"
    script:
        "../scripts/plot_electrode.py"
