"""The `rlkit-env.v1` protocol: msgpack messages, arrays, specs and timesteps on the wire.

Each WebSocket message is one binary msgpack value (docs/remote-environments.md has the
whole protocol). Numpy values travel as msgpack extension types, so that they cannot be
mistaken for a map an observation holds, and are decoded with `np.frombuffer` after their
dtype (from a short list of plain numeric ones) and size are checked: nothing is unpickled
or imported on either side.

- extension 1, an array: the msgpack array `[dtype, shape, data]`, e.g. `["<f4", [4], b...]`;
- extension 2, a numpy scalar: `[dtype, data]`.

msgpack arrays decode as tuples (a Tuple space's observations and actions stay tuples).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import dm_env
import msgpack
import numpy as np
from dm_env import specs

from rlkit import errors

SUBPROTOCOL = "rlkit-env.v1"
# What a server reads in one message (requests are small: an action), and what a client
# reads (observations of a batch of environments, render frames).
SERVER_MAX_MESSAGE_BYTES = 1 << 20
CLIENT_MAX_MESSAGE_BYTES = 16 << 20
# Environment keyword arguments a client may pass: others (a MuJoCo model's `xml_file`, a
# map size) could read files or exhaust the server's memory. Register an id of your own
# with them baked in instead (`rlkit serve-env --env-module`).
ALLOWED_ENVIRONMENT_KWARGS = ("max_episode_steps", "render_mode")
RENDER_MODES = (None, "rgb_array")

_ARRAY = 1
_SCALAR = 2
# Plain numeric dtypes, little-endian: what observations, actions and frames are.
_DTYPES = frozenset(
    ("|b1", "|i1", "|u1", "<i2", "<u2", "<i4", "<u4", "<i8", "<u8", "<f2", "<f4", "<f8")
)
MAX_DIMENSIONS = 32


class ProtocolError(errors.RlkitError, ValueError):
    """A message that does not follow the protocol (not msgpack, an unknown dtype, a field
    of the wrong type)."""


def check_environment_kwargs(env_id: str, kwargs: Mapping[str, Any]) -> None:
    """Raises `ConfigError` for an environment keyword argument a server does not take."""
    for key, value in kwargs.items():
        if key == "token":  # Keyword arguments are recorded with a run; a token must not be.
            raise errors.ConfigError(
                f"{env_id}: the server's token is read from the RLKIT_ENV_TOKEN environment "
                "variable, never passed as an environment argument (which runs record)."
            )
        if key not in ALLOWED_ENVIRONMENT_KWARGS:
            raise errors.ConfigError(
                f"{env_id} is served over the network, which takes only the keyword arguments "
                f"{', '.join(ALLOWED_ENVIRONMENT_KWARGS)}, got {key!r}. Register an id with "
                "the arguments built in and serve it (rlkit serve-env --env-module MODULE)."
            )
        if key == "render_mode" and value not in RENDER_MODES:
            raise errors.ConfigError(
                f"{env_id}: a served environment renders with render_mode='rgb_array' (frames "
                f"sent to the client) or None, got {value!r}."
            )
        if key == "max_episode_steps" and value is not None:
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise errors.ConfigError(
                    f"{env_id}: max_episode_steps must be a positive integer, got {value!r}."
                )


def _wire_dtype(dtype: np.dtype) -> np.dtype:
    """`dtype` in the byte order sent (little-endian); `ProtocolError` for one not sent."""
    if dtype.byteorder == ">":
        dtype = dtype.newbyteorder("<")
    if dtype.str not in _DTYPES:
        raise ProtocolError(
            f"values of dtype {dtype} cannot be sent; the protocol carries bool, integer and "
            "float arrays."
        )
    return dtype


def _read_dtype(text: Any) -> np.dtype:
    if not isinstance(text, str) or text not in _DTYPES:
        raise ProtocolError(f"unknown dtype {text!r} (sent are: {', '.join(sorted(_DTYPES))}).")
    return np.dtype(text)


def _read_shape(shape: Any) -> tuple[int, ...]:
    valid = isinstance(shape, tuple) and len(shape) <= MAX_DIMENSIONS
    if not valid or not all(type(n) is int and n >= 0 for n in shape):
        raise ProtocolError(f"an array's shape must be at most {MAX_DIMENSIONS} sizes >= 0.")
    return shape


def _encode_numpy(value: Any) -> msgpack.ExtType:
    """msgpack's hook for what it cannot pack itself: numpy arrays and scalars (and what
    converts to an array, such as a JAX array)."""
    if isinstance(value, np.generic):
        dtype = _wire_dtype(value.dtype)
        return msgpack.ExtType(_SCALAR, msgpack.packb([dtype.str, value.astype(dtype).tobytes()]))
    if not isinstance(value, np.ndarray):
        if not hasattr(value, "__array__"):
            raise ProtocolError(f"a {type(value).__name__} cannot be sent.")
        value = np.asarray(value)
    dtype = _wire_dtype(value.dtype)
    data = value.astype(dtype, copy=False).tobytes()
    return msgpack.ExtType(_ARRAY, msgpack.packb([dtype.str, list(value.shape), data]))


def _decode_numpy(code: int, payload: bytes) -> Any:
    fields = msgpack.unpackb(payload, use_list=False)
    if code == _ARRAY and isinstance(fields, tuple) and len(fields) == 3:
        dtype, shape, data = _read_dtype(fields[0]), _read_shape(fields[1]), fields[2]
        if not isinstance(data, bytes) or len(data) != math.prod(shape) * dtype.itemsize:
            raise ProtocolError(f"an array of shape {shape} and dtype {dtype} has the wrong size.")
        # A copy: np.frombuffer's arrays are read-only, a local environment's are not.
        return np.frombuffer(data, dtype).reshape(shape).copy()
    if code == _SCALAR and isinstance(fields, tuple) and len(fields) == 2:
        dtype, data = _read_dtype(fields[0]), fields[1]
        if not isinstance(data, bytes) or len(data) != dtype.itemsize:
            raise ProtocolError(f"a {dtype} scalar has the wrong size.")
        return np.frombuffer(data, dtype)[0]
    raise ProtocolError(f"unknown or malformed msgpack extension {code}.")


def encode(message: Any) -> bytes:
    """A message (maps, sequences, numbers, strings, None, numpy values) as msgpack bytes."""
    try:
        return msgpack.packb(message, default=_encode_numpy)
    except ProtocolError:
        raise
    except (TypeError, ValueError, OverflowError) as error:
        raise ProtocolError(f"the message cannot be encoded: {error}") from None


def decode(data: bytes) -> Any:
    """The message in msgpack `data`; `ProtocolError` for anything else."""
    try:
        return msgpack.unpackb(data, ext_hook=_decode_numpy, use_list=False, raw=False)
    except ProtocolError:
        raise
    except Exception as error:  # msgpack's own errors: ExtraData, FormatError, StackError...
        raise ProtocolError(f"the message is not valid msgpack ({type(error).__name__}).") from None


def error_reply(kind: str, message: str) -> dict[str, Any]:
    """The reply to a request that failed: `kind` names the error (e.g. "InvalidActionError")."""
    return {"ok": False, "error": {"type": kind, "message": message}}


def encode_spec(spec: Any) -> dict[str, Any]:
    """A (nested) dm_env spec as a message."""
    if isinstance(spec, dict):
        return {"kind": "dict", "items": {key: encode_spec(sub) for key, sub in spec.items()}}
    if isinstance(spec, tuple | list):
        return {"kind": "tuple", "items": [encode_spec(sub) for sub in spec]}
    leaf = {
        "shape": list(spec.shape),
        "dtype": _wire_dtype(np.dtype(spec.dtype)).str,
        "name": spec.name,
    }
    if isinstance(spec, specs.DiscreteArray):
        return {"kind": "discrete", "num_values": int(spec.num_values), **leaf}
    if isinstance(spec, specs.BoundedArray):
        bounds = {"minimum": np.asarray(spec.minimum), "maximum": np.asarray(spec.maximum)}
        return {"kind": "bounded", **bounds, **leaf}
    return {"kind": "array", **leaf}


def decode_spec(message: Any) -> Any:
    """The dm_env spec `encode_spec` described; `ProtocolError` for a malformed one."""
    if not isinstance(message, dict):
        raise ProtocolError(f"a spec is a map, got {type(message).__name__}.")
    kind, items = message.get("kind"), message.get("items")
    if kind == "dict" and isinstance(items, dict):
        return {key: decode_spec(sub) for key, sub in items.items()}
    if kind == "tuple" and isinstance(items, tuple):
        return tuple(decode_spec(sub) for sub in items)
    try:
        dtype = _read_dtype(message.get("dtype"))
        shape, name = _read_shape(message.get("shape")), message.get("name")
        if kind == "discrete":
            return specs.DiscreteArray(message["num_values"], dtype=dtype, name=name)
        if kind == "bounded":
            return specs.BoundedArray(shape, dtype, message["minimum"], message["maximum"], name)
        if kind == "array":
            return specs.Array(shape, dtype, name=name)
    except (KeyError, TypeError, ValueError) as error:
        raise ProtocolError(f"a malformed {kind} spec: {error}") from None
    raise ProtocolError(f"unknown spec kind {kind!r}.")


def encode_timestep(timestep: dm_env.TimeStep) -> dict[str, Any]:
    """A timestep as a message: `step_type` an int (0 FIRST, 1 MID, 2 LAST), or an int8
    array for a batch of environments."""
    step_type = timestep.step_type
    if isinstance(step_type, int | np.integer):
        step_type = int(step_type)
    return {
        "step_type": step_type,
        "reward": timestep.reward,
        "discount": timestep.discount,
        "observation": timestep.observation,
    }


def decode_timestep(message: Any) -> dm_env.TimeStep:
    """The `dm_env.TimeStep` `encode_timestep` described."""
    if not isinstance(message, dict) or "step_type" not in message:
        raise ProtocolError("a timestep is a map with step_type, reward, discount, observation.")
    step_type = message["step_type"]
    if isinstance(step_type, int) and not isinstance(step_type, bool):
        try:
            step_type = dm_env.StepType(step_type)
        except ValueError:
            raise ProtocolError(f"unknown step type {step_type}.") from None
    elif not isinstance(step_type, np.ndarray):
        raise ProtocolError(f"a step type is an int or an array, got {step_type!r}.")
    return dm_env.TimeStep(
        step_type, message.get("reward"), message.get("discount"), message.get("observation")
    )
