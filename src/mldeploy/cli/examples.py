"""The ``example`` commands: programs built on mldeploy that show it in use (the careers website)."""

from __future__ import annotations

from pathlib import Path

import typer

from mldeploy.cli.app import app, console, state
from mldeploy.cli.flags import FlagGroup
from mldeploy.errors import ConfigError

example = typer.Typer(name="example", cls=FlagGroup, no_args_is_help=True, rich_markup_mode="markdown",
                      help="Programs built on mldeploy, e.g. `mldeploy example careers-site`.")
app.add_typer(example, name="example")

DEFAULT_JS_DIR = Path(".cache/careers-js/node_modules/onnxruntime-web/dist")


@example.command("careers-site")
def careers_site(
    ref: str = typer.Option("salary:production", "--ref", help="The salary model the site estimates with (NAME:ALIAS or NAME@VERSION)."),
    mode: str = typer.Option("embedded", "--mode", help="Who answers first: embedded, browser, api, stream or offline (the page can switch)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8000, "--port", help="TCP port; 0 picks a free one (printed)."),
    workdir: Path = typer.Option(Path(".mldeploy/careers"), "--workdir", help="Where the local topic and the offline table go."),
    js_dir: Path = typer.Option(DEFAULT_JS_DIR, "--js-dir", help="onnxruntime-web's dist folder, installed by scripts/careers_js.sh (browser mode)."),
    api_url: str = typer.Option(None, "--api-url", help="A running `mldeploy serve` to ask in api mode (default: start one on a free port).",
                                show_default=False),
    topic: str = typer.Option(None, "--topic", help="Model topic to subscribe to in stream mode, e.g. kafka://127.0.0.1:9092/models "
                              "(default: publish the version to a local:// topic under --workdir).", show_default=False),
    predictions: str = typer.Option(None, "--predictions", help="Prediction database of the offline mode (default: sqlite under --workdir).",
                                    show_default=False),
    wheel_module: str = typer.Option(None, "--wheel-module", help="Embedded mode: import this model wheel's module "
                                     "(from `mldeploy embed`, pip installed), e.g. salary_model, instead of loading --ref.",
                                     show_default=False),
    max_years: int = typer.Option(40, "--max-years", min=0, help="Largest years of experience the form offers."),
    max_certifications: int = typer.Option(5, "--max-certifications", min=0, help="Largest number of certifications the form offers."),
) -> None:
    """Run the careers website: a salary-estimate form answered by any of the four architectures, or in the browser.

    The form is built from the model's schema; the answer gives an estimate, the
    range most offers fall in (held-out residual quantiles stored at training),
    the model version and which architecture answered. `GET /api/form` and
    `POST /api/estimate?mode=MODE` are its JSON interface.

    Example: `mldeploy demo` then `mldeploy example careers-site --port 8000 --mode browser`
    """
    from mldeploy._extras import require
    from mldeploy.api.server import bind
    from mldeploy.examples.careers import CareersSite, SiteConfig, create_app
    from mldeploy.examples.careers.app import ORT_FILES
    from mldeploy.examples.careers.site import check_mode

    uvicorn = require("uvicorn")
    check_mode(mode)
    missing = [name for name in ORT_FILES if not (js_dir / name).is_file()]
    if mode == "browser" and missing:
        raise ConfigError(f"--js-dir {js_dir} lacks {', '.join(missing)}: the browser mode serves onnxruntime-web from "
                          "npm; run scripts/careers_js.sh (it prints the folder to give)")
    config = SiteConfig(ref=ref, mode=mode, workdir=workdir, js_dir=js_dir.resolve(), api_url=api_url, topic_url=topic,
                        predictions_url=predictions, wheel_module=wheel_module, max_years=max_years,
                        max_certifications=max_certifications)
    sock = bind(host, port)  # a taken port fails now, before the model is loaded
    with state.open_registry() as registry:
        with console.status(f"loading {ref} and preparing the {mode} mode"):
            site = CareersSite(config, registry)
        detail = site.mode(mode).status()
        shown_host = f"[{host}]" if ":" in host else host
        console.print(f"careers site on http://{shown_host}:{sock.getsockname()[1]} with {site.bundle.ref} "
                      f"({site.form.size:,} possible answers); {mode} mode: {detail['detail']}", highlight=False)
        try:
            uvicorn.Server(uvicorn.Config(create_app(site), log_level="warning", access_log=False)).run(sockets=[sock])
        finally:
            sock.close()
