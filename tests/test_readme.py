"""The README's minimal example runs as written, from the repository root."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_readme_minimal_example_runs_as_written(data_path):
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## A minimal example", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    code = code.replace('path="../shared/data"', f"path={str(data_path)!r}")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    scores = [float(s) for s in re.findall(r"\d\.\d+", done.stdout)]
    assert len(scores) == 4 and all(0 <= s <= 1 for s in scores)  # one per fold
    # Nothing a user did wrong: no warning reaches them.
    assert "Warning" not in done.stderr, done.stderr
