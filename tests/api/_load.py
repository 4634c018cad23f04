"""A load generator run in its own process: one-row requests from a few threads until told to stop.

Usage: python _load.py URL TOKEN ROWS_JSON STOP_FILE OUT_FILE [THREADS] [http|grpc]
(grpc: URL is host:port and each thread calls through ``mldeploy.api.Client(..., protocol="grpc")``).
Writes one line per answer, "status version", to OUT_FILE; stops when STOP_FILE
exists or after 300 s, whichever is first (bounded, like every load test here).
"""

import json
import sys
import threading
import time
from pathlib import Path

import httpx

MAX_S = 300.0


def run(url: str, token: str, rows: list, stop: Path, out, lock: threading.Lock) -> None:
    deadline = time.monotonic() + MAX_S
    with httpx.Client(headers={"authorization": f"Bearer {token}"}, timeout=30) as client:
        index = 0
        while not stop.exists() and time.monotonic() < deadline:
            try:
                response = client.post(f"{url}/predict/salary", json=rows[index % len(rows)])
                line = f"{response.status_code} {response.json().get('model_version', '-') if response.status_code == 200 else response.text[:200]}"
            except httpx.HTTPError as exc:
                line = f"000 {type(exc).__name__}"
            with lock:
                out.write(line + "\n")
                out.flush()
            index += 1


def run_grpc(target: str, token: str, rows: list, stop: Path, out, lock: threading.Lock) -> None:
    from mldeploy.api import Client
    from mldeploy.errors import MldeployError

    deadline = time.monotonic() + MAX_S
    with Client(target, "salary", token=token, protocol="grpc") as client:
        index = 0
        while not stop.exists() and time.monotonic() < deadline:
            try:
                line = f"200 {client.infer(rows[index % len(rows)]).version}"
            except MldeployError as exc:
                line = f"000 {type(exc).__name__} {str(exc)[:200]}"
            with lock:
                out.write(line + "\n")
                out.flush()
            index += 1


def main() -> None:
    url, token, rows_path, stop, out_path = sys.argv[1:6]
    threads = int(sys.argv[6]) if len(sys.argv) > 6 else 4
    target = run_grpc if len(sys.argv) > 7 and sys.argv[7] == "grpc" else run
    rows = json.loads(Path(rows_path).read_text())
    lock = threading.Lock()
    with open(out_path, "w") as out:
        workers = [threading.Thread(target=target, args=(url, token, rows, Path(stop), out, lock)) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()


if __name__ == "__main__":
    main()
