"""Mending typos against a collection's words, and spotting words it never uses (embeddings/query.py)."""

import pytest

from embeddings.query import Vocabulary

pytestmark = pytest.mark.unit

DOCS = [
    "Which veins are involved in CCSVI? The jugular veins in the neck and the azygos vein.",
    "The Canadian trial of the liberation procedure found no benefit.",
    "Narrowed veins and MS? Professor Traboulsee found no link. What condition is it?",
]


@pytest.fixture(scope="module")
def vocab():
    return Vocabulary(DOCS)


@pytest.mark.parametrize(
    "query, fixed",
    [
        ("is the ccsvi problem in the juglar vien", "is the ccsvi problem in the jugular vein"),
        ("Canadain liberation trial", "canadian liberation trial"),
        ("trabulsee study", "traboulsee study"),
        ("the libertion procedure", "the liberation procedure"),
    ],
)
def test_a_misspelt_word_of_the_collection_is_mended(vocab, query, fixed):
    assert vocab.analyse(query).text.lower() == fixed


@pytest.mark.parametrize(
    "query",
    [
        "is it in vain",  # an ordinary English word one edit from "vein" stays as typed
        "the conection with ms",  # two substitutions from "condition": not a typo of it
        "side effects of baclofen",  # nothing in the collection is near it
        "who is ur neuro",
    ],
)
def test_words_that_are_not_typos_of_the_collection_are_left_alone(vocab, query):
    a = vocab.analyse(query)
    assert a.text == query and a.corrections == {}


def test_the_nearest_word_wins():
    vocab = Vocabulary(DOCS + ["Is there a connection?"])
    assert vocab.analyse("the conection with ms").text == "the connection with ms"


def test_rare_words_the_collection_never_uses_are_counted(vocab):
    inside = vocab.analyse("which veins are involved in ccsvi")
    assert inside.rare_unknown == 0 and inside.unknown_share == 0.0
    outside = vocab.analyse("is ocrevus covered by the nhs")
    assert outside.unknown_names == ("ocrevus",) and outside.unknown_share == 1.0
    mended = vocab.analyse("juglar vien")
    assert mended.rare_unknown == 0 and mended.unknown_share == 0.0


def test_spelling_can_be_turned_off(vocab):
    a = vocab.analyse("juglar vien", correct=False)
    assert a.text == "juglar vien" and a.corrections == {} and a.unknown_share == 1.0


FORMS = DOCS + [
    "Patients in the randomised trials had fewer relapses? The studies were multi centre and harms were seen."
]


@pytest.mark.parametrize(
    "query",
    [
        "relapse?",  # "relapses"
        "the randomized trials",  # UK "randomised"
        "which study",  # "studies"
        "were patients harmed",  # "harms"
        "the multicentre trial",  # "multi" and "centre"
    ],
)
def test_another_form_of_a_collection_word_is_not_an_unknown_name(query):
    # Otherwise the bot asks "did you mean" of a question it can answer, because it looks like a
    # question about something the collection never mentions.
    a = Vocabulary(FORMS).analyse(query)
    assert a.unknown_names == () and a.unknown_share == 0.0


def test_a_misspelt_ordinary_word_is_not_taken_for_a_name(vocab):
    a = vocab.analyse("personal storys about the liberation procedure")
    assert a.unknown_names == ()
    assert a.unknown_share > 0  # still a word the collection never uses


@pytest.mark.parametrize("query", ["side effects of baclofen", "is tysabri better", "does lemtrada work"])
def test_a_drug_the_collection_never_mentions_is_still_an_unknown_name(vocab, query):
    assert len(vocab.analyse(query).unknown_names) == 1
