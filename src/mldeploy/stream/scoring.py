"""Score one micro-batch of event messages with a model: predictions, or dead letters with every reason.

No I/O: the scorer hands in message values and writes what comes back. Steps (decode,
prepare, compute, encode) so a scorer can run the numeric one on another thread;
``score_batch`` runs them all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from mldeploy import errors
from mldeploy.bundle.options import Extra
from mldeploy.errors import Issue, MldeployError, NotReadyError, SchemaError, answer_for
from mldeploy.serving import codecs
from mldeploy.serving.result import Accepted
from mldeploy.stream import codec

__all__ = ["DEAD_LETTER_REASONS", "Decoded", "Scored", "accepted_dead", "compute_batch", "dead_letter_reason", "decode_batch",
           "encoded", "infer_batch", "outcome", "prepare_batch", "score_batch"]

DEAD_LETTER_REASONS: dict[type, str] = {
    errors.SchemaError: "invalid-event",
    errors.ConfigError: "invalid-event",
    errors.UnsupportedError: "model-refused",
    errors.BundleError: "model-refused",
    errors.PredictionError: "prediction-failed",
    errors.MldeployError: "scoring-failed",
}
"""Exception class -> the ``error`` a dead letter carries, looked up along the MRO (nearest class wins).

NotReadyError is never a dead letter: the event is fine, the scorer waits for a model and reads it again.
"""


def dead_letter_reason(error: BaseException) -> str:
    """Return the dead-letter ``error`` code of an exception by its nearest class in the table."""
    reason = answer_for(error, DEAD_LETTER_REASONS, None)
    if reason is not None:
        return reason
    raise TypeError(f"{type(error).__name__} is not an mldeploy error; it is a bug, not a bad event") from error


@dataclass
class Scored:
    """A micro-batch's outcome, by position in the batch."""

    predictions: dict[int, bytes] = field(default_factory=dict)
    """Prediction message values."""
    models: dict[int, str] = field(default_factory=dict)
    """``name@version`` that made each prediction."""
    dead: dict[int, tuple[str, list[str]]] = field(default_factory=dict)
    """(error code, every reason) of each event that got no prediction."""


@dataclass
class Decoded:
    """A micro-batch's events as rows: the ones to predict, and a dead letter for each that isn't one."""

    rows: list
    """Rows by position in the batch (None where the event is invalid)."""
    positions: list[int]
    """Positions of the valid rows, in order."""
    dead: dict[int, tuple[str, list[str]]]


def decode_batch(values: Sequence[bytes], drop: str | None = None) -> Decoded:
    """Parse a micro-batch's message values; an event that is not a JSON object gets its dead letter here.

    ``drop``: a field taken out of every event before validation (the prediction log's key).
    """
    rows, bad = codec.decode_events(list(values))
    if drop is not None:
        for row in rows:
            if row is not None:
                row.pop(drop, None)
    return Decoded(rows, [i for i, row in enumerate(rows) if row is not None],
                   {position: ("invalid-event", [reason]) for position, reason in bad.items()})


def infer_batch(model, decoded: Decoded, extra: Extra = "reject"):
    """Predict the events that pass validation in one call, the others set aside with their issues.

    Returns the Accepted, or the MldeployError the batch met as a whole (NotReadyError propagates).
    ``extra``: "reject" makes an event with a field the schema does not know a dead letter; "ignore" drops the field.
    """
    return compute_batch(prepare_batch(model, decoded, extra))


def prepare_batch(model, decoded: Decoded, extra: Extra = "reject"):
    """Validate and encode the parsed rows with the version serving now: a Prepared, None, or the MldeployError met.

    The first half of :func:`infer_batch`, all Python; rows with bad fields are set aside
    in the Prepared (the serving core's ``refuse="rows"``). NotReadyError propagates.
    """
    if not decoded.positions:
        return None
    try:
        return model.prepare([decoded.rows[p] for p in decoded.positions], extra, missing="as-trained", refuse="rows")
    except NotReadyError:
        raise
    except MldeployError as error:
        return error


def compute_batch(prepared):
    """Predict what :func:`prepare_batch` returned: the Accepted, or the error (None for no rows).

    The second half of :func:`infer_batch`: the compiled path's numeric kernel, which releases
    the GIL, so a scorer runs it on a worker thread beside the next batch's preparation.
    """
    if prepared is None or isinstance(prepared, MldeployError):
        return prepared
    try:
        return prepared.model.compute_accepted(prepared)
    except MldeployError as error:
        return error


def score_batch(model, values: Sequence[bytes], extra: Extra = "reject") -> Scored:
    """Decode and score ``values``; an event's bad fields send it, and only it, to the dead letters.

    NotReadyError (no model serving yet) propagates: no event of the batch is at fault.
    """
    decoded = decode_batch(values)
    return outcome(model, decoded, infer_batch(model, decoded, extra), extra)


def outcome(model, decoded: Decoded, result, extra: Extra = "reject") -> Scored:
    """Encode a batch's predictions and its refused events' dead letters.

    After an error of the batch as a whole, find the events at fault: an issue of the whole
    input is every event's; a pipeline that fails on valid rows is asked about each alone.
    """
    rows, positions = decoded.rows, decoded.positions
    if isinstance(result, Accepted):
        dead = accepted_dead(decoded, result)
        return encoded(result.prediction, [p for p in positions if p not in dead] if result.refused else positions, dead)
    scored = Scored(dead=dict(decoded.dead))
    if isinstance(result, SchemaError):
        for batch_row, issues in codec.issues_by_row(result, len(positions)).items():
            scored.dead[positions[batch_row]] = _invalid(issues)
    elif isinstance(result, MldeployError):
        _predict_each(model, rows, positions, scored, extra)  # find the events that fail, keep the others
    return scored


def accepted_dead(decoded: Decoded, accepted: Accepted) -> dict[int, tuple[str, list[str]]]:
    """The batch's dead letters: events that are not rows, and the rows the model refused, by batch position."""
    if not accepted.refused:
        return decoded.dead
    dead = dict(decoded.dead)
    for batch_row, issues in accepted.refused.items():
        dead[decoded.positions[batch_row]] = _invalid(issues)
    return dead


def _invalid(issues: list[Issue]) -> tuple[str, list[str]]:
    return "invalid-event", [_utf8(replace(i, row=None).describe()) for i in issues]


def _utf8(reason: str) -> str:
    """``reason`` with lone surrogates escaped (``\\ud800``): they quote the event, and cannot be encoded as UTF-8."""
    return reason.encode("utf-8", "backslashreplace").decode()


def encoded(prediction, positions: list[int], dead: dict[int, tuple[str, list[str]]]) -> Scored:
    """The Scored of a batch whose events at ``positions`` were predicted in one call and the others are ``dead``."""
    scored = Scored(dead=dict(dead))
    _encode(prediction, positions, scored)
    return scored


def _encode(prediction, positions: list[int], scored: Scored) -> None:
    scored.predictions.update(zip(positions, codecs.prediction_messages(prediction)))  # C-level loops: this runs for every event
    scored.models.update(dict.fromkeys(positions, str(prediction.ref)))


def _predict_each(model, rows: list, positions: list[int], scored: Scored, extra: Extra) -> None:
    for position in positions:
        try:
            _encode(model.infer([rows[position]], extra, missing="as-trained"), [position], scored)
        except SchemaError as error:
            scored.dead[position] = _invalid(error.issues)
        except NotReadyError:
            raise
        except MldeployError as error:
            scored.dead[position] = (dead_letter_reason(error), [_utf8(str(error))])
