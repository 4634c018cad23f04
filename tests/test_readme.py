"""The README's tour runs as written: its shell and Python blocks, in order, in an empty folder.

The blocks are read from the README itself, so an edit that breaks the tour
breaks this test. They run as a newcomer runs them after `make demo` and
`source .venv/bin/activate`: the project's environment first on PATH, no
registry set, nothing in the folder.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
TOUR_HEADING = "## A five-minute tour"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def tour_blocks() -> list[tuple[str, str]]:
    """Return (language, code) of every ```bash and ```python block of the tour section, in order."""
    text = README.read_text()
    section = text.split(f"\n{TOUR_HEADING}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^```(bash|python)\n(.*?)^```", section, flags=re.MULTILINE | re.DOTALL)


def newcomer_environment() -> dict[str, str]:
    """The environment after `source .venv/bin/activate`: this interpreter's bin first, no registry chosen."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLDEPLOY_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(Path(sys.executable).parent.parent)
    # Gradient boosting's OpenMP threads spin against the other processes of a busy shared machine
    # (measured: 42 s of CPU for the tour's training instead of 11); one thread trains the same model.
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def test_the_tour_has_shell_and_python_blocks():
    languages = [language for language, _ in tour_blocks()]
    assert "bash" in languages and "python" in languages


def test_the_tour_runs_as_written(tmp_path):
    env = newcomer_environment()
    outputs = []
    for index, (language, code) in enumerate(tour_blocks()):
        command = ["bash", "-euo", "pipefail", "-c", code] if language == "bash" else [sys.executable, "-c", code]
        done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"README tour block {index} ({language}) failed:\n{code}\n--- stderr:\n{done.stderr[-3000:]}"
        outputs.append(done.stdout)
    assert len(pd.read_csv(tmp_path / "estimates.csv")) == 200
    assert list((tmp_path / "dist").glob("salary_model-*-py3-none-any.whl"))
    assert (tmp_path / "salary.onnx").stat().st_size > 0 and (tmp_path / "salary.mldeploy").is_file()
    assert not (tmp_path / ".mldeploy").exists()  # the tour kept to its own registry
    shown = "\n".join(outputs)
    assert "salary:production → salary@" in shown and 'field "years_experience": expected a number' in shown
