"""Command-line tasks: create a token, train the bot, check the content.

    python -m api.cli token --role staff [--label "helpline desk 3"]
    python -m api.cli train-bot
    python -m api.cli finetune
"""
from __future__ import annotations

import argparse
import secrets
import sys

from api.settings import get_settings
from api.store import ROLES, Store


def cmd_token(args: argparse.Namespace) -> int:
    settings = get_settings()
    store = Store(settings.database_url)
    token = secrets.token_urlsafe(32)
    store.add_token(token, args.role, args.label or "")
    store.close()
    print(f"A {args.role} token (shown once; only its hash is stored in {settings.database_url}):", file=sys.stderr)
    print(token)
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

    from api.runtime import base_model_path
    from embeddings.encoder import model_digest
    from embeddings.finetune import INFO, finetune

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    settings = get_settings()
    store = Store(settings.database_url)
    pairs = store.published_pairs()
    if not pairs:
        from knowledge.loader import load_pairs

        pairs = load_pairs()  # nothing seeded yet: the shipped files are what the service will serve
    store.close()
    base = base_model_path(settings)
    target = finetune(base, model_digest(base), pairs, settings.finetune_dir)
    print(json.dumps(json.loads((target / INFO).read_text()), indent=2))
    print(f"in use from the next start: {target}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m api.cli", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("token", help="create a token for a role and print it once")
    t.add_argument("--role", required=True, choices=ROLES)
    t.add_argument("--label", default="", help="who or what the token is for")
    t.set_defaults(func=cmd_token)
    b = sub.add_parser("train-bot", help="train the Rasa model if the bot's data changed")
    b.set_defaults(func=cmd_train)
    f = sub.add_parser("finetune", help="fine-tune the encoder on the published pairs (used from the next start)")
    f.set_defaults(func=cmd_finetune)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
