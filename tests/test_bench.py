"""The README's benchmark, run as it prints it: every row runs, or says why it can't."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.bench
def test_the_benchmark_runs_as_the_readme_prints_it():
    assert "```\npython3 -m bench\n```" in (REPO / "README.md").read_text()
    result = subprocess.run(["python3", "-m", "bench"], cwd=REPO, capture_output=True, text=True,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].split()[:3] == ["row", "peer", "newns"] and "targets:" in lines, result.stdout
    assert not [line for line in lines if line.startswith("failed ")], result.stdout
    assert [line for line in lines if line.startswith("  bounded by, measured together:")], result.stdout
