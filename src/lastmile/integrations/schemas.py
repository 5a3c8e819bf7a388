"""Request and response shapes of integration intake."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from lastmile.core.schemas import InputModel, Instant, NotBool, OutputModel
from lastmile.tasks.schemas import CLOSED, Dimension, Id, Lat, Lng, Recipient

NO_NUL = r"^[^\x00]*$"
SOURCE_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"
ORDER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"

Source = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=SOURCE_PATTERN),
    Field(
        description="The sending system, e.g. `shopify-pos` or `ubereats`: lower-case letters, "
        "digits, `.`, `_` and `-`, starting with a letter or digit.",
        examples=["shopify-pos"],
    ),
]
ExternalOrderId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=128, pattern=ORDER_ID_PATTERN),
    Field(
        description="The order's id in the sending system: letters, digits, `.`, `_`, `:` and "
        "`-`, starting with a letter or digit (it appears in URLs as is).",
        examples=["1001"],
    ),
]
Address = Annotated[str, StringConstraints(max_length=500, pattern=NO_NUL)]
Notes = Annotated[str, StringConstraints(max_length=2000, pattern=NO_NUL)]
Quantity = Annotated[float, Field(ge=0, le=1e9), NotBool]

EXAMPLE: dict[str, Any] = {
    "source": "shopify-pos",
    "external_order_id": "1001",
    "pickup": {
        "address": "Store 12, Torstrasse 1, Berlin",
        "lat": 52.5292,
        "lng": 13.4010,
        "ready_at": "2026-12-01T11:30:00Z",
        "contact": {"name": "Store 12", "phone": "+493012345678", "notes": "Counter at the back"},
    },
    "dropoff": {
        "address": "Alexanderplatz 1, Berlin",
        "lat": 52.5219,
        "lng": 13.4132,
        "deadline": "2026-12-01T12:15:00Z",
    },
    "recipient": {"name": "Ada Lovelace", "phone": "+4915112345678", "notes": "Ring twice"},
    "items": [
        {"sku": "PZ-01", "name": "Pizza Margherita", "quantity": 2},
        {"name": "Lemonade 0.33 l", "quantity": 1},
    ],
    "notes": "Keep upright",
}


class OrderPlace(InputModel):
    """A place as the tasks API takes it: coordinates, an address, or both (an address alone is
    geocoded, which needs the tenant's geocoder)."""

    address: Address = ""
    lat: Lat | None = None
    lng: Lng | None = None

    @model_validator(mode="after")
    def _point_or_address(self) -> OrderPlace:
        if (self.lat is None) != (self.lng is None):
            raise ValueError("give both lat and lng, or neither")
        if self.lat is None and not self.address.strip():
            raise ValueError("give lat and lng, or an address")
        return self


class OrderPickup(OrderPlace):
    """The store: where the order is collected, from when, and who hands it over."""

    ready_at: Instant | None = Field(
        default=None, description="When the order is ready for collection (none: now)."
    )
    contact: Recipient = Field(
        default_factory=Recipient,
        description="The store's name, phone and instructions for the driver.",
    )


class OrderDropoff(OrderPlace):
    """The customer's place and the latest time of delivery."""

    deadline: Instant | None = Field(
        default=None, description="Deliver by then; later than `pickup.ready_at`."
    )


class OrderItem(InputModel):
    sku: (
        Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$")]
        | None
    ) = None
    name: Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=NO_NUL)]
    quantity: int = Field(gt=0, le=10000, description="How many; more than 0.")


class OrderIn(InputModel):
    """A merchant order: becomes a linked pickup (at the store) and drop-off (at the customer).
    Sending the same `(source, external_order_id)` again changes nothing when the content is the
    same, and updates both tasks when it differs (until a driver starts the order)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE]})

    source: Source
    external_order_id: ExternalOrderId
    pickup: OrderPickup
    dropoff: OrderDropoff
    recipient: Recipient = Field(
        default_factory=Recipient, description="The customer: name, phone, delivery notes."
    )
    items: list[OrderItem] = Field(min_length=1, max_length=100)
    notes: Notes = ""
    quantities: dict[Dimension, Quantity] | None = Field(
        default=None,
        max_length=10,
        json_schema_extra=CLOSED,
        description="The load of the pair per capacity dimension (default: `items` = the sum "
        "of the items' quantities).",
    )
    team_id: Id | None = Field(
        default=None, description="The team both tasks belong to (default: by zone)."
    )


class CancelOrder(InputModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"reason": "customer cancelled"}]}
    )

    reason: Annotated[str, StringConstraints(max_length=1000, pattern=NO_NUL)] = ""


class OrderItemRead(OutputModel):
    sku: str | None = None
    name: str
    quantity: int


class OrderTaskRead(OutputModel):
    id: str = Field(description="The task's id (see `GET /v1/tasks/{task_id}`).")
    state: str


class OrderRead(OutputModel):
    id: str
    source: str
    external_order_id: str
    status: Literal["open", "cancelled"]
    revision: int = Field(description="1 when created, +1 per accepted change.")
    pickup: OrderTaskRead
    dropoff: OrderTaskRead
    items: list[OrderItemRead]
    created_at: datetime
    updated_at: datetime
    cancelled_at: datetime | None


class IntakeResult(OrderRead):
    outcome: Literal["created", "unchanged", "updated", "cancelled"] = Field(
        description="What this request did."
    )
