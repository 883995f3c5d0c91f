import pytest

from bot.advice import is_personal_advice

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "message",
    [
        "Should I have the liberation procedure?",
        "can I stop my medication before going abroad for the vein op?",
        "should my husband go to Poland for the ccsvi treatment",
        "is it safe for me to have a stent in my neck",
        "would you recommend the zamboni procedure",
        "I'm thinking of having the operation in Bulgaria next month",
        "what should I do about my DMT if I have the procedure",
        "could I come off my meds after angioplasty",
        "my wife wants to try the liberation treatment, is it worth it for her",
    ],
)
def test_questions_about_ones_own_treatment_are_recognised(message):
    assert is_personal_advice(message)


@pytest.mark.parametrize(
    "message",
    [
        "is the liberation procedure proven?",
        "what are the risks of the procedure",
        "what did the Brave Dreams trial find?",
        "can the procedure cause a stroke?",
        "should the NHS offer it?",
        "what is CCSVI",
        "can I talk to a person",
    ],
)
def test_general_questions_are_not_taken_for_advice_requests(message):
    assert not is_personal_advice(message)
