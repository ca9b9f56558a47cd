"""Exceptions raised for bad input. Each message says what was wrong and how to fix it."""


class RlkitError(Exception):
    """Base class of rlkit's own errors."""


class UnknownEnvironmentError(RlkitError, ValueError):
    """An environment id that gymnasium does not know."""


class InvalidActionError(RlkitError, ValueError):
    """An action that does not conform to the environment's action spec."""


class ResetRequiredError(RlkitError, RuntimeError):
    """`step` called on an environment that was never reset."""


class ConfigError(RlkitError, ValueError):
    """A configuration value of the wrong type or out of range, or an unknown key."""


class InvalidBatchError(RlkitError, ValueError):
    """A replay batch that contains NaN or infinite values."""


class ReplayTimeoutError(RlkitError, TimeoutError):
    """Replay sampling was held back by the rate limiter for longer than allowed."""


class CheckpointError(RlkitError, RuntimeError):
    """A checkpoint or saved policy that is missing, incomplete or does not match the run."""


class RemoteEnvironmentError(RlkitError, RuntimeError):
    """An environment served over the network (`remote://HOST:PORT/ENV_ID`) that cannot be
    reached, refused the request, or went away."""
