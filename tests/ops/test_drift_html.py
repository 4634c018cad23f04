"""The drift report's HTML page: one file, every feature plotted, nothing fetched from elsewhere."""

import base64
import re
from dataclasses import replace

import pytest

import _models
import mldeploy
from mldeploy.errors import ConfigError
from mldeploy.examples import salary
from mldeploy.ops.drift import drift
from mldeploy.ops.drift_html import render_html, write_html

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def report():
    model = mldeploy.load(_models.trained_salary_bundle())
    return drift(model, salary.generate(5000, seed=11, drift=0.3).drop(columns=salary.TARGET))


def test_the_page_is_self_contained_with_a_plot_per_feature(report, tmp_path):
    page = write_html(report, tmp_path / "out" / "drift.html").read_text()
    images = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", page)
    assert len(images) == len(report.features) + 1  # and one for the prediction
    assert all(base64.b64decode(image).startswith(b"\x89PNG") for image in images)
    assert "://" not in page and not re.search(r"(href|src)=['\"]?//", page)  # base64 never holds a colon
    for f in report.features:
        assert f">{f.feature}: {'drifted' if f.drifted else 'stable'}</h3>" in page
    assert "estimated mae before truth" in page and page.startswith("<!DOCTYPE html>")


def test_text_from_outside_is_escaped(report):
    page = render_html(replace(report, source="<script>alert(1)</script>.csv"))
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;.csv" in page


def test_an_unwritable_path_is_named(report, tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match=f"cannot write {tmp_path / 'file'}/r.html"):
        write_html(report, tmp_path / "file" / "r.html")
