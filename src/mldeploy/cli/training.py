"""Commands that make data and train pipelines into the registry."""

from __future__ import annotations

from pathlib import Path

import typer

from mldeploy.cli.app import app, console, errors, state
from mldeploy.cli.render import metrics_text
from mldeploy.errors import ConfigError


@app.command()
def train(
    data: Path = typer.Option(..., "--data", help="Training table: CSV, Parquet, JSON or JSON Lines."),
    target: str = typer.Option(..., "--target", help="The column to predict, e.g. salary."),
    name: str = typer.Option(None, "--name", help="Model name in the registry (default: the target column)."),
    pipeline: str = typer.Option(
        None, "--pipeline",
        help="Your own pipeline factory as module:function, found in the current folder or on PYTHONPATH (default: mldeploy's pipeline).",
    ),
    task: str = typer.Option(None, "--task", help="regression or classification (default: from the target: text, or 20 or fewer whole numbers, is classification)."),
    drop: list[str] = typer.Option([], "--drop", help="Leave these columns out (an id, a leak): --drop id,ssn or --drop id --drop ssn."),
    features: list[str] = typer.Option([], "--features", help="Use only these columns: --features age,city or --features age --features city."),
    alias: str = typer.Option(None, "--alias", help="Also point this alias (e.g. staging) at the new version."),
    test_size: float = typer.Option(0.2, "--test-size", min=0.05, max=0.5, help="Share of rows held out for metrics."),
    seed: int = typer.Option(0, "--seed", help="Seed of the train/test split."),
    sign_key: Path = typer.Option(None, "--sign-key", help="Sign the bundle with this Ed25519 private key (from `mldeploy keygen`)."),
    trust: list[str] = typer.Option([], "--trust", help="A type of your pipeline you will trust when loading (no warning for it)."),
) -> None:
    """Fit a whole pipeline, evaluate it on held-out rows and register the next version.

    The default pipeline imputes, adds log features for skewed sizes, scales,
    one-hot encodes, selects features and fits gradient boosting; the task
    (regression or classification) follows the target column unless --task says.
    The table is checked first: an id as target, a stray word in a numeric
    column or an unknown column stops before training; a feature that alone
    predicts the target, and types every later load must trust, are warned about.

    Example: `mldeploy train --data houses.csv --target price --drop listing_id --alias staging`
    """
    import os

    from mldeploy.bundle import BundleRef
    from mldeploy.bundle.signing import load_private_key
    from mldeploy.ops import train_and_register
    from mldeploy.ops.target import check_task
    from mldeploy.ops.training import load_factory
    from mldeploy.tables import read_table

    # Everything the user typed is checked before training, so a typo costs no training run.
    check_task(task)
    BundleRef.check_name(name or target)
    if alias:
        BundleRef.check_alias(alias)
    key = load_private_key(sign_key) if sign_key else None
    factory = load_factory(pipeline, search_from=os.getcwd()) if pipeline else None
    columns = column_list(features) or None
    with console.status(f"reading {data}") as status:
        frame = read_table(data)
        # The registry is opened (and made) only once a version exists: a refused table leaves none behind.
        ref, result = train_and_register(
            frame, target, name=name, registry=state.registry, alias=alias, factory=factory, task=task, drop=column_list(drop),
            features=columns, sign_key=key, test_size=test_size, seed=seed, trusted=trust,
            public_key=state.public_key, progress=status.update,
        )
    console.print(f"registered [bold]{ref}[/] ({result.task})  held-out: {metrics_text(result.metrics)}" + (f"  alias {alias}" if alias else ""))
    for warning in result.warnings:
        errors.print(f"warning: {warning}", markup=False, highlight=False)


@app.command()
def generate(
    out: Path = typer.Option(..., "--out", help="File to write: .csv or .parquet."),
    rows: int = typer.Option(50_000, "--rows", min=1, help="How many rows (written in chunks, any size)."),
    seed: int = typer.Option(7, "--seed", help="Same seed, same table."),
    drift: float = typer.Option(0.0, "--drift", min=0.0, max=1.0, help="0 = like training; 1 = shifted, with unseen categories."),
    features_only: bool = typer.Option(False, "--features-only", help="Leave out the salary column: rows to predict, as an app sends them."),
    key: str = typer.Option(None, "--key", show_default=False,
                            help="Add a first column of this name numbering the rows from 10000, e.g. employee_id (for `mldeploy batch --key`)."),
) -> None:
    """Write the salary example table (synthetic, reproducible) to a file.

    Example: `mldeploy generate --out people.csv --rows 100 --seed 8 --features-only --key employee_id`
    """
    from mldeploy.examples import salary

    try:
        salary.write(out, rows=rows, seed=seed, drift=drift, features_only=features_only, key=key)
    except (ValueError, OSError) as exc:
        raise ConfigError(str(exc)) from exc
    keyed = f", keyed by {key} from 10000" if key else ""
    console.print(f"wrote {rows:,} salary rows to {out}" + (" (features only, no salary)" if features_only else "") + keyed)


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


def column_list(values: list[str]) -> list[str]:
    """Column names from an option given repeatedly, comma-separated, or both: ["a,b", "c"] -> ["a", "b", "c"]."""
    return [name.strip() for value in values for name in value.split(",") if name.strip()]
