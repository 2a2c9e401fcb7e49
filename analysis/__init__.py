"""Read trajectories: slab RDFs, coordination numbers, density profiles, MSD, statistics and figures.

Plain numpy in nm and ps; nothing imports snakemake.
"""
