"""The careers site's JSON interface in every mode, over real HTTP: the same number, the same errors."""

from __future__ import annotations

import httpx
import pytest
from _careers import MAX_CERTIFICATIONS, MAX_YEARS, PROFILE, estimate

import mldeploy
from mldeploy.examples.careers import MODES

pytestmark = pytest.mark.timeout(900)


def test_the_form_lists_every_field_with_its_choices(careers_site):
    form = httpx.get(f"{careers_site}/api/form", timeout=30).json()
    fields = {f["name"]: f for f in form["fields"]}
    assert list(fields) == ["job_family", "level", "city", "education", "years_experience", "certifications", "remote"]
    assert [c["value"] for c in fields["years_experience"]["choices"]] == list(range(MAX_YEARS + 1))
    assert [c["value"] for c in fields["certifications"]["choices"]] == list(range(MAX_CERTIFICATIONS + 1))
    assert {"label": "Remote (US)", "value": "remote_us"} in fields["city"]["choices"]
    assert {f["name"] for f in form["fixed"]} == {"company_size", "weekly_hours", "performance_rating"}
    assert [m["name"] for m in form["modes"]] == list(MODES) and form["mode"] == "embedded"


def test_every_mode_gives_the_same_estimate_and_range(careers_site, careers_registry):
    answers = {}
    for mode in MODES:
        response = estimate(careers_site, PROFILE, mode)
        assert response.status_code == 200, response.text
        answers[mode] = response.json()
    model = mldeploy.load("salary:production", registry=str(careers_registry))
    row = {"job_family": "engineering", "level": "senior", "city": "seattle", "education": "master", "years_experience": 3,
           "certifications": 1, "remote": False, "age": 25, "company_size": 1200, "weekly_hours": 40,
           "performance_rating": None}
    expected = float(model.predict(row))
    metrics = model.bundle.manifest.metrics
    for mode, answer in answers.items():
        assert answer["mode"] == mode and (answer["model_name"], answer["model_version"]) == ("salary", 1)
        assert round(answer["estimate"], 2) == round(expected, 2), mode
        assert answer["low"] == pytest.approx(answer["estimate"] + metrics["residual_p10"])
        assert answer["high"] == pytest.approx(answer["estimate"] + metrics["residual_p90"])
        assert answer["low"] < answer["estimate"] < answer["high"]


@pytest.mark.parametrize("mode", MODES)
def test_bad_input_is_a_422_naming_each_field(careers_site, mode):
    bad = {**PROFILE, "city": "atlantis", "years_experience": "-2", "certifications": "ten"}
    del bad["level"]
    response = estimate(careers_site, bad, mode)
    assert response.status_code == 422
    body = response.json()
    issues = {i["field"]: i["message"] for i in body["issues"]}
    assert issues == {
        "city": 'expected one of [atlanta, austin, boston, chicago, denver, new_york, raleigh, remote_us, ...], got "atlantis"',
        "level": "expected one of [director, junior, mid, principal, senior, staff], got nothing",
        "years_experience": f'expected a whole number in [0, {MAX_YEARS}], got "-2"',
        "certifications": f'expected a whole number in [0, {MAX_CERTIFICATIONS}], got "ten"',
    }
    assert 'field "city"' in body["error"]


def test_a_body_that_is_not_a_form_is_refused_clearly(careers_site):
    not_json = httpx.post(f"{careers_site}/api/estimate", content=b"{oops", timeout=30)
    assert not_json.status_code == 422 and not_json.json()["issues"][0]["field"] == "(body)"
    a_list = estimate(careers_site, [PROFILE], "embedded")
    assert a_list.status_code == 422 and "JSON object" in a_list.json()["issues"][0]["message"]
    unknown = estimate(careers_site, {**PROFILE, "salary_wish": "1"}, "embedded")
    assert unknown.status_code == 422 and unknown.json()["issues"] == [{
        "field": "salary_wish", "message": "expected one of the form's fields (certifications, city, education, "
                                           "job_family, level, remote, years_experience), got a field the form does not have"}]
    huge = httpx.post(f"{careers_site}/api/estimate", content=b" " * 20_000, timeout=30)
    assert huge.status_code == 413 and "over 16,384 bytes" in huge.json()["error"]
    no_mode = estimate(careers_site, PROFILE, "carrier-pigeon")
    assert no_mode.status_code == 400 and "expected one of embedded, browser, api, stream, offline" in no_mode.json()["error"]


def test_offline_mode_says_how_many_rows_and_when(careers_site):
    status = httpx.get(f"{careers_site}/api/status", params={"mode": "offline"}, timeout=600).json()
    assert status["rows"] == 10 * 6 * 10 * 5 * (MAX_YEARS + 1) * (MAX_CERTIFICATIONS + 1) * 2
    assert status["batch_seconds"] > 0 and status["computed_at"]


def test_browser_mode_serves_the_model_its_schema_and_only_its_javascript(careers_site):
    onnx = httpx.get(f"{careers_site}/model/model.onnx", timeout=120)
    assert onnx.status_code == 200 and len(onnx.content) > 1000
    schema = httpx.get(f"{careers_site}/model/schema.json", timeout=30).json()
    assert "residual_p10" in schema["model"]["metrics"] and schema["fields"][0]["name"] == "years_experience"
    assert httpx.get(f"{careers_site}/vendor/ort/ort.wasm.min.js", timeout=30).status_code == 200
    assert httpx.get(f"{careers_site}/vendor/ort/package.json", timeout=30).status_code == 404
    page = httpx.get(careers_site, timeout=30)
    assert "script-src 'self'" in page.headers["content-security-policy"]


@pytest.mark.kafka
def test_stream_mode_follows_a_kafka_topic(careers_registry, ort_dist, kafka_broker, tmp_path):
    import uuid

    import _services
    from mldeploy.registry import Registry
    from mldeploy.stream import publish

    topic = kafka_broker.url(f"careers-{uuid.uuid4().hex[:8]}")
    with Registry(root=careers_registry) as registry:
        publish(registry.get("salary@1"), topic)
    server = _services.start_api_server("--registry", str(careers_registry), "example", "careers-site", "--mode", "stream",
                                        "--topic", topic, "--workdir", str(tmp_path), "--js-dir", str(ort_dist),
                                        "--max-years", str(MAX_YEARS), "--max-certifications", str(MAX_CERTIFICATIONS))
    try:
        _services.wait_ready(server, "/api/form")
        answer = estimate(server.url, PROFILE, "stream")
        assert answer.status_code == 200 and answer.json()["model_version"] == 1
        status = httpx.get(f"{server.url}/api/status", params={"mode": "stream"}, timeout=30).json()
        assert status["detail"] == f"a live model subscribed to {topic}"
        assert round(answer.json()["estimate"], 2) == round(estimate(server.url, PROFILE, "embedded").json()["estimate"], 2)
    finally:
        _services.stop_process(server.process, timeout_s=60)


def test_embedded_mode_can_import_the_wheel_that_mldeploy_embed_built(careers_registry, ort_dist, tmp_path):
    import zipfile

    import _services
    from mldeploy.embedded.wheel import build_wheel
    from mldeploy.registry import Registry

    with Registry(root=careers_registry) as registry:
        wheel = build_wheel(registry.get("salary:production"), tmp_path / "dist")
    zipfile.ZipFile(wheel).extractall(tmp_path / "site-packages")  # what pip install puts on the path
    server = _services.start_api_server(
        "--registry", str(careers_registry), "example", "careers-site", "--wheel-module", "salary_model",
        "--workdir", str(tmp_path), "--js-dir", str(ort_dist), "--max-years", str(MAX_YEARS),
        "--max-certifications", str(MAX_CERTIFICATIONS),
        env={"PYTHONPATH": f"{tmp_path / 'site-packages'}:{_services.REPO / 'src'}"})
    try:
        _services.wait_ready(server, "/api/form")
        status = httpx.get(f"{server.url}/api/status", params={"mode": "embedded"}, timeout=30).json()
        assert "from the wheel's module salary_model (salary@1)" in status["detail"]
        from_wheel = estimate(server.url, PROFILE, "embedded").json()
        assert from_wheel["model_version"] == 1
        assert from_wheel["estimate"] == estimate(server.url, PROFILE, "browser").json()["estimate"]
    finally:
        _services.stop_process(server.process, timeout_s=60)
