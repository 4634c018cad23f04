"""The main job: the salary example through the architectures, on embedded defaults."""

from __future__ import annotations

from pathlib import Path

import typer

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
    bundle = Bundle.from_pipeline(pipeline, features, name="salary", metrics=metrics, description="salary demo")
    with state.open_registry() as registry:
        ref = registry.register(bundle)
        registry.set_alias(ref, "production")
        model = load("salary:production", registry=registry)
        archive = workdir / f"salary-{ref.version}.mldeploy"
        archive.write_bytes(registry.archive(ref))
    console.print(f"[bold]1. registered[/] {ref} as salary:production  (on drifted rows: {metrics_text(metrics)})")
    _show_predictions(model, later)
    wheel = build_wheel(model.bundle, workdir)
    console.print(f"[bold]3. embedded[/] archive {archive}, wheel {wheel.name}: `pip install {wheel}` then `import salary_model`")


def _show_predictions(model, later) -> None:
    from mldeploy.examples import salary

    sample = later.head(8)
    estimates = model.predict(sample.drop(columns=salary.TARGET))
    rows = [
        [r.job_family, r.level, r.city, f"{r.years_experience:g}", f"${r.salary:,.0f}", f"${e:,.0f}", f"{(e - r.salary) / r.salary:+.1%}"]
        for r, e in zip(sample.itertuples(), estimates)
    ]
    console.print(table("2. embedded predictions (mldeploy.load) on new candidates", ["job", "level", "city", "years", "actual", "estimate", "error"], rows))
