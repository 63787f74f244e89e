"""Check and coerce request parameters against a small declared schema.

Form values arrive as strings; each route declares what it accepts so that
unknown, missing and malformed parameters get Stripe's own messages.
"""

from dataclasses import dataclass, field
from typing import Any

from .errors import ApiError


@dataclass(frozen=True)
class Spec:
    required: bool = False

    def coerce(self, value: Any, param: str) -> Any:
        raise NotImplementedError


@dataclass(frozen=True)
class Str(Spec):
    enum: tuple[str, ...] = ()

    def coerce(self, value: Any, param: str) -> Any:
        if not isinstance(value, str):
            raise ApiError(f"Invalid string: {_show(value)}", param=param)
        if self.enum and value not in self.enum:
            raise ApiError(
                f"Invalid {_leaf(param)}: must be one of {_one_of(self.enum)}",
                param=param,
            )
        return value


@dataclass(frozen=True)
class Int(Spec):
    minimum: int | None = None
    maximum: int | None = None

    def coerce(self, value: Any, param: str) -> Any:
        try:
            number = int(value) if not isinstance(value, bool) else None
        except (TypeError, ValueError):
            number = None
        if number is None:
            raise ApiError(f"Invalid integer: {_show(value)}", param=param)
        self._check_range(number, param)
        return number

    def _check_range(self, number: int, param: str) -> None:
        if self.minimum is not None and number < self.minimum:
            raise ApiError(
                f"This value must be greater than or equal to {self.minimum}.",
                param=param,
            )
        if self.maximum is not None and number > self.maximum:
            raise ApiError(
                f"This value must be less than or equal to {self.maximum}.",
                param=param,
            )


@dataclass(frozen=True)
class Bool(Spec):
    def coerce(self, value: Any, param: str) -> Any:
        if isinstance(value, bool):
            return value
        if value in ("true", "false"):
            return value == "true"
        raise ApiError(f"Invalid boolean: {_show(value)}", param=param)


@dataclass(frozen=True)
class Map(Spec):
    """Free-form string map (``metadata``); ``""`` means "clear it"."""

    def coerce(self, value: Any, param: str) -> Any:
        if value == "":
            return {}
        if not isinstance(value, dict):
            raise ApiError("Invalid object", param=param)
        return {str(k): _map_value(v, f"{param}[{k}]") for k, v in value.items()}


@dataclass(frozen=True)
class Obj(Spec):
    fields: dict[str, Spec] = field(default_factory=dict)

    def coerce(self, value: Any, param: str) -> Any:
        if value == "":
            return None
        if not isinstance(value, dict):
            raise ApiError("Invalid object", param=param)
        return check(value, self.fields, prefix=param)


@dataclass(frozen=True)
class Arr(Spec):
    item: Spec = field(default_factory=Str)

    def coerce(self, value: Any, param: str) -> Any:
        if value == "":
            return []
        if isinstance(value, dict):
            # Stripe-python always indexes arrays, but hand-written forms may
            # send `a[5]=x` alone; the decoder only lists dense index keys.
            raise ApiError("Invalid array", param=param)
        if not isinstance(value, list):
            raise ApiError("Invalid array", param=param)
        return [self.item.coerce(v, f"{param}[{i}]") for i, v in enumerate(value)]


@dataclass(frozen=True)
class IntOrEmpty(Spec):
    """An integer, or ``""`` meaning "unset" (``cancel_at=``)."""

    def coerce(self, value: Any, param: str) -> Any:
        return None if value == "" else Int().coerce(value, param)


@dataclass(frozen=True)
class Range(Spec):
    """``created=123`` or ``created[gte]=...&created[lt]=...``."""

    def coerce(self, value: Any, param: str) -> Any:
        if isinstance(value, dict):
            bounds: dict[str, Spec] = {k: Int() for k in ("gt", "gte", "lt", "lte")}
            return check(value, bounds, prefix=param)
        number = Int().coerce(value, param)
        return {"gte": number, "lte": number}


# Shared pieces for list endpoints and expansion.
EXPAND = Arr(item=Str())
PAGING = {
    "limit": Int(minimum=1, maximum=100),
    "starting_after": Str(),
    "ending_before": Str(),
    "expand": EXPAND,
}


def check(params: dict[str, Any], fields: dict[str, Spec], prefix: str = "") -> dict:
    """Coerce ``params`` per ``fields``; raise ``ApiError`` like Stripe would."""
    result: dict[str, Any] = {}
    for name, value in params.items():
        param = f"{prefix}[{name}]" if prefix else name
        spec = fields.get(name)
        if spec is None:
            raise ApiError(f"Received unknown parameter: {param}", param=param)
        result[name] = spec.coerce(value, param)
    for name, spec in fields.items():
        if spec.required and name not in result:
            param = f"{prefix}[{name}]" if prefix else name
            raise ApiError(f"Missing required param: {param}.", param=param)
    return result


def _map_value(value: Any, param: str) -> str:
    if not isinstance(value, str):
        raise ApiError("Invalid string", param=param)
    return value


def _leaf(param: str) -> str:
    return param.rsplit("[", 1)[-1].rstrip("]")


def _one_of(options: tuple[str, ...]) -> str:
    if len(options) == 1:
        return options[0]
    return ", ".join(options[:-1]) + ", or " + options[-1]


def _show(value: Any) -> str:
    return value if isinstance(value, str) else repr(value)
