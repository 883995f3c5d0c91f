"""Log lines are JSON with the request id (api/observability.py)."""

import json
import logging
import logging.config

import pytest

from api.observability import JsonFormatter, _request_id, log_config, request_id_from

pytestmark = pytest.mark.unit


def record(message="index: %d vectors", *args, **extra) -> logging.LogRecord:
    r = logging.makeLogRecord({"name": "faqbot", "levelname": "INFO", "levelno": 20, "msg": message, "args": args})
    for k, v in extra.items():
        setattr(r, k, v)
    return r


def test_a_line_is_one_json_object_with_time_level_logger_and_message():
    line = JsonFormatter().format(record("index: %d vectors", 560))
    assert "\n" not in line
    out = json.loads(line)
    assert out["message"] == "index: 560 vectors" and out["level"] == "INFO" and out["logger"] == "faqbot"
    assert out["time"].endswith("+00:00") and "request_id" not in out


def test_within_a_request_a_line_carries_its_id_and_the_fields_given():
    token = _request_id.set("req-1")
    try:
        out = json.loads(JsonFormatter().format(record("GET /api/search 200", route="/api/search", status=200)))
    finally:
        _request_id.reset(token)
    assert out["request_id"] == "req-1" and out["route"] == "/api/search" and out["status"] == 200


def test_a_traceback_stays_inside_the_line_and_odd_text_cannot_break_it():
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        r = record("failed", exc_info=sys.exc_info())
    out = json.loads(JsonFormatter().format(r))
    assert "ValueError: boom" in out["exception"]
    line = JsonFormatter().format(record("odd %s", "\ud800 é \x00"))
    line.encode("utf-8")  # a lone surrogate is escaped, so the line can always be written
    assert json.loads(line)["message"] == "odd \ud800 é \x00"


@pytest.mark.parametrize(
    "sent, kept",
    [("abc-123", True), ("0f8fa3b2c9d44f6e", True), ("a" * 65, False), ("my question is private", False), ("", False)],
)
def test_a_clients_request_id_is_kept_only_when_it_is_a_plain_token(sent, kept):
    got = request_id_from(sent)
    assert (got == sent) is kept
    assert len(got) <= 64 and " " not in got


def test_the_config_for_python_m_api_turns_uvicorns_access_log_off_and_keeps_module_loggers(capsys):
    early = logging.getLogger("faqbot.test-early")  # made before the config, as every module's logger is
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logging.config.dictConfig(log_config())
        early.info("still logged")
        logging.getLogger("uvicorn.access").info('127.0.0.1 - "GET /api/search?q=private HTTP/1.1" 200')
        err = capsys.readouterr().err
    finally:
        root.handlers[:], root.level = saved
    assert json.loads(err.strip().splitlines()[-1])["message"] == "still logged"
    assert "private" not in err
