"""Commands that make data and train pipelines into the registry."""

from __future__ import annotations

import tempfile
from pathlib import Path

import typer

from mldeploy.cli.app import app, console, state
from mldeploy.cli.render import metrics_text


@app.command()
def train(
    data: Path = typer.Option(..., "--data", help="Training table: CSV, Parquet, JSON or JSON Lines."),
    target: str = typer.Option(..., "--target", help="The column to predict, e.g. salary."),
    name: str = typer.Option(None, "--name", help="Model name in the registry (default: the target column)."),
    pipeline: str = typer.Option(
        None, "--pipeline", help="Your own pipeline factory as module:function (default: mldeploy's pipeline)."
    ),
    alias: str = typer.Option(None, "--alias", help="Also point this alias (e.g. staging) at the new version."),
    test_size: float = typer.Option(0.2, "--test-size", min=0.05, max=0.5, help="Share of rows held out for metrics."),
    seed: int = typer.Option(0, "--seed", help="Seed of the train/test split."),
    sign_key: Path = typer.Option(None, "--sign-key", help="Sign the bundle with this Ed25519 private key (from `mldeploy keygen`)."),
) -> None:
    """Fit a whole pipeline, evaluate it on held-out rows and register the next version.

    The default pipeline imputes, adds log features for skewed sizes, scales,
    one-hot encodes, selects features and fits gradient boosting; the task
    (regression or classification) follows the target column.

    Example: `mldeploy train --data salaries.csv --target salary --name salary --alias staging`
    """
    from mldeploy.bundle import Bundle, BundleRef
    from mldeploy.bundle.signing import load_private_key
    from mldeploy.ops.training import load_factory, train as fit
    from mldeploy.tables import read_table

    # Everything the user typed is checked before training, so a typo costs no training run.
    model_name = BundleRef.check_name(name or target)
    if alias:
        BundleRef.check_alias(alias)
    key = load_private_key(sign_key) if sign_key else None
    factory = load_factory(pipeline) if pipeline else None
    with console.status(f"reading {data}"):
        frame = read_table(data)
    with console.status(f"training on {len(frame):,} rows"):
        result = fit(frame, target, factory=factory, test_size=test_size, seed=seed)
    with console.status("bundling and verifying"), tempfile.TemporaryDirectory(prefix="mldeploy-train-") as scratch:
        bundle = Bundle.from_pipeline(result.pipeline, result.features, name=model_name, metrics=result.metrics,
                                      signing_key=key, directory=Path(scratch) / "bundle")
        with state.open_registry(create=True) as registry:
            ref = registry.register(bundle, sign_with=key)
            if alias:
                registry.set_alias(ref, alias)
    console.print(f"registered [bold]{ref}[/] ({result.task})  held-out: {metrics_text(result.metrics)}" + (f"  alias {alias}" if alias else ""))


@app.command()
def generate(
    out: Path = typer.Option(..., "--out", help="File to write: .csv or .parquet."),
    rows: int = typer.Option(50_000, "--rows", min=1, help="How many rows (written in chunks, any size)."),
    seed: int = typer.Option(7, "--seed", help="Same seed, same table."),
    drift: float = typer.Option(0.0, "--drift", min=0.0, max=1.0, help="0 = like training; 1 = shifted, with unseen categories."),
) -> None:
    """Write the salary example table (synthetic, reproducible) to a file.

    Example: `mldeploy generate --out salaries.csv --rows 50000`
    """
    from mldeploy.errors import ConfigError
    from mldeploy.examples import salary

    try:
        salary.write(out, rows=rows, seed=seed, drift=drift)
    except (ValueError, OSError) as exc:
        raise ConfigError(str(exc)) from exc
    console.print(f"wrote {rows:,} salary rows to {out}")


@app.command()
def keygen(
    out: Path = typer.Option(..., "--out", help="Path prefix: writes PREFIX.key (private) and PREFIX.pub (public)."),
) -> None:
    """Make an Ed25519 key pair for signing bundles and checking their signatures.

    Sign with `mldeploy train --sign-key PREFIX.key`; check with `mldeploy --public-key PREFIX.pub ...`.

    Example: `mldeploy keygen --out keys/release`
    """
    import os

    from mldeploy.bundle.signing import generate_keypair
    from mldeploy.errors import ConfigError

    private, public = generate_keypair()
    key_path, pub_path = out.with_name(out.name + ".key"), out.with_name(out.name + ".pub")
    if key_path.exists():
        raise ConfigError(f"{key_path} exists; choose another --out so no key is overwritten")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # private key readable by its owner only
        with os.fdopen(fd, "wb") as handle:
            handle.write(private)
        pub_path.write_bytes(public)
    except OSError as exc:
        raise ConfigError(f"cannot write keys at {out}: {exc.strerror}") from exc
    console.print(f"wrote {key_path} (keep it secret) and {pub_path}")
