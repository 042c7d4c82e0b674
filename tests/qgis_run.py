"""Running a real QGIS (qgis_process, headless) for the plugin's tests."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PLUGIN = Path(__file__).parents[1] / "roadkd" / "qgis" / "roadkd_qgis"
# Debian's qgis_process wrapper passes an option its 3.22 binary rejects; call the binary.
QGIS_PROCESS = shutil.which("qgis_process.bin") or shutil.which("qgis_process")
ROADKD = Path(sys.executable).with_name("roadkd")
#: The Python QGIS's own modules are installed for (Debian's python3-qgis).
QGIS_PYTHON = shutil.which("python3", path="/usr/bin") or "/usr/bin/python3"

#: Marks of every QGIS test: slow, and skipped with the reason where QGIS is missing.
QGIS_TESTS = [
    pytest.mark.slow,
    pytest.mark.skipif(QGIS_PROCESS is None, reason="QGIS (qgis_process) is not installed"),
]


def qgis(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``qgis_process`` with ``args`` in the QGIS profile folder ``profile``."""
    # QGIS's embedded Python finds its home through the first python3 on PATH: a
    # virtualenv's (e.g. roadkd's own) would hide QGIS's modules from it.
    venv_bin = str(Path(sys.executable).parent)
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if p != venv_bin)
    env = {
        **{k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"},
        "PATH": path,
        "QT_QPA_PLATFORM": "offscreen",
        "QGIS_CUSTOM_CONFIG_PATH": str(profile),
        "XDG_RUNTIME_DIR": str(profile),
    }
    assert QGIS_PROCESS is not None
    return subprocess.run(
        [QGIS_PROCESS, *args], env=env, capture_output=True, text=True, timeout=300
    )


def installed_profile(folder: Path) -> Path:
    """A QGIS profile in ``folder`` with the plugin installed and enabled.

    The plugin is copied as ``make qgis-plugin`` packs it: its links (the default training
    configs) replaced by the files they point to.
    """
    plugins = folder / "profiles" / "default" / "python" / "plugins"
    plugins.mkdir(parents=True)
    shutil.copytree(PLUGIN, plugins / PLUGIN.name, ignore=shutil.ignore_patterns("__pycache__"))
    enabled = qgis(folder, "plugins", "enable", PLUGIN.name)
    assert enabled.returncode == 0, enabled.stdout[-2000:] + enabled.stderr[-2000:]
    return folder


def save_provider_setting(profile: Path, value: str) -> None:
    """Save the roadkd executable in the profile, as Settings > Options > Processing does."""
    settings = profile / "profiles" / "default" / "QGIS" / "QGIS3.ini"
    with settings.open("a") as ini:
        ini.write(f"\n[Processing]\nConfiguration\\ROADKD_EXECUTABLE={value}\n")
