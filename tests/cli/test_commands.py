"""The command line, run in-process through main() as a user would call it."""

import json

import pandas as pd
import pytest

from _cli import run
from mldeploy.cli import main
from mldeploy.examples import salary

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    salary.write(root / "train.csv", rows=2500, seed=7)
    salary.generate(20, seed=9).drop(columns="salary").to_csv(root / "candidates.csv", index=False)
    return root


@pytest.fixture(scope="module")
def trained(workspace):
    registry = str(workspace / "registry")
    with pytest.raises(SystemExit) as done:
        main(["--registry", registry, "train", "--data", str(workspace / "train.csv"), "--target", "salary", "--alias", "staging"])
    assert done.value.code in (0, None)
    return registry


def test_train_registers_a_version_with_metrics(capsys, trained):
    code, out, _ = run(capsys, "--registry", trained, "versions", "salary")
    assert code == 0 and "mae=" in out and "staging" in out


def test_models_show_and_alias(capsys, trained):
    assert "salary" in run(capsys, "--registry", trained, "models")[1]
    code, out, _ = run(capsys, "--registry", trained, "alias", "salary@1", "production")
    assert code == 0 and "salary:production → salary@1" in out
    code, out, _ = run(capsys, "--registry", trained, "show", "salary:production")
    assert code == 0 and "years_experience" in out and "pipeline.skops" in out and "lineage: salary@1" in out
    assert "proven engines: native, numba, onnxruntime" in out


def test_predict_writes_predictions(capsys, trained, workspace, tmp_path):
    out_file = tmp_path / "out.json"
    code, _, err = run(capsys, "--registry", trained, "predict", "salary@1", "--input", str(workspace / "candidates.csv"), "--output", str(out_file))
    assert code == 0, err
    rows = json.loads(out_file.read_text())
    assert len(rows) == 20 and all(row["prediction"] > 10_000 for row in rows)


def test_export_import_round_trip(capsys, trained, tmp_path):
    archive = tmp_path / "salary.mldeploy"
    assert run(capsys, "--registry", trained, "export", "salary@1", "--out", str(archive))[0] == 0
    other = str(tmp_path / "other-registry")
    code, out, _ = run(capsys, "--registry", other, "import", str(archive))
    assert code == 0 and "as salary@1" in out


def test_embed_builds_a_wheel(capsys, trained, tmp_path):
    code, out, _ = run(capsys, "--registry", trained, "embed", "salary@1", "--out", str(tmp_path))
    assert code == 0 and (tmp_path / "salary_model-1-py3-none-any.whl").is_file()


def test_predict_with_a_bad_row_names_row_and_field(capsys, trained, tmp_path):
    bad = salary.generate(3, seed=9).drop(columns="salary")
    bad["age"] = bad["age"].astype(object)
    bad.loc[1, "age"] = "old"
    bad.to_csv(tmp_path / "bad.csv", index=False)
    code, out, err = run(capsys, "--registry", trained, "predict", "salary@1", "--input", str(tmp_path / "bad.csv"))
    assert code == 2
    assert err.startswith('error: 1 bad field(s) in 1 row(s): row 1, field "age": expected a whole number in')
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["predict", "salary@1", "--input", "missing.csv"], "input file missing.csv does not exist"),
        (["show", "salary@9"], 'no version 9 of "salary"; versions are 1'),
        (["show", "wages@1"], "wages"),
        (["show", "salary@x"], "is not a model reference"),
        (["alias", "salary@1", "bad alias"], "is not a valid alias"),
        (["train", "--data", "{malformed}", "--target", "salary"], "is not a valid CSV file"),
        (["train", "--data", "{train}", "--target", "pay"], 'target column "pay" is not in the data'),
        (["predict", "salary@1", "--input", "{wrong_columns}"], 'field "age": expected a column (a whole number in'),
        (["import", "{malformed}"], "truncated or not a bundle"),
        (["delete", "salary:staging"], "move them to another version first or delete with force=True; or rerun with --force"),
        (["--public-key", "{malformed}", "models"], "not a readable PEM public key"),
        (["predict", "salary@1", "--input", "{mixed_json}"], "item 0 is a int, expected an object of fields"),
        (["train", "--data", "{no_target}", "--target", "salary"], 'target column "salary" is empty in 1 row(s)'),
        (["train", "--data", "{train}", "--target", "salary", "--pipeline", "os:getcwd"], "not an estimator with fit() and predict()"),
        (["embed", "salary@1", "--public-key", "{public_key}"], "bundle is not signed"),
    ],
)
def test_bad_input_gets_one_line_and_exit_code_2(capsys, trained, workspace, tmp_path, argv, message):
    (tmp_path / "malformed.csv").write_text('a,b\n1,2\n3\n"x')
    pd.DataFrame({"shoe_size": [42]}).to_csv(tmp_path / "wrong.csv", index=False)
    (tmp_path / "mixed.json").write_text('[1, {"age": 3}]')
    pd.read_csv(workspace / "train.csv").head(50).assign(salary=lambda f: f["salary"].where(f.index != 3)).to_csv(tmp_path / "no_target.csv", index=False)
    from mldeploy.bundle.signing import generate_keypair

    (tmp_path / "key.pub").write_bytes(generate_keypair()[1])
    names = {"malformed": str(tmp_path / "malformed.csv"), "train": str(workspace / "train.csv"), "wrong_columns": str(tmp_path / "wrong.csv"),
             "mixed_json": str(tmp_path / "mixed.json"), "no_target": str(tmp_path / "no_target.csv"), "public_key": str(tmp_path / "key.pub")}
    argv = [a.format(**names) for a in argv]
    code, _, err = run(capsys, "--registry", trained, *argv)
    assert code == 2, err
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_help_teaches_with_examples(capsys):
    code, out, _ = run(capsys, "train", "--help")
    assert code == 0 and "Example" in out and "--target" in out


def test_signed_training_and_verified_loading(capsys, workspace, tmp_path):
    keys = tmp_path / "keys" / "release"
    assert run(capsys, "keygen", "--out", str(keys))[0] == 0
    assert (tmp_path / "keys" / "release.key").stat().st_mode & 0o077 == 0
    registry = str(tmp_path / "signed-registry")
    code, _, err = run(capsys, "--registry", registry, "train", "--data", str(workspace / "train.csv"), "--target", "salary",
                       "--sign-key", str(keys) + ".key")
    assert code == 0, err
    code, out, _ = run(capsys, "--registry", registry, "--public-key", str(keys) + ".pub", "show", "salary@1")
    assert code == 0 and "signed: yes" in out
    other = tmp_path / "other"
    run(capsys, "keygen", "--out", str(other))
    code, _, err = run(capsys, "--registry", registry, "--public-key", str(other) + ".pub", "show", "salary@1")
    assert code == 2 and "signature does not match" in err
    # Imported elsewhere, the version's registry record needs signing too before a key-holding reader takes it.
    archive, elsewhere = str(tmp_path / "salary.mldeploy"), str(tmp_path / "elsewhere")
    assert run(capsys, "--registry", registry, "export", "salary@1", "--out", archive)[0] == 0
    signed_import = ["--registry", elsewhere, "--public-key", str(keys) + ".pub"]
    assert run(capsys, *signed_import, "import", archive)[0] == 0
    code, _, err = run(capsys, *signed_import, "show", "salary@1")
    assert code == 2 and "record of salary@1 is not signed" in err
    assert run(capsys, *signed_import, "import", archive, "--sign-key", str(keys) + ".key")[0] == 0
    code, out, err = run(capsys, *signed_import, "show", "salary@2")
    assert code == 0 and "signed: yes" in out, err


def test_keygen_refuses_to_overwrite_a_key(capsys, tmp_path):
    run(capsys, "keygen", "--out", str(tmp_path / "k"))
    code, _, err = run(capsys, "keygen", "--out", str(tmp_path / "k"))
    assert code == 2 and "exists" in err


def test_export_onnx_writes_an_exact_standalone_model(capsys, trained, workspace, tmp_path):
    import numpy as np
    import onnxruntime

    from mldeploy.compiled.export import onnx_inputs
    from mldeploy.embedded import load
    from mldeploy.registry import Registry

    out = tmp_path / "salary.onnx"
    code, printed, err = run(capsys, "--registry", trained, "export-onnx", "salary@1", "--out", str(out))
    assert code == 0, err
    assert "checked with onnxruntime against scikit-learn" in printed and "bit-identical" in printed
    with Registry(root=trained) as registry:
        model = load("salary@1", registry=registry)
    rows = pd.read_csv(workspace / "candidates.csv")
    session = onnxruntime.InferenceSession(out.read_bytes(), providers=["CPUExecutionProvider"])
    got = session.run(["prediction"], onnx_inputs(rows, model.compiled.spec["column_kinds"]))[0]
    np.testing.assert_allclose(got.ravel(), model.pipeline.predict(rows), rtol=1e-9, atol=0)


def test_a_bad_alias_stops_training_before_anything_is_registered(capsys, workspace, tmp_path):
    registry = str(tmp_path / "fresh")
    code, _, err = run(capsys, "--registry", registry, "train", "--data", str(workspace / "train.csv"), "--target", "salary", "--alias", "bad alias")
    assert code == 2 and "not a valid alias" in err
    code, _, err = run(capsys, "--registry", registry, "models")  # reading it creates no registry either
    assert code == 2 and "there is no registry at" in err


def test_a_missing_signing_key_stops_training_before_anything_is_registered(capsys, workspace, tmp_path):
    registry = str(tmp_path / "fresh")
    code, _, err = run(capsys, "--registry", registry, "train", "--data", str(workspace / "train.csv"),
                       "--target", "salary", "--sign-key", str(tmp_path / "missing.pem"))
    assert code == 2 and "cannot read key file" in err
    code, _, err = run(capsys, "--registry", registry, "models")  # reading it creates no registry either
    assert code == 2 and "there is no registry at" in err


def test_embed_names_a_missing_public_key_file(capsys, trained, tmp_path):
    code, _, err = run(capsys, "--registry", trained, "embed", "salary@1", "--out", str(tmp_path),
                       "--public-key", str(tmp_path / "missing.pub"))
    assert code == 2 and "cannot read --public-key" in err


def test_predict_can_pass_through_an_id_column(capsys, trained, workspace, tmp_path):
    rows = pd.read_csv(workspace / "candidates.csv").assign(candidate_id=lambda f: [f"c{i}" for i in range(len(f))])
    rows.to_csv(tmp_path / "with_id.csv", index=False)
    out = tmp_path / "out.csv"
    code, _, err = run(capsys, "--registry", trained, "predict", "salary@1", "--input", str(tmp_path / "with_id.csv"), "--output", str(out), "--ignore-extra")
    assert code == 0, err
    assert pd.read_csv(out)["candidate_id"].tolist() == rows["candidate_id"].tolist()
