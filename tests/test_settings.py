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


# `scrapy download` run in-process; at exit, the modules of interest that were imported
DOWNLOAD_PROBE = """
import atexit, json, sys
from scrapy.cmdline import execute
WATCHED = ("scrapy.extensions.remote_control", "aiohttp", "envision_spiders.spiders.", "numpy", "torch",
           "transformers", "playwright", "scrapy_playwright", "boto3", "botocore")
atexit.register(lambda: print("MODULES " + json.dumps(sorted(
    m for m in sys.modules if any(m == w or m.startswith(w if w.endswith(".") else w + ".") for w in WATCHED)))))
sys.argv = ["scrapy", "download", "-s", "ENVISION_DATA_DIR=" + sys.argv[1]]
execute()
"""


def test_a_download_run_imports_no_remote_control_spiders_or_heavy_packages_and_warns_nothing(tmp_path):
    # Scrapy 2.19's RemoteControl would serve Python execution on a loopback port in every run (and
    # its module pulls aiohttp's web server); scrapy download runs no source spider, no classifier,
    # no browser, no object store client: none of them may cost its start-up
    proc = subprocess.run([sys.executable, "-c", DOWNLOAD_PROBE, str(tmp_path)], cwd=PROJECT_ROOT, env=scrapy_env(),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    modules = [line for line in proc.stdout.splitlines() if line.startswith("MODULES ")]
    assert modules == ["MODULES []"], modules
    assert not [line for line in proc.stderr.splitlines() if " WARNING: " in line or " ERROR: " in line], proc.stderr
