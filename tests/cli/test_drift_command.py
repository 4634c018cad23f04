"""`mldeploy drift`: the table, JSON, the HTML page, and exit codes 0 (no drift), 3 (drift), 2 (bad input)."""

import json

import pytest

import _models
from mldeploy.cli import main
from mldeploy.examples import salary

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("drift")
    salary.write(root / "same.parquet", 5000, seed=11, features_only=True)
    salary.write(root / "drifted.csv", 5000, seed=11, drift=0.3, features_only=True)
    return root


def _run(capsys, *args) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        main(["drift", str(_models.trained_salary_bundle()), *args])
    out, err = capsys.readouterr()
    return done.value.code, out, err


def test_same_distribution_exits_0_with_a_row_per_feature(capsys, files):
    code, out, err = _run(capsys, "--current", str(files / "same.parquet"))
    assert (code, err) == (0, "")
    assert "no drift" in out and all(name in out for name in ("years_experience", "city", "prediction"))


def test_drift_exits_3_naming_the_features_and_why(capsys, files, tmp_path):
    code, out, _ = _run(capsys, "--current", str(files / "drifted.csv"), "--report", str(tmp_path / "r" / "drift.html"))
    assert code == 3 and "DRIFT" in out and "city: " in out and "unseen share" in out
    assert (tmp_path / "r" / "drift.html").read_text().count("data:image/png;base64,") == 12


def test_thresholds_move_the_verdict(capsys, files):
    code, _, _ = _run(capsys, "--current", str(files / "drifted.csv"), "--threshold", "distance=0.9",
                      "--threshold", "psi=5", "--threshold", "unseen_share=1")
    assert code == 0


def test_json_is_the_report_as_data(capsys, files):
    code, out, _ = _run(capsys, "--current", str(files / "drifted.csv"), "--json")
    data = json.loads(out)
    assert code == 3 and data["drifted"] is True and "city" in data["drifted_features"]
    assert data["estimated_error"]["metric"] == "mae"


@pytest.mark.parametrize("args, words", [
    (["--current", "{root}/missing.csv"], "missing.csv does not exist"),
    (["--current", "{root}/same.parquet", "--threshold", "psi=-0.5"], "psi=-0.5 is impossible"),
    (["--current", "{root}/same.parquet", "--threshold", "town.psi=0.1"], "unknown feature(s) 'town'"),
])
def test_bad_input_exits_2_with_one_line(capsys, files, args, words):
    code, _, err = _run(capsys, *(a.format(root=files) for a in args))
    assert code == 2 and len(err.strip().splitlines()) == 1 and words in err, err


def test_a_registry_alias_is_resolved(capsys, files, tmp_path):
    import mldeploy
    from mldeploy.bundle import Bundle

    with mldeploy.Registry(root=tmp_path / "registry") as registry:
        registry.set_alias(registry.register(Bundle.open(_models.trained_salary_bundle())), "production")
    with pytest.raises(SystemExit) as done:
        main(["--registry", str(tmp_path / "registry"), "drift", "salary:production", "--current", str(files / "drifted.csv")])
    assert done.value.code == 3 and "salary@1 on " in capsys.readouterr().out
    with mldeploy.Registry(root=tmp_path / "registry") as registry:
        finding = registry.journal.history("salary")[-1]  # `mldeploy history` shows the finding
    assert (finding.kind, finding.version, finding.details["drifted"]) == ("drift", 1, True)
    assert finding.reason.startswith("salary@1 on ") and "DRIFT" in finding.reason
