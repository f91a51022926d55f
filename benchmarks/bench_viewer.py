"""Benchmark: the reader workstation in Debian's chromium against gunicorn on loopback.

Builds everything from scratch and removes it again: a PostgreSQL database on the server of
DATABASE_URL (default postgres://postgres@127.0.0.1:5432/), a generated cohort (internal profile,
256 x 256 slices, 60-80 slices per series) imported into a temporary media folder, an open study
with one reader, static files collected as in production (hashed, compressed), and gunicorn
(2 workers x 4 threads) on 127.0.0.1. Then, in chromium, logged in as the reader:

  cold       opening a case never opened before (nothing of it cached; the jump skips the case
             the page prefetched): time from the request to the first image drawn, p50 / p95;
  prefetched the next case (Alt+Right) after the page prefetched it while the reader worked;
  scroll     every slice of a loaded case top to bottom, each one drawn before the next is asked
             for: slices per second;
  memory     JS heap after garbage collection (CDP Runtime.getHeapUsage), Cornerstone's image
             cache and the renderer processes' resident memory, every 10 cases over --cases cases.

Timings come from the page's own performance marks (window.__workstationMetrics).

    python benchmarks/bench_viewer.py [--patients 20] [--cases 100] [--cold 20] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
PASSWORD = "bench-viewer-pw-1"
DB_NAME = "readerstudy_bench_viewer"

SETUP_STUDY = """
from readerstudy.accounts.models import Role
from readerstudy.accounts.services import user_create_or_update
from readerstudy.cohorts.models import Cohort
from readerstudy.studies import services
reader = user_create_or_update(username="bench-reader", password=%r, role=Role.READER)
study = services.study_create(name="Viewer benchmark", cohorts=list(Cohort.objects.all()),
                              order_seed=424242)
services.study_assign_readers(study=study, readers=[reader])
services.study_open(study=study)
print("STUDY", study.pk, study.cases.count())
"""

# Scrolls the whole loaded stack, waiting for each slice to be drawn; returns slices per second.
SCROLL = """async () => {
  const v = window.__workstation.viewer;
  const el = document.getElementById('ws-viewport');
  await window.__workstation.whenIdle();
  v.scrollToNumber(1);
  await new Promise(r => setTimeout(r, 100));
  const n = v.imageIds.length;
  const t0 = performance.now();
  for (let k = 2; k <= n; k++) {
    const drawn = new Promise(r => el.addEventListener('cornerstoneimagerendered', r, {once: true}));
    v.scrollToNumber(k);
    await drawn;
  }
  return {slices: n - 1, seconds: (performance.now() - t0) / 1000};
}"""


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _descendants(root: int) -> set[int]:
    parents: dict[int, int] = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                stat = (proc / "stat").read_text()
            except OSError:
                continue
            parents[int(proc.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def renderer_rss_mb() -> float:
    """Resident memory of this benchmark's chromium renderer processes (its pages), from /proc;
    other chromium instances on the machine are not counted."""
    total = 0
    for pid in _descendants(os.getpid()):
        proc = Path("/proc") / str(pid)
        try:
            # Chromium rewrites its children's titles: all arguments in one string.
            if b"--type=renderer" not in (proc / "cmdline").read_bytes():
                continue
            status = (proc / "status").read_text()
        except OSError:
            continue
        match = re.search(r"VmRSS:\s+(\d+) kB", status)
        if match:
            total += int(match.group(1))
    return total / 1024


def run(cmd: list[str], env: dict[str, str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, env=env, cwd=REPO, check=True, **kwargs)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--patients", type=int, default=20)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--cases", type=int, default=100, help="cases walked for the memory")
    parser.add_argument("--cold", type=int, default=20, help="cold opens measured")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    server_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/")
    admin_url = urlparse(server_url)._replace(path="/postgres").geturl()
    db_url = urlparse(server_url)._replace(path=f"/{DB_NAME}").geturl()
    work = Path(tempfile.mkdtemp(prefix="bench-viewer-"))
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "MEDIA_ROOT": str(work / "media"),
        "STATIC_ROOT": str(work / "static"),
        "DEBUG": "0",
        "SECURE_SSL_REDIRECT": "0",
        "SESSION_COOKIE_SECURE": "0",
        "CSRF_COOKIE_SECURE": "0",
        "SECURE_HSTS_SECONDS": "0",
        "DJANGO_SETTINGS_MODULE": "readerstudy.settings",
    }
    py = sys.executable
    import psycopg

    def admin(sql: str) -> None:
        with psycopg.connect(admin_url.replace("postgres://", "postgresql://", 1)) as conn:
            conn.autocommit = True
            conn.execute(sql)

    admin(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
    admin(f"CREATE DATABASE {DB_NAME}")
    server = None
    try:
        t0 = time.perf_counter()
        cohort = work / "cohort"
        run(
            [py, "-m", "synthetic", str(cohort), "--patients", str(args.patients)]
            + ["--seed", str(args.seed), "--workers", "2"],
            env,
            stdout=subprocess.DEVNULL,
        )
        run([py, "manage.py", "migrate", "-v", "0"], env)
        run([py, "manage.py", "import_cohort", str(cohort)], env, stdout=subprocess.DEVNULL)
        out = run(
            [py, "manage.py", "shell", "-c", SETUP_STUDY % PASSWORD],
            env,
            capture_output=True,
            text=True,
        ).stdout
        study_id, cases = (int(v) for v in re.search(r"STUDY (\d+) (\d+)", out).groups())
        run([py, "manage.py", "collectstatic", "--noinput", "-v", "0"], env)
        print(f"setup: {cases} cases in {time.perf_counter() - t0:.0f} s", file=sys.stderr)

        port = free_port()
        server = subprocess.Popen(
            [py, "-m", "gunicorn", "readerstudy.wsgi:application", "-b", f"127.0.0.1:{port}"]
            + ["--workers", "2", "--threads", "4", "--log-level", "warning"],
            env=env,
            cwd=REPO,
        )
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        figures = measure(base, study_id, cases, args)
        figures["cases_in_study"] = cases
        print(json.dumps(figures, indent=2))
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2))
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        admin(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        subprocess.run(["rm", "-rf", str(work)], check=False)


def measure(base: str, study_id: int, cases: int, args: argparse.Namespace) -> dict:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--enable-precise-memory-info"],
        )
        context = browser.new_context(base_url=base, viewport={"width": 1600, "height": 1000})
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"/accounts/login/?next=/reading/{study_id}/")
        page.get_by_label("Username").fill("bench-reader")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_selector("#workstation[data-ready]", state="attached", timeout=60_000)
        cdp = context.new_cdp_session(page)

        def open_and_time(key: str, action) -> dict:
            page.evaluate("window.__workstation.whenIdle()")
            before = page.evaluate("window.__workstationMetrics.opens.length")
            action()
            page.wait_for_selector(f"#workstation[data-ready='{key}']", state="attached")
            page.wait_for_function(f"window.__workstationMetrics.opens.length > {before}")
            return page.evaluate("window.__workstationMetrics.opens.slice(-1)[0]")

        def jump(key: str) -> None:
            page.evaluate(f"location.hash = '#{key}'")

        # Cold: every second item, so the one opened was never the prefetched one.
        cold = []
        for i in range(args.cold):
            key = f"a1-p{3 + 2 * i}"
            cold.append(open_and_time(key, lambda key=key: jump(key)))
        assert not any(o["prefetched"] for o in cold), cold

        scroll = page.evaluate(SCROLL)

        # The walk: next case after next case, each prefetched while the one before was shown.
        prefetched, memory = [], []
        position = 3 + 2 * args.cold
        jump(f"a1-p{position}")
        page.wait_for_selector(f"#workstation[data-ready='a1-p{position}']", state="attached")
        for n in range(1, args.cases + 1):
            position = position + 1 if position < cases else 1
            key = f"a1-p{position}"
            if position == 1:
                open_and_time(key, lambda key=key: jump(key))
            else:
                prefetched.append(open_and_time(key, lambda: page.keyboard.press("Alt+ArrowRight")))
            if n % 10 == 0 or n == 1:
                cdp.send("HeapProfiler.collectGarbage")
                heap = cdp.send("Runtime.getHeapUsage")
                cache = page.evaluate("window.__workstation.viewer.cacheInfo()")
                memory.append(
                    {
                        "cases": n,
                        "js_heap_used_mb": round(heap["usedSize"] / 2**20, 1),
                        "image_cache_mb": round(cache["cacheSizeInBytes"] / 2**20, 1),
                        "renderer_rss_mb": round(renderer_rss_mb(), 1),
                    }
                )
                print(memory[-1], file=sys.stderr)
        browser.close()

    cold_ms = [o["ms"] for o in cold]
    pre_ms = [o["ms"] for o in prefetched if o["prefetched"]]
    return {
        "slices_per_series": sorted({o["slices"] for o in cold + prefetched}),
        "cold_open_ms": {
            "n": len(cold_ms),
            "p50": round(statistics.median(cold_ms)),
            "p95": round(pct(cold_ms, 0.95)),
        },
        "prefetched_open_ms": {
            "n": len(pre_ms),
            "p50": round(statistics.median(pre_ms)),
            "p95": round(pct(pre_ms, 0.95)),
            "not_prefetched_in_walk": len(prefetched) - len(pre_ms),
        },
        "scroll_slices_per_s": round(scroll["slices"] / scroll["seconds"], 1),
        "memory": memory,
        "page_errors": errors,
    }


if __name__ == "__main__":
    main()
