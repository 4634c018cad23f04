"""The careers website in a real browser (Debian's Chromium through Playwright), every mode.

1. From submit to answer on the page, measured in the browser (the page's own
   `performance.now()` from the submit event to the answer shown), median and
   p90 of 50 submissions per mode, over varying profiles (floor: the browser
   mode's median under 5 ms once the model has loaded).
2. What the browser mode downloads: the ONNX file and the JavaScript
   (onnxruntime-web's WASM build, its loader and the binary, plus the page's own script).
3. The offline mode's table: every answer the form can send, scored by `mldeploy batch`
   (rows, and how long the batch run took).
4. `mldeploy compare`'s table for the same salary model.

Run: `.venv/bin/python benchmarks/bench_careers.py [--quick] [--rows 20000] [--screenshot docs/careers-site.png]`
(prints a markdown section; needs scripts/chromium.sh and scripts/careers_js.sh, which it runs).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO / "tests"))
from _timing import machine_line  # noqa: E402

MODES = ("embedded", "browser", "api", "stream", "offline")
SUBMISSIONS = 50
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
PROFILES = [
    {"job_family": family, "level": level, "city": city, "education": "bachelor", "years_experience": str(years),
     "certifications": str(years % 3), "remote": "true" if years % 2 else "false"}
    for family, level, city, years in zip(
        ["engineering", "data_science", "sales", "design", "finance"] * 10,
        ["junior", "mid", "senior", "staff", "principal", "director"] * 9,
        ["seattle", "austin", "new_york", "chicago", "remote_us", "boston", "denver"] * 8,
        [(index * 7) % 41 for index in range(SUBMISSIONS)])  # whole years in the form's default [0, 40]
]


def main() -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000, help="training rows of the salary model")
    parser.add_argument("--compare-rows", type=int, default=10_000, help="rows per architecture for `mldeploy compare`")
    parser.add_argument("--screenshot", type=Path, help="also save a screenshot of the page with an answer here")
    parser.add_argument("--quick", action="store_true", help="a smaller model and compare run (make bench --quick)")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.compare_rows = 5_000, 2_000
    subprocess.run([str(REPO / "scripts" / "chromium.sh"), "install"], check=True)
    dist = Path(subprocess.run([str(REPO / "scripts" / "careers_js.sh"), str(REPO / ".cache" / "careers-js")],
                               check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
    with tempfile.TemporaryDirectory(prefix="bench-careers-") as scratch:
        registry = Path(scratch) / "registry"
        _train(registry, args.rows)
        import _services  # the tests' helpers: start a CLI server on a free port, wait, stop

        server = _services.start_api_server("--registry", str(registry), "example", "careers-site", "--mode", "embedded",
                                            "--workdir", str(Path(scratch) / "site"), "--js-dir", str(dist))
        try:
            _services.wait_ready(server, "/api/form")
            timings, sizes, offline = _measure(server.url, dist, args.screenshot)
        finally:
            _services.stop_process(server.process, timeout_s=60)
        compared = _compare(registry, args.compare_rows)
    return _report(timings, sizes, offline, compared, args.rows)


def _train(registry: Path, rows: int) -> None:
    from mldeploy.examples import salary
    from mldeploy.ops import train_and_register

    train_and_register(salary.generate(rows, seed=7), salary.TARGET, name="salary", registry=registry, alias="production",
                       factory=salary.default_pipeline)


def _measure(url: str, dist: Path, screenshot: Path | None):
    import httpx
    from playwright.sync_api import sync_playwright

    from mldeploy.examples.careers.app import ORT_FILES

    timings = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 1000})
        for mode in MODES:
            page.goto(f"{url}/?mode={mode}")
            page.wait_for_selector('#mode-status[data-ready="true"]', timeout=1_800_000)
            elapsed = []
            for index in range(SUBMISSIONS):
                for name, value in PROFILES[index].items():
                    page.select_option(f"#f-{name}", value)
                page.click("#submit")
                page.wait_for_selector(f'#answer[data-count="{index + 1}"]', timeout=60_000)
                elapsed.append(float(page.get_attribute("#answer", "data-elapsed-ms")))
            timings[mode] = elapsed
            if mode == "browser" and screenshot is not None:
                for name, value in {"job_family": "data_science", "level": "senior", "city": "seattle", "education": "master",
                                    "years_experience": "8", "certifications": "2", "remote": "true"}.items():
                    page.select_option(f"#f-{name}", value)
                page.click("#submit")
                page.wait_for_selector(f'#answer[data-count="{SUBMISSIONS + 1}"]')
                screenshot.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(screenshot), full_page=True)
        browser.close()
    onnx_bytes = len(httpx.get(f"{url}/model/model.onnx", timeout=60).content)
    js_bytes = {name: (dist / name).stat().st_size for name in ORT_FILES}
    js_bytes["site.js"] = len(httpx.get(f"{url}/static/site.js", timeout=30).content)
    offline = httpx.get(f"{url}/api/status", params={"mode": "offline"}, timeout=60).json()
    return timings, {"onnx": onnx_bytes, **js_bytes}, offline


def _compare(registry: Path, rows: int) -> dict:
    command = [sys.executable, "-c", "from mldeploy.cli import main; main()", "--registry", str(registry),
               "compare", "salary:production", "--rows", str(rows), "--json"]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"}, check=False)
    if done.returncode != 0:
        raise SystemExit(f"mldeploy compare failed: {done.stderr}")
    return json.loads(done.stdout)


def _report(timings: dict, sizes: dict, offline: dict, compared: dict, rows: int) -> str:
    lines = [f"## The careers website ({machine_line()}; salary model trained on {rows:,} rows)", "",
             f"From submit to answer on the page, measured in Chromium, {SUBMISSIONS} submissions per mode:", "",
             "| mode | median ms | p90 ms |", "|---|---|---|"]
    for mode, elapsed in timings.items():
        p90 = statistics.quantiles(elapsed, n=10)[-1]
        lines.append(f"| {mode} | {statistics.median(elapsed):.2f} | {p90:.2f} |")
    js_total = sum(v for k, v in sizes.items() if k != "onnx")
    lines += ["", f"Browser mode downloads: the ONNX file {sizes['onnx'] / 1024:,.0f} KiB; JavaScript and WASM "
              f"{js_total / 1024 / 1024:,.1f} MiB (" + ", ".join(f"{k} {v / 1024:,.0f} KiB" for k, v in sizes.items()
                                                          if k != "onnx") + ").",
              "", f"Offline table: {offline['rows']:,} answers (every combination the form can send), "
              f"batch run {offline['batch_seconds']:.1f} s.", "",
              f"`mldeploy compare salary:production --rows {compared['rows']:,}` "
              f"(same predictions everywhere: {'yes' if compared['same_predictions'] else 'NO'}):", "",
              "| architecture | one row p50 / p99 ms | rows/s one by one | rows/s bulk | new version serving after | moving parts | real time |",
              "|---|---|---|---|---|---|---|"]
    for a in compared["architectures"]:
        one = "-" if a["rows_per_s_one_at_a_time"] is None else f"{a['rows_per_s_one_at_a_time']:,.0f}"
        lines.append(f"| {a['architecture']} | {a['one_row_p50_ms']:.2f} / {a['one_row_p99_ms']:.2f} | {one} | "
                     f"{a['rows_per_s_bulk']:,.0f} | {a['new_version_s']:.2f} s ({a['new_version_how']}) | "
                     f"{a['moving_parts']} | {'yes' if a['real_time'] else 'no'} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(main())
