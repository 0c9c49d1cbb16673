"""The package's types hold: mypy --strict, as pyproject.toml configures it."""
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_mypy_strict_finds_nothing():
    result = subprocess.run([sys.executable, "-m", "mypy", "--cache-dir=/dev/null"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
