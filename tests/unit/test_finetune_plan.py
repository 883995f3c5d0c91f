"""How fine-tuning examples and batches are made (pure logic; the training itself is an integration test)."""
import pytest

from embeddings.finetune import Example, Recipe, batches, digest, training_examples
from knowledge.schema import QAPair

pytestmark = pytest.mark.unit


def pair(pid: str, alternates: list[str], status: str = "published", question: str | None = None) -> QAPair:
    return QAPair.model_validate({"id": pid, "question": question or f"What is {pid}?", "answer": "An answer.",
                                  "alternates": alternates, "status": status, "evidence": "background"})


def test_each_alternate_is_trained_towards_its_own_question_and_drafts_and_repeats_are_left_out():
    pairs = [pair("b-pair", ["b one", "b two"]), pair("a-pair", ["a one"]), pair("draft", ["d one"], status="draft"),
             pair("same", ["what is SAME?"])]
    examples = training_examples(pairs)
    assert examples == [Example("a one", "What is a-pair?", "a-pair"), Example("b one", "What is b-pair?", "b-pair"),
                        Example("b two", "What is b-pair?", "b-pair")]


def test_no_batch_holds_two_examples_of_one_pair_and_every_example_is_used_once():
    groups = ["a"] * 7 + ["b"] * 5 + ["c"] * 2 + [f"x{i}" for i in range(20)]
    plan = batches(groups, batch_size=8, seed=3)
    used = [i for b in plan for i in b]
    assert sorted(used) == list(range(len(groups)))
    for b in plan:
        assert len(b) <= 8
        assert len({groups[i] for i in b}) == len(b)


def test_the_same_content_and_recipe_name_the_same_model_and_any_change_renames_it():
    ex = [Example("a one", "What is a?", "a"), Example("b one", "What is b?", "b")]
    assert digest("base@1", ex, Recipe()) == digest("base@1", list(ex), Recipe())
    assert digest("base@2", ex, Recipe()) != digest("base@1", ex, Recipe())
    assert digest("base@1", ex, Recipe(epochs=3)) != digest("base@1", ex, Recipe())
    assert digest("base@1", ex[:1] + [Example("b two", "What is b?", "b")], Recipe()) != digest("base@1", ex, Recipe())
