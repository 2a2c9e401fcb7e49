"""Shared fixtures. Every test runs on the CPU or Reference platform unless marked gpu."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def root():
    return ROOT


@pytest.fixture(autouse=True)
def _keep_the_text_locale():
    """OpenCL through PoCL sets the process's LC_CTYPE to "C" when it compiles a kernel (measured: Python's default
    text encoding turns ASCII), so a later test reading a UTF-8 file with the default encoding fails. Each test gets
    back the locale it started with."""
    import locale

    saved = locale.setlocale(locale.LC_CTYPE)
    yield
    locale.setlocale(locale.LC_CTYPE, saved)
