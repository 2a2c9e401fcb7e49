#!/usr/bin/env bash
# Create ./.venv with everything the workflow and its tests need (pip, no conda).
# Installs OpenMM's CUDA platform (openmm[cuda12]) when an NVIDIA driver is present.
# Usage: bash workflow/setup.sh            (uses python3.11, or $PYTHON)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -r requirements.txt
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; then
  echo "NVIDIA driver found: installing OpenMM's CUDA 12 platform"
  .venv/bin/python -m pip install --quiet "openmm[cuda12]"
fi
.venv/bin/python -m pip install --quiet --no-deps -e .
.venv/bin/python -c "import openmm; print('OpenMM', openmm.__version__, 'platforms:', [openmm.Platform.getPlatform(i).getName() for i in range(openmm.Platform.getNumPlatforms())])"
