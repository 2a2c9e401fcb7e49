# Build the cells: Li slab, coating layer on it, packed electrolyte, OpenMM System, minimised structure.


rule build_slab:
    output:
        "results/{system}/slab.pdb",
    log:
        "logs/build_slab/{system}.log",
    conda:
        "../envs/md.yaml"
    params:
        slab=lambda wildcards: system_slab(wildcards.system),
    script:
        "../scripts/build_slab.py"


rule build_coating:
    input:
        slab="results/{system}/slab.pdb",
        definition=coating_definition,
    output:
        pdb="results/{system}/coating.pdb",
        info="results/{system}/coating.json",
        forcefield="results/{system}/coating.xml",
    log:
        "logs/build_coating/{system}.log",
    conda:
        "../envs/md.yaml"
    params:
        coating=coating_of,
    script:
        "../scripts/build_coating.py"


rule pack_electrolyte:
    input:
        slab="results/{system}/slab.pdb",
        coating=coating_input,
        coating_info=coating_info,
    output:
        pdb="results/{system}/{replica}/packed.pdb",
        geometry="results/{system}/{replica}/geometry.json",
    log:
        "logs/pack_electrolyte/{system}_{replica}.log",
    conda:
        "../envs/md.yaml"
    params:
        electrolyte=lambda wildcards: system_electrolyte(wildcards.system),
        cell=lambda wildcards: system_cell(wildcards.system),
        cutoff_nm=config["forcefield"]["cutoff_nm"],
        seed=config["seed"],
        replica=replica_index,
    script:
        "../scripts/pack_electrolyte.py"


rule assemble_system:
    input:
        pdb="results/{system}/{replica}/packed.pdb",
        geometry="results/{system}/{replica}/geometry.json",
        forcefields=system_forcefields,
        coating_forcefield=coating_forcefield,
    output:
        "results/{system}/{replica}/system.xml",
    log:
        "logs/assemble_system/{system}_{replica}.log",
    conda:
        "../envs/md.yaml"
    params:
        settings=system_settings,
    script:
        "../scripts/assemble_system.py"


rule minimize:
    input:
        system="results/{system}/{replica}/system.xml",
        pdb="results/{system}/{replica}/packed.pdb",
    output:
        pdb="results/{system}/{replica}/minimized.pdb",
        report="results/{system}/{replica}/minimization.json",
    log:
        "logs/minimize/{system}_{replica}.log",
    conda:
        "../envs/md.yaml"
    threads: config["md"]["threads"]
    params:
        minimize=config["minimize"],
        platform=config["md"]["platform"],
        precision=config["md"]["precision"],
    script:
        "../scripts/minimize.py"


rule plot_coatings:
    input:
        slabs=expand("results/{system}/slab.pdb", system=COATED),
        coatings=expand("results/{system}/coating.pdb", system=COATED),
        infos=expand("results/{system}/coating.json", system=COATED),
    output:
        report(
            "results/figures/coatings.png",
            caption="../report/coatings.rst",
            category="Figures",
            labels={"figure": "coatings as built"},
        ),
    log:
        "logs/plot_coatings/all.log",
    conda:
        "../envs/md.yaml"
    params:
        systems=COATED,
    script:
        "../scripts/plot_coatings.py"
