"""The registry over HTTP (SPEC 15): create, replace, read, list, remove and mute tokens on the [callbacks]
listener, with the recheck API's bearer token. `parse` validates what arrives (pure), `views` reads what is
answered (never a token string), `server` holds the routes and their boundary."""

from monitor.api.parse import TOKENS_PATH, ApiError
from monitor.api.server import MAX_BODY, OPERATIONS, OUTCOMES, RegistryApi

__all__ = ["MAX_BODY", "OPERATIONS", "OUTCOMES", "TOKENS_PATH", "ApiError", "RegistryApi"]
