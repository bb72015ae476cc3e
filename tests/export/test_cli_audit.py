"""The export and ledger commands end to end on the demo project: keys, heads, bundle,
offline verification, proofs and consistency (passing while the ledger grows, failing
after an entry is rewritten)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import create_engine, text

from markit_core import ledger
from markit_core.cli import main

PROJECT = "Demo: chest X-ray"


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("MARKIT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("MARKIT_DATABASE_URL", raising=False)
    monkeypatch.setenv("MARKIT_SIGNING_PASSPHRASE", "demo owner passphrase")
    return tmp_path / "data"


def test_export_bundle_and_ledger_commands(env, tmp_path, capsys):
    assert main(["demo"]) == 0
    assert main(["ledger", "keygen", "--project", PROJECT, "--as", "pi"]) == 0
    pub = tmp_path / "pi.pem"
    assert main(["ledger", "public-key", "--project", PROJECT, "--out", str(pub)]) == 0
    head1 = tmp_path / "head1.json"
    assert main(["ledger", "head", "--project", PROJECT, "--as", "pi", "--out", str(head1)]) == 0
    capsys.readouterr()

    bundle = tmp_path / "bundle"
    args = ["export", "--project", PROJECT, "--as", "pi", "--bundle", str(bundle)]
    assert main([*args, "--formats", "csv,coco,consensus,sr", "--truth", "dawid-skene"]) == 0
    assert (bundle / "annotations.csv").exists() and list((bundle / "sr").glob("*.dcm"))
    assert (
        main(["export", "--project", PROJECT, "--as", "ann1", "--bundle", str(tmp_path / "x")]) == 1
    )
    capsys.readouterr()
    assert main(["ledger", "verify-bundle", str(bundle), "--public-key", str(pub), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["rows"] > 100 and report["entries"] > 20

    assert main(["ledger", "consistency", str(head1), "--project", PROJECT]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["consistent"] and result["new_size"] > result["old_size"]

    seq = json.loads((bundle / "manifest.json").read_text())["export_entry"]
    assert main(["ledger", "prove", str(seq), "--as", "pi"]) == 0
    proof = json.loads(capsys.readouterr().out)
    assert proof["seq"] == seq and proof["leaf_hash"] == ledger.entry_leaf_hash(proof["entry"])
    assert main(["ledger", "prove", "1", "--as", "ann1"]) == 1  # a user's entry: admins only

    # rewrite entry 3 (with fresh hashes, as an attacker with the database would)
    engine = create_engine(f"sqlite:///{env / 'markit.db'}")
    with engine.begin() as conn:
        row = dict(conn.execute(text("select * from ledger_entry where seq = 3")).mappings().one())
        row["actor"] = "mallory"
        row["removed"] = bool(row["removed"])
        conn.execute(
            text(
                "update ledger_entry set actor = 'mallory', entry_hash = :e, leaf_hash = :l "
                "where seq = 3"
            ),
            {"e": ledger.entry_hash(row), "l": ledger.entry_leaf_hash(row)},
        )
    engine.dispose()
    assert main(["ledger", "consistency", str(head1), "--project", PROJECT]) == 1
    assert "history was rewritten" in capsys.readouterr().out
    assert (
        main(["ledger", "verify-bundle", str(bundle), "--public-key", str(tmp_path / "none.pem")])
        == 2
    )
