"""How fast the console's calls list pages at scale (not a test).

Fills a store with N synthetic calls (default 100 000; see tests/models/synthetic_calls.py
for what they hold), then times, for each filter set, the first page and a deep page (the
page after walking half of the matches) from the store, and the same first page through the
JSON API (FastAPI, signed-in supervisor, in process). Prints JSON with median milliseconds
over ``--runs`` repetitions each.

    .venv/bin/python bench/console_paging.py [--calls 100000] [--runs 15]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fastapi.testclient import TestClient  # noqa: E402

from models.store import Store  # noqa: E402
from tests.models.synthetic_calls import fill_synthetic_calls  # noqa: E402
from web.app import create_app  # noqa: E402
from web.users import add_user  # noqa: E402

FILTERS: dict[str, dict[str, Any]] = {
    "none": {},
    "line": {"line": "hq"},
    "engineer": {"engineer": "工程师07"},
    "month": {"since": "2025-06-01T00:00:00+08:00", "until": "2025-07-01T00:00:00+08:00"},
    "score_band": {"score_min": 60, "score_max": 70},
    "clause": {"clause": "3.5(2)"},
    "text": {"text": "蓝屏"},
    "line+engineer+clause": {"line": "hq", "engineer": "工程师00", "clause": "3.3(2)"},
}


def median_ms(fn: Any, runs: int) -> float:
    fn()  # warm the page cache and the statement cache
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return round(statistics.median(times), 2)


def deep_cursor(store: Store, filters: dict[str, Any]) -> tuple[str | None, int]:
    """The cursor after about half of the matching calls, and how many calls that skipped."""
    total, cursor = 0, None
    while True:
        page = store.list_calls(limit=1000, after=cursor, **filters)
        total += len(page.items)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    half, skipped, walk = total // 2, 0, None
    while skipped < half:
        page = store.list_calls(limit=min(1000, half - skipped), after=walk, **filters)
        skipped += len(page.items)
        walk = page.next_cursor
        if walk is None:
            break
    return walk, skipped


def signed_in(client: TestClient) -> None:
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = client.post("/login", data={"name": "bench", "password": "bench-password", "csrf_token": token},
                    follow_redirects=False)
    if r.status_code != 303:
        raise SystemExit(f"bench sign-in failed: {r.status_code} {r.text[:200]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.db")
        t = time.perf_counter()
        fill_synthetic_calls(store, args.calls)
        fill_s = time.perf_counter() - t
        add_user(store, "bench", "supervisor", "bench-password")
        client = TestClient(create_app(store, secret_key="bench-secret-0123456789abcdef"))
        signed_in(client)
        results = {}
        for name, filters in FILTERS.items():
            cursor, skipped = deep_cursor(store, filters)
            query = {k: str(v) for k, v in filters.items()}
            results[name] = {
                "first_page_ms": median_ms(lambda f=filters: store.list_calls(limit=50, **f), args.runs),
                "deep_page_ms": median_ms(
                    lambda f=filters, c=cursor: store.list_calls(limit=50, after=c, **f), args.runs),
                "deep_page_skips": skipped,
                "api_first_page_ms": median_ms(
                    lambda q=query: client.get("/api/calls", params={**q, "limit": "50"}).raise_for_status(),
                    args.runs),
            }
        client.close()
        store.close()
    print(json.dumps({"benchmark": "console_paging", "calls": args.calls, "runs": args.runs,
                      "fill_s": round(fill_s, 1), "filters": results}, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
