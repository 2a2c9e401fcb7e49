"""Pack a GPU bundle: one folder that carries the built cells and the GPU check to an offline GPU node.

The folder holds

``wheels/``
    OpenMM, its CUDA plugin and mdtraj (with the two small pure-Python packages mdtraj imports), downloaded
    with ``pip download`` for the node's Python, CUDA major version and glibc, not for this machine. numpy
    is not carried: the node's Python has it (see ``../shared/reference/gpu-offline-node.md`` beside the project).
``code/systems/``
    The few modules of this project the check imports (:data:`CODE`), nothing else.
``cells/``
    For every configured system, replica r0's ``system.xml``, ``minimized.pdb`` and ``geometry.json``, and
    ``cells.json`` with the workflow's ``md`` settings.
``run.sh``
    The one command to run on the node: ``bash run.sh OUT_DIR`` installs the wheels into ``site/`` beside it
    (``pip install --no-index --no-deps --target``), then runs :mod:`systems.gpu_check` within a budget
    (8 minutes by default, ``--minutes``), writing CSVs, a summary and logs into ``OUT_DIR``.
``manifest.json``
    What is inside: every file with its size and sha256, versions, the wheel tags asked for.

The whole folder must fit a size limit (64 MiB by default): a node reached through a slot-limited copy
rarely takes more. The bundle is refused, with its largest files named, when it does not fit.
"""

from __future__ import annotations

import datetime
import json
import shutil
import subprocess
import sys
from pathlib import Path

from systems.resume import file_record

#: modules of this package the GPU check needs on the node (checked by the tiny test, which runs from the bundle)
CODE = ("__init__.py", "files.py", "platforms.py", "resume.py", "workfolder.py", "protocol.py", "md.py", "benchmark.py", "gpu_check.py")

RUN_SH = r"""#!/usr/bin/env bash
# GPU check of this project on an offline GPU node; made by `snakemake --cores 1 gpu_bundle` (systems/gpu_bundle.py).
# Usage: bash run.sh OUT_DIR [--minutes 8] [any option of `python -m systems.gpu_check`, e.g. --tiny]
# Needs: python3 with numpy (PYTHON=... to choose another), an NVIDIA driver. No network.
# The wheels go to GPU_BUNDLE_SITE (default: site/ beside this script, or OUT_DIR/site if this folder is read-only).
set -euo pipefail
START=$(date +%s)
HERE="$(cd "$(dirname "$0")" && pwd)"
OUT=${1:?usage: bash run.sh OUT_DIR [--minutes N] [options]}
shift
MINUTES=8
ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes)
      [ $# -ge 2 ] || { echo "run.sh: --minutes needs a number" >&2; exit 2; }
      MINUTES=$2
      shift 2
      ;;
    *) ARGS+=("$1"); shift ;;
  esac
done
BUDGET=$(awk -v m="$MINUTES" 'BEGIN { if (m + 0 <= 0) exit 1; printf "%d", m * 60 }') || { echo "run.sh: --minutes $MINUTES is not a positive number" >&2; exit 2; }
PYTHON=${PYTHON:-python3}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
LOG="$OUT/gpu_check.log"
unset OPENMM_PLUGIN_DIR  # a module environment's plugins of another OpenMM version must not load
if [ -w "$HERE" ]; then SITE=${GPU_BUNDLE_SITE:-$HERE/site}; else SITE=${GPU_BUNDLE_SITE:-$OUT/site}; fi
if ls "$HERE"/wheels/*.whl >/dev/null 2>&1; then
  STAMP=$(cksum <"$HERE/manifest.json")
  if [ ! -f "$SITE/.gpu_bundle_site" ] || [ "$(cat "$SITE/.gpu_bundle_site")" != "$STAMP" ]; then
    if [ -e "$SITE" ] && [ ! -f "$SITE/.gpu_bundle_site" ]; then
      echo "run.sh: $SITE exists and was not made by run.sh; set GPU_BUNDLE_SITE to an empty or new folder" | tee -a "$LOG" >&2
      exit 2
    fi
    echo "installing $(ls "$HERE"/wheels/*.whl | wc -l) wheels into $SITE" | tee -a "$LOG"
    rm -rf "$SITE"
    mkdir -p "$SITE"
    if "$PYTHON" -m pip --version >/dev/null 2>&1; then
      "$PYTHON" -m pip install --quiet --no-index --no-deps --target "$SITE" "$HERE"/wheels/*.whl 2>&1 | tee -a "$LOG"
    else  # no pip: a wheel is a zip laid out for site-packages
      for w in "$HERE"/wheels/*.whl; do "$PYTHON" -m zipfile -e "$w" "$SITE" 2>&1 | tee -a "$LOG"; done
    fi
    echo "$STAMP" >"$SITE/.gpu_bundle_site"
  fi
  export PYTHONPATH="$HERE/code:$SITE${PYTHONPATH:+:$PYTHONPATH}"
else
  echo "no wheels in this bundle: using $PYTHON's own OpenMM and mdtraj" | tee -a "$LOG"
  export PYTHONPATH="$HERE/code${PYTHONPATH:+:$PYTHONPATH}"
fi
# The CUDA plugin finds libnvrtc and libcufft through a RUNPATH relative to its own site-packages
# ($ORIGIN/../../../nvidia/cu13/lib); installed here, that is site/nvidia, which the node's CUDA wheels are not in.
# Point the loader at the node Python's own nvidia/*/lib folders (and a system CUDA, if any) instead.
NVLIB=$("$PYTHON" - <<'PY'
import glob, os
try:
    import nvidia
    roots = list(nvidia.__path__)
except ImportError:
    roots = []
dirs = [d for r in roots for d in sorted(glob.glob(os.path.join(r, "*", "lib"))) if os.path.isdir(d)]
print(":".join(dict.fromkeys(dirs)))
PY
)
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
  if [ -d "$d" ]; then NVLIB="${NVLIB:+$NVLIB:}$d"; fi
done
if [ -n "$NVLIB" ]; then
  export LD_LIBRARY_PATH="$NVLIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  echo "CUDA libraries searched in: $NVLIB" | tee -a "$LOG"
fi
"$PYTHON" -c "import sys, numpy, openmm; print('python', sys.version.split()[0], 'numpy', numpy.__version__, 'OpenMM', openmm.__version__)" 2>&1 | tee -a "$LOG"
cd "$HERE/code"  # `python -m` puts the working folder first on sys.path: make it the bundle's code
# the check keeps its budget itself; `timeout` is the backstop for a call that hangs in a driver
TIMEOUT=()
if command -v timeout >/dev/null 2>&1; then TIMEOUT=(timeout -k 10 $((BUDGET + 60))); fi
exec ${TIMEOUT[@]+"${TIMEOUT[@]}"} "$PYTHON" -m systems.gpu_check "$OUT" --cells "$HERE/cells" --budget-s "$BUDGET" --started-at "$START" ${ARGS[@]+"${ARGS[@]}"}
"""


class BundleTooLarge(ValueError):
    """The bundle does not fit its size limit."""


def manylinux_tags(glibc: str, arch: str) -> list[str]:
    """Every manylinux platform tag a node with ``glibc`` (e.g. "2.34") accepts, newest first."""
    major, minor = (int(x) for x in glibc.split("."))
    if major != 2 or minor < 17:
        raise ValueError(f"glibc {glibc}: manylinux wheels need glibc 2.17 or newer")
    tags = [f"manylinux_2_{m}_{arch}" for m in range(minor, 16, -1)]
    return tags + [f"manylinux2014_{arch}"]


def wheel_requirements(cuda: str, openmm_version: str, mdtraj_version: str, pure: dict | None = None) -> list[str]:
    """The packages the check needs beyond the node's numpy, pinned to the versions that built the cells.

    ``pure`` pins the pure-Python packages mdtraj imports (pyparsing, packaging), by default to this machine's.
    """
    if str(cuda) not in ("12", "13"):
        raise ValueError(f"cuda {cuda}: OpenMM publishes its CUDA platform as openmm-cuda-12 and openmm-cuda-13")
    if pure is None:
        from importlib.metadata import version

        pure = {name: version(name) for name in ("pyparsing", "packaging")}
    reqs = [f"openmm=={openmm_version}", f"openmm-cuda-{cuda}=={openmm_version}", f"mdtraj=={mdtraj_version}"]
    return reqs + [f"{name}=={v}" for name, v in sorted(pure.items())]


def pip_download_command(requirements, dest, python_version: str, glibc: str, arch: str = "x86_64") -> list[str]:
    """``pip download`` of binary wheels for another machine's Python and platform, no dependencies."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--python-version", python_version, "--implementation", "cp"]
    for tag in manylinux_tags(glibc, arch):
        cmd += ["--platform", tag]
    return cmd + ["-d", str(dest), *requirements]


def folder_files(root: Path) -> list[dict]:
    return [
        {"path": str(p.relative_to(root)), **file_record(p)}
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "manifest.json"
    ]


def check_size(files: list[dict], limit_mib: float, where) -> int:
    """Total bytes; :class:`BundleTooLarge` naming the largest files when over ``limit_mib``."""
    total = sum(f["bytes"] for f in files)
    if total > limit_mib * 2**20:
        big = sorted(files, key=lambda f: -f["bytes"])[:5]
        raise BundleTooLarge(
            f"the GPU bundle in {where} is {total / 2**20:.1f} MiB, over its limit of {limit_mib} MiB "
            f"(gpu_bundle.limit_mib). Largest files: " + ", ".join(f"{f['path']} ({f['bytes'] / 2**20:.2f} MiB)" for f in big)
        )
    return total


def make_bundle(out_dir, cells: dict, md_config: dict, settings: dict, replicas: int = 3, log=print) -> dict:
    """Write the bundle into ``out_dir`` (replaced if it exists); return its manifest.

    Parameters
    ----------
    cells : dict
        system name -> dict with ``system_xml``, ``pdb`` (minimised) and ``geometry`` paths (replica r0).
    md_config : dict
        The workflow's ``md`` settings (time step, temperature, friction, frame and checkpoint intervals).
    replicas : int
        Replicas per system in the config: the check runs systems x replicas jobs at once to time the whole MD.
    settings : dict
        ``wheels`` ("download", "none", or a folder of ready wheels), ``python_version``, ``cuda``, ``glibc``,
        ``arch``, ``limit_mib``.
    """
    import mdtraj
    import openmm

    out = Path(out_dir)
    tmp = out.with_name(out.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "code" / "systems").mkdir(parents=True)
    (tmp / "wheels").mkdir()
    (tmp / "cells").mkdir()
    src = Path(__file__).resolve().parent
    for name in CODE:
        shutil.copyfile(src / name, tmp / "code" / "systems" / name)
    for name, files in cells.items():
        d = tmp / "cells" / name
        d.mkdir()
        for key, fname in (("system_xml", "system.xml"), ("pdb", "minimized.pdb"), ("geometry", "geometry.json")):
            shutil.copyfile(files[key], d / fname)
    (tmp / "cells" / "cells.json").write_text(json.dumps({"systems": list(cells), "replicas": replicas, "md": md_config}, indent=1))
    (tmp / "run.sh").write_text(RUN_SH)
    (tmp / "run.sh").chmod(0o755)
    reqs = wheel_requirements(settings["cuda"], openmm.__version__, mdtraj.__version__)
    wheels = settings["wheels"]
    if wheels == "download":
        cmd = pip_download_command(reqs, tmp / "wheels", settings["python_version"], settings["glibc"], settings["arch"])
        log("downloading wheels: " + " ".join(cmd[1:]))
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            raise RuntimeError(
                f"pip download failed (exit {r.returncode}); a networked machine and the package index are needed, or set "
                f"gpu_bundle.wheels to a folder of wheels fetched elsewhere:\n{r.stdout[-1500:]}\n{r.stderr[-1500:]}"
            )
    elif wheels != "none":
        given = sorted(Path(wheels).glob("*.whl"))
        if not given:
            shutil.rmtree(tmp, ignore_errors=True)
            raise FileNotFoundError(f"gpu_bundle.wheels: no .whl files in {wheels}")
        for w in given:
            shutil.copyfile(w, tmp / "wheels" / w.name)
    files = folder_files(tmp)
    try:
        total = check_size(files, settings["limit_mib"], out)
    except BundleTooLarge:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    manifest = {
        "made": datetime.datetime.now().isoformat(timespec="seconds"),
        "openmm": openmm.__version__,
        "mdtraj": mdtraj.__version__,
        "target": {k: settings[k] for k in ("python_version", "cuda", "glibc", "arch")},
        "wheels": settings["wheels"],
        "requirements": reqs if wheels != "none" else [],
        "systems": list(cells),
        "total_bytes": total,
        "limit_mib": settings["limit_mib"],
        "files": files,
        "run": "bash run.sh OUT_DIR [--minutes 8]",
    }
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    n_wheels = sum(1 for f in files if f["path"].startswith("wheels/"))
    log(f"GPU bundle in {out}: {total / 2**20:.1f} MiB of {settings['limit_mib']} MiB, {len(cells)} systems, {n_wheels} wheels")
    log(f"copy it to the GPU node and run: bash {out.name}/run.sh OUT_DIR   (about 8 minutes; bring OUT_DIR back)")
    return manifest
