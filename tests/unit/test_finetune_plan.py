"""How fine-tuning examples and batches are made (pure logic; the training itself is an integration test)."""

import pytest

from embeddings.finetune import Example, Recipe, batches, digest, training_examples
from knowledge.schema import QAPair

pytestmark = pytest.mark.unit


def pair(pid: str, alternates: list[str], status: str = "published", question: str | None = None) -> QAPair:
    return QAPair.model_validate(
        {
            "id": pid,
            "question": question or f"What is {pid}?",
            "answer": "An answer.",
            "alternates": alternates,
            "status": status,
            "evidence": "background",
        }
    )


def test_each_alternate_is_trained_towards_its_own_question_and_drafts_and_repeats_are_left_out():
    pairs = [
        pair("b-pair", ["b one", "b two"]),
        pair("a-pair", ["a one"]),
        pair("draft", ["d one"], status="draft"),
        pair("same", ["what is SAME?"]),
    ]
    examples = training_examples(pairs, Recipe(topic_swap=False))
    assert [(e.anchor, e.positive, e.group) for e in examples] == [
        ("a one", "What is a-pair?", "a-pair"),
        ("b one", "What is b-pair?", "b-pair"),
        ("b two", "What is b-pair?", "b-pair"),
    ]
    for e in examples:  # the hard negative is another published pair's question
        assert e.negative != e.positive and e.negative in {"What is a-pair?", "What is b-pair?", "What is same?"}


def test_topic_swaps_replace_the_shared_specific_words_in_both_and_make_each_the_others_negative():
    pairs = [
        pair("risks", ["is the liberation procedure safe"], question="What are the risks of the liberation procedure?"),
        pair("other", ["zzz"], question="Who is Paolo Zamboni?"),
    ]
    examples = [e for e in training_examples(pairs, Recipe()) if e.group.startswith("risks")]
    original, swapped = examples
    assert original.anchor == "is the liberation procedure safe" and swapped.group == "risks#swap"
    assert original.negative == swapped.positive and swapped.negative == original.positive
    a, q = swapped.anchor.split(), swapped.positive.rstrip("?").split()
    assert a[0] == "is" and a[1] == "the" and a[-1] == "safe"  # ordinary words stay
    assert q[:5] == ["What", "are", "the", "risks", "of"]
    assert a[2:4] == q[-2:] and a[2:4] != ["liberation", "procedure"]  # one stand-in per word, in both


def test_no_batch_holds_two_examples_of_one_pair_and_every_example_is_used_once():
    groups = ["a"] * 7 + ["b"] * 5 + ["c"] * 2 + [f"x{i}" for i in range(20)]
    plan = batches(groups, batch_size=8, seed=3)
    used = [i for b in plan for i in b]
    assert sorted(used) == list(range(len(groups)))
    for b in plan:
        assert len(b) <= 8
        assert len({groups[i] for i in b}) == len(b)


def test_the_same_content_and_recipe_name_the_same_model_and_any_change_renames_it():
    ex = [Example("a one", "What is a?", "What is b?", "a"), Example("b one", "What is b?", "What is a?", "b")]
    assert digest("base@1", ex, Recipe()) == digest("base@1", list(ex), Recipe())
    assert digest("base@2", ex, Recipe()) != digest("base@1", ex, Recipe())
    assert digest("base@1", ex, Recipe(epochs=3)) != digest("base@1", ex, Recipe())
    changed = ex[:1] + [Example("b two", "What is b?", "What is a?", "b")]
    assert digest("base@1", changed, Recipe()) != digest("base@1", ex, Recipe())
