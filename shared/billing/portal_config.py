"""The Customer Portal's configuration, kept in a file (TOML or YAML) and applied to Stripe.

The file uses the names of Stripe's ``billing_portal.configurations`` API, so
what it says is what Stripe receives. It is checked here first, so a typo
fails with the setting's path before anything is sent.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import stripe
import yaml

if TYPE_CHECKING:
    from stripe.params.billing_portal import ConfigurationCreateParams, ConfigurationUpdateParams


class ConfigFileError(ValueError):
    """The file cannot be applied; the message names the setting."""


class Url(str):
    """A spec marker: an http(s) address."""


PRORATION = ("none", "create_prorations", "always_invoice")
SPEC: dict = {
    "default_return_url": Url,
    "business_profile": {"headline": str, "privacy_policy_url": Url, "terms_of_service_url": Url},
    "features": {
        "invoice_history": {"enabled": bool},
        "payment_method_update": {"enabled": bool},
        "customer_update": {
            "enabled": bool,
            "allowed_updates": [("email", "address", "shipping", "phone", "tax_id", "name")],
        },
        "subscription_cancel": {
            "enabled": bool,
            "mode": ("at_period_end", "immediately"),
            "proration_behavior": PRORATION,
            "cancellation_reason": {
                "enabled": bool,
                "options": [
                    (
                        "too_expensive",
                        "missing_features",
                        "switched_service",
                        "unused",
                        "customer_service",
                        "too_complex",
                        "low_quality",
                        "other",
                    )
                ],
            },
        },
        "subscription_update": {
            "enabled": bool,
            "default_allowed_updates": [("price", "quantity", "promotion_code")],
            "proration_behavior": PRORATION,
            "products": [{"product": str, "prices": [str]}],
        },
    },
}
REQUIRED = ("features",)


@dataclass(frozen=True)
class Change:
    path: str
    old: Any  # None: not set in Stripe (or no configuration yet)
    new: Any


def load(path: str | Path) -> dict:
    """The file's settings, checked against SPEC."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigFileError(f"cannot read {path}: {exc.strerror}") from None
    data = _parse(path, text)
    check(data)
    return data


def _parse(path: Path, text: str) -> Any:
    try:
        if path.suffix == ".toml":
            return tomllib.loads(text)
        if path.suffix in (".yaml", ".yml"):
            return yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise ConfigFileError(f"{path} is not valid {path.suffix[1:].upper()}: {exc}") from None
    raise ConfigFileError(f"{path}: use a .toml, .yaml or .yml file")


def check(data: Any) -> None:
    if not isinstance(data, dict):
        raise ConfigFileError("the file must hold a table of settings")
    for key in REQUIRED:
        if key not in data:
            raise ConfigFileError(f"{key}: required")
    _check(data, SPEC, "")


def _check(value: Any, spec: Any, path: str) -> None:
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            raise ConfigFileError(f"{path}: expected a table")
        for key, item in value.items():
            if key not in spec:
                raise ConfigFileError(f"{_join(path, key)}: unknown setting (known: {', '.join(spec)})")
            _check(item, spec[key], _join(path, key))
    elif isinstance(spec, list):
        if not isinstance(value, list):
            raise ConfigFileError(f"{path}: expected a list")
        for index, item in enumerate(value):
            _check(item, spec[0], f"{path}[{index}]")
    else:
        _check_leaf(value, spec, path)


def _check_leaf(value: Any, spec: Any, path: str) -> None:
    if isinstance(spec, tuple):
        if value not in spec:
            raise ConfigFileError(f"{path}: {value!r} is not one of {', '.join(spec)}")
    elif spec is bool:
        if not isinstance(value, bool):
            raise ConfigFileError(f"{path}: expected true or false, got {value!r}")
    elif not isinstance(value, str) or not value.strip():
        raise ConfigFileError(f"{path}: expected text, got {value!r}")
    elif spec is Url and not value.startswith(("https://", "http://")):
        raise ConfigFileError(f"{path}: expected an http(s) URL, got {value!r}")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def diff(desired: dict, current: dict | None) -> list[Change]:
    """Field by field, what applying ``desired`` would change in ``current``."""
    changes = []
    for path, new in _leaves(desired, ""):
        old = _normal(_at(current or {}, path), new)
        if old != new:
            changes.append(Change(path, old, new))
    return changes


def _leaves(value: Any, path: str):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, _join(path, key))
    else:
        yield path, value


def _at(obj: Any, path: str) -> Any:
    for key in path.split("."):
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj


def _normal(current: Any, desired: Any) -> Any:
    """Stripe's list of products carries more keys than the file names: compare those named."""
    if isinstance(current, list) and isinstance(desired, list) and desired and isinstance(desired[0], dict):
        keys = set().union(*desired)
        return [{key: item.get(key) for key in item if key in keys} for item in current]
    return current


def retrieve(client: stripe.StripeClient, configuration_id: str | None) -> dict | None:
    """The configuration as Stripe holds it; None when there is none (yet)."""
    if not configuration_id:
        return None
    try:
        return client.v1.billing_portal.configurations.retrieve(configuration_id).to_dict()
    except stripe.InvalidRequestError as exc:
        if exc.code == "resource_missing":
            return None
        raise


def send(client: stripe.StripeClient, desired: dict, current: dict | None) -> str:
    """Create the configuration, or update the current one; return its id."""
    # desired is read from YAML (load): plain data, whose fields Stripe checks.
    if current is None:
        return client.v1.billing_portal.configurations.create(params=cast("ConfigurationCreateParams", desired)).id
    return client.v1.billing_portal.configurations.update(
        current["id"], params=cast("ConfigurationUpdateParams", desired)
    ).id
