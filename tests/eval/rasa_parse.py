"""Rasa's intent for each message, from a trained model: run with Rasa's own Python (.venv-rasa).

Reads a JSON list of messages on stdin and writes a JSON list of [intent, confidence] to the file
named second (Rasa logs to stdout).
Used by tests/eval/run.py (eval_safety) to measure the `crisis` intent on the held-out sets without
starting the server. Imports nothing from the project: Rasa's environment is Python 3.10.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys


async def _parse(model: str, messages: list[str]) -> list[list]:
    from rasa.core.agent import Agent

    agent = Agent.load(model)
    out = []
    for message in messages:
        intent = (await agent.parse_message(message)).get("intent") or {}
        out.append([intent.get("name"), float(intent.get("confidence") or 0.0)])
    return out


def main() -> None:
    logging.disable(logging.WARNING)
    messages = json.load(sys.stdin)
    result = asyncio.run(_parse(sys.argv[1], messages))
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
