"""The confidence calibration: fitted for an encoder from labelled questions, kept beside its model.

The retriever's confidence is sigmoid(a * fused + rare * R + unknown * U + b) (embeddings/retriever.py).
The four numbers are a logistic regression of "the top pair answers the question" on the top pair's
fused score and on two facts about the query's words (R: words the collection never uses that are
rare in English; U: the share of its content words the collection never uses), fitted on:

- the golden questions (each must reach its pair),
- the dev split of the labelled question sets (`retrain.calibration_sets` in config.yml; by default
  tests/eval/devset.jsonl and tests/eval/out_of_scope.jsonl, read only when present): a row with
  `expected` pair ids is right when the top pair is one of them, a row without is out of scope and
  always wrong. Rows of another split (the held-out one) are never read.

A retrain (embeddings/retraining.py) fits them for the new model and writes `calibration.json` into
its folder; the service uses that file for the model it serves, and config.yml's numbers when the
model has none (the packaged model, or one fine-tuned before). `model_digest` ignores the file, so
writing it never changes the model's id.

config.yml's numbers were fitted for all-MiniLM-L6-v2 (packaged, and fine-tuned from it). Another
model (`encoder.model_path`, e.g. all-mpnet-base-v2 from `make install-mpnet`) scores on another
scale, so it never borrows them: at the first start with a model that has no calibration of its own,
the service fits one here (calibrate_at_start: the same questions, its own retriever) and keeps it
(in the model's folder when the model was fine-tuned here, else <encoder cache>/calibration/<model
id>.json, so a model folder the service does not own is never written to).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from embeddings.encoder import CALIBRATION_FILE
from knowledge.atomic import atomic_write_bytes

if TYPE_CHECKING:
    from embeddings.retriever import Retriever, Scoring
    from embeddings.settings import RetrievalSettings

log = logging.getLogger("faqbot")

# Fewer labelled questions than this (or only right or only wrong ones) give no calibration.
MIN_QUESTIONS = 30


class CalibrationError(ValueError):
    """The labelled questions cannot give a calibration (too few, one class only, or a nonsense fit)."""


@dataclass(frozen=True)
class Labelled:
    """A question and the pairs that answer it; none: it is out of scope (no answer is right)."""

    query: str
    expected: tuple[str, ...]
    origin: str  # "golden", "dev" or "out_of_scope"


@dataclass(frozen=True)
class Calibration:
    """The four numbers, and how well they fit the questions they were fitted on."""

    a: float
    rare: float
    unknown: float
    b: float
    n: int = 0
    golden: int = 0
    dev: int = 0
    out_of_scope: int = 0
    accuracy: float = 0.0  # of "answer when the confidence reaches the answer threshold" against "the top is right"
    brier: float = 0.0  # mean squared error of the confidence as a probability
    answer_threshold: float = 0.0
    model_id: str = ""
    fitted_at: str = ""

    def applied(self, scoring: Scoring) -> Scoring:
        """This scoring with these four numbers as its confidence."""
        return dataclasses.replace(
            scoring,
            calibration_a=self.a,
            calibration_rare=self.rare,
            calibration_unknown=self.unknown,
            calibration_b=self.b,
        )

    def to_json(self) -> dict:
        return asdict(self)


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-2, iters: int = 100) -> np.ndarray:
    """Logistic regression of y on the columns of x (plus an intercept, last), by Newton's method."""
    xb = np.hstack([x, np.ones((len(x), 1))])
    w = np.zeros(xb.shape[1])
    penalty = l2 * np.eye(len(w))
    penalty[-1, -1] = 0.0
    for _ in range(iters):
        p = 1 / (1 + np.exp(-(xb @ w)))
        g = xb.T @ (p - y) + penalty @ w
        h = (xb * (p * (1 - p) + 1e-9)[:, None]).T @ xb + penalty + 1e-9 * np.eye(len(w))
        step = np.linalg.solve(h, g)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w


def features(r: Retriever, query: str) -> tuple[list[float], str]:
    """(fused score of the top pair, rare unknown words, unknown share), and the top pair's id."""
    hits = r.search(query, 1, kind="qa")
    analysis = r.snapshot.analyse(query, None, r.scoring.spelling)
    fused, key = (hits[0].fused, hits[0].key) if hits else (0.0, "")
    return [fused, analysis.rare_unknown, analysis.unknown_share], key


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def labelled_questions(golden: list[tuple[str, str]], sets: list[Path], split: str = "dev") -> list[Labelled]:
    """The golden questions, then the rows of `split` in each labelled set that exists (others are skipped)."""
    out = [Labelled(q, (pair_id,), "golden") for q, pair_id in golden if q.strip()]
    for path in sets:
        if not path.is_file():
            log.info("calibration: %s not found; fitted without it", path)
            continue
        for row in _jsonl(path):
            if row.get("split") != split or not str(row.get("query", "")).strip():
                continue
            expected = tuple(row.get("expected") or ())
            out.append(Labelled(row["query"], expected, "dev" if expected else "out_of_scope"))
    return out


def fit(retriever: Retriever, questions: list[Labelled], answer_threshold: float, model_id: str = "") -> Calibration:
    """The calibration of this retriever's confidence (its encoder, content and fusion) on these questions.

    Golden questions whose pair the retriever does not serve are left out. CalibrationError when
    what is left cannot give a fit.
    """
    served = retriever.snapshot.pairs
    used = [q for q in questions if q.origin != "golden" or q.expected[0] in served]
    x, y = [], []
    for q in used:
        f, key = features(retriever, q.query)
        x.append(f)
        y.append(float(key in q.expected))
    xs, ys = np.asarray(x, float).reshape(-1, 3), np.asarray(y, float)
    if len(ys) < MIN_QUESTIONS:
        raise CalibrationError(f"only {len(ys)} labelled questions (at least {MIN_QUESTIONS} are needed)")
    if ys.min() == ys.max():
        raise CalibrationError("the labelled questions are all answered right or all wrong: nothing to fit")
    w = fit_logistic(xs, ys)
    if not np.all(np.isfinite(w)) or w[0] <= 0:
        raise CalibrationError(f"the fit makes no sense (weights {np.round(w, 3).tolist()})")
    probs = 1 / (1 + np.exp(-(xs @ w[:-1] + w[-1])))
    counts = {origin: sum(q.origin == origin for q in used) for origin in ("golden", "dev", "out_of_scope")}
    return Calibration(
        a=round(float(w[0]), 4),
        rare=round(float(w[1]), 4),
        unknown=round(float(w[2]), 4),
        b=round(float(w[3]), 4),
        n=len(ys),
        golden=counts["golden"],
        dev=counts["dev"],
        out_of_scope=counts["out_of_scope"],
        accuracy=round(float(np.mean((probs >= answer_threshold) == (ys > 0.5))), 4),
        brier=round(float(np.mean((probs - ys) ** 2)), 4),
        answer_threshold=answer_threshold,
        model_id=model_id,
        fitted_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )


def calibration_path(model_path: Path) -> Path:
    return Path(model_path) / CALIBRATION_FILE


def save_calibration(model_path: Path, calibration: Calibration) -> Path:
    """Write calibration.json into the model's folder, whole (readers see the old file or the new)."""
    path = calibration_path(model_path)
    atomic_write_bytes(path, json.dumps(calibration.to_json(), indent=2).encode("utf-8"))
    return path


def load_calibration(model_path: Path | None) -> Calibration | None:
    """The calibration fitted for this model, if it has one (a damaged file counts as none)."""
    if model_path is None:
        return None
    return read_calibration(calibration_path(model_path))


def read_calibration(path: Path) -> Calibration | None:
    """The calibration in this file, if it holds one (a damaged file counts as none)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        fields = {f.name for f in dataclasses.fields(Calibration)}
        calibration = Calibration(**{k: v for k, v in data.items() if k in fields})
        numbers = (calibration.a, calibration.rare, calibration.unknown, calibration.b)
        if not all(isinstance(v, int | float) and np.isfinite(v) for v in numbers):
            raise ValueError("not four numbers")
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError) as exc:
        log.warning("ignoring %s (%s); config.yml's calibration is used", path, exc)
        return None
    return calibration


def served_scoring(retrieval: RetrievalSettings, model_path: Path | None, finetuned: bool) -> Scoring:
    """The scoring for the encoder in this folder: its own calibration.json when it has one, else config.yml's."""
    scoring = retrieval.scoring(finetuned=finetuned)
    calibration = load_calibration(model_path)
    return calibration.applied(scoring) if calibration else scoring


FITTED_DIR = "calibration"


def fitted_path(cache_dir: Path, model_id: str) -> Path:
    """Where the calibration fitted at start for a model the service does not own is kept."""
    return Path(cache_dir) / FITTED_DIR / f"{model_id.replace('@', '-').replace('/', '_')}.json"


def own_calibration(model_path: Path, cache_dir: Path, model_id: str) -> Calibration | None:
    """The model's calibration.json, else the one fitted at an earlier start for this model id."""
    found = load_calibration(model_path) or read_calibration(fitted_path(cache_dir, model_id))
    return found if found is None or not found.model_id or found.model_id == model_id else None


def calibrate_at_start(
    retriever: Retriever,
    retrieval: RetrievalSettings,
    cache_dir: Path,
    questions: list[Labelled],
    config_fitted: bool,
) -> Calibration | None:
    """Give the retriever the confidence fitted for its own encoder; the calibration used (None: config.yml's).

    `config_fitted`: the served model is all-MiniLM-L6-v2 or fine-tuned from it, so a missing
    calibration.json means config.yml's numbers, fitted for it, serve (as before). Any other model
    uses its own calibration, fitted now (and kept) when it has none; when that cannot be fitted
    (too few labelled questions) config.yml's numbers serve, with a warning that they belong to
    another model.
    """
    encoder = retriever.encoder
    folder = getattr(encoder, "model_path", None)
    if folder is None:
        return None
    model_path = Path(folder)
    own = own_calibration(model_path, cache_dir, encoder.model_id)
    if own is None and config_fitted:
        return None
    if own is None:
        try:
            own = fit(retriever, questions, retrieval.answer_threshold, encoder.model_id)
        except CalibrationError as exc:
            log.warning(
                "calibration: none for %s and none could be fitted (%s); config.yml's numbers, fitted for "
                "all-MiniLM-L6-v2, serve",
                encoder.model_id,
                exc,
            )
            return None
        owned = model_path.resolve().is_relative_to(Path(cache_dir).resolve())
        target = calibration_path(model_path) if owned else fitted_path(cache_dir, encoder.model_id)
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(target, json.dumps(own.to_json(), indent=2).encode("utf-8"))
        log.info(
            "calibration: fitted for %s on %d questions (accuracy %.3f, Brier %.3f), kept in %s",
            encoder.model_id,
            own.n,
            own.accuracy,
            own.brier,
            target,
        )
    retriever.scoring = own.applied(retriever.scoring)
    return own
