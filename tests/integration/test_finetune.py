"""Fine-tuning the real encoder on CPU: saved under the data directory, used when present, crash-safe."""

import json
import logging

import numpy as np
import pytest

from embeddings.encoder import SentenceEncoder, default_model_path, model_digest
from embeddings.finetune import CURRENT, INFO, Recipe, current, finetune, is_finetuned, training_examples
from embeddings.loading import encoder_path
from knowledge.loader import load_pairs
from tests.conftest import TEST_CACHE

pytestmark = pytest.mark.integration

SMALL = Recipe(epochs=1, batch_size=16)


@pytest.fixture(scope="module")
def pairs():
    return load_pairs()[:14]


@pytest.fixture(scope="module")
def base_id():
    return model_digest(default_model_path())


@pytest.fixture(scope="module")
def tuned(tmp_path_factory, pairs, base_id):
    root = tmp_path_factory.mktemp("encoder") / "finetuned"  # as <encoder cache dir>/finetuned
    return root, finetune(default_model_path(), base_id, pairs, root, SMALL)


def own_question_found(encoder: SentenceEncoder, pairs) -> float:
    """Share of the pairs' alternates whose nearest question (by the encoder) is their own."""
    questions = encoder.encode([p.question for p in pairs])
    alts = [(a, i) for i, p in enumerate(pairs) for a in p.alternates]
    nearest = np.argmax(encoder.encode([a for a, _ in alts]) @ questions.T, axis=1)
    return float(np.mean([n == i for n, (_, i) in zip(nearest, alts, strict=True)]))


def test_the_model_is_saved_with_what_it_was_made_from_and_becomes_current(tuned, pairs, base_id):
    root, path = tuned
    info = json.loads((path / INFO).read_text())
    assert info["base_model_id"] == base_id and info["pairs"] == len(pairs)
    assert info["examples"] == len(training_examples(pairs)) and info["loss_last"] < info["loss_first"]
    assert current(root, base_id) == path
    assert current(root, "another-base") is None  # a model made from another base is not used
    assert is_finetuned(path) and not is_finetuned(default_model_path())  # each has its own confidence fit


def test_the_tuned_encoder_brings_visitors_wordings_closer_to_their_questions(tuned, pairs, encoder):
    _, path = tuned
    tuned_encoder = SentenceEncoder(path, backend="onnx", cache_dir=TEST_CACHE / "encoder")
    assert tuned_encoder.model_id != encoder.model_id  # so every index is rebuilt for it
    assert own_question_found(tuned_encoder, pairs) > own_question_found(encoder, pairs)


def test_the_same_content_is_not_trained_twice(tuned, pairs, base_id):
    root, path = tuned
    created = json.loads((path / INFO).read_text())["created"]
    again = finetune(default_model_path(), base_id, pairs, root, SMALL)
    assert again == path and json.loads((path / INFO).read_text())["created"] == created


def test_a_crash_while_training_leaves_the_current_model_in_use(tuned, pairs, base_id, monkeypatch):
    root, path = tuned
    from sentence_transformers import SentenceTransformer

    def crash(*_a, **_k):
        raise OSError("disk full")

    monkeypatch.setattr(SentenceTransformer, "save_pretrained", crash)
    with pytest.raises(OSError):
        finetune(default_model_path(), base_id, pairs[:6], root, SMALL)
    assert current(root, base_id) == path
    assert (root / CURRENT).read_text() == path.name


def test_retraining_on_new_content_keeps_the_model_before_it_and_drops_older_ones(tuned, pairs, base_id):
    root, path = tuned
    older = root / "finetuned-000000000000"
    older.mkdir()
    newer = finetune(default_model_path(), base_id, pairs[:8], root, SMALL)
    try:
        assert newer != path and current(root, base_id) == newer
        assert path.exists() and not older.exists()
    finally:
        (root / CURRENT).write_text(path.name)  # the other tests expect the first model current


def test_the_model_is_used_when_enabled_and_the_base_serves_without_one_or_when_training_fails(
    tuned, make_settings, caplog
):
    root, path = tuned
    settings = make_settings(encoder={"finetune": True, "cache_dir": str(root.parent)})
    assert settings.finetune_dir == root
    assert encoder_path(settings.encoder, settings.encoder_cache_dir, []) == path  # present: used, nothing trained
    off = make_settings(encoder={"finetune": False, "cache_dir": str(root.parent)})
    assert encoder_path(off.encoder, off.encoder_cache_dir, []) is None
    empty = make_settings(encoder={"finetune": True, "cache_dir": str(root.parent / "elsewhere")})
    # The service never trains in process: without a model it starts on the base one (and fine-tunes in a
    # child process, tests/integration/test_first_start.py).
    assert encoder_path(empty.encoder, empty.encoder_cache_dir, load_pairs(), train=False) is None
    assert not (empty.encoder_cache_dir / "finetuned").exists()
    with caplog.at_level(logging.ERROR, logger="faqbot"):
        assert (
            encoder_path(empty.encoder, empty.encoder_cache_dir, []) is None
        )  # the tools train in process; nothing to train on: the base model serves
    assert "fine-tuning the encoder failed" in caplog.text
