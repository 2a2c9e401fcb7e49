# Read the trajectories: per-replica histograms, pooled coordination numbers, figures.


rule compute_rdf:
    input:
        trajectory="results/{system}/{replica}/trajectory.xtc",
        topology="results/{system}/{replica}/minimized.pdb",
        geometry="results/{system}/{replica}/geometry.json",
    output:
        npz="results/{system}/{replica}/analysis.npz",
        digest="results/{system}/{replica}/analysis.json",
    log:
        "logs/compute_rdf/{system}_{replica}.log",
    conda:
        "../envs/md.yaml"
    params:
        analysis=config["analysis"],
    script:
        "../scripts/compute_rdf.py"


rule summarize:
    input:
        analyses=replica_analyses(),
        provenance=replica_provenance(),
    output:
        csv="results/summary.csv",
        json="results/summary.json",
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
        "results/figures/rdf_cn.png",
    log:
        "logs/plot_rdf/all.log",
    conda:
        "../envs/md.yaml"
    params:
        systems=SYSTEMS,
        replicas=REPLICAS,
    script:
        "../scripts/plot_rdf.py"


rule plot_density_profiles:
    input:
        analyses=replica_analyses(),
    output:
        "results/figures/density_profiles.png",
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
        "results/figures/tfsi_msd.png",
    log:
        "logs/plot_msd/all.log",
    conda:
        "../envs/md.yaml"
    params:
        systems=SYSTEMS,
        replicas=REPLICAS,
    script:
        "../scripts/plot_msd.py"
