"""Secrets come by reference and never show in logs or errors."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from erpsync.errors import TransientError
from erpsync.secrets import RedactingFilter, Secret, redact


class Settings(BaseModel):
    key: Secret


def test_env_and_file_references_resolve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ERPSYNC_TEST_KEY", "s3cret-from-env")
    assert Settings(key={"env": "ERPSYNC_TEST_KEY"}).key.get_secret_value() == "s3cret-from-env"
    path = tmp_path / "key"
    path.write_text("s3cret-from-file\n")
    assert Settings(key={"file": str(path)}).key.get_secret_value() == "s3cret-from-file"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("inline-value", "given by reference, not inline"),
        ({"env": "ERPSYNC_SURELY_UNSET"}, "ERPSYNC_SURELY_UNSET is not set"),
        ({"file": "/nonexistent/key"}, "cannot read secret file"),
        ({"vault": "x"}, "unknown secret reference 'vault'"),
        ({"env": "A", "file": "B"}, "exactly one of"),
    ],
)
def test_bad_references_say_what_to_write(value: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(key=value)


def test_resolved_secrets_are_masked_in_errors_and_logs(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("ERPSYNC_TEST_KEY2", "hunter2-but-longer")
    Settings(key={"env": "ERPSYNC_TEST_KEY2"})
    assert redact("token=hunter2-but-longer;") == "token=***;"
    error = TransientError("GET /x?key=hunter2-but-longer failed",
                           vendor_message="bad key hunter2-but-longer")
    assert "hunter2" not in str(error) and "hunter2" not in (error.vendor_message or "")
    logger = logging.getLogger("erpsync.test")
    handler_filter = RedactingFilter()
    caplog.handler.addFilter(handler_filter)
    try:
        logger.warning("calling with %s", "hunter2-but-longer")
    finally:
        caplog.handler.removeFilter(handler_filter)
    assert "hunter2" not in caplog.text
    assert "calling with ***" in caplog.text
