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


# One folder to carry to an offline GPU node: wheels for its Python and CUDA, the built cells, run.sh.
# Not part of `all`; run with `snakemake --cores 1 gpu_bundle`, then `bash results/gpu_bundle/run.sh OUT` there.
rule gpu_bundle:
    input:
        systems=expand("results/{system}/r0/system.xml", system=SYSTEMS),
        pdbs=expand("results/{system}/r0/minimized.pdb", system=SYSTEMS),
        geometry=expand("results/{system}/r0/geometry.json", system=SYSTEMS),
    output:
        directory("results/gpu_bundle"),
    log:
        "logs/gpu_bundle/all.log",
    conda:
        "../envs/md.yaml"
    params:
        systems=SYSTEMS,
        md=config["md"],
        bundle=config["gpu_bundle"],
        replicas=REPLICAS,
    script:
        "../scripts/gpu_bundle.py"
