"""A bounded schemathesis run over the console's own OpenAPI schema, signed in as a
supervisor with the CSRF header: no request may get a server error, and every answer must
match the status codes and bodies the schema documents (issue 12: "12 kinds of request
give HTTP 500", "422 bodies do not match the documented schema").

Bounded: a fixed number of generated requests per operation, derandomized, so the run
takes the same time every time (about a minute or two on a loaded two-core machine)."""

from __future__ import annotations

from collections.abc import Callable

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from web.app import create_app

EXAMPLES_PER_OPERATION = 12
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def test_no_server_errors_and_no_schema_violations(store, as_user) -> None:  # noqa: ANN001
    from tests.web.conftest import SECRET, real_or_points_scorer

    app = create_app(store, secret_key=SECRET, scorer=real_or_points_scorer())
    client, csrf = as_user("王主管")
    cookies = {"deskline_session": client.cookies["deskline_session"]}
    headers = {"X-CSRF-Token": csrf}
    # ``as_user`` signed in to another app instance on the same store: the session lives in
    # the store, so this app accepts it too.
    schema = schemathesis.openapi.from_dict(app.openapi())
    schema.app = app
    # The event stream never ends by itself; it has its own test.
    schema = schema.exclude(path="/api/live/events", method="GET")
    failures: list[str] = []
    operations = 0
    statuses: dict[int, int] = {}
    def probe_of(operation) -> Callable[[], None]:  # noqa: ANN001
        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def probe(case) -> None:  # noqa: ANN001
            try:
                response = case.call_and_validate(headers=headers, cookies=cookies, checks=CHECKS)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            except Exception as exc:  # collect them all, report at the end
                failures.append(f"{operation.method.upper()} {operation.path}: {str(exc)[:600]}")

        return probe

    for result in schema.get_all_operations():
        operations += 1
        probe_of(result.ok())()
    assert operations >= 20
    print(statuses)
    # The run reached the handlers (not only the validation layer) and was signed in.
    assert statuses.get(200, 0) + statuses.get(201, 0) > 20
    assert statuses.get(401, 0) == 0
    assert not failures, "\n\n".join(failures[:20])
