"""Commands that use a version: predict from a file, embed it in a wheel."""

from __future__ import annotations

from pathlib import Path

import typer

from mldeploy.cli.app import app, console, read_public_key, state, write_output
from mldeploy.errors import ConfigError


_TRUST = typer.Option([], "--trust", help="Trust this type in the pipeline (your own transformer class).")
_FORCE = typer.Option(False, "--force", help="Load a bundle made with another major scikit-learn version.")


@app.command()
def predict(
    ref: str = typer.Argument(..., help="NAME@VERSION, NAME:ALIAS, NAME, a bundle folder or an archive file."),
    input: Path = typer.Option(..., "--input", help="Rows to score: CSV, Parquet, JSON or JSON Lines."),
    output: Path = typer.Option(
        None, "--output", help="Write rows with a prediction column here; without it, CSV of every row to a pipe, or the first 50 rows on a terminal.",
    ),
    trust: list[str] = _TRUST,
    force: bool = _FORCE,
    ignore_extra: bool = typer.Option(False, "--ignore-extra", help="Pass through columns the model doesn't use (e.g. an id)."),
) -> None:
    """Predict for every row of a file with a registered version (validated against its schema).

    Example: `mldeploy predict salary:production --input candidates.csv --output estimates.parquet`
    """
    from mldeploy.cli.output import prediction_table, report_predictions
    from mldeploy.serving.loading import load
    from mldeploy.tables import read_table

    _check_reference(ref)
    frame = read_table(input)
    with state.open_registry() as registry:
        model = load(ref, registry=registry, trusted=tuple(trust), public_key=state.public_key, allow_version_mismatch=force)
    prediction = model.infer(frame, extra="ignore" if ignore_extra else "reject", missing="as-trained")
    table = prediction_table(frame, prediction.values, prediction.classes, prediction.probabilities)
    report_predictions(table, output, input, model.ref)


def _check_reference(ref: str) -> None:
    if not ref.strip():
        raise ConfigError("the model reference is empty; give NAME, NAME@VERSION, NAME:ALIAS, a bundle folder or an archive file")


@app.command()
def embed(
    ref: str = typer.Argument(..., help="NAME@VERSION or NAME:ALIAS to build into a wheel."),
    out: Path = typer.Option(Path("dist"), "--out", help="Folder for the wheel."),
    trust: list[str] = _TRUST,
    force: bool = _FORCE,
    public_key: Path = typer.Option(None, "--public-key", help="Make the wheel refuse a bundle not signed by this Ed25519 key."),
) -> None:
    """Build a wheel that carries the model, so an app lists it as an ordinary dependency.

    The app then does `import salary_model; salary_model.predict({...})` with
    no registry at run time; a new version means a new wheel and app build.

    Example: `mldeploy embed salary:production --out dist/ && pip install dist/salary_model-3-py3-none-any.whl`
    """
    from mldeploy.embedded import load
    from mldeploy.embedded.wheel import build_wheel

    _check_reference(ref)
    key = read_public_key(public_key) if public_key else None  # a bad key file fails here, not in the app
    with state.open_registry() as registry:
        bundle = registry.get(ref)
    load(bundle, trusted=tuple(trust), public_key=key, allow_version_mismatch=force)  # never ship one that won't load
    try:
        path = build_wheel(bundle, out, trusted=tuple(trust), public_key=key)
    except OSError as exc:
        raise ConfigError(f"cannot write the wheel into {out}: {exc.strerror}; give --out a writable folder") from exc
    console.print(f"built {path} ({path.stat().st_size / 1024:,.0f} KiB) from {bundle.ref}")


@app.command("export-onnx")
def export_onnx(
    ref: str = typer.Argument(..., help="NAME@VERSION, NAME:ALIAS, NAME, a bundle folder or an archive file."),
    out: Path = typer.Option(..., "--out", help="The .onnx file to write."),
    trust: list[str] = _TRUST,
    force: bool = _FORCE,
) -> None:
    """Write the whole pipeline as one exact ONNX model with a named input per column.

    For a browser (onnxruntime-web), a phone or any ONNX runtime: number and
    boolean columns are double [N, 1] (missing = NaN), text columns are string
    [N, 1] (missing = ""); outputs are tensors (`prediction`, or `label` and
    `probabilities`) plus `refused` for rows scikit-learn would refuse.
    Before writing, the model is run by onnxruntime on the bundle's sample and
    edge rows and compared with scikit-learn: labels must be identical and
    numbers (predictions, probabilities) within 1e-9 relative, or nothing is
    written. The output says how many rows were bit-identical.

    Example: `mldeploy export-onnx salary:production --out salary.onnx`
    """
    from mldeploy.embedded import load

    _check_reference(ref)
    with state.open_registry() as registry:
        model = load(ref, registry=registry, trusted=tuple(trust), public_key=state.public_key,
                     allow_version_mismatch=force)
    data = model.export_onnx(verify=False)
    report = model.verify_onnx(data)  # raises before anything is written when it differs
    write_output(out, data)
    console.print(f"wrote {model.ref} as ONNX to {out} ({len(data) / 1024:,.0f} KiB)")
    console.print(f"checked with onnxruntime against scikit-learn: {_export_check_text(report, model.classes is not None)}")


def _export_check_text(report, is_classifier: bool) -> str:
    """Say what the export check guarantees, in the README's terms: which rows are bit-identical, how close the rest are."""
    labels = "every label identical; " if is_classifier else ""
    numbers = "probabilities" if is_classifier else "predictions"
    if report.exact_rows == report.rows:
        return f"{report.rows:,} rows, {labels}{numbers} bit-identical in all of them"
    return (f"{report.rows:,} rows, {labels}{numbers} bit-identical in {report.exact_rows:,}, the rest within "
            f"{report.max_relative_error:.2g} relative (the limit is 1e-9)")
