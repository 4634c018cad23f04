"""The README's "Model as data on Kafka" section runs as written, against the test session's own broker.

Its blocks are read from the README. The block that installs and starts a broker is checked to run
the same script and subcommands as the test's broker fixture instead of being run (a second broker
on the fixed port 9092 could collide with other work); the others run with 127.0.0.1:9092 pointed
at the fixture's broker, in a folder holding the tour's registry.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from mldeploy.registry import Registry

from test_readme import README, newcomer_environment

SECTION = "### Model as data on Kafka"

pytestmark = [pytest.mark.slow, pytest.mark.kafka, pytest.mark.timeout(600)]


def section_blocks() -> list[tuple[str, str]]:
    """Return (language, code) of every ```bash and ```python block of the section, in order."""
    section = README.read_text().split(f"\n{SECTION}\n", 1)[1].split("\n### ", 1)[0]
    return re.findall(r"^```(bash|python)\n(.*?)^```", section, flags=re.MULTILINE | re.DOTALL)


def test_the_section_starts_a_broker_with_the_projects_script():
    first = section_blocks()[0][1]
    assert '"$MLDEPLOY_HOME/scripts/kafka.sh" install' in first
    assert re.search(r'"\$MLDEPLOY_HOME/scripts/kafka.sh" start \S+ 9092', first)


def test_the_kafka_section_runs_as_written(tmp_path, kafka_broker, salary_registry):
    with Registry(root=tmp_path / "tour-registry") as tour:  # what the tour leaves: salary:production
        tour.set_alias(tour.register(salary_registry.get("salary@1")), "production")
    env = newcomer_environment()
    env["MLDEPLOY_HOME"] = str(README.parent)
    outputs = []
    for index, (language, code) in enumerate(section_blocks()[1:], start=1):
        code = code.replace("127.0.0.1:9092", kafka_broker.bootstrap)
        command = ["bash", "-euo", "pipefail", "-c", code] if language == "bash" else [sys.executable, "-c", code]
        done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"README Kafka block {index} ({language}) failed:\n{code}\n--- stderr:\n{done.stderr[-3000:]}"
        outputs.append(done.stdout)
    shown = "\n".join(outputs)
    assert "published salary@1" in shown and "sent 1,000 events" in shown
    assert "scored 1,000 events" in shown and "1,000 predictions, 0 dead letters" in shown
    assert "First 5 message(s)" in shown and "salary@1" in shown and '"prediction"' in shown
    assert Path(tmp_path / "model-cache").is_dir()
