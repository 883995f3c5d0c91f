"""`make eval`: does the quality loop make the bot better? Prints; asserts nothing.

    .venv/bin/python -m tests.eval.quality_loop [--split heldout] [--seed 15] [--min-score X]

Realistic visitors' questions (the dev set's held-out split, tests/eval/devset.jsonl, with the same
split's out-of-scope questions, tests/eval/out_of_scope.jsonl) are shuffled with a fixed seed and cut in
two: "traffic" and "later traffic". On a fresh service (Rasa off: the answerer answers directly, as it
does while Rasa is down; the store and the index as shipped):

1. the later traffic is measured before: R@1 (GET /api/search, hybrid, the first pair), the fallback and
   "did you mean" rates and the share answered outright and right (the retriever's decision, as
   /api/chat would reply; asked through the search so that nothing of it is kept) for its in-scope
   questions, and how many of its out-of-scope questions get the fallback;
2. the traffic goes through POST /api/chat as visitors would use it: each question opens a conversation;
   after a "did you mean" the visitor picks the right option when it is offered and "None of these"
   when it is not; after a wrong answer they vote it not helpful. The service keeps what it keeps
   (api/quality.py), through its real code path;
3. GET /api/quality/clusters, and every cluster's recommended suggestion that is an alternate (its score
   at or above quality.alternate_min_score; the tool does not know the labels) is accepted through
   POST /api/quality/alternates, which republishes the pair (golden questions guard it). Drafts and
   out-of-scope marks need an editor's words and are only counted. How many questions were added and
   how many went to a right pair (by the labels, known here only) is printed;
4. the later traffic is measured again.
"""

from __future__ import annotations

import argparse
import random
import tempfile
from pathlib import Path

import httpx

from tests.conftest import start_server
from tests.eval.metrics import dev_set, out_of_scope


def measure(c: httpx.Client, rows: list[dict], oos: list[dict]) -> dict[str, float]:
    """R@1 and the fallback rate of the in-scope questions; the out-of-scope questions that fall back."""
    right = fallback = clarify = answered_right = 0
    for row in rows:
        found = c.get("/api/search", params={"q": row["query"][:1000], "k": 3, "kind": "qa", "explain": "true"}).json()
        top = found["results"][0]["id"] if found["results"] else None
        decision = found["decision"]
        right += top in row["expected"]
        fallback += decision["kind"] == "fallback"
        clarify += decision["kind"] == "clarify"
        answered_right += decision["kind"] == "answer" and decision["ids"][0] in row["expected"]
    caught = sum(
        c.get("/api/search", params={"q": r["query"][:1000], "k": 1, "explain": "true"}).json()["decision"]["kind"]
        == "fallback"
        for r in oos
    )
    return {
        "r1": right / max(1, len(rows)),
        "fallback": fallback / max(1, len(rows)),
        "clarify": clarify / max(1, len(rows)),
        "answered_right": answered_right / max(1, len(rows)),
        "oos_fallback": caught / max(1, len(oos)),
    }


def visit(c: httpx.Client, row: dict) -> str:
    """One visitor's conversation about one question; what happened."""
    first = c.post("/api/chat", json={"message": row["query"][:1000]}).json()
    sid, reply = first["session_id"], first["replies"][0]
    expected = set(row.get("expected") or [])
    if reply["kind"] == "clarify":
        options = [o["payload"] for o in reply["options"] if "choose_pair" in o["payload"]]
        right = next((p for p in options if any(f'"{e}"' in p for e in expected)), None)
        c.post("/api/chat", json={"message": right or "/none_of_these", "session_id": sid})
        return "clarify, chose" if right else "clarify, none of these"
    if reply["kind"] == "answer":
        pair = reply["answer"]["id"]
        if pair in expected:
            return "answered right"
        vote = next(o["payload"] for o in reply["feedback"]["options"] if o["title"] == "No")  # the "No" button
        c.post("/api/chat", json={"message": vote, "session_id": sid})
        return "answered wrong, voted no"
    return reply["kind"]


def run(split: str, seed: int, min_score: float | None) -> dict:
    rows = [dict(r, scope="in") for r in dev_set(split)] + [dict(r, scope="out") for r in out_of_scope(split)]
    random.Random(seed).shuffle(rows)
    half = len(rows) // 2
    traffic, later = rows[:half], rows[half:]
    later_in = [r for r in later if r["scope"] == "in"]
    later_out = [r for r in later if r["scope"] == "out"]
    extra = {"FAQBOT_BOT__ENABLED": "false"}
    if min_score is not None:
        extra["FAQBOT_QUALITY__ALTERNATE_MIN_SCORE"] = str(min_score)
    print(
        f"\nQuality loop ({split} split, seed {seed}): {len(traffic)} questions of traffic, then "
        f"{len(later)} of later traffic ({len(later_in)} in scope, {len(later_out)} out of scope)"
    )
    with tempfile.TemporaryDirectory() as d:
        server = start_server(Path(d) / "data", wait_for_bot=False, **extra)
        try:
            headers = {"Authorization": f"Bearer {server.token('editor')}"}
            with httpx.Client(base_url=server.base_url, headers=headers, timeout=120) as c:
                before = measure(c, later_in, later_out)
                what: dict[str, int] = {}
                for row in traffic:
                    happened = visit(c, row)
                    what[happened] = what.get(happened, 0) + 1
                print("  traffic: " + ", ".join(f"{k} {v}" for k, v in sorted(what.items())))
                kept = c.get("/api/quality/misses", params={"state": "all", "limit": 1000}).json()
                found = c.get("/api/quality/clusters", params={"limit": 200}).json()
                clusters = found["clusters"]
                multi = sum(1 for cl in clusters if cl["size"] > 1)
                print(f"  kept {len(kept)} questions; {len(clusters)} clusters ({multi} of more than one question)")
                labels = {r["query"].strip(): r for r in traffic}
                recommended: dict[str, int] = {}
                accepted = added = right = refused = 0
                for cluster in clusters:
                    best = cluster["suggestions"][0]
                    recommended[best["action"]] = recommended.get(best["action"], 0) + 1
                    if best["action"] != "alternate":
                        continue
                    etag = c.get(f"/api/qa/{best['pair_id']}").headers["ETag"]
                    r = c.post(
                        "/api/quality/alternates",
                        json={"pair_id": best["pair_id"], "miss_ids": best["miss_ids"]},
                        headers={"If-Match": etag},
                    )
                    if r.status_code == 409:
                        refused += 1
                        continue
                    r.raise_for_status()
                    accepted += 1
                    for question in r.json()["added"]:
                        added += 1
                        label = labels.get(question) or {}
                        right += best["pair_id"] in (label.get("expected") or [])
                print(
                    "  recommended: "
                    + ", ".join(f"{k} {v}" for k, v in sorted(recommended.items()))
                    + f"; alternates accepted {accepted} (refused by golden questions {refused}): "
                    f"{added} questions added, {right} to a right pair"
                )
                after = measure(c, later_in, later_out)
        finally:
            server.stop()
    print("  later traffic              before   after")
    print(f"  R@1 (in scope)             {before['r1']:.3f}    {after['r1']:.3f}")
    print(f"  fallback rate (in scope)   {before['fallback']:.3f}    {after['fallback']:.3f}")
    print(f"  did-you-mean (in scope)    {before['clarify']:.3f}    {after['clarify']:.3f}")
    print(f"  answered right outright    {before['answered_right']:.3f}    {after['answered_right']:.3f}")
    print(f"  out of scope, fallback     {before['oos_fallback']:.3f}    {after['oos_fallback']:.3f}")
    return {"before": before, "after": after, "accepted": accepted, "added": added, "right": right}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", default="heldout", choices=("dev", "heldout"))
    ap.add_argument("--seed", type=int, default=15)
    ap.add_argument("--min-score", type=float, help="quality.alternate_min_score for this run (default: config.yml's)")
    args = ap.parse_args()
    run(args.split, args.seed, args.min_score)


if __name__ == "__main__":
    main()
