"""The examples run (restore_body.py on a shipped vector body)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import megolm_backup
from conftest import cases

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
CASE = next(c for c in cases("backup.restore") if c["id"] == "vz-restore-3-rooms")


def test_restore_body_example(tmp_path: Path) -> None:
    body = tmp_path / "backup.json"
    body.write_text(json.dumps(CASE["input"]["backup_json"]))
    key = megolm_backup.BackupKey.from_base64(CASE["input"]["key"]["base64"])
    out = tmp_path / "keys.txt"
    run = subprocess.run(
        [sys.executable, str(EXAMPLES / "restore_body.py"), str(body), key.to_recovery_key(), str(out)],
        env={**os.environ, "EXPORT_PASSPHRASE": "example passphrase"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    # 2: partly restored (the vector holds failures on purpose)
    assert run.returncode == 2, run.stderr
    keys = megolm_backup.read_export(out, "example passphrase")
    assert [k.to_dict() for k in keys] == CASE["expected"]["sessions_json"]
    assert "skipped" in run.stderr
