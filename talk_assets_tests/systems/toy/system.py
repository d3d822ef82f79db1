"""A third, minimal system defined only here: one datatype, a client and a resource on the
connector kit, an emulator on the emulator kit, sample data. Registering its `SPEC` is all it
takes for the product to read it (`test_third_system.py`)."""

from __future__ import annotations

import json
import math
from typing import Any, ClassVar
from urllib.parse import parse_qsl

import httpx
from pydantic import Field as ConfigField
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from talk_assets.systems.connector.client import ConnectorClient
from talk_assets.systems.connector.resource import ConnectorResource
from talk_assets.systems.connector.transport import Transport, json_body
from talk_assets.systems.emulator.app import Emulator, HttpError
from talk_assets.systems.emulator.validation import check_object, shape_of
from talk_assets.systems.records import unflatten
from talk_assets.systems.sampling import SampleContext
from talk_assets.systems.schema import Datatype, Field, System
from talk_assets.systems.spec import SystemSpec
from talk_assets.systems.timestamps import format_timestamp, parse_timestamp

Json = dict[str, Any]

WIDGETS = Datatype(
    system="toysystem",
    name="widgets",
    endpoint="widgets",
    fields=(
        Field("id", "string", identity=True),
        Field("name", "string"),
        Field("updatedAt", "datetime", read_only=True, aliases=("lastChanged",)),
    ),
    id_field="id",
    last_changed_field="updatedAt",
    required=("name",),
)
TOY = System(name="toysystem", title="Toysystem", datatypes=(WIDGETS,))

SPEC = SystemSpec(
    schema=TOY,
    client=f"{__name__}:ToyClient",
    resource=f"{__name__}:ToyResource",
    emulator=f"{__name__}:ToyEmulator",
    sample=f"{__name__}:sample",
    base_url="https://toy.invalid/api",
    token_url="https://toy.invalid/token",
    credentials={"client_id": "toy-id", "client_secret": "toy-secret"},
    emulator_base_path="/api",
    emulator_token_path="/token",
    default_port=8799,
    requests_per_second=50.0,
    page_size=100,
)


class ToyClient(ConnectorClient):
    """Token by form (`client_id`, `client_secret`); `GET /widgets` answers all records."""

    spec = SPEC

    def token_request(self) -> tuple[dict[str, str], dict[str, str]]:
        keys = {k: v.reveal() for k, v in self.credentials.items()}
        return {"grant_type": "client_credentials", **keys}, {}

    def _parse_error(self, response: httpx.Response) -> tuple[str, str | None]:
        return str(response.json().get("error")), None

    async def _pages(self, t: Transport, dt: Datatype, since: str | None, page_size: int):
        response = await t.send("GET", str(dt.endpoint), datatype=dt.name)
        yield json_body(response, self.system.name, dt.name)

    async def _has_changes(self, t: Transport, dt: Datatype, since: str) -> bool:
        return True

    async def _get(self, t: Transport, dt: Datatype, record_id: Any, parent_id: Any) -> Any:
        response = await t.send("GET", f"{dt.endpoint}/{record_id}", datatype=dt.name)
        return json_body(response, self.system.name, dt.name)

    async def _post(self, t, dt, values, reference, parent_id):
        response = await t.send(
            "POST", str(dt.endpoint), json=unflatten(values), idempotent=False, datatype=dt.name
        )
        return json_body(response, self.system.name, dt.name), response.status_code, False

    async def _find_landed(self, t, dt, values, reference, parent_id, started):
        return None


class ToyResource(ConnectorResource):
    spec: ClassVar[SystemSpec] = SPEC

    base_url: str = ConfigField(default=SPEC.base_url)
    token_url: str = ConfigField(default=SPEC.token_url)
    client_id: str = ConfigField(default=SPEC.credentials["client_id"], description="Secret")
    client_secret: str = ConfigField(
        default=SPEC.credentials["client_secret"], description="Secret"
    )


class ToyEmulator(Emulator):
    spec = SPEC

    def __init__(self, **options: Any) -> None:
        self.records: dict[str, Json] = {}
        super().__init__(**options)

    def load_records(self, records: dict[str, list[Json]]) -> None:
        self.records = {r["id"]: r for r in records.get("widgets", [])}
        for row in self.records.values():
            self.clock.observe(parse_timestamp(row["updatedAt"]))

    def snapshot(self) -> Json:
        return {"widgets": list(self.records.values())}

    def restore(self, snapshot: Json) -> None:
        self.load_records(snapshot)

    def error(self, status: int, message: str, *, field=None, code=None) -> Response:
        return JSONResponse({"error": message}, status_code=status)

    def build_app(self):
        return Starlette(
            routes=[
                Route("/token", self.token, methods=["POST"]),
                Route("/api/widgets", self.handle(self.collection), methods=["GET", "POST"]),
                Route("/api/widgets/{id}", self.handle(self.item), methods=["GET"]),
            ]
        )

    async def guard(self, request: Request) -> Response | None:
        if request.url.path == "/token":
            return None
        _, _, token = request.headers.get("authorization", "").partition(" ")
        subject, why = self.tokens.check(token.strip())
        return None if subject else self.error(401, why)

    async def token(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode()))
        if any(form.get(k) != v for k, v in self.credentials.items()):
            return self.error(401, "invalid_client")
        token = self.tokens.issue(str(form["client_id"]))
        return JSONResponse({"access_token": token, "expires_in": math.ceil(self.tokens.ttl)})

    async def collection(self, request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse(list(self.records.values()))
        values, problems = check_object(shape_of(WIDGETS), json.loads(await request.body()))
        if problems:
            raise HttpError(400, problems[0].message, field=problems[0].path)
        record = {"id": f"w{len(self.records) + 1}", **values}
        record["updatedAt"] = format_timestamp(self.stamp())
        self.records[record["id"]] = record
        self.persist()
        return JSONResponse(record, status_code=201)

    async def item(self, request: Request) -> Response:
        record = self.records.get(request.path_params["id"])
        if record is None:
            raise HttpError(404, "no such widget")
        return JSONResponse(record)


def sample(ctx: SampleContext) -> dict[str, list[Json]]:
    return {
        "widgets": [
            {
                "id": f"w{i + 1}",
                "name": ctx.fake.company(),
                "updatedAt": format_timestamp(ctx.clock.next()),
            }
            for i in range(ctx.size)
        ]
    }
