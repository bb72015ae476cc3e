"""Issue 9, points 5-8: demo accounts, user management, lock-out that cannot be raced,
a CLI that never echoes a secret."""

from __future__ import annotations

import argparse
import io
import multiprocessing
import sys
import threading
from pathlib import Path

import argon2
import pytest
from sqlmodel import select

from markit_core import accounts
from markit_core.account_admin import (
    all_users,
    deactivate_user,
    reactivate_user,
    remove_demo_accounts,
    reset_password,
    set_password,
)
from markit_core.accounts import change_own_password, create_user, get_user, login
from markit_core.cli import build_parser, main
from markit_core.config import Settings
from markit_core.db import make_engine
from markit_core.db import session as new_session
from markit_core.errors import (
    AccountLocked,
    AuthenticationError,
    ConflictError,
    PasswordChangeRequired,
    PermissionDenied,
    ValidationError,
)
from markit_core.models import LedgerEntry, LoginAttempt, User
from tests.conftest import PASSWORD

ROOT = Path(__file__).parent.parent

# --- point 6: user management ---------------------------------------------------------------


def test_deactivated_user_cannot_log_in_until_reactivated(session, settings, admin, make_user):
    make_user("alice")
    assert deactivate_user(session, admin, "alice")
    with pytest.raises(AuthenticationError) as e:
        login(session, settings, "alice", PASSWORD)
    assert str(e.value) == str(AuthenticationError())  # says nothing about the deactivation
    assert not deactivate_user(session, admin, "alice")
    assert reactivate_user(session, admin, "alice")
    assert login(session, settings, "alice", PASSWORD).username == "alice"
    actions = [e.action for e in session.exec(select(LedgerEntry))]
    assert "user.deactivate" in actions and "user.reactivate" in actions


def test_only_admins_manage_users_and_never_themselves(session, admin, make_user):
    alice = make_user("alice")
    make_user("bob")
    for call in (deactivate_user, reactivate_user, reset_password):
        with pytest.raises(PermissionDenied):
            call(session, alice, "bob")
    with pytest.raises(PermissionDenied):
        deactivate_user(session, admin, "root")
    with pytest.raises(PermissionDenied):
        all_users(session, alice)


def test_change_own_password_needs_the_old_one(session, settings, admin, make_user):
    alice = make_user("alice")
    with pytest.raises(AuthenticationError):
        change_own_password(session, alice, "not my password", "a brand new password")
    change_own_password(session, alice, PASSWORD, "a brand new password")
    with pytest.raises(AuthenticationError):
        login(session, settings, "alice", PASSWORD)
    assert login(session, settings, "alice", "a brand new password").username == "alice"
    assert "user.password" in [e.action for e in session.exec(select(LedgerEntry))]


def test_admin_reset_gives_a_one_time_password_that_must_be_changed(
    session, settings, admin, make_user
):
    make_user("alice")
    once = reset_password(session, admin, "alice")
    assert len(once) >= 16
    with pytest.raises(AuthenticationError):
        login(session, settings, "alice", PASSWORD)  # the old password is gone
    with pytest.raises(PasswordChangeRequired):
        login(session, settings, "alice", once)
    with pytest.raises(ValidationError):
        login(session, settings, "alice", once, new_password="short")
    info = login(session, settings, "alice", once, new_password="my own new password")
    assert not info.must_change_password
    with pytest.raises(AuthenticationError):
        login(session, settings, "alice", once)  # one time only
    assert login(session, settings, "alice", "my own new password").username == "alice"
    dump = " ".join(str(tuple(r)) for r in session.exec(select(LedgerEntry)))
    assert once not in dump and "user.password_reset" in dump


def test_minimum_password_length_is_a_setting(session, admin):
    assert Settings(min_password_length=16).min_password_length == 16
    with pytest.raises(Exception):  # noqa: B017 - pydantic's own error
        Settings(min_password_length=4)
    accounts.configure_password_policy(16)
    try:
        with pytest.raises(ValidationError, match="at least 16"):
            create_user(session, admin, "shorty", "fifteen chars!!")
        create_user(session, admin, "longer", "sixteen chars!!!")
        with pytest.raises(ValidationError):
            set_password(session, admin, "longer", "too short pw")
    finally:
        accounts.configure_password_policy(8)


# --- point 5: demo accounts -----------------------------------------------------------------


def test_remove_demo_deactivates_every_demo_account(session, settings, admin):
    for name in ("pi", "ann1"):
        create_user(session, admin, name, "markit-demo", is_demo=True)
    done = remove_demo_accounts(session, admin)
    assert sorted(done) == ["ann1", "pi"]
    assert not get_user(session, "pi").is_active and get_user(session, "root").is_active
    with pytest.raises(AuthenticationError):
        login(session, settings, "pi", "markit-demo")
    assert remove_demo_accounts(session, admin) == []


def test_remove_demo_refuses_when_only_demo_admins_exist(session):
    create_user(session, None, "admin", "markit-demo", is_demo=True)
    with pytest.raises(ConflictError, match="create-user"):
        remove_demo_accounts(session, get_user(session, "admin"))


@pytest.fixture
def cli_env(tmp_path, monkeypatch):
    monkeypatch.setenv("MARKIT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("MARKIT_DATABASE_URL", raising=False)
    monkeypatch.delenv("MARKIT_DEMO", raising=False)
    return tmp_path / "data"


def _cli_user(monkeypatch, *args: str, password: str = "a good password") -> int:
    monkeypatch.setattr(sys, "stdin", io.StringIO(password + "\n"))
    return main(["create-user", *args, "--password-stdin"])


def test_demo_if_empty_leaves_a_real_installation_alone(cli_env, monkeypatch, capsys):
    assert _cli_user(monkeypatch, "boss") == 0
    capsys.readouterr()
    assert main(["demo", "--if-empty"]) == 0
    assert "not seeded" in capsys.readouterr().out
    engine = make_engine(f"sqlite:///{cli_env / 'markit.db'}")
    with new_session(engine) as s:
        assert [u.username for u in s.exec(select(User))] == ["boss"]
    engine.dispose()


def test_markit_demo_asks_for_the_demo_explicitly(monkeypatch):
    from markit_core.config import load_settings

    monkeypatch.delenv("MARKIT_DEMO", raising=False)
    assert load_settings().demo is False
    monkeypatch.setenv("MARKIT_DEMO", "1")
    assert load_settings().demo is True


def test_make_run_seeds_the_demo_only_when_empty():
    makefile = (ROOT / "Makefile").read_text()
    assert "-m markit_core demo --if-empty" in makefile


def test_cli_user_management(cli_env, monkeypatch, capsys):
    assert _cli_user(monkeypatch, "boss") == 0
    assert _cli_user(monkeypatch, "alice", "--as", "boss") == 0
    capsys.readouterr()
    assert main(["users", "deactivate", "alice"]) == 0
    assert "deactivated" in capsys.readouterr().out
    assert main(["users", "list"]) == 0
    assert "alice\talice\tinactive" in capsys.readouterr().out
    assert main(["users", "reactivate", "alice"]) == 0
    capsys.readouterr()
    assert main(["users", "reset-password", "alice"]) == 0
    once = capsys.readouterr().out.strip().splitlines()[-1]
    monkeypatch.setattr(sys, "stdin", io.StringIO("set by the admin\n"))
    assert main(["users", "set-password", "alice", "--password-stdin"]) == 0
    engine = make_engine(f"sqlite:///{cli_env / 'markit.db'}")
    with new_session(engine) as s:
        with pytest.raises(AuthenticationError):
            login(s, Settings(data_dir=cli_env), "alice", once)
        with pytest.raises(PasswordChangeRequired):
            login(s, Settings(data_dir=cli_env), "alice", "set by the admin")
    engine.dispose()
    assert main(["users", "deactivate", "nobody"]) == 2


def test_cli_remove_demo(cli_env, monkeypatch, capsys):
    assert _cli_user(monkeypatch, "boss") == 0
    engine = make_engine(f"sqlite:///{cli_env / 'markit.db'}")
    with new_session(engine) as s:
        create_user(s, get_user(s, "boss"), "ann1", "markit-demo", is_demo=True)
    capsys.readouterr()
    assert main(["remove-demo"]) == 0
    assert "deactivated 1 demo accounts: ann1" in capsys.readouterr().out
    with new_session(engine) as s:
        assert not get_user(s, "ann1").is_active
    engine.dispose()


# --- point 7: lock-out cannot be raced ------------------------------------------------------


@pytest.fixture
def costly_hash():
    """Real-cost hashing for the race tests: a slow check widens the window a race needs."""
    accounts.configure_hashing(time_cost=2, memory_cost_kib=19456)
    yield
    accounts.configure_hashing(time_cost=1, memory_cost_kib=1024)


def _guess(engine, settings, outcomes, barrier, username="victim") -> None:
    with new_session(engine) as s:
        barrier.wait()
        try:
            login(s, settings, username, "wrong password!")
        except AccountLocked:
            outcomes.append("locked")
        except AuthenticationError:
            outcomes.append("refused")


def test_sixteen_simultaneous_guesses_check_at_most_the_limit(
    engine, session, settings, admin, costly_hash
):
    create_user(session, admin, "victim", PASSWORD)
    outcomes: list[str] = []
    barrier = threading.Barrier(16)
    threads = [
        threading.Thread(target=_guess, args=(engine, settings, outcomes, barrier))
        for _ in range(16)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    checked = session.exec(select(LoginAttempt).where(LoginAttempt.username == "victim")).all()
    assert len(checked) == settings.lockout_attempts == outcomes.count("refused")
    assert outcomes.count("locked") == 16 - settings.lockout_attempts
    with pytest.raises(AccountLocked):
        login(session, settings, "victim", PASSWORD)


def _process_guess(url: str, data_dir: str, barrier) -> None:
    accounts.configure_hashing(time_cost=2, memory_cost_kib=19456)
    engine = make_engine(url)
    settings = Settings(data_dir=Path(data_dir))
    outcomes: list[str] = []
    _guess(engine, settings, outcomes, barrier)
    engine.dispose()


@pytest.mark.timeout(900)  # spawning and importing in 8 processes is slow on a busy machine
def test_simultaneous_guesses_from_processes_on_sqlite(session, settings, admin, costly_hash):
    create_user(session, admin, "victim", PASSWORD)
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(8, timeout=600)
    url = settings.resolved_database_url
    procs = [
        ctx.Process(target=_process_guess, args=(url, str(settings.data_dir), barrier))
        for _ in range(8)
    ]
    try:
        for p in procs:
            p.start()
        for p in procs:
            p.join(700)
            assert p.exitcode == 0
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
    session.expire_all()
    checked = session.exec(select(LoginAttempt).where(LoginAttempt.username == "victim")).all()
    assert len(checked) == settings.lockout_attempts  # 8 wrong guesses, 5 checked


def test_unknown_usernames_are_checked_against_a_hash_of_the_same_cost(
    session, settings, admin, monkeypatch
):
    calls: list[str] = []

    class CountingHasher(argon2.PasswordHasher):  # the real hasher, counting its checks
        def verify(self, hash: str | bytes, password: str | bytes) -> bool:  # noqa: A002
            calls.append(str(hash))
            return super().verify(hash, password)

    monkeypatch.setattr(
        accounts, "_hasher", CountingHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )
    monkeypatch.setattr(accounts, "_dummy_hash", None)
    with pytest.raises(AuthenticationError):
        login(session, settings, "nobody-here", "whatever password")
    with pytest.raises(AuthenticationError):
        login(session, settings, "root", "whatever password")
    assert len(calls) == 2
    user_hash = session.exec(select(User.password_hash).where(User.username == "root")).one()
    params = argon2.extract_parameters
    assert params(calls[0]) == params(user_hash)


# --- point 8: the CLI never echoes a secret -------------------------------------------------


def _all_parsers(parser: argparse.ArgumentParser):
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _all_parsers(sub)


def test_no_parser_matches_abbreviations():
    parsers = list(_all_parsers(build_parser()))
    assert len(parsers) > 15
    assert [p.prog for p in parsers if p.allow_abbrev] == []


def test_password_option_does_not_match_password_stdin(cli_env, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO("ignored\n"))
    with pytest.raises(SystemExit) as e:
        main(["create-user", "bob", "--password", "Hunter2-secret"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "Hunter2-secret" not in err and "--password" in err
    with pytest.raises(SystemExit):
        main(["create-user", "bob", "--password=Hunter2-secret"])
    assert "Hunter2-secret" not in capsys.readouterr().err
    assert not (cli_env / "markit.db").exists() or not ledger_has_user(cli_env, "bob")


def ledger_has_user(data_dir: Path, username: str) -> bool:
    engine = make_engine(f"sqlite:///{data_dir / 'markit.db'}")
    with new_session(engine) as s:
        found = s.exec(select(User).where(User.username == username)).first() is not None
    engine.dispose()
    return found


def test_the_rewards_entry_point_does_not_abbreviate(capsys):
    from markit_core.commands.rewards import main as rewards_main

    assert rewards_main(["--annotations", "x.csv", "--kappa", "0.2"]) == 2
    assert "unrecognized arguments (options: --kappa; values not shown)" in (
        capsys.readouterr().err
    )
