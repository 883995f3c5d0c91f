"""Command-line tasks: create a token or a sign-in account, train the bot, fine-tune the encoder, check the content.

    python -m api.cli token --role staff [--label "helpline desk 3"]
    python -m api.cli tokens
    python -m api.cli revoke-token FINGERPRINT
    python -m api.cli user --role staff --username alice [--password-stdin]
    python -m api.cli train-bot
    python -m api.cli finetune
    python -m api.cli validate [QA_DIR]

Each command imports only what it needs: `token` loads no model, index or Rasa code.
"""

from __future__ import annotations

import argparse
import secrets
import sys

from api.accounts import PASSWORD_MIN, check_password
from api.auth import ROLE_CACHE_SECONDS, ROLES, Tokens
from api.settings import get_settings
from knowledge.store import connect


def cmd_token(args: argparse.Namespace) -> int:
    settings = get_settings()
    engine = connect(settings.database_url)
    token = secrets.token_urlsafe(32)
    Tokens(engine).add(token, args.role, args.label or "")
    engine.dispose()
    print(
        f"A {args.role} token (shown once; only its hash is stored in {settings.database_url}; "
        f"fingerprint {Tokens(engine).fingerprint(token)}):",
        file=sys.stderr,
    )
    print(token)
    return 0


def cmd_tokens(_args: argparse.Namespace) -> int:
    """Every token: fingerprint, role, label, when made (never the token itself)."""
    engine = connect(get_settings().database_url)
    try:
        found = Tokens(engine).listed()
    finally:
        engine.dispose()
    if not found:
        print("No tokens. Make one with: python -m api.cli token --role staff --label '...'")
    for t in found:
        print(f"{t.fingerprint}  {t.role:<6}  {t.created_at:%Y-%m-%d %H:%M}  {t.label}")
    return 0


def cmd_revoke_token(args: argparse.Namespace) -> int:
    engine = connect(get_settings().database_url)
    try:
        gone = Tokens(engine).revoke(args.fingerprint)
    except ValueError as exc:
        print(f"{exc} Nothing was changed.", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    label = f" ({gone.label})" if gone.label else ""
    print(
        f"Revoked the {gone.role} token {gone.fingerprint}{label}: refused at once here and within {ROLE_CACHE_SECONDS:g} seconds by every running replica."
    )
    return 0


def _read_password(from_stdin: bool) -> str:
    """One line from standard input (scripts, tests), or typed twice without echo (a person)."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    import getpass

    first = getpass.getpass(f"Password (at least {PASSWORD_MIN} characters): ")
    check_password(first)  # say so now, not after typing it twice
    if getpass.getpass("The same password again: ") != first:
        raise ValueError("The two passwords differ.")
    return first


def cmd_user(args: argparse.Namespace) -> int:
    """Create a sign-in account for the staff page, or give an existing one a new password and role."""
    from api.accounts import Accounts, check_username

    try:
        username = check_username(args.username)
        password = check_password(_read_password(args.password_stdin))
    except ValueError as exc:
        print(f"{exc} Nothing was changed.", file=sys.stderr)
        return 1
    except (EOFError, KeyboardInterrupt):
        print("\nNo password given. Nothing was changed.", file=sys.stderr)
        return 1
    settings = get_settings()
    engine = connect(settings.database_url)
    try:
        accounts = Accounts(engine, settings.web)
        before = accounts.role_of(username)
        accounts.set_user(username, password, args.role)
    finally:
        engine.dispose()
    if before is None:
        print(f"Created the {args.role} account {username!r}; they can sign in at /signin.")
    else:
        role = f"role {before} -> {args.role}" if before != args.role else f"role {args.role} (unchanged)"
        print(
            f"The account {username!r} existed already: it has the new password and {role}; "
            "anyone signed in as them was signed out."
        )
    return 0


def cmd_train(_args: argparse.Namespace) -> int:
    from api.rasa_runtime import train

    settings = get_settings()
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    print(train(settings.bot_model_dir, settings.log_dir / "rasa-train.log"))
    return 0


def cmd_finetune(_args: argparse.Namespace) -> int:
    """Fine-tune the encoder on the store's published pairs now; the service uses it from its next start."""
    import json
    import logging

    from embeddings.finetune import INFO
    from embeddings.loading import retrain
    from knowledge.loader import load_pairs
    from knowledge.store import Store

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    settings = get_settings()
    store = Store(settings.database_url)
    pairs = store.published_pairs()
    store.close()
    if not pairs:
        pairs = load_pairs()  # nothing seeded yet: the shipped files are what the service will serve
    target = retrain(settings.encoder, settings.encoder_cache_dir, pairs)
    print(json.dumps(json.loads((target / INFO).read_text()), indent=2))
    print(f"in use from the next start: {target}", file=sys.stderr)
    return 0


def cmd_export_content(_args: argparse.Namespace) -> int:
    """Write the store's published, live pairs back to knowledge/qa/*.yml."""
    from knowledge.export import export_store
    from knowledge.loader import QA_DIR
    from knowledge.store import Store

    store = Store(get_settings().database_url)
    try:
        report = export_store(store, QA_DIR)
    finally:
        store.close()
    for name in report.written:
        print(f"wrote {QA_DIR / name}")
    if report.dropped:
        print(f"dropped (no longer published): {', '.join(report.dropped)}")
    print(report.summary())
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    """`make validate`: the Q&A files' schema, sources, near-duplicates, review dates and reading age."""
    from pathlib import Path

    from embeddings.encoder import SentenceEncoder
    from knowledge.loader import QA_DIR
    from knowledge.validate import validate

    s = get_settings()
    qa_dir = Path(args.qa_dir) if args.qa_dir else QA_DIR
    encoder = SentenceEncoder(s.encoder.model_path or None, backend=s.encoder.backend, cache_dir=s.encoder_cache_dir)
    v = s.validation
    report = validate(qa_dir, encoder, v.near_duplicate_threshold, v.max_reading_age)
    for p in report.errors:
        print(f"ERROR   {p}")
    for p in report.warnings:
        print(f"WARNING {p}")
    if report.reading_ages:
        ages = sorted(report.reading_ages.values())
        readable = sum(a <= v.max_reading_age for a in ages)
        print(
            f"reading age of answers: median {ages[len(ages) // 2]:.1f}, "
            f"{readable}/{len(ages)} at or below {v.max_reading_age:g}"
        )
    print(f"{report.pairs} pairs checked in {qa_dir}: {len(report.errors)} errors, {len(report.warnings)} warnings")
    return 0 if report.ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m api.cli", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("token", help="create a token for a role and print it once")
    t.add_argument("--role", required=True, choices=ROLES)
    t.add_argument("--label", default="", help="who or what the token is for")
    t.set_defaults(func=cmd_token)
    ts = sub.add_parser("tokens", help="list the tokens: fingerprint, role, label, when made")
    ts.set_defaults(func=cmd_tokens)
    r = sub.add_parser("revoke-token", help="delete a token by its fingerprint (from `tokens`)")
    r.add_argument("fingerprint", help="at least 8 characters of the fingerprint")
    r.set_defaults(func=cmd_revoke_token)
    u = sub.add_parser("user", help="create a sign-in account (or set an existing one's password and role)")
    u.add_argument("--role", required=True, choices=ROLES)
    u.add_argument("--username", required=True, help="3 to 64 characters: lowercase letters, digits, '.', '_', '-'")
    u.add_argument(
        "--password-stdin", action="store_true", help="read the password from one line of standard input (no prompt)"
    )
    u.set_defaults(func=cmd_user)
    b = sub.add_parser("train-bot", help="train the Rasa model if the bot's data changed")
    b.set_defaults(func=cmd_train)
    f = sub.add_parser("finetune", help="fine-tune the encoder on the published pairs (used from the next start)")
    f.set_defaults(func=cmd_finetune)
    v = sub.add_parser("validate", help="check the Q&A files (make validate)")
    v.add_argument("qa_dir", nargs="?", default="", help="folder of Q&A files (default: knowledge/qa)")
    v.set_defaults(func=cmd_validate)
    e = sub.add_parser("export-content", help="write the store's published pairs back to knowledge/qa/*.yml")
    e.set_defaults(func=cmd_export_content)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
