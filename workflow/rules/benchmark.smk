# Speed: the bare OpenMM loop vs the workflow's MD job, replicas sharing a device, and the analysis.
# Not part of `all`; run with `snakemake --cores all benchmark`.


rule benchmark:
    input:
        systems=expand("results/{system}/r0/system.xml", system=SYSTEMS),
        pdbs=expand("results/{system}/r0/minimized.pdb", system=SYSTEMS),
        geometry=expand("results/{system}/r0/geometry.json", system=SYSTEMS),
    output:
        "benchmarks/benchmark.csv",
    log:
        "logs/benchmark/all.log",
    conda:
        "../envs/md.yaml"
    # more than any machine has: Snakemake lowers it to --cores, so the benchmark has the machine to itself
    threads: 4096
    resources:
        gpu=1,
    params:
        systems=SYSTEMS,
        md=config["md"],
        analysis=config["analysis"],
        benchmark=config["benchmark"],
    script:
        "../scripts/benchmark.py"
