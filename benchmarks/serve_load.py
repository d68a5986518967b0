"""`transferkit serve` under load, against the naive server a user would write, on 127.0.0.1.

    .venv/bin/python benchmarks/serve_load.py --student-run R1 --teacher-run R2   # runs from export_sst2.py
    .venv/bin/python benchmarks/serve_load.py --duration 20 --clients 16          # shorter

Servers, each in its own process: `transferkit serve` of the int8 ONNX export of the student
(exported here if `--student-run` is a PyTorch run), `transferkit serve` of the fp32 PyTorch
teacher, and the naive alternative (FastAPI endpoint calling an HF `pipeline` per request,
uvicorn, one worker). Clients: N threads, each sending one SST-2 sentence per request, for
`--duration` seconds; meanwhile another thread sends garbage, oversized and truncated bodies
(`--garbage 1000` in all; not to the naive server, which has no limits) and counts any 5xx.
Then the student again at each `--waits` batching wait (1 client and 16), to choose `--max-wait-ms`.
Per server and N: throughput, p50/p95/p99 latency,
errors, the server's RSS at start, at the end and its peak (VmHWM). The clients share the 2 cores
with the server, so absolute numbers understate a dedicated box; the ratios are the point.
Goals (issue 14): p99 <= 25 ms at 16 clients for the int8 student, >= 3x the naive server's
throughput at 64 clients, 0 errors, RSS flat. Results: benchmarks/results/serve_load.json.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import socket
import statistics
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

from _common import save, sst2_dir

NAIVE = textwrap.dedent('''
    import sys
    from fastapi import FastAPI
    from pydantic import BaseModel
    from transformers import pipeline
    import uvicorn

    pipe = pipeline("text-classification", model=sys.argv[1], device="cpu")
    app = FastAPI()

    class Body(BaseModel):
        inputs: list[str]

    @app.post("/predict")
    def predict(body: Body):
        return {"predictions": pipe(body.inputs)}

    @app.get("/health")
    def health():
        return {"status": "ok"}

    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="error")
''')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start(command: list[str], port: int) -> subprocess.Popen:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if call(port, "GET", "/health", None)[0] == 200:
                return process
        except OSError:
            time.sleep(0.3)
        if process.poll() is not None:
            raise SystemExit(f"server exited: {process.stderr.read()[-2000:]}")
    raise SystemExit("server did not start")


def call(port: int, method: str, path: str, body: bytes | None, headers: dict | None = None,
         connection: http.client.HTTPConnection | None = None) -> tuple[int, float]:
    own = connection is None
    connection = connection or http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    t0 = time.perf_counter()
    try:
        connection.request(method, path, body=body, headers=headers or {"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        return response.status, time.perf_counter() - t0
    finally:
        if own:
            connection.close()


def load(port: int, pid: int, clients: int, duration: float, texts: list[str], garbage: int) -> dict:
    stop = time.monotonic() + duration
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors = [0]
    lock = threading.Lock()

    def client(seed: int) -> None:
        rng = random.Random(seed)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)  # keep-alive, as clients do
        while time.monotonic() < stop:
            body = json.dumps({"inputs": [rng.choice(texts)]}).encode()
            try:
                status, seconds = call(port, "POST", "/predict", body, connection=connection)
            except OSError:
                with lock:
                    errors[0] += 1
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                continue
            with lock:
                statuses[status] = statuses.get(status, 0) + 1
                if status == 200:
                    latencies.append(seconds)

    bad = [b"{", b'{"inputs": 7}', b'{"inputs": []}', b'{"inputs": [""]}', b"\xff" * 100,
           json.dumps({"inputs": ["x" * 3_000_000]}).encode(), json.dumps({"inputs": ["a"] * 500}).encode()]
    garbage_statuses: dict[int, int] = {}

    def garbage_client() -> None:
        interval = duration / max(1, garbage)
        for i in range(garbage):
            try:
                status, _ = call(port, "POST", "/predict", bad[i % len(bad)])
            except OSError:
                status = -1  # the server may close a connection whose body it refused
            garbage_statuses[status] = garbage_statuses.get(status, 0) + 1
            time.sleep(interval)

    rss = [rss_mb(pid)]
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    threads.append(threading.Thread(target=garbage_client))
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads[:-1]):
        time.sleep(1)
        rss.append(rss_mb(pid))
    for t in threads:
        t.join()
    latencies.sort()
    q = lambda p: round(1000 * latencies[min(len(latencies) - 1, int(p * len(latencies)))], 2) if latencies else None
    return {"clients": clients, "seconds": duration, "ok": len(latencies),
            "throughput_per_s": round(len(latencies) / duration, 1), "p50_ms": q(0.5), "p95_ms": q(0.95),
            "p99_ms": q(0.99), "statuses": statuses, "connection_errors": errors[0],
            "garbage_statuses": garbage_statuses, "garbage_5xx": sum(n for s, n in garbage_statuses.items() if s >= 500),
            "rss_mb": {"start": round(rss[0], 1), "end": round(rss[-1], 1),
                       "first_10s_mean": round(statistics.mean(rss[:10]), 1),
                       "last_10s_mean": round(statistics.mean(rss[-10:]), 1),
                       "peak": round(rss_mb(pid, "VmHWM"), 1)}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--student-run", required=True, help="the int8 export of the student, or a run to export")
    ap.add_argument("--teacher-run", required=True, help="the fp32 PyTorch teacher run")
    ap.add_argument("--clients", type=int, nargs="*", default=[16, 64])
    ap.add_argument("--duration", type=float, default=60)
    ap.add_argument("--garbage", type=int, default=1000)
    ap.add_argument("--waits", type=float, nargs="*", default=[0, 2, 5], help="--max-wait-ms values to compare")
    ap.add_argument("--name", default="serve_load")
    ap.add_argument("--only", nargs="*", help="measure only these servers (names as printed)")
    ap.add_argument("--reuse-log", help="take the rows of servers already measured from this script's earlier output")
    args = ap.parse_args()
    import pandas as pd

    texts = pd.read_csv(sst2_dir() / "validation.tsv", sep="\t", quoting=3)["sentence"].astype(str).tolist()
    student = args.student_run
    config = json.loads((Path(student) / "config.json").read_text())
    if config["kind"] != "export":
        import transferkit as tk

        target = Path(student).with_name(Path(student).name + "-int8")
        tk.export(student, target, quantize="int8", overwrite=True)
        student = str(target)
    tk_cli = [sys.executable, "-m", "transferkit", "serve"]
    naive_script = Path("/tmp/transferkit_naive_server.py")
    naive_script.write_text(NAIVE)
    servers = {"transferkit-student-int8": lambda port: [*tk_cli, student, "--port", str(port)],
               "transferkit-teacher-fp32": lambda port: [*tk_cli, args.teacher_run, "--port", str(port)],
               "naive-hf-pipeline-teacher": lambda port: [sys.executable, str(naive_script),
                                                          str(Path(args.teacher_run) / "model"), str(port)]}
    # The batching wait, measured: the student alone (1 client: what a wait costs a lone request)
    # and at 16 clients, for each --max-wait-ms.
    for wait in args.waits:
        servers[f"transferkit-student-int8-wait{wait:g}ms"] = \
            lambda port, wait=wait: [*tk_cli, student, "--port", str(port), "--max-wait-ms", str(wait)]
    results = {}
    if args.reuse_log:  # lines "NAME [rows]" printed by an earlier run
        for line in Path(args.reuse_log).read_text().splitlines():
            name, _, rows = line.partition(" ")
            if name in servers and rows.startswith("["):
                results[name] = json.loads(rows)
    for name, command in servers.items():
        if name in results or (args.only and name not in args.only):
            continue
        clients = [1, 16] if "-wait" in name else args.clients
        duration = args.duration / 2 if "-wait" in name else args.duration
        port = free_port()
        process = start(command(port), port)
        try:
            # The naive server has no limits: a 3 MB body or 500 inputs tie it up for seconds, so it
            # is only sent well-formed requests (garbage would lower its throughput, not test it).
            garbage = 0 if name.startswith("naive") else args.garbage
            results[name] = [load(port, process.pid, n, duration, texts, garbage if n > 1 else 0) for n in clients]
        finally:
            process.terminate()
            process.wait(60)
        print(name, json.dumps(results[name]), flush=True)
    if args.only:  # a partial run: the rows only, no goals
        save(args.name, results)
        return
    top = max(args.clients)
    by = {name: {r["clients"]: r for r in rows} for name, rows in results.items() if "-wait" not in name}
    student16 = by["transferkit-student-int8"].get(16)
    results["goals"] = {
        "student_p99_le_25ms_at_16": bool(student16 and student16["p99_ms"] is not None and student16["p99_ms"] <= 25),
        f"student_ge_3x_naive_at_{top}": by["transferkit-student-int8"][top]["throughput_per_s"]
        >= 3 * by["naive-hf-pipeline-teacher"][top]["throughput_per_s"],
        "no_errors": all(not r["connection_errors"] and {str(s) for s in r["statuses"]} <= {"200"} for rows in by.values()
                         for r in rows.values()),
        "no_garbage_5xx": all(r["garbage_5xx"] == 0 for rows in by.values() for r in rows.values()),
    }
    save(args.name, results)


if __name__ == "__main__":
    main()
