"""The main job: the salary example through the architectures, on embedded defaults."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import typer

from mldeploy.cli._demo_api import api_step
from mldeploy.cli._demo_batch import batch_step
from mldeploy.cli._demo_loop import loop_step
from mldeploy.cli._demo_stream import stream_step
from mldeploy.cli.app import app, console, state
from mldeploy.cli.render import metrics_text, table
from mldeploy.errors import ConfigError


@app.command()
def demo(
    rows: int = typer.Option(50_000, "--rows", min=1_000, help="Training rows to generate."),
    workdir: Path = typer.Option(Path(".mldeploy/demo"), "--workdir", help="Where data, archive and wheel go."),
) -> None:
    """Generate salary data, train the whole pipeline, register it, alias it, predict embedded, publish as data, serve, keep it fresh.

    Example: `mldeploy demo --rows 20000`
    """
    from mldeploy.embedded import load
    from mldeploy.embedded.wheel import build_wheel
    from mldeploy.examples import salary
    from mldeploy.ops import train_and_register
    from mldeploy.ops.training import evaluate

    try:
        workdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create --workdir {workdir}: {exc.strerror or exc}; choose a writable folder") from exc
    with console.status(f"generating {rows:,} training rows and 1,000 drifted rows") as status:
        train_rows = salary.generate(rows=rows, seed=7)
        later = salary.generate(rows=1_000, seed=8, drift=0.2)
        with state.open_registry(create=True) as registry:
            ref, _ = train_and_register(train_rows, salary.TARGET, name="salary", registry=registry, alias="production",
                                        factory=salary.default_pipeline, description="salary demo", progress=status.update)
            model = load("salary:production", registry=registry)
            archive = workdir / f"salary-{ref.version}.mldeploy"
            archive.write_bytes(registry.archive(ref))
    metrics = evaluate(model.pipeline, later.drop(columns=salary.TARGET), later[salary.TARGET], "regression")
    console.print(f"[bold]1. registered[/] {ref} as salary:production  (on drifted rows: {metrics_text(metrics)})")
    _show_predictions(model, later)
    _show_speed(model, later)
    wheel = build_wheel(model.bundle, workdir)
    console.print(f"[bold]4. embedded[/] archive {archive}, wheel {wheel.name}: `{install_command(wheel)}` then `import salary_model`")
    if model.compiled is not None:
        onnx_path = workdir / f"salary-{ref.version}.onnx"
        onnx_path.write_bytes(model.export_onnx())
        console.print(f"[bold]5. for a browser or phone[/] {onnx_path}: the whole pipeline as one exact ONNX model")
    with state.open_registry(create=True) as registry:
        stream_step(registry, ref, train_rows, later, workdir, step=6)  # publish, subscribe, swap
    with state.open_registry() as registry:
        api_step(registry, later, step=7)
    with state.open_registry() as registry:
        batch_step(registry, workdir, step=8)
    with state.open_registry() as registry:
        loop_step(registry, workdir, step=9)
    console.print(f"[bold]10. the careers website[/] `{careers_site_command()}` (open http://127.0.0.1:8000; "
                  "the page switches between embedded, browser, api, stream and offline; the browser mode needs "
                  "`scripts/careers_js.sh` first)")


def careers_site_command() -> str:
    """Return the command that runs the careers site on the registry the demo just used."""
    registry = f"--registry {shlex.quote(state.registry)} " if state.registry else ""
    return f"mldeploy {registry}example careers-site --port 8000 --mode embedded"


def install_command(wheel: Path) -> str:
    """Return the pip command that installs a model wheel, naming this checkout when mldeploy came from one.

    The wheel requires mldeploy, which is not on PyPI: in a fresh environment it
    must come from the same command, or pip finds no distribution for it.
    """
    import mldeploy

    root = Path(mldeploy.__file__).resolve().parents[2]
    if not (root / "pyproject.toml").is_file():  # installed from an index: pip finds mldeploy there too
        return f"pip install {_shown(wheel)}"
    return f"pip install {_shown(root)} {_shown(wheel)}"


def _shown(path: Path) -> str:
    """A path as the user would type it here: relative below the current folder, else absolute."""
    relative = os.path.relpath(Path(path).resolve())
    return shlex.quote(str(Path(path).resolve()) if relative.startswith("..") else relative)


def _show_speed(model, later) -> None:
    from mldeploy.examples import salary

    row = {k: (None if v != v else v) for k, v in later.drop(columns=salary.TARGET).iloc[0].to_dict().items()}
    frame = later.drop(columns=salary.TARGET).iloc[:1]
    compiled_s = _best_of(lambda: model.predict(row), 200)
    sklearn_s = _best_of(lambda: model.pipeline.predict(frame), 20)
    same = model.predict(row) == model.pipeline.predict(frame)[0]
    plan = model.explain_plan()
    console.print(
        f"[bold]3. one estimate[/] {compiled_s * 1e6:,.0f} µs on the {plan.path} path "
        f"(scikit-learn's own predict: {sklearn_s * 1e3:,.1f} ms, {sklearn_s / compiled_s:,.0f}x slower); "
        + ("same answer to the bit" if same else "[red]answers differ[/]")
    )


def _best_of(call, times: int) -> float:
    import time

    call()
    best = float("inf")
    for _ in range(times):
        started = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - started)
    return best


def _show_predictions(model, later) -> None:
    from mldeploy.examples import salary

    sample = later.head(8)
    estimates = model.predict(sample.drop(columns=salary.TARGET))
    rows = [
        [r.job_family, r.level, r.city, f"{r.years_experience:g}", f"${r.salary:,.0f}", f"${e:,.0f}", f"{(e - r.salary) / r.salary:+.1%}"]
        for r, e in zip(sample.itertuples(), estimates)
    ]
    console.print(table("2. embedded predictions (mldeploy.load) on new candidates", ["job", "level", "city", "years", "actual", "estimate", "error"], rows))
