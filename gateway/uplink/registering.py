"""The S0603 registration request of a device, built from its reading and the gateway's config.

Besides the identity it tells the cloud whether the device has the contract function
(`contract_supported`: the contract MIB answered), so that contract requests for a printer
without it are refused up front; its device type from what it showed it can do
(`gateway.device.device_type`); the time zone and shipping destination of its site
(`[[gateway.sites]]`, by its addresses and host names; default: `[gateway]`'s).  The config is
read at each registration: after a reload, devices registered from then on get the new site
values.
"""

from __future__ import annotations

from gateway.device.device_type import device_type
from gateway.device.fields import parse_uuid
from gateway.device.model import DeviceStatus
from gateway.fleet.inventory import Device
from gateway.settings.schema import GatewaySettings
from gateway.settings.sites import Site, site_for
from protocols.cloud.registration import PrinterRegistration


def contract_supported(status: DeviceStatus) -> bool | None:
    """Whether the device has the contract function; None when this reading cannot tell (the
    contract MIB is read over SNMP, which did not answer or is not used)."""
    if status.contract.supported:
        return True
    return False if status.reachable.get("snmp") else None


def registration_site(device: Device, status: DeviceStatus, gateway: GatewaySettings) -> Site:
    """The device's site: by the address it was read at, its known addresses and host names."""
    return site_for(gateway.sites, gateway.time_zone, gateway.shipping_destination,
                    [status.host, *device.addresses, device.hostname or "",
                     status.identity.hostname or ""])


def registration_request(device: Device, status: DeviceStatus,
                         gateway: GatewaySettings) -> PrinterRegistration | None:
    """The S0603 request for a device, or None when it cannot be registered (no serial)."""
    identity = status.identity
    serial = identity.serial or device.serial
    if not serial:
        return None
    site = registration_site(device, status, gateway)
    return PrinterRegistration(
        serial=serial,
        product_name=identity.model or device.model or "unknown",
        manufacturer=identity.manufacturer or device.manufacturer or "unknown",
        shipping_destination=site.shipping_destination,
        time_zone=site.time_zone,
        device_type=device_type(status),
        uuid=identity.uuid or parse_uuid(device.uuid),
        mac=identity.mac or device.mac,
        firmware=identity.firmware,
        sys_object_id=identity.sys_object_id,
        contract_supported=contract_supported(status),
    )
