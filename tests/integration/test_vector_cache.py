"""The collection's vectors are computed once per model and text, and shared through the encoder's cache
folder (embeddings/encoder.py VectorStore): a restart or a second replica does not embed them again."""

from __future__ import annotations

import numpy as np
import pytest

from embeddings.encoder import SentenceEncoder, VectorStore

pytestmark = pytest.mark.integration

TEXTS = ["Is the liberation procedure proven?", "who is Paolo Zamboni", "What did Brave Dreams find?"]


def test_stored_vectors_are_the_model_vectors_and_are_not_computed_twice(tmp_path, monkeypatch):
    encoder = SentenceEncoder(backend="onnx", cache_dir=tmp_path)
    first = encoder.encode_stored(TEXTS)
    assert np.allclose(first, encoder.encode(TEXTS), atol=1e-6)

    again = SentenceEncoder(backend="onnx", cache_dir=tmp_path)  # another process or replica, same folder
    calls: list[list[str]] = []
    real = again.encode

    def counting(texts: list[str]) -> np.ndarray:
        calls.append(list(texts))
        return real(texts)

    monkeypatch.setattr(again, "encode", counting)
    assert np.array_equal(again.encode_stored([*TEXTS, "a new text"]), np.vstack([first, real(["a new text"])]))
    assert calls == [["a new text"]]  # only the text it had not seen


def test_a_damaged_cache_file_is_ignored_and_the_vectors_computed(tmp_path):
    encoder = SentenceEncoder(backend="onnx", cache_dir=tmp_path)
    assert encoder._stored is not None
    store = encoder._stored.path
    store.parent.mkdir(parents=True, exist_ok=True)
    store.write_bytes(b"this is not a database" * 100)
    got = encoder.encode_stored(TEXTS)
    assert np.allclose(got, encoder.encode(TEXTS), atol=1e-6)


def test_the_store_keeps_only_vectors_of_its_own_dimension(tmp_path):
    store = VectorStore(tmp_path / "v.sqlite", 3)
    store.put({"a": np.array([1, 2, 3], np.float32), "b": np.array([1, 2], np.float32)})
    got = store.get(["a", "b", "c"])
    assert list(got) == ["a"] and got["a"].tolist() == [1.0, 2.0, 3.0]
