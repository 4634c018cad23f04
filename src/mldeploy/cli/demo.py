"""The main job: the salary example through the architectures, on embedded defaults."""

from __future__ import annotations

import tempfile
from pathlib import Path

import typer

from mldeploy.cli._demo_batch import batch_step
from mldeploy.cli.app import app, console, state
from mldeploy.cli.render import metrics_text, table


@app.command()
def demo(
    rows: int = typer.Option(50_000, "--rows", min=1_000, help="Training rows to generate."),
    workdir: Path = typer.Option(Path(".mldeploy/demo"), "--workdir", help="Where data, archive and wheel go."),
) -> None:
    """Generate salary data, train the whole pipeline, register it, alias it and predict embedded.

    Example: `mldeploy demo --rows 20000`
    """
    from mldeploy.bundle import Bundle
    from mldeploy.embedded import load
    from mldeploy.embedded.wheel import build_wheel
    from mldeploy.examples import salary
    from mldeploy.ops.training import evaluate

    workdir.mkdir(parents=True, exist_ok=True)
    with console.status(f"generating {rows:,} training rows and 1,000 drifted rows"):
        train_rows = salary.generate(rows=rows, seed=7)
        later = salary.generate(rows=1_000, seed=8, drift=0.2)
    features, target = train_rows.drop(columns=salary.TARGET), train_rows[salary.TARGET]
    with console.status("training the whole pipeline"):
        pipeline = salary.default_pipeline().fit(features, target)
        metrics = evaluate(pipeline, later.drop(columns=salary.TARGET), later[salary.TARGET], "regression")
    with tempfile.TemporaryDirectory(prefix="mldeploy-demo-") as scratch, state.open_registry(create=True) as registry:
        bundle = Bundle.from_pipeline(pipeline, features, name="salary", metrics=metrics, description="salary demo",
                                      directory=Path(scratch) / "bundle")
        ref = registry.register(bundle)
        registry.set_alias(ref, "production")
        model = load("salary:production", registry=registry)
        archive = workdir / f"salary-{ref.version}.mldeploy"
        archive.write_bytes(registry.archive(ref))
    console.print(f"[bold]1. registered[/] {ref} as salary:production  (on drifted rows: {metrics_text(metrics)})")
    _show_predictions(model, later)
    _show_speed(model, later)
    wheel = build_wheel(model.bundle, workdir)
    console.print(f"[bold]4. embedded[/] archive {archive}, wheel {wheel.name}: `pip install {wheel}` then `import salary_model`")
    if model.compiled is not None:
        onnx_path = workdir / f"salary-{ref.version}.onnx"
        onnx_path.write_bytes(model.export_onnx())
        console.print(f"[bold]5. for a browser or phone[/] {onnx_path}: the whole pipeline as one exact ONNX model")
    with state.open_registry() as registry:
        batch_step(registry, workdir, step=6)


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
