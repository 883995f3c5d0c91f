"""What runs inside the Rasa server: its tracker stores, and one correction to Rasa's speed.

Rasa 3.6 runs in its own virtual environment (Python 3.10) as a child of the API. The endpoints.yml
the API writes at start (api/rasa_runtime.py) names a tracker store from this module, and the API
puts this repository on the Rasa server's import path, so Rasa imports this module before it
handles the first message. That import also installs `cached_action_validation` below.

- `ExpiringInMemoryTrackerStore`, for a service without Redis: Rasa's own in-memory store keeps every
  conversation for as long as the server runs, so a service that talks to thousands of visitors a
  week would grow without end. This one forgets a conversation idle for `record_exp` seconds (the
  conversation's idle limit, config.yml `conversation.session_idle_minutes`), as Rasa's Redis store
  does in the production profile. And when a conversation moves on to a fresh tracker (the API starts
  one every `conversation.rasa_turns_per_tracker` messages, bot/sessions.py `rasa_sender`: "<id>.<n>"),
  the tracker it left is forgotten at once instead of after the idle limit.
- `RedisTrackerStore`, for the production profile: Rasa's own, which also deletes the tracker a
  conversation left for a fresh one (named here so that this module is loaded there too).
- Rasa checks every custom action's response against a JSON schema with `jsonschema.validate`, which
  first checks the schema itself against JSON Schema's metaschema: on this machine that was half of
  Rasa's time per message (py-spy on the Rasa server under load: 51% in `_validate_action_result`,
  46% in `check_schema`). The schema is a constant, so it is checked and compiled once here; each
  response is still validated against it, with the same error Rasa raises.
- Rasa opens a new HTTP session, and so a new connection, for every call to the action endpoint (13%
  of its time per message in the same profile). `kept_sessions` keeps one per endpoint, whose idle
  connections are closed after 2 s, before the API's server closes them (uvicorn, after 5 s), so a
  call never goes out on a connection the other side is closing.
- Rasa reads its intent classifier with skops, whose first import asks scikit-learn for every estimator
  it has (`all_estimators()`, which imports every scikit-learn module) to make its default list of
  trusted types: 5.7 of the Rasa server's 12.4 s start on this machine. `narrow_skops_trust` gives
  skops the estimators Rasa's own classifiers persist instead, so the start is shorter and a model file
  naming any other scikit-learn type is refused (Rasa then says it could not load the classifier).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from rasa.core.tracker_store import InMemoryTrackerStore
from rasa.core.tracker_store import RedisTrackerStore as _RasaRedisTrackerStore


def previous_tracker(sender_id: str) -> str | None:
    """The tracker a conversation left when it moved on to this one ("<id>.<n>" after "<id>.<n-1>",
    bot/sessions.py rasa_sender); None for a conversation's first tracker or an id of another shape."""
    session, dot, number = sender_id.rpartition(".")
    if not dot or not session or not number.isdigit() or int(number) == 0:
        return None
    return f"{session}.{int(number) - 1}"


# At most this often the whole store is swept for idle conversations (a read also checks its own).
SWEEP_SECONDS = 60.0


class ExpiringInMemoryTrackerStore(InMemoryTrackerStore):
    def __init__(self, domain: Any, event_broker: Any = None, record_exp: float | None = None, **kwargs: Any) -> None:
        kwargs.pop("host", None)  # Rasa passes the endpoint's url, which an in-memory store has no use for
        super().__init__(domain, event_broker, **kwargs)
        self.record_exp = float(record_exp) if record_exp else None
        self._touched: dict[str, float] = {}
        self._next_sweep = 0.0

    def _expired(self, sender_id: str, now: float) -> bool:
        touched = self._touched.get(sender_id)
        return self.record_exp is not None and touched is not None and now - touched >= self.record_exp

    def _forget(self, sender_id: str) -> None:
        self.store.pop(sender_id, None)
        self._touched.pop(sender_id, None)

    def sweep(self, now: float | None = None) -> int:
        """Forget every conversation idle for longer than the limit; how many were forgotten."""
        now = time.monotonic() if now is None else now
        if self.record_exp is None:
            return 0
        idle = [s for s in self._touched if self._expired(s, now)]
        for sender_id in idle:
            self._forget(sender_id)
        self._next_sweep = now + min(SWEEP_SECONDS, self.record_exp / 4)
        return len(idle)

    async def save(self, tracker: Any) -> None:
        await super().save(tracker)
        now = time.monotonic()
        self._touched[tracker.sender_id] = now
        left = previous_tracker(tracker.sender_id)
        if left is not None:
            self._forget(left)
        if now >= self._next_sweep:
            self.sweep(now)

    async def _retrieve(self, sender_id: str, fetch_all_sessions: bool) -> Any:
        if self._expired(sender_id, time.monotonic()):
            self._forget(sender_id)
        return await super()._retrieve(sender_id, fetch_all_sessions)


class RedisTrackerStore(_RasaRedisTrackerStore):
    """Rasa's Redis tracker store (expiry by its `record_exp`), which also deletes the tracker a
    conversation left for a fresh one."""

    async def save(self, tracker: Any, timeout: Any = None) -> None:
        await super().save(tracker, timeout)
        left = previous_tracker(tracker.sender_id)
        if left is not None:
            self.red.delete(self.key_prefix + left)


def cached_action_validation() -> None:
    """Validate custom actions' responses against a schema compiled once (see the module's docstring)."""
    from jsonschema.exceptions import best_match
    from jsonschema.validators import validator_for
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.constants import DOCS_BASE_URL

    if getattr(RemoteAction._validate_action_result, "cached", False):
        return
    spec = RemoteAction.action_response_format_spec()
    cls = validator_for(spec)
    cls.check_schema(spec)
    validator = cls(spec)

    def _validate_action_result(self: Any, result: dict[str, Any]) -> bool:
        error = best_match(validator.iter_errors(result))
        if error is not None:
            error.message += (
                ". Failed to validate Action server response from API, make sure your response from the "
                f"Action endpoint is valid. For more information about the format visit {DOCS_BASE_URL}/custom-actions"
            )
            raise error
        return True

    _validate_action_result.cached = True  # type: ignore[attr-defined]
    RemoteAction._validate_action_result = _validate_action_result


# Below uvicorn's keep-alive of 5 s (the API's server), so that Rasa never reuses a connection it closes.
KEEPALIVE_SECONDS = 2.0


class _KeptSession:
    """One aiohttp session per endpoint and event loop, entered by Rasa with `async with` and kept open."""

    def __init__(self, endpoint: Any) -> None:
        self._endpoint = endpoint
        self._session: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _make(self) -> Any:
        import aiohttp
        from rasa.utils.endpoints import DEFAULT_REQUEST_TIMEOUT

        basic = self._endpoint.basic_auth
        return aiohttp.ClientSession(
            headers=self._endpoint.headers,
            auth=aiohttp.BasicAuth(basic["username"], basic["password"]) if basic else None,
            timeout=aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT),
            connector=aiohttp.TCPConnector(keepalive_timeout=KEEPALIVE_SECONDS),
        )

    async def __aenter__(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            self._session, self._loop = self._make(), loop
        return self._session

    async def __aexit__(self, *exc: object) -> bool:
        return False


def kept_sessions() -> None:
    """Let every endpoint Rasa calls keep its HTTP session and connections (see the module's docstring)."""
    from rasa.utils.endpoints import EndpointConfig

    if getattr(EndpointConfig.session, "kept", False):
        return

    def session(self: Any) -> Any:
        kept = self.__dict__.get("_kept_session")
        if kept is None:
            kept = self.__dict__["_kept_session"] = _KeptSession(self)
        return kept

    session.kept = True  # type: ignore[attr-defined]
    EndpointConfig.session = session


# What Rasa 3.6's classifiers persist with skops (LogisticRegressionClassifier, SklearnIntentClassifier).
TRUSTED_ESTIMATORS = (
    ("sklearn.linear_model", "LogisticRegression"),
    ("sklearn.svm", "SVC"),
    ("sklearn.preprocessing", "LabelEncoder"),
    ("sklearn.model_selection", "GridSearchCV"),
)


def narrow_skops_trust() -> None:
    """skops' default trusted estimators: the few Rasa's classifiers persist, not all of scikit-learn's
    (see the module's docstring). Does nothing once skops has made its list."""
    import importlib
    import sys

    if "skops.io._trusted_types" in sys.modules:
        return
    import sklearn.utils

    original = sklearn.utils.all_estimators
    estimators = [(name, getattr(importlib.import_module(module), name)) for module, name in TRUSTED_ESTIMATORS]

    def few_estimators(type_filter: Any = None) -> list[tuple[str, type]]:
        return list(estimators)

    sklearn.utils.all_estimators = few_estimators
    try:
        importlib.import_module("skops.io._trusted_types")
    finally:
        sklearn.utils.all_estimators = original


narrow_skops_trust()
cached_action_validation()
kept_sessions()
