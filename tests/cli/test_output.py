"""Predictions reach the user whole: a file, CSV on a pipe, or a table with the count on a terminal."""

import io

import numpy as np
import pandas as pd
import pytest

from mldeploy.cli.output import prediction_table, report_predictions
from _cli import run

pytestmark = pytest.mark.timeout(120)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def registry(tiny_registry):
    return tiny_registry


def test_a_pipe_gets_csv_of_every_row_with_probabilities(capsys, registry, tmp_path):
    pd.DataFrame({"x": np.linspace(-1, 1, 120), "y": 0.0}).to_csv(tmp_path / "rows.csv", index=False)
    code, out, err = run(capsys, "--registry", registry, "predict", "sign@1", "--input", str(tmp_path / "rows.csv"))
    assert code == 0, err
    table = pd.read_csv(io.StringIO(out))
    assert list(table.columns) == ["x", "y", "prediction", "probability_hi", "probability_lo"] and len(table) == 120
    assert table["prediction"].iloc[0] == "lo" and table["prediction"].iloc[-1] == "hi"


def test_a_header_only_file_says_0_rows(capsys, registry, tmp_path):
    (tmp_path / "empty.csv").write_text("x,y\n")
    code, out, err = run(capsys, "--registry", registry, "predict", "sign@1", "--input", str(tmp_path / "empty.csv"))
    assert code == 0 and out == "x,y,prediction,probability_hi,probability_lo\n"
    assert err.strip() == f"0 rows in {tmp_path / 'empty.csv'}: nothing to predict"


def test_an_empty_reference_is_named_as_such(capsys, registry, tmp_path):
    (tmp_path / "empty.csv").write_text("x,y\n")
    code, _, err = run(capsys, "--registry", registry, "predict", "", "--input", str(tmp_path / "empty.csv"))
    assert code == 2 and err.startswith("error: the model reference is empty;")


def test_a_terminal_shows_the_first_rows_and_the_count(capsys):
    result = prediction_table(pd.DataFrame({"x": range(50_000)}), np.zeros(50_000))
    report_predictions(result, None, "rows.csv", "m@1", stdout=Terminal())
    out = capsys.readouterr().out
    assert out.rstrip().endswith("showing 50 of 50,000 rows; use --output FILE (or redirect stdout) for all of them")
    assert len(out.strip().splitlines()) == 52  # header, 50 rows, the count


def test_a_terminal_shows_a_short_result_whole(capsys):
    report_predictions(prediction_table(pd.DataFrame({"x": [1, 2]}), [0.5, 0.25]), None, "rows.csv", "m@1", stdout=Terminal())
    assert capsys.readouterr().out.split() == ["x", "prediction", "1", "0.50", "2", "0.25"]
