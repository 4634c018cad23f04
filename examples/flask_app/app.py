"""The careers site backend: salary estimates for candidate profiles.

The model is an ordinary dependency: the ``salary_model`` wheel that
``mldeploy embed`` builds carries the whole pipeline, so this app needs no
registry and a new model version ships as a new wheel and a new app build.

Example::

    flask --app app run
    curl -X POST localhost:5000/estimate -H 'Content-Type: application/json' \\
         -d '{"years_experience": 4, "age": 29, "education": "bachelor", ...}'
"""

from __future__ import annotations

import json

import mldeploy
import salary_model
from flask import Flask, jsonify, request
from werkzeug.exceptions import BadRequest, HTTPException

__all__ = ["create_app"]

_BODY_HINT = "send one candidate profile as a JSON object, or a list of them"


def create_app() -> Flask:
    """Return the app, with the embedded model already loaded and verified."""
    app = Flask(__name__)
    # Load at start-up, so a broken wheel fails the deploy instead of the first candidate.
    salary_model.model()
    app.add_url_rule("/health", view_func=health, methods=["GET"])
    app.add_url_rule("/estimate", view_func=estimate, methods=["POST"])
    app.register_error_handler(mldeploy.SchemaError, _schema_error)
    app.register_error_handler(HTTPException, _http_error)
    return app


def health():
    """Report that the app is up, which model version it serves, and on which path it predicts."""
    return jsonify(status="ok", model=salary_model.REF, path=salary_model.model().path.value)


def estimate():
    """Estimate the salary of one profile (a JSON object) or of each profile in a JSON list."""
    profiles = _read_json_body()
    value = salary_model.predict(profiles)  # one value for an object, an array for a list (empty included)
    value = value.tolist() if hasattr(value, "tolist") else value
    return jsonify(estimate=value, model=salary_model.REF)


def _read_json_body():
    # Parsed by hand rather than with request.get_json(): the caller gets the
    # decoder's position, and a missing Content-Type header is no error.
    body = request.get_data()
    if not body.strip():
        raise BadRequest(f"the request body is empty; {_BODY_HINT}")
    try:
        return json.loads(body)
    except ValueError as exc:
        raise BadRequest(f"the request body is not valid JSON ({exc}); {_BODY_HINT}") from exc


def _schema_error(exc: mldeploy.SchemaError):
    issues = [issue.to_dict() for issue in exc.issues]
    return jsonify(error=str(exc), issues=issues), 422


def _http_error(exc: HTTPException):
    return jsonify(error=exc.description), exc.code
