"""Build the simulated systems: Li slab, coating layer, electrolyte, the OpenMM System, and run it.

Everything here is plain Python on OpenMM/numpy; nothing imports snakemake, so each function can be
used from a notebook or a test. Lengths are in nm unless a name says otherwise.
"""
