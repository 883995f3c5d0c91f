"""A sentence-transformers model exported to ONNX, run with onnxruntime and `tokenizers` alone.

The serving process never imports torch, transformers or sentence-transformers: together they cost
the API process about 300 MB resident for nothing, since the ONNX backend never runs torch. This
module does for an exported folder (embeddings/onnx_export.py writes it) what sentence-transformers
does with it, and gives the same vectors (cosine >= 0.9999, tests/integration/test_encoder_onnx.py):

- the tokenizer from the folder's tokenizer.json: truncated to the model's max_seq_length
  (sentence_bert_config.json, else the tokenizer's model_max_length capped by the model's
  max_position_embeddings), padded to the longest text of each batch, lower-cased first when
  sentence_bert_config.json says do_lower_case;
- the inputs the ONNX graph declares (input_ids, attention_mask, token_type_ids when present);
- the pooling of `1_Pooling/config.json`: every mode sentence-transformers 5 has (cls, max, mean,
  mean_sqrt_len_tokens, weightedmean, lasttoken, several concatenated), in its current form
  ("pooling_mode") or the older one ("pooling_mode_mean_tokens": true, ...);
- L2 normalisation; texts run longest first, as sentence-transformers sorts them, so that short texts
  are not padded to long ones, in batches of at most TOKEN_BUDGET tokens.

A folder with any other module (a Dense layer, say), or a prompt kept out of the pooling, is refused
with a message that says to use the torch backend.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

ONNX_FILE = Path("onnx") / "model.onnx"
POOLING_MODES = ("cls", "max", "mean", "mean_sqrt_len_tokens", "weightedmean", "lasttoken")
_LEGACY_POOLING = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}
# The module types (the last part of modules.json's "type") this runner reproduces.
_SUPPORTED_MODULES = {"Transformer", "Pooling", "Normalize"}
# Threads per inference: one, on a 2-core machine whose other core serves Rasa and the event loop.
# Measured here (noisy: other work ran too): one query p50 7.5 ms with 1 thread, 7.4 ms with 2 (and
# more CPU per query: 8.2 ms against 7.1); the 546 shipped texts 2.7 s against 2.2 s at best.
INTRA_OP_THREADS = 1
# Tokens per batch (texts x the longest of them): two answers of 256 tokens, 32 questions of 16. Attention
# grows with the square of the length: sentence-transformers' batches of 64 left onnxruntime's arena
# (kept for the life of the process) ~190 MB bigger after encoding the shipped texts, against ~30 MB
# with this budget, and one thread runs small batches no slower (546 texts: 2.6 s against 4-7 s).
TOKEN_BUDGET = 512


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def pooling_modes(config: dict[str, Any]) -> tuple[str, ...]:
    """The pooling modes of a 1_Pooling/config.json, in sentence-transformers' concatenation order."""
    mode = config.get("pooling_mode")
    if mode is None:
        modes = tuple(m for key, m in _LEGACY_POOLING.items() if config.get(key))
        modes = modes or ("mean",)
    else:
        modes = (mode,) if isinstance(mode, str) else tuple(mode)
    unknown = [m for m in modes if m not in POOLING_MODES]
    if unknown:
        raise ValueError(f"unknown pooling mode(s) {unknown} in 1_Pooling/config.json")
    return modes


def pool(modes: tuple[str, ...], tokens: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(batch, seq, dim) token vectors and their (batch, seq) attention mask -> (batch, dim * len(modes))."""
    m = mask.astype(tokens.dtype)[:, :, None]
    out = []
    for mode in modes:
        if mode == "cls":
            first = mask.argmax(axis=1)  # the first real token: 0 with right padding
            out.append(tokens[np.arange(len(tokens)), first])
        elif mode == "max":
            out.append(np.where(m > 0, tokens, -np.inf).max(axis=1))
        elif mode in ("mean", "mean_sqrt_len_tokens"):
            count = np.clip(m.sum(axis=1), 1e-9, None)
            total = (tokens * m).sum(axis=1)
            out.append(total / count if mode == "mean" else total / np.sqrt(count))
        elif mode == "weightedmean":
            weights = m * np.arange(1, tokens.shape[1] + 1, dtype=tokens.dtype)[None, :, None]
            out.append((tokens * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None))
        elif mode == "lasttoken":
            last = mask.shape[1] - 1 - mask[:, ::-1].argmax(axis=1)
            last = np.where(mask.any(axis=1), last, 0)
            out.append((tokens * m)[np.arange(len(tokens)), last])
    return np.concatenate(out, axis=1) if len(out) > 1 else out[0]


def _session_options(threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Threads that wait for work sleep instead of spinning: the core is shared with Rasa.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return options


class OnnxSentenceModel:
    """One exported model folder, ready to encode. Thread-safe (onnxruntime sessions and tokenizers are)."""

    def __init__(self, folder: Path, threads: int = INTRA_OP_THREADS):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.folder = Path(folder)
        modules = json.loads((self.folder / "modules.json").read_text(encoding="utf-8"))
        unsupported = [m["type"] for m in modules if m["type"].rsplit(".", 1)[-1] not in _SUPPORTED_MODULES]
        if unsupported:
            raise ValueError(
                f"{self.folder}: modules {unsupported} are not run by the ONNX encoder; set encoder.backend: torch"
            )
        pooling_dir = next((m["path"] for m in modules if m["type"].endswith("Pooling")), "1_Pooling")
        pooling = _read_json(self.folder / pooling_dir / "config.json")
        if pooling.get("include_prompt") is False and self._default_prompt():
            raise ValueError(f"{self.folder}: a prompt kept out of the pooling needs encoder.backend: torch")
        self.modes = pooling_modes(pooling)
        self.prompt = self._default_prompt()

        st_config = _read_json(self.folder / "sentence_bert_config.json")
        tok_config = _read_json(self.folder / "tokenizer_config.json")
        model_config = _read_json(self.folder / "config.json")
        self.lower_case = bool(st_config.get("do_lower_case", False))
        max_length = st_config.get("max_seq_length")
        if max_length is None:
            max_length = int(tok_config.get("model_max_length", 512))
            if model_config.get("max_position_embeddings", -1) > 0:
                max_length = min(max_length, int(model_config["max_position_embeddings"]))
        self.max_seq_length = int(max_length)

        self.tokenizer = Tokenizer.from_file(str(self.folder / "tokenizer.json"))
        # tokenizer.json may carry its own fixed padding and truncation (128 for all-MiniLM-L6-v2): replaced.
        self.tokenizer.enable_truncation(
            self.max_seq_length, strategy="longest_first", direction=tok_config.get("truncation_side", "right")
        )
        pad_token = tok_config.get("pad_token") or "[PAD]"
        if isinstance(pad_token, dict):
            pad_token = pad_token.get("content", "[PAD]")
        pad_id = self.tokenizer.token_to_id(pad_token)
        if pad_id is None:
            pad_id = int(model_config.get("pad_token_id") or 0)
        self.padding_side = tok_config.get("padding_side", "right")
        self.tokenizer.enable_padding(
            direction=self.padding_side,
            pad_id=pad_id,
            pad_type_id=int(tok_config.get("pad_token_type_id", 0)),
            pad_token=pad_token,
        )

        self.session = ort.InferenceSession(
            str(self.folder / ONNX_FILE), sess_options=_session_options(threads), providers=["CPUExecutionProvider"]
        )
        self.input_names = {i.name for i in self.session.get_inputs()}
        self.uses_types = "token_type_ids" in self.input_names
        outputs = [o.name for o in self.session.get_outputs()]
        self.output = "last_hidden_state" if "last_hidden_state" in outputs else outputs[0]
        width = self.session.get_outputs()[outputs.index(self.output)].shape[-1]
        if not isinstance(width, int):
            width = int(pooling.get("embedding_dimension") or pooling["word_embedding_dimension"])
        self.dimension = width * len(self.modes)

    def _default_prompt(self) -> str:
        config = _read_json(self.folder / "config_sentence_transformers.json")
        name = config.get("default_prompt_name")
        return (config.get("prompts") or {}).get(name, "") if name else ""

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """L2-normalised float32 vectors, one row per text, in the order given."""
        out = np.zeros((len(texts), self.dimension), np.float32)
        if not texts:
            return out
        prepared = [self.prompt + t for t in texts]
        if self.lower_case:
            prepared = [t.lower() for t in prepared]
        # Tokenised once (padded to the longest of all), then run longest first, as sentence-transformers
        # does, in batches cut to their own longest text and to TOKEN_BUDGET tokens.
        encodings = self.tokenizer.encode_batch_fast(prepared)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        types = np.array([e.type_ids for e in encodings], dtype=np.int64) if self.uses_types else None
        lengths = mask.sum(axis=1)
        order = np.argsort(-lengths, kind="stable")
        start = 0
        while start < len(order):
            longest = max(int(lengths[order[start]]), 1)
            size = max(1, min(batch_size, TOKEN_BUDGET // longest))
            rows = order[start : start + size]
            cut = slice(0, longest) if self.padding_side == "right" else slice(ids.shape[1] - longest, None)
            out[rows] = self._run(ids[rows, cut], mask[rows, cut], None if types is None else types[rows, cut])
            start += size
        return out

    def _run(self, ids: np.ndarray, mask: np.ndarray, types: np.ndarray | None) -> np.ndarray:
        feeds = {"input_ids": ids, "attention_mask": mask}
        if types is not None:
            feeds["token_type_ids"] = types
        (tokens,) = self.session.run([self.output], {k: v for k, v in feeds.items() if k in self.input_names})
        vectors = pool(self.modes, tokens.astype(np.float32, copy=False), mask)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.clip(norms, 1e-12, None)
