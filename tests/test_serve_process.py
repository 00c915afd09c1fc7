"""`erpsync serve` as a real process: it syncs, and SIGTERM or SIGINT stop it cleanly."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from erpsync.state import DiskState

FAKES = Path(__file__).parent / "fakes"

LAUNCHER = """
import sys
sys.path.insert(0, {fakes!r})
from erpsync_fake_erp.sandbox import FakeErp
from erpsync_fake_wms.sandbox import FakeWarehouse
from erpsync.http import mount
from erpsync.cli import main

erp = FakeErp()
for n in range(7):
    erp.add_product(f"P-{{n}}", "Kahvi")
FakeWarehouse.register("main")
with mount("https://fake-erp.test", erp.app):
    main(["--config", {config!r}, "serve"])
"""

CONFIG = """
state_dir = "state"

[[goods_owners]]
id = "acme"
interval_minutes = 0.01
flows = ["articles"]

[goods_owners.erp]
plugin = "fake_erp"
settings = { base_url = "https://fake-erp.test", api_key = { env = "SERVE_ERP_KEY" } }

[goods_owners.wms]
plugin = "fake_wms"
settings = { warehouse = "main", password = { env = "SERVE_WMS_PASSWORD" } }
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_runs_on_its_interval_and_stops_cleanly(tmp_path: Path, sig: signal.Signals) -> None:
    config = tmp_path / "erpsync.toml"
    config.write_text(CONFIG, encoding="utf-8")
    script = textwrap.dedent(LAUNCHER.format(fakes=str(FAKES), config=str(config)))
    env = {"SERVE_ERP_KEY": "fake-erp-api-key-0001", "SERVE_WMS_PASSWORD": "fake-wms-password",
           "PATH": "/usr/bin:/bin", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-c", script], env=env, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.monotonic() + 20
        runs = []
        while time.monotonic() < deadline and len(runs) < 2:
            time.sleep(0.2)
            if (tmp_path / "state").exists():
                state = DiskState(tmp_path / "state")
                runs = state.runs("acme", "articles")
                state.close()
        assert len(runs) >= 2, "serve should have run the goods owner at least twice by now"
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert "stopped" in stderr
    state = DiskState(tmp_path / "state")
    runs = state.runs("acme", "articles")
    cursor = state.get_cursor("acme", "articles")
    state.close()
    assert runs[-1].written == 7, "the first run wrote the catalogue"
    assert all(r.written == 0 for r in runs[:-1]), "later runs found nothing changed"
    assert cursor is not None
