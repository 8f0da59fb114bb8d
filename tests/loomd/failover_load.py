"""Failover under load (issue 14's acceptance): no request lost when a card dies or hangs.

    failover_load.py SOCKET FAULT_FILE [--requests 1000] [--concurrency 64]
                     [--after 300] [--faults die,hang]

Talks to a running loomd on its Unix SOCKET that serves int8_mlp on card:0
(an emulated card whose fault file is FAULT_FILE, the CPU its fallback) and
int8_mlp_cpu, the same file on the CPU. For each fault in turn:

  1. with the file saying `ok`, --requests requests, each its own input, go
     to int8_mlp from --concurrency threads at once; after --after answers
     the file is made to say the fault;
  2. every request must answer 200 with exactly the CPU model's output for
     its input (the card's int8 path is bit-identical to the CPU's);
  3. /metrics must show the failover and card:0 out of service;
  4. the file says `ok` again: card:0 must pass its known-answer test, come
     back healthy, and take work again (its job counter grows).

Then a request with a 100 ms deadline on the card, hung again, must be
answered 503 (timed out) at its deadline, not after the failover.

Every request and wait has a timeout; nothing can hang the suite.
Prints one ok/FAIL line per check and ends with "N passed, N failed".
"""
import argparse
import http.client
import json
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

PASSED = 0
FAILED = 0


def check(name, good, detail=""):
    global PASSED, FAILED
    if good:
        PASSED += 1
        print(f"ok   {name}", flush=True)
    else:
        FAILED += 1
        print(f"FAIL {name}{': ' + detail if detail else ''}", flush=True)


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def request(sock, method, url, body=None, timeout=30):
    conn = UnixHTTPConnection(sock, timeout)
    try:
        conn.request(method, url, body=body, headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        return r.status, r.read().decode()
    except OSError as e:
        return 0, str(e)
    finally:
        conn.close()


def infer_body(i):
    # A distinct input per request, in the model's int8 range (scale 0.02).
    x = [0.02 * (((i * 7 + k * 13) % 255) - 127) for k in range(64)]
    return json.dumps({"inputs": [{"name": "x", "shape": [1, 64], "datatype": "FP32", "data": x}]})


def output_of(body):
    return json.loads(body)["outputs"][0]["data"]


def metric(body, name, labels):
    key = f"{name}{{{labels}}} "
    for line in body.splitlines():
        if line.startswith(key):
            return float(line.split()[-1])
    return None


def metrics(sock):
    return request(sock, "GET", "/metrics")[1]


def wait_for(pred, seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.1)
    return False


def run_fault(args, fault, want):
    with open(args.fault_file, "w") as f:
        f.write("ok\n")
    answered = 0
    lock = threading.Lock()
    injected = threading.Event()

    def one(i):
        nonlocal answered
        status, body = request(args.socket, "POST", "/v2/models/int8_mlp/infer", infer_body(i), 60)
        with lock:
            answered += 1
            if answered == args.after:
                with open(args.fault_file, "w") as f:
                    f.write(fault + "\n")
                injected.set()
        if status != 200:
            return i, f"status {status}: {body[:200]}"
        if output_of(body) != want[i]:
            return i, "output differs from the CPU's"
        return i, None

    t0 = time.monotonic()
    with ThreadPoolExecutor(args.concurrency) as pool:
        results = list(pool.map(one, range(args.requests)))
    secs = time.monotonic() - t0
    bad = [(i, why) for i, why in results if why]
    check(f"{fault}: {args.requests} requests at concurrency {args.concurrency}, the card made to "
          f"{fault} after {args.after} answers: every one 200 with the CPU's exact output "
          f"({len(bad)} bad, {secs:.1f} s)",
          injected.is_set() and not bad, "; ".join(f"#{i} {why}" for i, why in bad[:3]))
    body = metrics(args.socket)
    failovers = metric(body, "loom_device_failovers_total", 'device="card:0"') or 0
    out = metric(body, "loom_device_state", 'device="card:0",state="quarantined"') == 1 or \
        metric(body, "loom_device_state", 'device="card:0",state="probation"') == 1
    check(f"{fault}: /metrics shows the failover ({failovers:.0f} runs failed over) and card:0 "
          "out of service", failovers >= 1 and out)
    jobs = metric(body, "loom_device_jobs_total", 'device="card:0"') or 0
    kats = metric(body, "loom_device_readmissions_total", 'device="card:0"') or 0
    with open(args.fault_file, "w") as f:
        f.write("ok\n")

    def healthy():
        return metric(metrics(args.socket), "loom_device_state",
                      'device="card:0",state="healthy"') == 1

    back = wait_for(healthy, 30)
    readm = metric(metrics(args.socket), "loom_device_readmissions_total", 'device="card:0"') or 0
    check(f"{fault}: once the file says ok, card:0 passes its known-answer test and is healthy "
          f"(re-admissions {kats:.0f} -> {readm:.0f})", back and readm > kats)
    for i in range(20):
        request(args.socket, "POST", "/v2/models/int8_mlp/infer", infer_body(i))
    jobs2 = metric(metrics(args.socket), "loom_device_jobs_total", 'device="card:0"') or 0
    check(f"{fault}: card:0 takes work again (jobs {jobs:.0f} -> {jobs2:.0f})", jobs2 > jobs)


def deadline_during_failover(args):
    """A request whose deadline passes while its run waits on a hung card is
    answered 503 (timed out) at its deadline, not held until the failover."""
    with open(args.fault_file, "w") as f:
        f.write("hang\n")
    body = json.loads(infer_body(7))
    body["parameters"] = {"timeout": 100000}  # 100 ms; the card holds a hung job longer
    t0 = time.monotonic()
    status, text = request(args.socket, "POST", "/v2/models/int8_mlp/infer", json.dumps(body), 60)
    secs = time.monotonic() - t0
    check(f"deadline: a 100 ms request on a hung card answers 503, timed out ({secs:.2f} s)",
          status == 503 and "timed out" in text, f"status {status}: {text[:200]}")
    with open(args.fault_file, "w") as f:
        f.write("ok\n")
    back = wait_for(lambda: metric(metrics(args.socket), "loom_device_state",
                                   'device="card:0",state="healthy"') == 1, 30)
    check("deadline: card:0 is back in service after", back)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("socket")
    ap.add_argument("fault_file")
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--after", type=int, default=300)
    ap.add_argument("--faults", default="die,hang")
    args = ap.parse_args()

    status, _ = request(args.socket, "POST", "/v2/repository/models/int8_mlp_cpu/load")
    check("int8_mlp_cpu (the same file on the CPU) loads", status == 200)
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda i: request(args.socket, "POST",
                                                  "/v2/models/int8_mlp_cpu/infer",
                                                  infer_body(i)), range(args.requests)))
    good = all(s == 200 for s, _ in answers)
    check(f"the CPU's answers for the {args.requests} inputs", good)
    if not good:
        print(f"{PASSED} passed, {FAILED} failed")
        return 1
    want = [output_of(b) for _, b in answers]
    for fault in args.faults.split(","):
        run_fault(args, fault, want)
    deadline_during_failover(args)
    print(f"{PASSED} passed, {FAILED} failed")
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
