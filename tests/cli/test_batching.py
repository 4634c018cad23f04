"""`mldeploy batch`, `lookup` and `validate` run in-process as a user would call them."""

import json
import re

import pytest

from mldeploy.examples import salary

from _batch_inputs import people, registry_root
from _cli import run

pytestmark = pytest.mark.timeout(180)


def test_batch_lookup_validate(capsys, tmp_path):
    registry = str(registry_root())
    people(500).to_parquet(tmp_path / "people.parquet")
    truth = salary.generate(500, seed=3, drift=0.1)[[salary.TARGET]].assign(employee_id=range(10_000, 10_500))
    truth.to_csv(tmp_path / "paid.csv", index=False)
    db = f"sqlite:///{tmp_path / 'predictions.db'}"
    code, out, err = run(capsys, "--registry", registry, "batch", "salary:production", "--input",
                         str(tmp_path / "people.parquet"), "--key", "employee_id", "--to", db)
    assert code == 0, err
    assert "500 predictions of salary@1 written" in out and "0 rows rejected" in out and "scoring" in out
    assert "mldeploy rejects" not in out
    code, out, _ = run(capsys, "lookup", "--db", db, "salary", "10042", "--json")
    found = json.loads(out)
    assert code == 0 and found["model_version"] == 1 and found["key"] == "10042" and found["value"] > 10_000
    code, out, err = run(capsys, "validate", "--db", db, "--truth", str(tmp_path / "paid.csv"), "--key", "employee_id",
                         "--target", "salary", "--plot", str(tmp_path / "report.png"))
    assert code == 0, err
    assert "salary: 500 true values, per model version" in out and "mape" in out and "recorded as validation" in out
    assert re.search(r"│ 1 +│ 500 +│ 500 +│ 0 +│", out)  # version, truth rows, matched, unmatched
    assert "window of prediction time" in out
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_errors_exit_2_with_one_line(capsys, tmp_path):
    db = f"sqlite:///{tmp_path / 'predictions.db'}"
    code, _, err = run(capsys, "lookup", "--db", db, "salary", "404")
    assert code == 2 and "no prediction of salary for key '404'" in err
    people(5).assign(employee_id=[1, 2, 2, 3, 4]).to_csv(tmp_path / "twice.csv", index=False)
    code, out, err = run(capsys, "--registry", str(registry_root()), "batch", "salary@1", "--input",
                         str(tmp_path / "twice.csv"), "--key", "employee_id", "--to", db, "--quiet")
    assert code == 2 and 'repeats 1 key(s): "2" at rows 1, 2' in err and "scoring" not in out


def test_batch_names_its_rejects_and_the_command_that_shows_them(capsys, tmp_path):
    rows = people(6)
    rows["years_experience"] = rows["years_experience"].astype(object)
    rows.loc[[1, 4], "years_experience"] = "ten"
    rows.to_csv(tmp_path / "people.csv", index=False)
    db = f"sqlite:///{tmp_path / 'predictions.db'}"
    code, out, err = run(capsys, "batch", "salary@1", "--input", str(tmp_path / "people.csv"), "--key", "employee_id",
                         "--to", db, "--quiet", "--registry", str(registry_root()))
    assert code == 0, err
    assert "4 predictions of salary@1 written" in out and "2 rows rejected" in out
    command = out.split("see them with: ", 1)[1].split()
    assert command[:2] == ["mldeploy", "rejects"] and command[3:] == ["--db", db]
    code, out, err = run(capsys, *command[1:], "--limit", "1")
    assert code == 0, err
    assert "Rows rejected by run" in out and ": 2" in out and "10001" in out and 'expected a number' in out
    assert "showing the first 1" in out


def test_a_missing_key_column_is_refused_before_any_progress_is_drawn(capsys, tmp_path):
    people(5).drop(columns="employee_id").to_csv(tmp_path / "people.csv", index=False)
    code, out, err = run(capsys, "--registry", str(registry_root()), "batch", "salary@1", "--input",
                         str(tmp_path / "people.csv"), "--key", "employee_id", "--to", f"sqlite:///{tmp_path / 'p.db'}")
    assert code == 2 and "employee_id" in err and "scoring" not in out
