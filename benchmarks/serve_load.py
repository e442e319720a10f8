"""Benchmark: aekit serve under load, on loopback only.

Two runs are served with the real ``aekit serve`` command (a subprocess, 127.0.0.1, one worker):
the classic MNIST AE (784-128-64-128-784, trained here for ``--mnist-epochs`` on
../shared/data/mnist, or on scikit-learn's digits where MNIST is absent — the table says which)
and a tabular detector (an AE on an ADBench set, ``--adbench``, standardized, combined score).

1. Load: requests/s, rows/s and p50/p99 latency at 1, 8 and 64 concurrent clients
   (``--clients``) for single-row and 256-row requests (``--rows``), JSON and ``.npy``
   (``--bodies``), to ``/score``, with the
   server merging concurrent requests into one forward pass and, with ``--batching both``
   (default), without (``--no-batching``), so the merging's effect is measured, not assumed.
   Each cell stops after ``--requests`` requests or ``--seconds`` seconds, whichever is first.
   The same single-row requests are also sent straight into the engine (no HTTP, in-process),
   merged and not, to show the model's side of the cost apart from the HTTP handling.
2. Soak: ``--soak`` (default 20,000) mixed requests to the MNIST service, about half of them
   bad (malformed JSON, NaN, wrong feature count, wrong content type, pickled .npy, over the row
   limit, unknown path …), 16 clients; every reply's status is checked against the one expected,
   there must be no 5xx, and the server's RSS at the end must be within 10% of its RSS after
   the warm-up: 16 concurrent copies of the mix's largest request (the largest batch the
   service can merge from it, whose memory the allocator keeps for reuse), then the first
   ``--warmup`` requests of the soak.

The clients are one asyncio process (a minimal keep-alive HTTP/1.1 client: httpx's own
overhead capped the rates measured with it) on the same machine as the server, so on few cores
they compete with it for CPU: compare cells of one run, not across machines.

    python benchmarks/serve_load.py                                   # the full benchmark
    python benchmarks/serve_load.py --requests 200 --seconds 5 --soak 400 --warmup 100 \\
        --mnist-epochs 1 --tag _smoke                                 # a smoke run, about a minute

Writes benchmarks/results/serve_load{tag}.{json,md}; exits 1 when the soak saw a 5xx, an
unexpected status or RSS growth over 10%.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import DATA, MNIST, command, machine, write_results

ADBENCH = DATA / "adbench"


# -- the runs ----------------------------------------------------------------------------------

def train_mnist(out: Path, epochs: int) -> tuple[str, np.ndarray]:
    """The classic 784-128-64 AE on MNIST (uint8 pixels, scaled by 1/255 inside the service),
    or on the digits where MNIST is absent."""
    import torch

    import aekit

    if (MNIST / "train-images-idx3-ubyte.gz").exists():
        data, name = aekit.datasets.load("mnist", root=MNIST, download=False), "MNIST"
    else:
        data, name = aekit.datasets.load("digits"), "digits (MNIST absent)"
    torch.manual_seed(0)
    model = aekit.AE(input_shape=data.input_shape, hidden=(128,), latent_dim=64)
    aekit.Trainer(epochs=epochs, batch_size=256, progress=False, val_split=0.0, out_dir=out).fit(model, data)
    return name, np.asarray(data.x_test[:2048])


def train_tabular(out: Path, name: str, epochs: int) -> tuple[str, np.ndarray]:
    import torch

    import aekit
    from aekit.data.files import load_file

    path = ADBENCH / f"{name}.npz"
    if not path.exists():
        sys.exit(f"{path} is absent: pass --adbench with a set in {ADBENCH}")
    data = load_file(path, preprocess="standardize")
    torch.manual_seed(0)
    model = aekit.AE(input_shape=data.input_shape, hidden=(64,), latent_dim=8, output="linear")
    aekit.Trainer(epochs=epochs, batch_size=256, progress=False, val_split=0.0, out_dir=out).fit(model, data)
    x = np.load(path)["X"].astype(np.float32)
    return f"ADBench {name} ({x.shape[1]} features)", x[:2048]


# -- the server --------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``aekit serve RUN`` in a subprocess on 127.0.0.1, stopped with SIGTERM."""

    def __init__(self, run: Path, *extra: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.TemporaryFile()  # the server's log, shown if it fails to start (a pipe could fill)
        self.proc = subprocess.Popen([sys.executable, "-m", "aekit", "serve", str(run), "--port", str(self.port), *extra],
                                     stdout=subprocess.DEVNULL, stderr=self.log)

    def wait_ready(self, timeout: float = 180) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.log.seek(0)
                sys.exit("aekit serve exited: " + self.log.read().decode()[-2000:])
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.stop()
        sys.exit("aekit serve did not start in time")

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# -- load --------------------------------------------------------------------------------------

def json_body(x: np.ndarray) -> bytes:
    return json.dumps({"instances": x.reshape(len(x), -1).tolist()}).encode()


class Connection:
    """A minimal HTTP/1.1 keep-alive client on asyncio streams. httpx.AsyncClient was the
    bottleneck of this benchmark (its own overhead capped the measured rate, and more so at 64
    connections), so the load is sent with this; the replies are read by Content-Length, and a
    connection the server closes (after a refused body, say) is opened again."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader = self.writer = None

    async def post(self, path: str, body: bytes, content_type: str) -> tuple[int, bytes]:
        req = (f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: {content_type}\r\n"
               f"Content-Length: {len(body)}\r\n\r\n").encode() + body
        for attempt in (0, 1):
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            try:
                self.writer.write(req)
                await self.writer.drain()
                head = await self.reader.readuntil(b"\r\n\r\n")
                break
            except (ConnectionError, asyncio.IncompleteReadError):
                self.close()
                if attempt:
                    raise
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
        payload = await self.reader.readexactly(int(headers.get("content-length", 0)))
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, payload

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def load_cell(port: int, bodies: list[bytes], clients: int, requests: int, seconds: float,
                    content_type: str = "application/json") -> dict:
    """``clients`` concurrent connections post the bodies in turn until ``requests`` replies
    or ``seconds`` have passed; latencies of the 200 replies, and any other status counted."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    sent = 0
    t0 = time.perf_counter()
    deadline = t0 + seconds

    async def client(k: int) -> None:
        nonlocal sent
        conn = Connection("127.0.0.1", port)
        i = k
        while sent < requests and time.perf_counter() < deadline:
            sent += 1
            body = bodies[i % len(bodies)]
            i += clients
            t = time.perf_counter()
            status, _ = await conn.post("/score", body, content_type)
            if status == 200:
                latencies.append(time.perf_counter() - t)
            statuses[status] = statuses.get(status, 0) + 1
        conn.close()

    await asyncio.gather(*[client(k) for k in range(clients)])
    wall = time.perf_counter() - t0
    lat = np.array(latencies) * 1000
    return {"requests": len(lat), "seconds": wall, "req_per_s": len(lat) / wall, "p50_ms": float(np.percentile(lat, 50)),
            "p99_ms": float(np.percentile(lat, 99)), "non_200": {k: v for k, v in statuses.items() if k != 200}}


def run_load(port: int, x: np.ndarray, args) -> list[dict]:
    out = []
    for kind in args.bodies:
        encode, ctype = (json_body, "application/json") if kind == "json" else (
            lambda a: npy(a.astype(np.float32)), "application/x-npy")
        for rows in args.rows:
            bodies = [encode(x[(i * rows) % (len(x) - rows):][:rows]) for i in range(8)]
            asyncio.run(load_cell(port, bodies, 4, min(50, args.requests), args.seconds, ctype))  # warm-up
            for clients in args.clients:
                cell = asyncio.run(load_cell(port, bodies, clients, args.requests, args.seconds, ctype))
                cell.update(body=kind, rows=rows, clients=clients, rows_per_s=cell["req_per_s"] * rows)
                print(f"  {kind:>4} {rows:>4} rows × {clients:>3} clients: {cell['req_per_s']:8.1f} req/s  "
                      f"p50 {cell['p50_ms']:7.2f} ms  p99 {cell['p99_ms']:7.2f} ms", flush=True)
                out.append(cell)
    return out


# -- the engine alone -------------------------------------------------------------------------

def engine_cells(run: Path, x: np.ndarray, requests: int, concurrency: list[int]) -> list[dict]:
    """Single-row requests straight into :class:`aekit.serve.engine.Engine` (no HTTP), merged
    and one forward pass each: what the merging does to the model's side of the cost."""
    from aekit.serve.engine import Engine, load_model

    model = load_model(run)
    row = np.ascontiguousarray(x[:1], dtype=np.float32)
    out = []

    async def go(engine, conc: int, n: int) -> float:
        done = 0

        async def one() -> None:
            nonlocal done
            while done < n:
                done += 1
                await engine(row)

        t = time.perf_counter()
        await asyncio.gather(*[one() for _ in range(conc)])
        return n / (time.perf_counter() - t)

    for conc in concurrency:
        for merge in (True, False):
            engine = Engine(model, batching=merge, threads=2)
            asyncio.run(go(engine, conc, min(200, requests)))  # warm-up
            before = engine.batches
            rate = asyncio.run(go(engine, conc, requests))
            out.append({"concurrency": conc, "batching": merge, "req_per_s": rate,
                        "rows_per_forward": requests / max(engine.batches - before, 1)})
            engine.close()
    return out


# -- soak --------------------------------------------------------------------------------------

def npy(a) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=True)
    return buf.getvalue()


def soak_mix(x: np.ndarray) -> list[tuple[str, str, bytes, str, int]]:
    """(name, path, body, content type, expected status): good and bad requests, in a fixed cycle."""
    d = x.reshape(len(x), -1).shape[1]
    J, N = "application/json", "application/x-npy"
    nan = x[:2].reshape(2, -1).astype(np.float32).copy()
    nan[1, 3] = np.nan
    return [
        ("good json 1 row", "/score", json_body(x[:1]), J, 200),
        ("good json 16 rows", "/detect", json_body(x[16:32]), J, 200),
        ("good npy 8 rows", "/score", npy(x[40:48].astype(np.float32)), N, 200),
        ("good embed", "/embed", json_body(x[60:64]), J, 200),
        ("good reconstruct", "/reconstruct", json_body(x[70:72]), J, 200),
        ("good json 1 row", "/score", json_body(x[80:81]), J, 200),
        ("good npy 64 rows", "/score", npy(x[100:164].astype(np.float32)), N, 200),
        ("malformed json", "/score", b'{"instances": [[1, 2', J, 400),
        ("NaN", "/score", npy(nan), N, 422),
        ("wrong feature count", "/score", json_body(np.ones((2, d + 1))), J, 422),
        ("wrong content type", "/score", b"1,2,3", "text/csv", 415),
        ("pickled npy", "/score", npy(np.array([{"a": 1}], dtype=object)), N, 400),
        ("over the row limit", "/score", npy(np.ones((2049, 1), np.float32)), N, 413),  # rows counted first
        ("empty batch", "/score", b'{"instances": []}', J, 422),
        ("missing instances", "/score", b'{"rows": [[1]]}', J, 422),
        ("unknown path", "/nope", b"{}", J, 404),
    ]


async def burst(port: int, body: bytes, clients: int, rounds: int) -> None:
    """``clients`` identical ``.npy`` requests at once, ``rounds`` times: the largest batch the
    soak's mix can merge into one forward pass, so that the memory it needs is counted in the
    RSS after warm-up rather than as growth later."""

    async def one() -> None:
        conn = Connection("127.0.0.1", port)
        for _ in range(rounds):
            status, _ = await conn.post("/score", body, "application/x-npy")
            assert status == 200, status
        conn.close()

    await asyncio.gather(*[one() for _ in range(clients)])


async def soak(port: int, mix, n: int, clients: int, on_every, every: int) -> dict:
    statuses: dict[int, int] = {}
    unexpected: dict[str, int] = {}
    done = 0

    async def client(k: int) -> None:
        nonlocal done
        conn = Connection("127.0.0.1", port)
        i = k
        while i < n:
            name, path, body, ctype, want = mix[i % len(mix)]
            i += clients
            status, _ = await conn.post(path, body, ctype)
            statuses[status] = statuses.get(status, 0) + 1
            if status != want:
                unexpected[f"{name}: {status}"] = unexpected.get(f"{name}: {status}", 0) + 1
            done += 1
            if done % every == 0:
                on_every(done)
        conn.close()

    t0 = time.perf_counter()
    await asyncio.gather(*[client(k) for k in range(clients)])
    return {"requests": done, "seconds": time.perf_counter() - t0, "statuses": statuses, "unexpected": unexpected}


# -- main --------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=3000, help="most requests per load cell (default 3000)")
    p.add_argument("--seconds", type=float, default=15.0, help="most seconds per load cell (default 15)")
    p.add_argument("--bodies", default="json,npy", help="request encodings, comma-separated (default json,npy)")
    p.add_argument("--clients", default="1,8,64", help="concurrent clients, comma-separated (default 1,8,64)")
    p.add_argument("--rows", default="1,256", help="rows per request, comma-separated (default 1,256)")
    p.add_argument("--batching", choices=["both", "on", "off"], default="both",
                   help="serve with request merging, without (--no-batching), or both (default)")
    p.add_argument("--soak", type=int, default=20_000, help="requests in the soak (default 20000)")
    p.add_argument("--warmup", type=int, default=2000, help="soak requests before the first RSS reading (default 2000)")
    p.add_argument("--mnist-epochs", type=int, default=2, help="epochs of the MNIST AE (default 2)")
    p.add_argument("--adbench", default="30_satellite", help="ADBench set for the tabular detector (default 30_satellite)")
    p.add_argument("--threads", type=int, help="torch threads of the server (default: torch's choice)")
    p.add_argument("--models", default="mnist,tab", help="load cells for mnist, tab or both (default); the soak uses mnist")
    p.add_argument("--tag", default="", help="suffix of the results files")
    args = p.parse_args(argv)
    args.clients = [int(c) for c in args.clients.split(",")]
    args.rows = [int(r) for r in args.rows.split(",")]
    args.bodies = [b for b in args.bodies.split(",") if b]
    if set(args.bodies) - {"json", "npy"}:
        p.error("--bodies: json, npy or both")
    os.environ.setdefault("PYTHONWARNINGS", "ignore")

    result = {"command": command("serve_load.py", argv), "machine": machine(), "runs": {}, "load": []}
    ok = True
    with tempfile.TemporaryDirectory(prefix="aekit-serve-load-") as tmp:
        tmp = Path(tmp)
        t = time.perf_counter()
        mnist_name, x_mnist = train_mnist(tmp / "mnist", args.mnist_epochs)
        tab_name, x_tab = train_tabular(tmp / "tab", args.adbench, 10)
        print(f"trained the runs in {time.perf_counter() - t:.0f} s: {mnist_name}; {tab_name}", flush=True)
        result["runs"] = {"mnist": mnist_name, "tabular": tab_name}
        modes = {"both": [True, False], "on": [True], "off": [False]}[args.batching]
        extra = ["--threads", str(args.threads)] if args.threads else []
        for key, label, x in [("mnist", f"AE 784-128-64, {mnist_name}", x_mnist), ("tab", f"AE, {tab_name}", x_tab)]:
            if key not in args.models.split(","):
                continue
            for batching in modes:
                server = Server(tmp / key, *extra, *([] if batching else ["--no-batching"]))
                try:
                    server.wait_ready()
                    print(f"{label}, batching {'on' if batching else 'off'}:", flush=True)
                    for cell in run_load(server.port, x, args):
                        result["load"].append({"model": label, "batching": batching, **cell})
                finally:
                    server.stop()

        result["engine"] = []
        for key, label, x in [("mnist", f"AE 784-128-64, {mnist_name}", x_mnist), ("tab", f"AE, {tab_name}", x_tab)]:
            if key in args.models.split(","):
                for cell in engine_cells(tmp / key, x, args.requests, args.clients):
                    result["engine"].append({"model": label, **cell})

        server = Server(tmp / "mnist", *extra)
        try:
            server.wait_ready()
            trace = {}  # requests done → server RSS (MB), every --warmup requests
            mix = soak_mix(x_mnist)
            biggest = max((m for m in mix if m[4] == 200 and m[3] == "application/x-npy"), key=lambda m: len(m[2]))
            asyncio.run(burst(server.port, biggest[2], 16, 5))
            s = asyncio.run(soak(server.port, mix, args.soak, 16, lambda done: trace.setdefault(done, server.rss_mb()),
                                 min(args.warmup, args.soak)))
            rss = {"warm": trace[min(trace)], "end": server.rss_mb()}
            alive = server.proc.poll() is None
        finally:
            server.stop()
        growth = rss["end"] / rss["warm"] - 1
        five = sum(v for k, v in s["statuses"].items() if k >= 500)
        s.update(rss_warm_mb=rss["warm"], rss_end_mb=rss["end"], rss_growth=growth, rss_trace_mb=trace, server_alive=alive,
                 n_5xx=five, bad_share=sum(1 for m in mix if m[4] != 200) / len(mix))
        result["soak"] = s
        ok = five == 0 and not s["unexpected"] and growth <= 0.10 and alive

    lines = [f"# aekit serve under load ({result['machine']})", "", f"`{result['command']}`", "",
             "One worker on 127.0.0.1, requests to /score; clients in one asyncio process on the same machine.", "",
             "| model | merging | body | rows/request | clients | requests | req/s | rows/s | p50 ms | p99 ms |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for c in result["load"]:
        lines.append(f"| {c['model']} | {'on' if c['batching'] else 'off'} | {c['body']} | {c['rows']} | {c['clients']} | "
                     f"{c['requests']} | {c['req_per_s']:.1f} | {c['rows_per_s']:.0f} | {c['p50_ms']:.2f} | "
                     f"{c['p99_ms']:.2f} |" + (f" non-200: {c['non_200']}" if c["non_200"] else ""))
    lines += ["", "The engine alone (no HTTP; single-row requests, in-process):", "",
              "| model | concurrency | merging | req/s | rows per forward pass |", "|---|---:|---|---:|---:|"]
    lines += [f"| {c['model']} | {c['concurrency']} | {'on' if c['batching'] else 'off'} | {c['req_per_s']:.0f} | "
              f"{c['rows_per_forward']:.1f} |" for c in result["engine"]]
    s = result["soak"]
    lines += ["", f"Soak: {s['requests']} requests ({s['bad_share']:.0%} bad) in {s['seconds']:.0f} s, 16 clients: "
              f"statuses {dict(sorted(s['statuses'].items()))}, 5xx: {s['n_5xx']}, unexpected: {s['unexpected'] or 'none'}; "
              f"RSS {s['rss_warm_mb']:.1f} MB after the warm-up (a 16-request burst, then {min(args.warmup, args.soak)} "
              f"requests) → {s['rss_end_mb']:.1f} MB "
              f"at the end ({s['rss_growth']:+.1%}); {'PASS' if ok else 'FAIL'}"]
    write_results("serve_load", args.tag, result, lines)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
