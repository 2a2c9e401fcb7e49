# Time the real systems, say how long the MD will take, then run NVT.


rule estimate_runtime:
    input:
        minimized=all_minimized(),
    output:
        "results/runtime_estimate.json",
    log:
        "logs/estimate_runtime/all.log",
    conda:
        "../envs/md.yaml"
    threads: config["md"]["threads"]
    resources:
        gpu=1,  # it times the MD, so it runs where the MD runs (a GPU node on a cluster)
    # The MD settings and every system's protocol come from the config inside the script, not from params: a
    # params change would rerun this job, and Snakemake (9.27) then skips its own params check of every MD job
    # that depends on it only through the ancient() input below, so a changed protocol would need two calls.
    params:
        systems=SYSTEMS,
        replicas=REPLICAS,
        warn_after_hours=config["long_run_warning_hours"],
    script:
        "../scripts/estimate_runtime.py"


rule run_nvt:
    input:
        system="results/{system}/{replica}/system.xml",
        pdb="results/{system}/{replica}/minimized.pdb",
        geometry="results/{system}/{replica}/geometry.json",
        # ancient: the estimate must exist before any MD starts, but a new estimate (another system added,
        # run_systems changed) must not mark finished MD jobs for a rerun
        estimate=ancient("results/runtime_estimate.json"),
    output:
        trajectory="results/{system}/{replica}/trajectory.xtc",
        state_log="results/{system}/{replica}/state_log.csv",
        provenance="results/{system}/{replica}/provenance.json",
        final_state="results/{system}/{replica}/final_state.xml",
    log:
        "logs/run_nvt/{system}_{replica}.log",
    conda:
        "../envs/md.yaml"
    threads: config["md"]["threads"]
    resources:
        gpu=1,
    params:
        md=lambda wildcards: system_md(wildcards.system),
        seed=config["seed"],
        replica=replica_index,
        # checkpoints and trajectory segments: not an output, so a failed job's progress survives
        work_dir=lambda w: f"results/{w.system}/{w.replica}/md_work",
    script:
        "../scripts/run_nvt.py"
