"""Unit tests of the shared connector machinery: records, cursors, pacing, and the error paths
that need a scripted server (httpx.MockTransport). Everything else runs against the emulators."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable

import httpx
import polars as pl
import pytest

from talk_assets.systems import datatype
from talk_assets.systems.connector import (
    AuthError,
    HttpSettings,
    OutcomeUnknown,
    RequestFailed,
    Secret,
    SystemUnavailable,
    WriteOp,
    WriteRejected,
)
from talk_assets.systems.connector.pacing import RequestPacer
from talk_assets.systems.connector.retry import parse_retry_after
from talk_assets.systems.connector.secrets import scrub
from talk_assets.systems.crmoffice.client import CrmofficeClient
from talk_assets.systems.powerofficego.client import (
    PowerOfficeGoClient,
    patch_operations,
    pointer,
)
from talk_assets.systems.records import (
    FrameBuilder,
    ValueProblem,
    coerce,
    flatten,
    same_value,
    unflatten,
    writable_values,
)

CUSTOMERS = datatype("powerofficego.customers")
COMPANIES = datatype("crmoffice.companies")
FAST = HttpSettings(
    timeout=2,
    requests_per_second=None,
    max_attempts=4,
    max_retry_seconds=5,
    backoff_initial=0.001,
    backoff_max=0.01,
    page_size=2,
    timeout_grace=0.01,
)

# --- records ------------------------------------------------------------------------------------


def test_flatten_has_exactly_the_schema_fields_and_nulls_for_missing() -> None:
    values, problems = flatten(CUSTOMERS, {"Id": 1, "Name": "Åse", "MailAddress": {"City": "Ås"}})
    assert list(values) == [f.path for f in CUSTOMERS.fields]
    assert values["MailAddress.City"] == "Ås"
    assert values["MailAddress.ZipCode"] is None
    assert values["IsPerson"] is None
    assert problems == []


def test_values_that_do_not_fit_become_null_and_are_reported() -> None:
    record = {
        "Id": 7,
        "Number": "abc",
        "IsPerson": "maybe",
        "DateOfBirth": "31.12.1990",
        "Name": {"nested": True},
        "MailAddress": "Oslo",
    }
    values, problems = flatten(CUSTOMERS, record)
    assert values["Number"] is None and values["IsPerson"] is None and values["Name"] is None
    assert values["DateOfBirth"] == "31.12.1990"  # kept (the column is text), but reported
    assert values["MailAddress.City"] is None
    fields = {p.field for p in problems}
    assert {"Number", "IsPerson", "DateOfBirth", "Name", "MailAddress.City"} <= fields
    assert all(isinstance(p, ValueProblem) and p.record_id == 7 for p in problems)
    assert ValueProblem(7, "Number", "abc", "expected integer, got text") in problems


@pytest.mark.parametrize(
    ("type_", "raw", "expected", "problem"),
    [
        ("integer", "17", 17, False),
        ("integer", 17.0, 17, False),
        ("integer", 17.5, None, True),
        ("integer", True, None, True),
        ("integer", 2**70, None, True),
        ("number", "2.5", 2.5, False),
        ("number", 3, 3.0, False),
        ("boolean", "TRUE", True, False),
        ("boolean", 0, False, False),
        ("string", 42, "42", False),
        ("string", ["a"], None, True),
        ("date", "2024-02-30", "2024-02-30", True),
        ("date", "2024-02-28", "2024-02-28", False),
        ("datetime", "2024-02-28T10:00:00+01:00", "2024-02-28T10:00:00+01:00", False),
        ("datetime", 5, None, True),
    ],
)
def test_coerce(type_: str, raw: object, expected: object, problem: bool) -> None:
    value, why = coerce(type_, raw)
    assert value == expected
    assert (why is not None) is problem


def test_frame_has_exact_types_dedupes_ids_and_tracks_the_cursor() -> None:
    builder = FrameBuilder(CUSTOMERS)
    builder.add({"Id": 1, "Name": "A", "LastChangedDateTimeOffset": "2024-01-01T12:00:00+02:00"})
    builder.add({"Id": 2, "Name": "B", "LastChangedDateTimeOffset": "2024-01-01T10:30:00Z"})
    builder.add({"Id": 1, "Name": "A2", "LastChangedDateTimeOffset": "2024-01-01T09:00:00Z"})
    builder.add("not a record")
    frame = builder.frame()
    assert dict(frame.schema) == CUSTOMERS.polars_schema()
    assert frame["Name"].to_list() == ["A2", "B"]
    # 10:30Z is later than 12:00+02:00 (10:00Z): offsets are compared as instants.
    assert builder.cursor(None) == "2024-01-01T10:30:00Z"
    assert builder.cursor("2025-01-01T00:00:00Z") == "2025-01-01T00:00:00Z"
    assert len(builder.problems) == 1


def test_empty_read_keeps_the_previous_cursor() -> None:
    builder = FrameBuilder(COMPANIES)
    assert builder.frame().shape == (0, len(COMPANIES.fields))
    assert dict(builder.frame().schema) == COMPANIES.polars_schema()
    assert builder.cursor("2024-01-01T00:00:00Z") == "2024-01-01T00:00:00Z"


def test_unflatten_and_writable_values() -> None:
    values = writable_values(
        CUSTOMERS, {"city": "Oslo", "MailAddress.Id": 9, "Id": 3, "lastChanged": "x", "name": "N"}
    )
    assert values == {"MailAddress.City": "Oslo", "Name": "N"}
    assert unflatten(values) == {"MailAddress": {"City": "Oslo"}, "Name": "N"}


def test_json_patch_operations() -> None:
    assert pointer("MailAddress.City") == "/MailAddress/City"
    assert pointer("a/b.c~d") == "/a~1b/c~0d"
    ops = patch_operations({"FirstName": "Ola", "MailAddress.City": "Oslo"})
    assert ops == [
        {"op": "replace", "path": "/FirstName", "value": "Ola"},
        {"op": "replace", "path": "/MailAddress/City", "value": "Oslo"},
    ]
    ops = patch_operations(
        {"MailAddress.City": "Oslo", "MailAddress.ZipCode": "0150"}, {"MailAddress"}
    )
    assert ops == [
        {"op": "add", "path": "/MailAddress", "value": {"City": "Oslo", "ZipCode": "0150"}}
    ]


def test_same_value_is_loose_about_number_types_and_blanks() -> None:
    assert same_value(10, 10.0) and same_value(" a ", "a") and same_value("", None)
    assert not same_value(True, 1) and not same_value("a", None)


def test_retry_after_parsing() -> None:
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("garbage") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


def test_secret_never_shows_itself() -> None:
    secret = Secret("hunter2")
    assert "hunter2" not in repr(secret) + str(secret) + f"{secret}" + repr([secret])
    assert secret.reveal() == "hunter2"


def test_scrub_masks_long_secrets_anywhere_and_short_ones_where_they_stand_alone() -> None:
    long_key, short_key = Secret("k3y-0123456789"), Secret("c")
    text = "Access denied: key k3y-0123456789 (prefix xk3y-0123456789) and c refused"
    scrubbed = scrub(text, [short_key, long_key])
    assert "0123456789" not in scrubbed
    assert scrubbed.startswith("Access denied: key ********")  # the word around "c" is kept
    assert scrubbed.endswith("and ******** refused")
    assert scrub("pw=abc;", [Secret("abc")]) == "pw=********;"
    assert scrub("abcdef", [Secret("abc")]) == "abcdef"  # inside a longer token: not the key


def test_rate_limiter_keeps_every_one_second_window_under_the_limit() -> None:
    async def run() -> list[float]:
        limiter = RequestPacer(20)
        times: list[float] = []

        async def one() -> None:
            slot = await limiter.acquire()
            times.append(time.monotonic())
            await asyncio.sleep(0.01)  # the answer takes a while: the window counts from it
            limiter.release(slot)

        await asyncio.gather(*(one() for _ in range(45)))
        return sorted(times)

    times = asyncio.run(run())
    assert times[-1] - times[0] >= 2.0  # 45 requests at 20 per window: three windows
    for i in range(len(times) - 20):
        assert times[i + 20] - times[i] >= 1.0


# --- error paths with a scripted server ---------------------------------------------------------

Handler = Callable[[httpx.Request], httpx.Response]


def token_ok(request: httpx.Request) -> httpx.Response | None:
    if request.url.path.endswith("/OAuth/Token") or request.url.path.endswith("/connect/token"):
        return httpx.Response(200, json={"access_token": "tok", "expires_in": 1200})
    return None


def pog(handler: Handler, **settings: object) -> PowerOfficeGoClient:
    def route(request: httpx.Request) -> httpx.Response:
        return token_ok(request) or handler(request)

    return PowerOfficeGoClient(
        base_url="http://pog.test/v2",
        token_url="http://pog.test/OAuth/Token",
        application_key="app-secret-1",
        client_key="client-secret-2",
        subscription_key="sub-secret-3",
        settings=FAST.with_overrides(**settings),
        http_transport=httpx.MockTransport(route),
    )


def test_retry_after_is_honoured_and_attempts_are_bounded() -> None:
    calls: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(time.monotonic())
        return httpx.Response(429, headers={"Retry-After": "0.3"}, json={"title": "slow down"})

    with pog(handler) as client, pytest.raises(RequestFailed) as info:
        client.read("customers")
    assert len(calls) == 4  # max_attempts
    assert all(b - a >= 0.3 for a, b in itertools.pairwise(calls))
    assert info.value.status == 429


def test_total_retry_time_is_bounded() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(503, headers={"Retry-After": "0.4"})

    started = time.monotonic()
    client = pog(handler, max_attempts=50, max_retry_seconds=1.0)
    with client, pytest.raises(RequestFailed):
        client.read("customers")
    assert time.monotonic() - started < 2.0
    assert 2 <= calls <= 4


def test_a_401_refreshes_the_token_once_then_gives_up() -> None:
    tokens = 0

    def route(request: httpx.Request) -> httpx.Response:
        nonlocal tokens
        if request.url.path.endswith("/OAuth/Token"):
            tokens += 1
            return httpx.Response(200, json={"access_token": f"t{tokens}", "expires_in": 1200})
        if request.headers["Authorization"] == "Bearer t1":
            return httpx.Response(401, json={"title": "expired"})
        if request.headers["Authorization"] == "Bearer t2":
            return httpx.Response(200, json=[])
        return httpx.Response(401, json={"title": "nope"})

    client = PowerOfficeGoClient(
        base_url="http://pog.test/v2",
        token_url="http://pog.test/OAuth/Token",
        settings=FAST,
        http_transport=httpx.MockTransport(route),
    )
    with client:
        assert client.read("customers").frame.height == 0
        assert tokens == 2
        client.read("products")
        assert tokens == 2  # reused
        client.transport.tokens.invalidate("t2")
        with pytest.raises(AuthError):
            client.read("products")  # t3 is refused too: one refresh, then AuthError
        assert tokens == 4


def test_refused_credentials_raise_auth_error_without_the_secret() -> None:
    def route(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/connect/token"):
            body = request.content.decode()
            return httpx.Response(400, json={"error": {"code": "invalid_client", "message": body}})
        return httpx.Response(200, json={"items": [], "nextCursor": None})

    client = CrmofficeClient(
        base_url="http://crm.test/",
        token_url="http://crm.test/connect/token",
        client_id="the-id",
        client_secret="very-secret-value",
        settings=FAST,
        http_transport=httpx.MockTransport(route),
    )
    with client, pytest.raises(AuthError) as info:
        client.read("contacts")
    text = str(info.value) + repr(info.value) + info.value.message
    assert "invalid_client" in text
    assert "very-secret-value" not in text and "the-id" not in text


def test_problem_details_become_write_rejected_with_field() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        problem = {
            "title": "One or more validation errors occurred.",
            "status": 400,
            "detail": "EmailAddress: not an e-mail",
            "errors": {"EmailAddress": ["not an e-mail"]},
        }
        return httpx.Response(400, json=problem)

    with pog(handler) as client, pytest.raises(WriteRejected) as info:
        client.insert("customers", {"Name": "X", "email": "nope"}, reference="r1")
    exc = info.value
    assert (exc.status, exc.field, exc.operation, exc.reference) == (
        400,
        "EmailAddress",
        "insert",
        "r1",
    )
    assert "not an e-mail" in exc.message and exc.values["EmailAddress"] == "nope"


def test_missing_required_fields_and_parent_are_rejected_before_sending() -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(500)

    with pog(handler) as client:
        with pytest.raises(WriteRejected, match="LastName is required"):
            client.insert("employees", {"FirstName": "Ola"}, reference="e1")
        with pytest.raises(WriteRejected, match="parent"):
            client.insert("contactpersons", {"FirstName": "A", "LastName": "B"}, reference="c1")
        with pytest.raises(WriteRejected, match="no field"):
            client.update("products", 1, {"NoSuchField": 1})
    assert sent == []


def test_insert_with_lost_answer_is_looked_up_not_duplicated() -> None:
    posts = lookups = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal posts, lookups
        if request.method == "POST":
            posts += 1
            raise httpx.ReadTimeout("lost", request=request)
        lookups += 1
        assert request.url.params["externalImportReference"] == "ref-9"
        if lookups == 1:
            return httpx.Response(200, json=[])  # not (yet) there: send again
        return httpx.Response(
            200, json=[{"Id": 5, "Name": "X", "ExternalImportReference": "ref-9"}]
        )

    with pog(handler) as client:
        record = client.insert("customers", {"Name": "X"}, reference="ref-9")
    assert record["Id"] == 5 and record["ExternalImportReference"] == "ref-9"
    assert (posts, lookups) == (2, 2)


def test_insert_that_cannot_be_verified_is_reported_unknown() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(500, json={"title": "boom"})
        return httpx.Response(200, json=[])

    with pog(handler) as client:
        with pytest.raises(OutcomeUnknown):
            client.insert("customers", {"Name": "X"}, reference="ref-1")
        results = client.write_many_blocking(
            [WriteOp.insert("customers", {"Name": "X"}, reference="ref-2")]
        )
    assert results[0].outcome == "unknown"


def test_unreachable_system_fails_remaining_writes_fast() -> None:

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    ops = [WriteOp.update("products", i, {"Name": f"P{i}"}) for i in range(30)]
    started = time.monotonic()
    with pog(handler, write_concurrency=2) as client:
        results = client.write_many_blocking(ops)
    assert time.monotonic() - started < 3
    assert all(r.outcome == "failed" for r in results)
    assert isinstance(results[0].error, SystemUnavailable)
    assert sum("not attempted" in (r.message or "") for r in results) >= 25


def test_answers_that_are_not_json_fail_clearly() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>maintenance</html>")

    with pog(handler) as client, pytest.raises(RequestFailed, match="not JSON"):
        client.read("projects")


def test_crmoffice_errors_and_merge_patch() -> None:
    seen: list[httpx.Request] = []

    def route(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/connect/token"):
            return httpx.Response(200, json={"access_token": "t", "expires_in": 3600})
        seen.append(request)
        if request.method == "PATCH":
            body = json.loads(request.content)
            return httpx.Response(200, json={"id": "co_1", **body})
        error = {"code": "validation_failed", "message": "orgNr is not text", "field": "orgNr"}
        return httpx.Response(422, json={"error": error})

    client = CrmofficeClient(
        base_url="http://crm.test/",
        token_url="http://crm.test/connect/token",
        settings=FAST,
        http_transport=httpx.MockTransport(route),
    )
    with client:
        stored = client.update("companies", "co_1", {"city": "Oslo", "name": "N"})
        assert seen[0].headers["Content-Type"] == "application/merge-patch+json"
        assert json.loads(seen[0].content) == {"visitAddress": {"postalArea": "Oslo"}, "name": "N"}
        assert stored["visitAddress.postalArea"] == "Oslo"
        with pytest.raises(WriteRejected) as info:
            client.insert("companies", {"name": "N", "orgNr": 5}, reference="k1")
        assert info.value.field == "orgNr" and info.value.status == 422
        assert seen[1].headers["Idempotency-Key"] == "k1"


def test_frame_dtypes_survive_all_null_columns() -> None:
    builder = FrameBuilder(CUSTOMERS)
    builder.add({"Id": 1})
    assert builder.frame().schema["Number"] == pl.Int64
