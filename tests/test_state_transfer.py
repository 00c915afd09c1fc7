"""`state_url`, `erpsync state migrate`, and moving a running installation's state from the
embedded store to PostgreSQL with `erpsync state export` / `import`, losing nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from erpsync import http
from erpsync.cli import app
from erpsync.errors import StateError
from erpsync.pgstate import MIGRATIONS, PgState
from erpsync.state import (
    Cursor,
    DeadLetter,
    DiskState,
    LedgerEntry,
    OwnerStatus,
    Pause,
    RunRecord,
    open_state,
)

NOW = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
TOKENS = {"access_token": "access-token-value-8c1d", "refresh_token": "refresh-token-3e9f"}


def invoke(config: Path, *args: str) -> Result:
    return CliRunner().invoke(app, ["--config", str(config), *args])


def config_file(folder: Path, url: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "erpsync.toml"
    line = 'state_url = { env = "ERPSYNC_TEST_STATE_URL" }\n' if url else ""
    path.write_text(f'state_dir = "state"\n{line}', encoding="utf-8")
    return path


def fill(state: DiskState) -> None:
    """One of everything a running installation keeps."""
    state.set_cursor("acme", "articles", Cursor(at=NOW, key="A-9"))
    state.set_fingerprint("acme", "articles", "A-1", "5f2c")
    state.put_ledger(LedgerEntry(goods_owner="acme", flow="deliveries", event_id="e1",
                                 key="1001", status="pending", updated_at=NOW))
    state.save_credentials("acme", "oauth", TOKENS)
    state.put_dead_letter(DeadLetter(goods_owner="acme", flow="orders", key="1002",
                                     business_key="1002", message="refused",
                                     record_type="Order", payload={"number": "1002"},
                                     first_seen=NOW, last_seen=NOW))
    state.add_run(RunRecord(goods_owner="acme", flow="articles", started_at=NOW,
                            finished_at=NOW, outcome="partial", read=3, written=2,
                            dead_lettered=1, run_id="r1"))
    state.set_owner_status("beta", OwnerStatus(goods_owner="beta", state="needs_reauthorisation",
                                               message="refused", since=NOW))
    state.set_pause("gamma", Pause(goods_owner="gamma", since=NOW, reason="migration"))


def test_a_state_url_with_a_password_must_be_a_reference(tmp_path: Path) -> None:
    path = tmp_path / "erpsync.toml"
    path.write_text('state_url = "postgresql://erpsync:hunter22@db.example.com/erpsync"\n',
                    encoding="utf-8")
    result = invoke(path, "check")
    assert result.exit_code == 1
    assert "this URL holds a password: give it by reference" in result.stderr
    assert "hunter22" not in result.output + result.stderr


def test_migrate_then_move_the_embedded_state_into_postgresql(
    tmp_path: Path, pg_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk_config = config_file(tmp_path / "before")
    disk = DiskState(tmp_path / "before" / "state")
    fill(disk)
    disk.close()

    export = tmp_path / "state.jsonl"
    exported = invoke(disk_config, "state", "export", str(export))
    assert exported.exit_code == 0, exported.output
    assert export.stat().st_mode & 0o077 == 0  # it holds credentials
    assert invoke(disk_config, "state", "export", str(export)).exit_code == 1  # never overwritten

    monkeypatch.setenv("ERPSYNC_TEST_STATE_URL", pg_database_url)
    pg_config = config_file(tmp_path / "after", pg_database_url)
    unmigrated = invoke(pg_config, "status")
    assert unmigrated.exit_code == 1
    assert "run `erpsync state migrate`" in unmigrated.stderr
    first = invoke(pg_config, "state", "migrate")
    every = ", ".join(str(n) for n in range(1, len(MIGRATIONS) + 1))
    assert first.exit_code == 0 and f"(applied {every})" in first.stdout, first.output
    assert "(already)" in invoke(pg_config, "state", "migrate").stdout

    imported = invoke(pg_config, "state", "import", str(export))
    assert imported.exit_code == 0, imported.output
    lines = export.read_text(encoding="utf-8").splitlines()
    assert f"{len(lines)} entries imported" in imported.stdout
    again = invoke(pg_config, "state", "import", str(export))
    assert again.exit_code == 1 and "not empty" in again.stderr

    before, after = DiskState(tmp_path / "before" / "state"), PgState(pg_database_url)
    try:
        assert sorted(after.export_entries()) == sorted(before.export_entries())
        for store in (before, after):  # and every part reads back the same through the API
            assert store.get_cursor("acme", "articles") == Cursor(at=NOW, key="A-9")
            assert store.get_fingerprint("acme", "articles", "A-1") == "5f2c"
            ledger = store.get_ledger("acme", "deliveries", "e1")
            assert ledger is not None and ledger.status == "pending"
            assert store.load_credentials("acme", "oauth") == TOKENS
            assert [d.business_key for d in store.dead_letters()] == ["1002"]
            assert store.runs("acme", "articles")[0].run_id == "r1"
            assert store.summary("acme", ["articles"])["articles"].last.outcome == "partial"
            assert store.get_owner_status("beta") is not None
            pause = store.get_pause("gamma")
            assert pause is not None and pause.reason == "migration"
    finally:
        before.close()
        after.close()


def test_an_import_file_that_is_not_an_export_is_refused(
    tmp_path: Path, pg_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ERPSYNC_TEST_STATE_URL", pg_database_url)
    config = config_file(tmp_path, pg_database_url)
    assert invoke(config, "state", "migrate").exit_code == 0
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"part": "cursors", "key": "a\x1fb", "value": "{}"}) + "\nnot json\n",
                   encoding="utf-8")
    result = invoke(config, "state", "import", str(bad))
    assert result.exit_code == 1
    assert "bad.jsonl, line 2: not an entry of `erpsync state export`" in result.stderr
    foreign = tmp_path / "foreign.jsonl"
    foreign.write_text(json.dumps({"part": "secrets", "key": "k", "value": "v"}) + "\n",
                       encoding="utf-8")
    result = invoke(config, "state", "import", str(foreign))
    assert result.exit_code == 1 and "unknown state part 'secrets'" in result.stderr


def test_open_state_chooses_the_store_by_the_url(tmp_path: Path, pg_database_url: str) -> None:
    embedded = open_state(tmp_path / "state")
    assert isinstance(embedded, DiskState)
    assert http._shared_budgets is embedded  # keyed rate budgets go through the store now
    embedded.close()
    assert http._shared_budgets is None  # and no longer once it is closed
    with pytest.raises(StateError, match="erpsync state migrate"):
        open_state(tmp_path / "state", pg_database_url)
    PgState(pg_database_url, migrating=True).migrate()
    store = open_state(tmp_path / "state", pg_database_url)
    assert isinstance(store, PgState)
    store.check()
    store.close()


def test_migrate_applies_only_the_steps_a_database_lacks(pg_database_url: str) -> None:
    import psycopg

    with psycopg.connect(pg_database_url, autocommit=True) as conn:  # as version 1 left it
        conn.execute(MIGRATIONS[0].encode())
        conn.execute("CREATE TABLE erpsync_schema (version integer NOT NULL)")
        conn.execute("INSERT INTO erpsync_schema (version) VALUES (1)")
    with pytest.raises(StateError, match="schema version 1; this erpsync needs"):
        PgState(pg_database_url)
    store = PgState(pg_database_url, migrating=True)
    assert store.migrate() == list(range(2, len(MIGRATIONS) + 1))
    store.close()
    with psycopg.connect(pg_database_url, autocommit=True) as conn:
        conn.execute("UPDATE erpsync_schema SET version = 99")
    with pytest.raises(StateError, match="made by a newer erpsync"):
        PgState(pg_database_url)
