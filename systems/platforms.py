"""Choose the OpenMM platform: CUDA, then OpenCL (a real GPU), then CPU; overridable by name.

``mixed`` precision on GPUs. An OpenCL platform that only offers a CPU device (PoCL) is skipped by ``auto``
because OpenMM's own CPU platform is faster there; naming ``OpenCL`` still uses it.
"""

from __future__ import annotations

import openmm as mm

AUTO_ORDER = ("CUDA", "OpenCL", "CPU")
GPU_PLATFORMS = ("CUDA", "OpenCL", "HIP")


class PlatformUnavailable(RuntimeError):
    """The requested platform cannot create a context here."""


def platform_properties(name: str, threads: int | None = None, precision: str = "mixed", device_index: str | None = None) -> dict:
    """Properties to pass to a Context on platform ``name``."""
    props = {}
    if name in GPU_PLATFORMS:
        props["Precision"] = precision
        if device_index is not None:
            props["DeviceIndex"] = str(device_index)
    elif name == "CPU" and threads:
        props["Threads"] = str(int(threads))
    return props


def _probe(name: str, props: dict) -> tuple[mm.Platform, dict, dict]:
    """Create a one-particle context on ``name``; return the platform, props and the context's property values."""
    try:
        platform = mm.Platform.getPlatformByName(name)
    except Exception as exc:  # OpenMM raises a plain Exception for unknown platforms
        raise PlatformUnavailable(f"OpenMM has no {name} platform here ({exc})") from None
    system = mm.System()
    system.addParticle(1.0)
    try:
        ctx = mm.Context(system, mm.VerletIntegrator(0.001), platform, props)
    except Exception as exc:
        raise PlatformUnavailable(f"{name} platform cannot create a context: {exc}") from None
    values = {k: platform.getPropertyValue(ctx, k) for k in platform.getPropertyNames()}
    del ctx
    return platform, props, values


def select_platform(name: str = "auto", threads: int | None = None, precision: str = "mixed", device_index=None):
    """Pick a platform.

    Parameters
    ----------
    name : str
        ``auto`` (CUDA, then a GPU OpenCL device, then CPU) or a platform name (CUDA, OpenCL, CPU, Reference).
    threads : int, optional
        CPU threads.
    precision : str
        GPU precision (``mixed`` by default).

    Returns
    -------
    platform : openmm.Platform
    properties : dict
        Properties to pass to ``Context``/``Simulation``.
    """
    if name != "auto":
        platform, props, _ = _probe(name, platform_properties(name, threads, precision, device_index))
        return platform, props
    reasons = []
    for cand in AUTO_ORDER:
        try:
            platform, props, values = _probe(cand, platform_properties(cand, threads, precision, device_index))
        except PlatformUnavailable as exc:
            reasons.append(str(exc))
            continue
        if cand == "OpenCL" and "Portable Computing Language" in values.get("OpenCLPlatformName", ""):
            reasons.append("OpenCL is PoCL on the CPU; the CPU platform is faster")
            continue
        return platform, props
    raise PlatformUnavailable("no usable OpenMM platform: " + "; ".join(reasons))


def describe_context(context: mm.Context) -> dict:
    """Platform name, OpenMM version and every platform property value of a live context."""
    platform = context.getPlatform()
    return {
        "openmm_version": mm.Platform.getOpenMMVersion(),
        "platform": platform.getName(),
        "properties": {k: platform.getPropertyValue(context, k) for k in platform.getPropertyNames()},
        "speed_hint": platform.getSpeed(),
    }


def available_platforms() -> list[str]:
    """Names of the platforms OpenMM has loaded (not all of them need to have a device)."""
    return [mm.Platform.getPlatform(i).getName() for i in range(mm.Platform.getNumPlatforms())]

