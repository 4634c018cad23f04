"""The demo's model-as-data step: versions published to a local log, a subscribed live model swapping them."""

from __future__ import annotations

import tempfile
from pathlib import Path

from mldeploy.cli.app import console


def stream_step(registry, ref, train_rows, later, workdir: Path, step: int) -> None:
    """Publish a version to a local log, subscribe an app's live model, publish a retrained version, show the swap."""
    import pandas as pd

    from mldeploy.bundle import Bundle
    from mldeploy.examples import salary
    from mldeploy.stream import publish as publish_bundle
    from mldeploy.stream import subscribe

    url = f"local://{workdir.resolve()}/stream/models"
    publish_bundle(registry.get(ref), url)
    row = {k: (None if v != v else v) for k, v in later.drop(columns=salary.TARGET).iloc[0].to_dict().items()}
    with subscribe(url, "salary") as live:
        live.wait_ready(120)
        before = live.infer(row)
        events = []
        live.on_swap(events.append)
        with console.status("retraining with the newer rows, registering and publishing the new version"), \
                tempfile.TemporaryDirectory(prefix="mldeploy-demo-") as scratch:
            rows = pd.concat([train_rows, later], ignore_index=True)
            features = rows.drop(columns=salary.TARGET)
            retrained = salary.default_pipeline().fit(features, rows[salary.TARGET])
            bundle = Bundle.from_pipeline(retrained, features, name="salary", directory=Path(scratch) / "bundle")
            new_ref = registry.register(bundle, parent=ref)
            publish_bundle(registry.get(new_ref), url)
        live.wait_for_version(new_ref.version, 120)
        after = live.infer(row)
    swaps = "; ".join(event.describe() for event in events)
    console.print(f"[bold]{step}. model as data[/] published {ref} to {url}; a subscribed app estimated "
                  f"${before.values[0]:,.0f} for the first candidate with {before.ref}. Retrained with the newer rows "
                  f"and published {new_ref}: {swaps}; it now estimates ${after.values[0]:,.0f}, with no restart")
