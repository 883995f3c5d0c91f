"""`make eval`: retrieval quality measured through the running service. Prints; asserts nothing.

Starts the API on a temporary data directory, once per configuration (as shipped; without typo
mending; with the packaged encoder, not fine-tuned; Rasa runs only for the shipped one), then:
1. the dev set (tests/eval/devset.jsonl, out_of_scope.jsonl), dev and held-out splits apart:
   R@1, R@5 and MRR for BM25 alone, dense alone and the hybrid, through GET /api/search; and
   out-of-scope precision and recall of the retriever's decision (fallback = "not in the knowledge base");
2. each third-party set in ../shared/benchmarks/: its FAQs imported through POST /api/qa/import as a
   tagged collection (never into the shipped store), its real user questions asked through
   GET /api/search?tag=...;
3. for the shipped configuration, the same questions through /api/chat with Rasa up, as visitors
   meet them;
4. the safety set (tests/eval/safety.jsonl) and the crisis net's held-out sets (crisis_heldout,
   health_lookalikes, everyday_chatter): recall and false alarms of the phrase rules, the crisis net,
   Rasa's crisis intent, before (rules + Rasa) and as served (bot/safety/semantic.py combine);
5. Rasa's intent classifier: 3-fold cross-validation over bot/data/nlu.
6. each collection's encoder check and choice (embeddings/choice.py), in-process (tests/eval/rank_probe.py).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import httpx

from embeddings.model_install import DEFAULT_DEST as MPNET
from tests.conftest import REPO, start_server
from tests.eval.metrics import dev_set, load_jsonl, out_of_scope, out_of_scope_metrics, ranking
from tests.eval.rank_probe import encoder_choice

BENCHMARKS = REPO.parent / "shared" / "benchmarks"
MODES = ("bm25", "dense", "hybrid")


def search(
    c: httpx.Client,
    q: str,
    mode: str,
    k: int = 10,
    tag: str | None = None,
    kind: str | None = None,
    explain: bool = False,
) -> dict:
    params: dict[str, str | int] = {"q": q[:1000], "k": k, "mode": mode}
    if tag:
        params["tag"] = tag
    if kind:
        params["kind"] = kind
    if explain:
        params["explain"] = "true"
    r = c.get("/api/search", params=params)
    r.raise_for_status()
    return r.json()


def eval_devset(c: httpx.Client) -> dict:
    out = {}
    for split in ("dev", "heldout"):
        rows, oos = dev_set(split), out_of_scope(split)
        print(f"\nDev set, {split} split: {len(rows)} questions, {len(oos)} out of scope")
        for mode in MODES:
            res = [
                ([x["id"] for x in search(c, q["query"], mode, kind="qa")["results"]], set(q["expected"])) for q in rows
            ]
            m = ranking(res)
            out[f"{split}/{mode}"] = m.__dict__
            print(f"  {mode:<7} {m.row()}")
        decisions = []
        for q in rows:
            d = search(c, q["query"], "hybrid", k=3, explain=True)["decision"]
            decisions.append((d["kind"], d["ids"], set(q["expected"])))
        oos_kinds = [search(c, q["query"], "hybrid", k=1, explain=True)["decision"]["kind"] for q in oos]
        oos_m = out_of_scope_metrics(decisions, oos_kinds)
        clarified = sum(k == "clarify" for k, _, _ in decisions) / max(1, len(decisions))
        out[f"{split}/oos"] = oos_m.__dict__
        print(f"  retriever decision: {oos_m.row()}; clarify {clarified:.3f}")
    return out


def eval_chat(c: httpx.Client) -> dict:
    """What visitors get: each question as the first message of a new conversation through /api/chat
    (Rasa's intents, the safety check and the retriever together). Out of scope is caught when the
    reply is not an answer and not a "did you mean" (fallback, smalltalk, handoff)."""

    def first_reply(message: str) -> dict:
        r = c.post("/api/chat", json={"message": message})
        r.raise_for_status()
        return r.json()["replies"][0]

    out = {}
    for split in ("dev", "heldout"):
        rows, oos = dev_set(split), out_of_scope(split)
        kinds = {"answer": 0, "answer_right": 0, "clarify": 0, "clarify_has_right": 0, "other": 0}
        for q in rows:
            reply = first_reply(q["query"])
            if reply["kind"] == "answer":
                kinds["answer"] += 1
                kinds["answer_right"] += reply["answer"]["id"] in q["expected"]
            elif reply["kind"] == "clarify":
                kinds["clarify"] += 1
                offered = {o["payload"] for o in reply["options"]}
                kinds["clarify_has_right"] += any(e in p for e in q["expected"] for p in offered)
            else:
                kinds["other"] += 1
        caught = sum(first_reply(q["query"])["kind"] not in ("answer", "clarify") for q in oos)
        precision = caught / (caught + kinds["other"]) if caught + kinds["other"] else 1.0
        n = len(rows)
        m = {
            "oos_precision": precision,
            "oos_recall": caught / max(1, len(oos)),
            "answered_right": kinds["answer_right"] / n,
            "answered_wrong": (kinds["answer"] - kinds["answer_right"]) / n,
            "clarify": kinds["clarify"] / n,
            "clarify_offers_right": kinds["clarify_has_right"] / n,
            "no_answer": kinds["other"] / n,
        }
        out[split] = m
        print(
            f"  chat ({split}): OOS precision {m['oos_precision']:.3f}  recall {m['oos_recall']:.3f} | in-scope: "
            f"answered right {m['answered_right']:.3f}, wrong {m['answered_wrong']:.3f}; did-you-mean "
            f"{m['clarify']:.3f} (right one offered {m['clarify_offers_right']:.3f}); no answer {m['no_answer']:.3f}"
        )
    return out


def eval_benchmark(c: httpx.Client, name: str, folder: Path) -> dict:
    faqs = load_jsonl(folder / "faqs.jsonl")
    queries = load_jsonl(folder / "queries.jsonl")
    tag = f"bench-{name}"
    rows = [
        {
            "id": f"{tag}-{f['id']}",
            "question": f["question"],
            "answer": f["answer"],
            "tags": [tag],
            "status": "published",
            "evidence": "background",
        }
        for f in faqs
    ]
    t = time.perf_counter()
    r = c.post("/api/qa/import", json=rows, timeout=600)
    r.raise_for_status()
    took = time.perf_counter() - t
    print(f"\n{name}: {len(faqs)} FAQs imported in {took:.1f} s ({r.json()}), {len(queries)} real user questions")
    out = {}
    for mode in MODES:
        res = [
            (
                [x["id"].removeprefix(f"{tag}-") for x in search(c, q["query"], mode, tag=tag)["results"]],
                set(q["relevant"]),
            )
            for q in queries
        ]
        m = ranking(res)
        out[mode] = m.__dict__
        print(f"  {mode:<7} {m.row()}")
    return out


def rasa_crisis(messages: list[str]) -> list[float] | None:
    """Rasa's confidence in its `crisis` intent for each message (0 when another intent wins), from
    the model trained on the current bot data (trained first when missing); None when Rasa cannot run."""
    import subprocess

    from api.rasa_runtime import _rasa_env, rasa_executable, train
    from tests.conftest import TEST_CACHE

    try:
        model = train(TEST_CACHE / "bot-models")
    except Exception as exc:  # no Rasa environment here: the other figures still print
        print(f"\n(Rasa's crisis intent not measured: {exc})")
        return None
    python = rasa_executable().with_name("python")
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "intents.json"
        run = subprocess.run(
            [str(python), str(Path(__file__).with_name("rasa_parse.py")), str(model), str(out)],
            input=json.dumps(messages),
            cwd=d,
            env=_rasa_env(),
            capture_output=True,
            text=True,
            timeout=1800,
        )
        if run.returncode != 0 or not out.exists():
            print(f"\n(Rasa's crisis intent not measured: {run.stderr[-300:]})")
            return None
        intents = json.loads(out.read_text())
    return [float(c) if name == "crisis" else 0.0 for name, c in intents]


def eval_safety() -> dict:
    """The safety checks on tests/eval/safety.jsonl and on the held-out sets written for the crisis
    net (crisis_heldout, health_lookalikes, everyday_chatter; never trained on): each check alone and
    the combination as /api/chat serves it. "safety" is the safety reply in place of anything else;
    "any" also counts the crisis numbers added under a normal reply (the net unsure, or Rasa's doubt)."""
    from bot.safety import detect
    from bot.safety.semantic import REMINDER, SAFETY, combine, load_net
    from bot.settings import ConversationSettings
    from embeddings.encoder import SentenceEncoder
    from tests.conftest import TEST_CACHE

    here = Path(__file__).resolve().parent
    cut = ConversationSettings()
    safety_rows = load_jsonl(here / "safety.jsonl")
    sets = {
        "safety.jsonl crisis": [r["message"] for r in safety_rows if r["expected"]],
        "safety.jsonl ordinary": [r["message"] for r in safety_rows if not r["expected"]],
        "held-out crisis": [r["message"] for r in load_jsonl(here / "crisis_heldout.jsonl")],
        "health look-alikes": [r["message"] for r in load_jsonl(here / "health_lookalikes.jsonl")],
        "everyday chatter": [r["message"] for r in load_jsonl(here / "everyday_chatter.jsonl")],
        # Written later by someone who never saw the training file or the sets above (never trained on).
        "fresh crisis": [r["message"] for r in load_jsonl(here / "crisis_fresh.jsonl")],
        "fresh look-alikes": [r["message"] for r in load_jsonl(here / "lookalikes_fresh.jsonl")],
        "fresh chatter": [r["message"] for r in load_jsonl(here / "chatter_fresh.jsonl")],
        # A second blind set, written after the rules were widened on the first: read once, never tuned on.
        "blind crisis": [r["message"] for r in load_jsonl(here / "crisis_blind2.jsonl")],
        "blind look-alikes": [r["message"] for r in load_jsonl(here / "lookalikes_blind2.jsonl")],
        "blind chatter": [r["message"] for r in load_jsonl(here / "chatter_blind2.jsonl")],
        # A third, written after every change above; the figure of record for messages nobody foresaw.
        "blind3 crisis": [r["message"] for r in load_jsonl(here / "crisis_blind3.jsonl")],
        "blind3 look-alikes": [r["message"] for r in load_jsonl(here / "lookalikes_blind3.jsonl")],
        "blind3 chatter": [r["message"] for r in load_jsonl(here / "chatter_blind3.jsonl")],
        # A fourth, written after the net's training file was widened (whose writer was told themes of
        # the third set's misses, so the third is no longer blind to the net): the figure of record.
        "blind4 crisis": [r["message"] for r in load_jsonl(here / "crisis_blind4.jsonl")],
        "blind4 look-alikes": [r["message"] for r in load_jsonl(here / "lookalikes_blind4.jsonl")],
        "blind4 chatter": [r["message"] for r in load_jsonl(here / "chatter_blind4.jsonl")],
    }
    messages = [m for rows in sets.values() for m in rows]
    encoder = SentenceEncoder(None, backend="onnx", cache_dir=TEST_CACHE / "encoder")
    net = load_net(encoder)
    started = time.perf_counter()
    probability = {m: net.judge(m).probability for m in dict.fromkeys(messages)}
    per_message = (time.perf_counter() - started) * 1000 / len(probability)
    rule = {m: detect(m) is not None for m in probability}
    crisis = rasa_crisis(list(probability))
    intent = dict(zip(probability, crisis, strict=True)) if crisis is not None else None

    def outcome(check: str, m: str) -> str | None:
        if check == "phrase rules":
            return SAFETY if rule[m] else None
        if check == "crisis net":
            return combine(probability[m], 0.0, cut)
        if intent is None:
            return None
        if check == "Rasa intent":
            return combine(None, intent[m], cut)
        if rule[m]:
            return SAFETY
        if check == "before (rules + Rasa)":  # as it was: no net, Rasa's doubt from 0.6
            return combine(None, intent[m], cut.model_copy(update={"crisis_doubt": 0.6}))
        return combine(probability[m], intent[m], cut)  # as served: rules, net, Rasa where the net agrees

    checks = ["phrase rules", "crisis net"]
    if intent is not None:
        checks += ["Rasa intent", "before (rules + Rasa)", "as served"]
    print(f"\nSafety (crisis net {per_message:.1f} ms a message; safety reply / it or the numbers added):")
    print("  " + f"{'set':<28}" + "".join(f"{check:>24}" for check in checks))
    out: dict = {"net_ms_per_message": per_message, **{check: {} for check in checks}}
    for name, rows in sets.items():
        cells = []
        for check in checks:
            verdicts = [outcome(check, m) for m in rows]
            sure = sum(v == SAFETY for v in verdicts) / max(1, len(rows))
            any_ = sum(v in (SAFETY, REMINDER) for v in verdicts) / max(1, len(rows))
            out[check][name] = {"safety": sure, "any": any_}
            cells.append(f"{sure:.3f} / {any_:.3f}")
        print("  " + f"{name + f' ({len(rows)})':<28}" + "".join(f"{c:>24}" for c in cells))
    print("  (crisis rows: recall; the others: false alarms; each as safety / any)")
    crisis_sets = [n for n in sets if n.endswith("crisis") and not n.startswith("safety.jsonl")]
    for name in crisis_sets:
        for m in [m for m in sets[name] if outcome(checks[-1], m) is None]:
            print(f"  missed, {name} ({checks[-1]}): {m}")
    for name in [n for n in sets if n not in crisis_sets and not n.startswith("safety.jsonl")]:
        for m in [m for m in sets[name] if outcome(checks[-1], m) == SAFETY]:
            print(f"  false alarm, {name} ({checks[-1]}): {m}")
    return out


def eval_nlu() -> dict | None:
    """Rasa NLU intent classification, 3-fold cross-validation over bot/data/nlu."""
    import subprocess

    from api.rasa_runtime import BOT_DIR, _rasa_env, rasa_executable

    with tempfile.TemporaryDirectory() as d:
        out = subprocess.run(
            [
                str(rasa_executable()),
                "test",
                "nlu",
                "--nlu",
                str(BOT_DIR / "data" / "nlu"),
                "--config",
                str(BOT_DIR / "config.yml"),
                "--cross-validation",
                "--folds",
                "3",
                "--out",
                d,
            ],
            cwd=d,
            env=_rasa_env(),
            capture_output=True,
            text=True,
            timeout=1800,
        )
        report = Path(d) / "intent_report.json"
        if out.returncode != 0 or not report.exists():
            print(f"\nNLU cross-validation failed: {out.stdout[-500:]}{out.stderr[-500:]}")
            return None
        data = json.loads(report.read_text())
    print("\nRasa NLU intents, 3-fold cross-validation (test folds):")
    print(
        f"  accuracy {data['accuracy']:.3f}  weighted F1 {data['weighted avg']['f1-score']:.3f}  "
        f"macro F1 {data['macro avg']['f1-score']:.3f}"
    )
    for name, row in sorted(data.items()):
        if isinstance(row, dict) and "support" in row and name not in ("macro avg", "weighted avg", "micro avg"):
            print(f"    {name:<16} precision {row['precision']:.2f}  recall {row['recall']:.2f}  (n={row['support']})")
    return {"accuracy": data["accuracy"], "weighted_f1": data["weighted avg"]["f1-score"]}


# Each configuration is a service of its own on a fresh data directory (the encoder cache is shared).
CONFIGS = {
    "shipped": ("as shipped: fine-tuned encoder, typos mended", {}),
    "no-spelling": ("fine-tuned encoder, typos not mended", {"FAQBOT_RETRIEVAL__SPELLING": "false"}),
    "packaged": ("the packaged all-MiniLM-L6-v2, not fine-tuned, typos mended", {"FAQBOT_ENCODER__FINETUNE": "false"}),
    # all-mpnet-base-v2 (`make install-mpnet`), fine-tuned as shipped and as it is; skipped when not installed.
    "mpnet": ("all-mpnet-base-v2, fine-tuned, typos mended", {"FAQBOT_ENCODER__MODEL_PATH": str(MPNET)}),
    "mpnet-packaged": (
        "all-mpnet-base-v2 as installed, not fine-tuned, typos mended",
        {"FAQBOT_ENCODER__MODEL_PATH": str(MPNET), "FAQBOT_ENCODER__FINETUNE": "false"},
    ),
}


def installed(name: str) -> bool:
    """Whether a configuration's model is on this machine (the mpnet ones need `make install-mpnet`)."""
    path = CONFIGS[name][1].get("FAQBOT_ENCODER__MODEL_PATH")
    if path and not (Path(path) / "model.safetensors").exists():
        print(f"\n=== {name}: skipped, {path} is not installed (make install-mpnet)")
        return False
    return True


def eval_service(name: str, skip_benchmarks: bool, chat: bool) -> dict:
    label, env = CONFIGS[name]
    print(f"\n=== {name}: {label}")
    out: dict = {}
    with tempfile.TemporaryDirectory() as d:
        bot = {} if chat else {"FAQBOT_BOT__ENABLED": "false"}
        server = start_server(Path(d) / "data", wait_for_bot=chat, **bot, **env)
        try:
            print(f"encoder: {server.health()['index']['model']}")
            h = {"Authorization": f"Bearer {server.token('editor')}"}
            with httpx.Client(base_url=server.base_url, headers=h, timeout=60) as c:
                out["devset"] = eval_devset(c)
                if chat:
                    print("\nThrough the chat (Rasa up), each question opening a new conversation:")
                    out["chat"] = eval_chat(c)
                if not skip_benchmarks and BENCHMARKS.exists():
                    for folder in sorted(p for p in BENCHMARKS.iterdir() if (p / "faqs.jsonl").exists()):
                        out[folder.name] = eval_benchmark(c, folder.name, folder)
        finally:
            server.stop()
    return out


def print_summary(results: dict) -> None:
    print("\nHybrid R@1 / R@5 by configuration:")
    sets = ["dev", "heldout"] + sorted({k for r in results.values() for k in r if k not in ("devset", "chat")})
    print("  " + f"{'configuration':<14}" + "".join(f"{s:>16}" for s in sets))
    for name, r in results.items():
        cells = []
        for s in sets:
            m = r["devset"].get(f"{s}/hybrid") if s in ("dev", "heldout") else r.get(s, {}).get("hybrid")
            cells.append(f"{m['r1']:.3f} / {m['r5']:.3f}" if m else "-")
        print("  " + f"{name:<14}" + "".join(f"{c:>16}" for c in cells))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip-benchmarks", action="store_true")
    ap.add_argument("--skip-nlu", action="store_true")
    ap.add_argument("--skip-chat", action="store_true", help="do not measure through /api/chat with Rasa")
    ap.add_argument(
        "--configs", default=",".join(CONFIGS), help=f"comma-separated, from: {', '.join(CONFIGS)} (default: all)"
    )
    args = ap.parse_args()
    names = [n.strip() for n in args.configs.split(",") if n.strip()]
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        ap.error(f"unknown configuration {', '.join(unknown)}; choose from {', '.join(CONFIGS)}")
    names = [n for n in names if installed(n)]
    summary: dict = {
        name: eval_service(name, args.skip_benchmarks, chat=name == "shipped" and not args.skip_chat) for name in names
    }
    print_summary(summary)
    summary["encoder_choice"] = encoder_choice(summary)  # in-process: each collection's encoder check
    summary["safety"] = eval_safety()
    if not args.skip_nlu:
        summary["nlu"] = eval_nlu()
    out = REPO / "bench-results"
    out.mkdir(exist_ok=True)
    (out / f"eval-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
