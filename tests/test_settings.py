"""Project-wide settings: what every `scrapy` process starts with."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import PROJECT_ROOT, scrapy_env

COMMANDS_PROBE = """
import sys
from scrapy.cmdline import _get_commands_dict
from scrapy.utils.project import get_project_settings
commands = _get_commands_dict(get_project_settings(), inproject=True)
assert {"classify", "evaluate-classifier", "train-classifier", "download"} <= set(commands), sorted(commands)
print(sorted(m for m in ("numpy", "torch", "envision_spiders.classifier") if m in sys.modules))
"""


def test_listing_the_commands_imports_no_classifier():
    # scrapy imports every command module on every invocation: the classifier (numpy) loads
    # only when a classifier command runs
    proc = subprocess.run([sys.executable, "-c", COMMANDS_PROBE], cwd=PROJECT_ROOT, env=scrapy_env(),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "[]"


def test_a_download_run_has_no_remote_control_server_and_no_warnings(tmp_path):
    # Scrapy 2.19's RemoteControl would serve Python execution on a loopback port in every run
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "scrapy", "download", "-s", f"ENVISION_DATA_DIR={tmp_path}"],
        cwd=PROJECT_ROOT, env=scrapy_env(), capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert "scrapy.extensions.remote_control" not in imported
    log = [line for line in proc.stderr.splitlines() if not line.startswith("import time:")]
    assert not [line for line in log if " WARNING: " in line or " ERROR: " in line], log
