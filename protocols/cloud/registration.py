"""The typed requests and answers of the registration sequence (FIG. 6, S0601-S0611): connection
destination and enrolment, printer registration, application information and activation notices,
device control information and the transmission data types report.  See `protocols.cloud.models`
for the conventions (`to_json()` / `from_json()`, document field names).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from protocols.cloud.models import ActivationResult, JsonObject, JsonValue, optional_fields

# -- bootstrap -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ConnectionDestinationRequest:
    """S0601 (`ConnectionDestinationRequest`); sent without the bearer token."""

    region: str
    country: str | None = None
    gateway_version: str | None = None

    def to_json(self) -> JsonObject:
        return optional_fields({"region": self.region}, country=self.country,
                               gateway_version=self.gateway_version)

    @classmethod
    def from_json(cls, body: Mapping[str, JsonValue]) -> ConnectionDestinationRequest:
        return cls(region=body["region"], country=body.get("country"),
                   gateway_version=body.get("gateway_version"))


@dataclass(frozen=True)
class ConnectionDestination:
    """S0602 (`ConnectionDestination`): the regional endpoint, to be cached until
    `valid_until`."""

    region: str
    base_url: str
    push_url: str
    valid_until: str

    def to_json(self) -> JsonObject:
        return {"region": self.region, "base_url": self.base_url, "push_url": self.push_url,
                "valid_until": self.valid_until}

    @classmethod
    def from_json(cls, body: Mapping[str, JsonValue]) -> ConnectionDestination:
        return cls(region=body["region"], base_url=body["base_url"], push_url=body["push_url"],
                   valid_until=body["valid_until"])


@dataclass(frozen=True)
class EnrolmentRequest:
    """The one-time enrolment token exchanged for the gateway's credential
    (`EnrolmentRequest`)."""

    enrolment_token: str
    name: str
    software_version: str
    hostname: str | None = None

    def to_json(self) -> JsonObject:
        return optional_fields({"enrolment_token": self.enrolment_token, "name": self.name,
                                "software_version": self.software_version},
                               hostname=self.hostname)

    @classmethod
    def from_json(cls, body: Mapping[str, JsonValue]) -> EnrolmentRequest:
        return cls(enrolment_token=body["enrolment_token"], name=body["name"],
                   software_version=body["software_version"], hostname=body.get("hostname"))


@dataclass(frozen=True)
class GatewayCredential:
    """The gateway's bearer token (`GatewayCredential`); `repr` leaves the secret out."""

    gateway_id: str
    token: str = field(repr=False)
    region: str
    issued_at: str
    expires_at: str | None
    token_type: str = "Bearer"

    def to_json(self) -> JsonObject:
        return {"gateway_id": self.gateway_id, "token_type": self.token_type,
                "token": self.token, "region": self.region, "issued_at": self.issued_at,
                "expires_at": self.expires_at}

    @classmethod
    def from_json(cls, body: Mapping[str, JsonValue]) -> GatewayCredential:
        return cls(gateway_id=body["gateway_id"], token=body["token"], region=body["region"],
                   issued_at=body["issued_at"], expires_at=body["expires_at"],
                   token_type=body["token_type"])


# -- registration ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class PrinterRegistration:
    """S0603 (`PrinterRegistration`): a device by its serial number."""

    serial: str
    product_name: str
    manufacturer: str
    shipping_destination: str
    time_zone: str
    device_type: str
    uuid: str | None = None
    mac: str | None = None
    firmware: str | None = None
    sys_object_id: str | None = None
    contract_supported: bool | None = None
    """Whether the device answered the contract MIB; None: not known (SNMP did not answer)."""

    def to_json(self) -> JsonObject:
        return {"serial": self.serial, "product_name": self.product_name,
                "manufacturer": self.manufacturer,
                "shipping_destination": self.shipping_destination, "time_zone": self.time_zone,
                "device_type": self.device_type, "uuid": self.uuid, "mac": self.mac,
                "firmware": self.firmware, "sys_object_id": self.sys_object_id,
                "contract_supported": self.contract_supported}

    @classmethod
    def from_json(cls, body: Mapping[str, JsonValue]) -> PrinterRegistration:
        return cls(serial=body["serial"], product_name=body["product_name"],
                   manufacturer=body["manufacturer"],
                   shipping_destination=body["shipping_destination"],
                   time_zone=body["time_zone"], device_type=body["device_type"],
                   uuid=body.get("uuid"), mac=body.get("mac"), firmware=body.get("firmware"),
                   sys_object_id=body.get("sys_object_id"),
                   contract_supported=body.get("contract_supported"))


@dataclass(frozen=True)
class PrinterRegistrationResult:
    """S0604 (`PrinterRegistrationResult`): the cloud's printer ID for the serial."""

    printer_id: str
    serial: str
    created: bool
    registered_at: str

    def to_json(self) -> JsonObject:
        return {"printer_id": self.printer_id, "serial": self.serial, "created": self.created,
                "registered_at": self.registered_at}

    @classmethod
    def from_json(cls, body: Mapping[str, JsonValue]) -> PrinterRegistrationResult:
        return cls(printer_id=body["printer_id"], serial=body["serial"],
                   created=body["created"], registered_at=body["registered_at"])


# -- applications and activation -------------------------------------------------------------------

@dataclass(frozen=True)
class Application:
    """One row of the application information (`Application`, FIG. 5).  `application_id` is
    None when the contract was cancelled."""

    service_id: str
    service_outline: str
    application_id: str | None
    provider: str
    application_date: str
    activation_state: str
    compatible_cartridge_models: tuple[str, ...]
    data_types: tuple[str, ...]
    activation_by_first_upload: bool
    activated_at: str | None = None
    kind: str | None = None
    """The service's kind (one provider per kind per printer); None: the cloud did not say (the
    service ID stands for it)."""
    required_functions: tuple[str, ...] = ()
    """What the device must be able to do for FIG. 10 (`contract`, `color`, `scan`, `fax`)."""
    provider_endpoint: str | None = None
    order_threshold_percent: int | None = None

    def to_json(self) -> JsonObject:
        return {"service_id": self.service_id, "service_outline": self.service_outline,
                "application_id": self.application_id, "provider": self.provider,
                "application_date": self.application_date,
                "activation_state": self.activation_state, "activated_at": self.activated_at,
                "compatible_cartridge_models": list(self.compatible_cartridge_models),
                "data_types": list(self.data_types),
                "activation_by_first_upload": self.activation_by_first_upload,
                **self._service_fields()}

    def _service_fields(self) -> JsonObject:
        """The service definition's fields of issue 16, those the cloud said (older clouds do
        not)."""
        fields: JsonObject = {"kind": self.kind, "provider_endpoint": self.provider_endpoint,
                              "order_threshold_percent": self.order_threshold_percent}
        if self.required_functions:
            fields["required_functions"] = list(self.required_functions)
        return {key: value for key, value in fields.items() if value is not None}

    @classmethod
    def from_json(cls, body: Mapping[str, JsonValue]) -> Application:
        return cls(service_id=body["service_id"], service_outline=body["service_outline"],
                   application_id=body["application_id"], provider=body["provider"],
                   application_date=body["application_date"],
                   activation_state=body["activation_state"],
                   compatible_cartridge_models=tuple(body["compatible_cartridge_models"]),
                   data_types=tuple(body["data_types"]),
                   activation_by_first_upload=body["activation_by_first_upload"],
                   activated_at=body.get("activated_at"), kind=body.get("kind"),
                   required_functions=tuple(body.get("required_functions") or ()),
                   provider_endpoint=body.get("provider_endpoint"),
                   order_threshold_percent=body.get("order_threshold_percent"))


@dataclass(frozen=True)
class ApplicationInformation:
    """S0606 (`ApplicationInformation`): the printer's applications (contracts)."""

    printer_id: str
    revision: int
    applications: tuple[Application, ...]

    def to_json(self) -> JsonObject:
        return {"printer_id": self.printer_id, "revision": self.revision,
                "applications": [a.to_json() for a in self.applications]}

    @classmethod
    def from_json(cls, body: Mapping[str, JsonValue]) -> ApplicationInformation:
        return cls(printer_id=body["printer_id"], revision=body["revision"],
                   applications=tuple(Application.from_json(a) for a in body["applications"]))


@dataclass(frozen=True)
class Activation:
    """One item of an activation notice (S0607, `ActivationNotice.activations`); `action`
    None means the document's default, `activate`."""

    service_id: str
    application_id: str
    action: str | None = None

    def to_json(self) -> JsonObject:
        return optional_fields({"service_id": self.service_id,
                                "application_id": self.application_id}, action=self.action)

    @classmethod
    def from_json(cls, body: Mapping[str, JsonValue]) -> Activation:
        return cls(service_id=body["service_id"], application_id=body["application_id"],
                   action=body.get("action"))


@dataclass(frozen=True)
class ActivationResults:
    """S0608 (`ActivationResults`): one result per service of the notice."""

    printer_id: str
    revision: int
    results: tuple[ActivationResult, ...]

    def to_json(self) -> JsonObject:
        return {"printer_id": self.printer_id, "revision": self.revision,
                "results": [r.to_json() for r in self.results]}

    @classmethod
    def from_json(cls, body: Mapping[str, JsonValue]) -> ActivationResults:
        return cls(printer_id=body["printer_id"], revision=body["revision"],
                   results=tuple(ActivationResult.from_json(r) for r in body["results"]))


# -- device control information --------------------------------------------------------------------

@dataclass(frozen=True)
class ServiceDataTypes:
    """Which active service asks for which types (`DeviceControlInformation.by_service`)."""

    service_id: str
    application_id: str
    data_types: tuple[str, ...]

    def to_json(self) -> JsonObject:
        return {"service_id": self.service_id, "application_id": self.application_id,
                "data_types": list(self.data_types)}

    @classmethod
    def from_json(cls, body: Mapping[str, JsonValue]) -> ServiceDataTypes:
        return cls(service_id=body["service_id"], application_id=body["application_id"],
                   data_types=tuple(body["data_types"]))


@dataclass(frozen=True)
class ContractDataTypes:
    """What the printer's contract asks for on its own account, whatever services exist
    (`DeviceControlInformation.by_contract`)."""

    data_types: tuple[str, ...]
    threshold_percent: int
    process_id: str | None = None

    def to_json(self) -> JsonObject:
        return {"data_types": list(self.data_types), "threshold_percent": self.threshold_percent,
                "process_id": self.process_id}

    @classmethod
    def from_json(cls, body: Mapping[str, JsonValue]) -> ContractDataTypes:
        return cls(data_types=tuple(body["data_types"]),
                   threshold_percent=body["threshold_percent"],
                   process_id=body.get("process_id"))


@dataclass(frozen=True)
class MeterSchedule:
    """Issue 17 (`MeterSchedule`): a printer's billing day; `day_of_month` 1-28 or `"last"`,
    `time` "HH:MM" local, `time_zone` IANA (None: the printer's own)."""

    day_of_month: int | str
    time: str
    time_zone: str | None = None

    def to_json(self) -> JsonObject:
        return {"day_of_month": self.day_of_month, "time": self.time,
                "time_zone": self.time_zone}

    @classmethod
    def from_json(cls, body: Mapping[str, JsonValue]) -> MeterSchedule:
        return cls(day_of_month=body["day_of_month"], time=body["time"],
                   time_zone=body.get("time_zone"))


@dataclass(frozen=True)
class DeviceControlInformation:
    """S0610 (`DeviceControlInformation`): the requested and current data types, and
    `added` / `removed`, their difference."""

    printer_id: str
    revision: int
    requested_data_types: tuple[str, ...]
    current_data_types: tuple[str, ...]
    added: tuple[str, ...]
    removed: tuple[str, ...]
    by_service: tuple[ServiceDataTypes, ...] | None = None
    by_contract: ContractDataTypes | None = None
    contract_threshold_percent: int | None = None
    """The printer's contract's threshold (None: no contract): the gateway's threshold events
    for the printer follow it besides its configured thresholds."""
    meter_schedule: MeterSchedule | None = None
    """Issue 17: when the printer's meter snapshot is due (None: no scheduled snapshots)."""

    def to_json(self) -> JsonObject:
        body: JsonObject = {
            "printer_id": self.printer_id, "revision": self.revision,
            "requested_data_types": list(self.requested_data_types),
            "current_data_types": list(self.current_data_types),
            "difference": {"added": list(self.added), "removed": list(self.removed)}}
        if self.by_service is not None:
            body["by_service"] = [s.to_json() for s in self.by_service]
        body["by_contract"] = None if self.by_contract is None else self.by_contract.to_json()
        body["contract_threshold_percent"] = self.contract_threshold_percent
        body["meter_schedule"] = None if self.meter_schedule is None \
            else self.meter_schedule.to_json()
        return body

    @classmethod
    def from_json(cls, body: Mapping[str, JsonValue]) -> DeviceControlInformation:
        by_service = body.get("by_service")
        by_contract = body.get("by_contract")
        return cls(printer_id=body["printer_id"], revision=body["revision"],
                   requested_data_types=tuple(body["requested_data_types"]),
                   current_data_types=tuple(body["current_data_types"]),
                   added=tuple(body["difference"]["added"]),
                   removed=tuple(body["difference"]["removed"]),
                   by_service=None if by_service is None
                   else tuple(ServiceDataTypes.from_json(s) for s in by_service),
                   by_contract=None if by_contract is None
                   else ContractDataTypes.from_json(by_contract),
                   contract_threshold_percent=body.get("contract_threshold_percent"),
                   meter_schedule=MeterSchedule.from_json(body["meter_schedule"])
                   if body.get("meter_schedule") else None)


@dataclass(frozen=True)
class UnavailableDataType:
    """A requested type the gateway cannot provide for the device, and why."""

    data_type: str
    reason: str

    def to_json(self) -> JsonObject:
        return {"data_type": self.data_type, "reason": self.reason}

    @classmethod
    def from_json(cls, body: Mapping[str, JsonValue]) -> UnavailableDataType:
        return cls(data_type=body["data_type"], reason=body["reason"])


@dataclass(frozen=True)
class TransmissionDataTypesReport:
    """S0611 (`TransmissionDataTypesReport`): the types the gateway sends from now on."""

    transmission_data_types: tuple[str, ...]
    based_on_revision: int | None = None
    unavailable: tuple[UnavailableDataType, ...] | None = None

    def to_json(self) -> JsonObject:
        return optional_fields(
            {"transmission_data_types": list(self.transmission_data_types)},
            based_on_revision=self.based_on_revision,
            unavailable=None if self.unavailable is None
            else [u.to_json() for u in self.unavailable])

    @classmethod
    def from_json(cls, body: Mapping[str, JsonValue]) -> TransmissionDataTypesReport:
        unavailable = body.get("unavailable")
        return cls(transmission_data_types=tuple(body["transmission_data_types"]),
                   based_on_revision=body.get("based_on_revision"),
                   unavailable=None if unavailable is None
                   else tuple(UnavailableDataType.from_json(u) for u in unavailable))
