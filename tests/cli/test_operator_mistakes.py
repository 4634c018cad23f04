"""An operator's typo stops a command at once, in one line, with exit 2; a harmless quirk of an input just works."""

import sqlite3

import pytest

from _batch_inputs import people, registry_root
from _cli import run

pytestmark = pytest.mark.timeout(180)


@pytest.mark.parametrize("ref, words", [
    ("salary:prodution", 'no alias "prodution" of "salary"; aliases are production'),
    ("salry:production", 'no model named "salry"; models are grade, salary'),
    ("salary@9", 'no version 9 of "salary"; versions are 1, 2'),
])
def test_serve_with_a_reference_that_cannot_resolve_exits_2_in_predicts_words(capsys, tmp_path, ref, words):
    people(3).to_csv(tmp_path / "people.csv", index=False)
    code, _, predicted = run(capsys, "--registry", str(registry_root()), "predict", ref, "--input", str(tmp_path / "people.csv"))
    code, out, err = run(capsys, "--registry", str(registry_root()), "serve", ref, "--port", "0")
    assert code == 2 and words in err and "serving" not in out
    assert err.strip().splitlines()[0] == predicted.strip().splitlines()[0]


@pytest.mark.parametrize("url", ["postgresql://user:secret@127.0.0.1:5x/db", "sqlite:///:memory:"])
def test_a_database_url_that_cannot_work_is_a_one_line_exit_2(capsys, tmp_path, url):
    people(3).to_csv(tmp_path / "people.csv", index=False)
    code, _, err = run(capsys, "--registry", str(registry_root()), "batch", "salary@1", "--input",
                       str(tmp_path / "people.csv"), "--key", "employee_id", "--to", url, "--quiet")
    assert code == 2 and len(err.strip().splitlines()) <= 3 and "a bug" not in err and "secret" not in err
    assert ("port that is not a number" in err) if "5x" in url else ("keeps the predictions in memory, and they would vanish" in err)


def test_a_query_that_ends_in_a_comment_works(capsys, tmp_path):
    database = tmp_path / "people.db"
    with sqlite3.connect(database) as conn:
        people(30).to_sql("people", conn, index=False)
    code, out, err = run(capsys, "--registry", str(registry_root()), "batch", "salary@1", "--input", f"sqlite:///{database}",
                         "--query", "SELECT * FROM people -- every one of them", "--key", "employee_id",
                         "--to", f"sqlite:///{tmp_path / 'predictions.db'}", "--quiet")
    assert code == 0, err
    assert "30 predictions of salary@1 written" in out


@pytest.mark.parametrize("separator, named", [(";", "';'"), ("\t", "tabs")])
def test_a_csv_with_another_separator_gets_a_hint(capsys, tmp_path, separator, named):
    people(3).to_csv(tmp_path / "people.csv", index=False, sep=separator)
    code, _, err = run(capsys, "--registry", str(registry_root()), "batch", "salary@1", "--input",
                       str(tmp_path / "people.csv"), "--key", "employee_id", "--to", f"sqlite:///{tmp_path / 'p.db'}", "--quiet")
    assert code == 2 and f"its fields seem separated by {named}" in err and "comma-separated" in err
