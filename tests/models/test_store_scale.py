"""At 100 000 calls, filtered first pages and deep pages are index walks, not table scans."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from models.store import Store
from tests.models.synthetic_calls import N_CALLS, fill_synthetic_calls


@pytest.fixture(scope="module")
def big_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    store = Store(tmp_path_factory.mktemp("scale") / "big.db")
    fill_synthetic_calls(store, N_CALLS)
    yield store
    store.close()


def plan(store: Store, **filters: object) -> str:
    sql, params = store.list_calls_query(**filters)  # type: ignore[arg-type]
    rows = store.db.conn.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()
    return "\n".join(r[3] for r in rows)


def assert_index_walk(text: str, *, driven_by_filter: bool) -> None:
    """Every visit of calls goes through an index.

    Without a clause or text filter the page is read in order from a (…, started_utc, id)
    index, with no sort. With one, SQLite starts from that filter's own index (findings by
    clause, or the full-text index) and sorts only the matching calls.
    """
    for line in text.splitlines():
        if " calls " in f"{line} " and line.startswith(("SCAN", "SEARCH")):
            assert "USING" in line and "INDEX" in line, text
    if driven_by_filter:
        assert "idx_findings_clause" in text or "utterances_fts" in text, text
    else:
        assert "TEMP B-TREE FOR ORDER BY" not in text, text


@pytest.mark.slow
@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"line": "hq"},
        {"engineer": "工程师07"},
        {"since": "2025-06-01T00:00:00+08:00", "until": "2025-07-01T00:00:00+08:00"},
        {"score_min": 60, "score_max": 70},
        {"clause": "3.5(2)"},
        {"text": "蓝屏"},
        {"line": "hq", "engineer": "工程师00", "clause": "3.3(2)"},
    ],
    ids=lambda f: ",".join(f) or "none",
)
def test_filtered_first_and_deep_pages_use_indexes(big_store: Store, filters: dict[str, object]) -> None:
    first = big_store.list_calls(limit=50, **filters)  # type: ignore[arg-type]
    assert first.items, filters
    by_filter = "clause" in filters or "text" in filters
    assert_index_walk(plan(big_store, limit=50, **filters), driven_by_filter=by_filter)
    # A deep page: walk far down the list and plan the page after that point.
    cursor, deep_cursor = None, first.next_cursor
    for _ in range(20):
        cursor = big_store.list_calls(limit=1000, after=cursor, **filters).next_cursor  # type: ignore[arg-type]
        if cursor is None:
            break
        deep_cursor = cursor
    assert deep_cursor is not None
    assert big_store.list_calls(limit=50, after=deep_cursor, **filters).items  # type: ignore[arg-type]
    assert_index_walk(plan(big_store, limit=50, after=deep_cursor, **filters), driven_by_filter=by_filter)


@pytest.mark.slow
def test_paging_visits_every_call_once(big_store: Store) -> None:
    seen: list[str] = []
    cursor = None
    while True:
        page = big_store.list_calls(engineer="工程师11", limit=500, after=cursor)
        seen.extend(c.id for c in page.items)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert len(seen) == N_CALLS // 40 == len(set(seen))
    assert seen == sorted(seen, reverse=True)


@pytest.mark.slow
def test_text_search_finds_the_rare_calls(big_store: Store) -> None:
    page = big_store.list_calls(text="蓝屏", limit=1000)
    assert len(page.items) == N_CALLS // 1000
    assert all(int(c.id[-6:]) % 1000 == 0 for c in page.items)
