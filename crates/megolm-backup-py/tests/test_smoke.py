import megolm_backup


def test_imports() -> None:
    assert megolm_backup.BackupKey.generate().public_key
