"""Turns a visitor's message into the replies they read: answer, clarify, fallback, handoff, safety.

Used by the Rasa custom actions and by the direct path that serves /api/chat while Rasa is down,
so both say exactly the same thing. Contact details come from settings, never from Q&A content.
"""

from __future__ import annotations

import datetime as dt
import json
import re

from bot.advice import is_personal_advice
from bot.intents import SmalltalkIntents
from bot.menu import ExampleQuestions, is_vague
from bot.replies import AnswerPayload, Citation, Feedback, Option, Reply
from bot.safety.semantic import CrisisNet, Judgement
from bot.settings import BotConfig, ConversationSettings
from embeddings.clusters import ScopeMatch, ScopeMatcher
from embeddings.retriever import Decision, Hit, Retriever
from knowledge.schema import SLUG, QAPair, Source

CHOOSE_INTENT = "choose_pair"
NONE_INTENT = "none_of_these"
FEEDBACK_INTENT = "feedback"
_CHOICE = re.compile(r"^/" + CHOOSE_INTENT + r"(\{.*\})?$", re.DOTALL)
_FEEDBACK = re.compile(r"^/" + FEEDBACK_INTENT + r"(\{.*\})$", re.DOTALL)

# A short message that leans on the last answer: "who proposed it?", "what are the risks?", "does it work?"
_ANAPHORA = re.compile(
    r"\b(it|its|it's|this|that|these|those|they|them|their|he|she|his|her|him|the procedure|"
    r"the treatment|the theory|the op|the operation)\b",
    re.I,
)
_FOLLOW_OPENERS = re.compile(
    r"^(and|but|so|also|what about|how about|why|who|when|where|how|does|do|did|is|are|"
    r"was|were|can|could|any|more)\b",
    re.I,
)
_TELL_MORE = re.compile(
    r"^(tell me more|more( info(rmation)?| details| please)?|go on|and\??|what else|"
    r"anything else( about (it|that|this))?|explain more|more about (it|that|this))[\s.?!]*$",
    re.I,
)

PERSONAL_LIMIT = (
    "I can't advise you on your own treatment: decisions about having a procedure, or about "
    "starting, stopping or changing any medicine, are for you and your neurologist or MS nurse."
)
PERSONAL_NOTE = PERSONAL_LIMIT + " Here are the general facts, with their sources."
# Replies to Rasa's smalltalk intents.
SMALLTALK = {
    "greet": (
        'Hello. I\'m an automated assistant that answers questions about CCSVI, the "liberation procedure" '
        "and multiple sclerosis, with the sources behind each answer. What would you like to know?"
    ),
    "goodbye": "Goodbye, and take care. You can come back and ask more at any time.",
    "thank": "You're welcome. Is there anything else you would like to know?",
    "bot_challenge": (
        "I'm an automated assistant, not a person and not a doctor. I answer general questions from "
        "checked sources; I can't give advice about your own treatment."
    ),
}


# The menu for a short, vague message ("help", "?"): bot/menu.py decides when.
MENU_OPENING = (
    'I can answer questions about CCSVI, the "liberation procedure" and multiple sclerosis, with the '
    "sources behind each answer."
)
MENU_EXAMPLES = "Here are some questions people often ask: choose one, or type your own question. "


def choice_payload(pair_id: str) -> str:
    """A message that answers one pair directly (Rasa's `/intent{entities}` form)."""
    return "/" + CHOOSE_INTENT + json.dumps({"pair_id": pair_id}, separators=(",", ":"))


def feedback_payload(pair_id: str, helpful: bool) -> str:
    return "/" + FEEDBACK_INTENT + json.dumps({"pair_id": pair_id, "helpful": helpful}, separators=(",", ":"))


def _payload(pattern: re.Pattern, message: str) -> dict | None:
    m = pattern.match(message.strip())
    if not m or not m.group(1):
        return None
    try:
        value = json.loads(m.group(1))
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def parse_choice(message: str) -> str | None:
    value = (_payload(_CHOICE, message) or {}).get("pair_id")
    return value if isinstance(value, str) else None


def parse_feedback(message: str) -> tuple[str, bool] | None:
    value = _payload(_FEEDBACK, message)
    if not value or not isinstance(value.get("pair_id"), str) or not isinstance(value.get("helpful"), bool):
        return None
    return value["pair_id"], value["helpful"]


def is_none_of_these(message: str) -> bool:
    return message.strip() == "/" + NONE_INTENT


def rasa_text(message: str) -> str:
    """The message as Rasa may read it. Rasa takes a message that begins with "/" for an intent with
    entities (`/intent{json}`) and writes one it cannot parse, the visitor's words included, to its log.
    So only the payloads our own buttons send keep their "/" (rebuilt from what they parse to, so
    nothing else rides along); any other message loses its leading slashes and is read as text."""
    text = message.strip()
    if not text.startswith("/"):
        return text
    choice = parse_choice(text)
    if choice is not None and re.fullmatch(SLUG, choice):
        return choice_payload(choice)
    feedback = parse_feedback(text)
    if feedback is not None and re.fullmatch(SLUG, feedback[0]):
        return feedback_payload(*feedback)
    if is_none_of_these(text):
        return "/" + NONE_INTENT
    return text.lstrip("/").strip() or "?"


def is_follow_up(message: str, max_words: int = ConversationSettings().follow_up_max_words) -> bool:
    """A short message that leans on the last answer ("who proposed it?")."""
    words = message.split()
    if not words or len(words) > max_words:
        return False
    return bool(_ANAPHORA.search(message) or _FOLLOW_OPENERS.match(message.strip()))


class Answerer:
    def __init__(self, retriever: Retriever, config: BotConfig, crisis_net: CrisisNet | None = None):
        self.retriever = retriever
        self.config = config
        # The meaning net beside the phrase rules (bot/safety/semantic.py); None: the rules and Rasa's
        # crisis intent alone, as before the net.
        self.crisis_net = crisis_net if config.conversation.crisis_net else None
        self.examples = ExampleQuestions()
        # Small talk and requests for a person, for the replies given while Rasa is down.
        self.intents = SmalltalkIntents(lambda: self.retriever.encoder)
        # Questions editors marked out of scope (the quality loop, api/quality.py sets and renews it).
        self.scope: ScopeMatcher | None = None

    def today(self) -> dt.date:
        return dt.date.today()

    # --- entry point ----------------------------------------------------------------------

    def reply_to(
        self,
        message: str,
        pair_id: str | None = None,
        context: str | None = None,
        off_topic: bool = False,
        decision: Decision | None = None,
    ) -> list[Reply]:
        """The replies to a question. `pair_id` answers a chosen candidate; `context` is the id of
        the last pair answered in this conversation, against which a follow-up is resolved;
        `off_topic` (the classifier is sure the message is out of scope) turns a hesitant "did you
        mean" into the polite fallback, unless the message follows up the last answer; `decision`
        is the retriever's decision on the message when the caller has already asked for it."""
        if is_none_of_these(message):
            return [self.fallback()]
        pair_id = pair_id or parse_choice(message)
        if pair_id:
            pair = self.retriever.pair(pair_id)
            # Only a pair visitors may be answered from: a crafted payload never reaches staff-only
            # or uncited content.
            return [self.answer(pair, 1.0)] if pair and pair.citable else [self.fallback()]
        context_pair = self.retriever.pair(context) if context else None
        if context_pair and _TELL_MORE.match(message.strip()):
            return [self.more_about(context_pair)]
        marked = self.marked_out_of_scope(message)
        if marked is not None:
            return [self.out_of_scope(marked.reason)]
        decision = decision or self.retriever.decide(message)
        # "who came up with it?" names nothing, but leans on the last answer: never the menu.
        follow_up = bool(context_pair) and is_follow_up(message, self.config.conversation.follow_up_max_words)
        if context_pair and decision.kind != "answer" and follow_up:
            resolved = self.retriever.decide(f"{message} {context_pair.question}")
            if resolved.kind != "fallback":
                decision = resolved
                off_topic = False
        if not follow_up and self.is_vague(message, decision):
            return [self.menu()]
        if off_topic and decision.kind != "answer":
            decision = Decision("fallback")
        personal = is_personal_advice(message)
        return [self.from_decision(decision, personal)]

    def reply_directly(self, message: str, context: str | None = None) -> list[Reply]:
        """The replies while Rasa cannot answer: a greeting, thanks, goodbye or "are you a bot?" gets its
        usual reply and a request for a person the helpline (bot/intents.py); anything else goes to
        reply_to, with the pair answered last (`context`, from the conversation's memory) for follow-ups."""
        intent = self.intents.classify(message)
        if intent == "request_human":
            return [self.handoff()]
        if intent == "greet":
            return [self.menu(greeting=True)]
        if intent:
            return [self.smalltalk(intent)]
        return self.reply_to(message, context=context)

    def from_decision(self, decision: Decision, personal: bool = False) -> Reply:
        best = decision.best
        if decision.kind == "answer" and best is not None and best.pair is not None:
            return self.answer(best.pair, best.score, personal)
        if decision.kind == "clarify":
            return self.clarify(decision.hits, personal, decision.unknown)
        return self.fallback(personal)

    # --- replies --------------------------------------------------------------------------

    def citation(self, source: Source) -> Citation:
        years = self.config.conversation.historical_after_years
        published = source.published_date()
        today = self.today()
        age_limit = dt.date(today.year - years, today.month, min(today.day, 28))
        return Citation(
            title=source.title,
            publisher=source.publisher,
            published=source.published,
            url=source.url,
            passage=source.passage,
            historical=published is not None and published < age_limit,
        )

    def related(self, pair: QAPair) -> list[Option]:
        return [Option(title=p.question, payload=choice_payload(p.id)) for p in self.retriever.related(pair.id)]

    def payload(self, pair: QAPair, score: float, personal: bool = False) -> AnswerPayload:
        """The structured answer: text, evidence, caveats, dated citations, review state."""
        return AnswerPayload(
            id=pair.id,
            question=pair.question,
            text=pair.answer,
            score=round(score, 4),
            evidence=pair.evidence,
            caveats=list(pair.caveats),
            reviewed_on=_iso(pair.reviewed_on),
            review_due=_iso(pair.review_due),
            review_overdue=bool(pair.review_due and pair.review_due < self.today()),
            citations=[self.citation(s) for s in pair.sources],
            personal_note=PERSONAL_NOTE if personal else None,
        )

    def answer(self, pair: QAPair, score: float, personal: bool = False) -> Reply:
        payload = self.payload(pair, score, personal)
        citations, overdue = payload.citations, payload.review_overdue
        lines = [PERSONAL_NOTE] if personal else []
        lines.append(pair.answer)
        if pair.caveats:
            lines.append("\n".join(["Please note:"] + [f"- {c}" for c in pair.caveats]))
        src_lines = ["Sources:" if len(citations) > 1 else "Source:"]
        for c in citations:
            label = f"- {c.title}, {c.publisher}, {c.published or 'date unknown'}"
            if c.historical and c.published:
                label += f" (historical: published {c.published[:4]}, more than {self.config.conversation.historical_after_years} years ago)"
            src_lines.append(label)
        lines.append("\n".join(src_lines))
        if overdue:
            lines.append("This answer is due for review, so some details may have changed.")
        if personal:
            lines.append(f"To talk it through, you can call {self.helpline_text()}.")
        feedback = Feedback(
            options=[
                Option(title="Yes", payload=feedback_payload(pair.id, True)),
                Option(title="No", payload=feedback_payload(pair.id, False)),
            ]
        )
        return Reply(
            kind="answer", text="\n\n".join(lines), answer=payload, options=self.related(pair), feedback=feedback
        )

    def clarify(self, hits: list[Hit], personal: bool = False, unknown: tuple[str, ...] = ()) -> Reply:
        options = [Option(title=h.pair.question, payload=choice_payload(h.key)) for h in hits if h.pair]
        options.append(Option(title="None of these", payload="/" + NONE_INTENT))
        if len(options) == 2:
            text = "I'm not sure I understood. Did you mean this question? If not, please ask in other words."
        else:
            text = "I'm not sure which of these you mean. Please choose one, or ask in other words."
        if unknown:
            # Say plainly what is missing, so "side effects of baclofen" is not read as answered.
            names = ", ".join(f"“{w}”" for w in unknown[:3])
            text = f"I couldn't find {names} in what I know. " + text.replace("I'm not sure I understood. ", "")
        if personal:
            text = f"{PERSONAL_LIMIT} {text}"
        return Reply(kind="clarify", text=text, options=options)

    def more_about(self, pair: QAPair) -> Reply:
        options = self.related(pair)
        if not options:
            return self.fallback()
        return Reply(
            kind="clarify",
            text="Here is more on this topic. Which would you like to know?",
            options=options + [Option(title="None of these", payload="/" + NONE_INTENT)],
        )

    def helpline_text(self) -> str:
        h = self.config.helpline
        parts = [f"the {h.name} on {h.phone}"]
        if h.hours:
            parts.append(f"({h.hours})")
        text = " ".join(parts)
        if h.url:
            text += f", or visit {h.url}"
        return text

    def fallback(self, personal: bool = False) -> Reply:
        # The safety phrase list cannot know every wording of a crisis: every "I don't know" also
        # says where to turn in an emergency.
        text = (
            "I'm sorry, I don't have a reliable answer to that. I can answer questions about CCSVI, the "
            '"liberation procedure" and multiple sclerosis. For anything else, please contact '
            f"{self.helpline_text()}. If this is an emergency, call {self.config.emergency.emergency_number}."
        )
        if personal:
            text = f"{PERSONAL_LIMIT} {text}"
        return Reply(kind="fallback", text=text)

    def marked_out_of_scope(self, message: str) -> ScopeMatch | None:
        """The out-of-scope mark this message matches (similar enough to a question of the marked cluster)."""
        scope = self.scope
        return scope.match(message, self.retriever.encoder) if scope is not None else None

    def out_of_scope(self, reason: str) -> Reply:
        """The helpline fallback for a question like those editors marked out of scope, with their reason."""
        reason = reason.strip()
        if reason and reason[-1] not in ".!?":
            reason += "."
        text = (
            f"I'm sorry, I can't help with that here. {reason} Please contact {self.helpline_text()}. "
            f"If this is an emergency, call {self.config.emergency.emergency_number}."
        )
        return Reply(kind="fallback", text=text)

    def handoff(self) -> Reply:
        return Reply(
            kind="handoff",
            text=(f"You can talk to a person at {self.helpline_text()}. You can also keep asking me questions here."),
        )

    def safety(self, category: str | None = None) -> Reply:
        e = self.config.emergency
        if category == "suicide_self_harm":
            first = (
                f"I'm really sorry you're feeling like this. You don't have to face it alone. You can talk to "
                f"{e.crisis_line}. If you are in danger now or may act on these thoughts, call {e.emergency_number}."
            )
        elif category == "harm_disclosure":
            first = (
                f"I'm sorry this is happening. If you are in danger now, call {e.emergency_number}. "
                f"You can also talk to {e.crisis_line}."
            )
        else:
            first = (
                f"This could be an emergency. Please call {e.emergency_number} now, or ask someone to call "
                f"for you. If it is urgent but not an emergency, call {e.urgent_number}."
            )
        rest = (
            f"Emergency: {e.emergency_number}. Urgent but not an emergency: {e.urgent_number}. "
            f"Someone to talk to: {e.crisis_line}. I'm an automated assistant and can't help in an emergency."
        )
        return Reply(kind="safety", text=f"{first}\n\n{rest}")

    def smalltalk(self, intent: str) -> Reply:
        """Greeting, goodbye, thanks, or "are you a bot?" (Rasa's smalltalk intents)."""
        return Reply(kind="smalltalk", text=SMALLTALK.get(intent, SMALLTALK["greet"]))

    # --- vague messages and the crisis net --------------------------------------------------

    def is_vague(self, message: str, decision: Decision | None = None) -> bool:
        """A few words naming nothing the collection is about ("help", "?", "info"): bot/menu.py."""
        if message.strip().startswith("/"):  # a button's payload is never vague
            return False
        return is_vague(message, self.retriever, self.config.conversation.vague_max_words, decision)

    def menu(self, greeting: bool = False) -> Reply:
        """What the bot can answer, a few example questions to choose from, and the helpline."""
        ids = self.examples.pick(self.retriever, self.config.conversation.menu_options)
        pairs = [p for p in (self.retriever.pair(i) for i in ids) if p is not None]
        options = [Option(title=p.question, payload=choice_payload(p.id)) for p in pairs]
        opening = SMALLTALK["greet"] if greeting else MENU_OPENING
        text = (
            f"{opening} {MENU_EXAMPLES if options else ''}To talk to a person, you can call "
            f"{self.helpline_text()}. If this is an emergency, call {self.config.emergency.emergency_number}."
        )
        return Reply(kind="smalltalk", text=" ".join(text.split()), options=options)

    def judge_crisis(self, message: str) -> Judgement | None:
        """The crisis net's judgement of a message, or None without a net (a button's payload: None)."""
        # Text typed with a leading "/" is still judged ("/I want to end it"); only our own buttons' payloads are not.
        text = rasa_text(message)
        if self.crisis_net is None or not text.strip() or text.startswith("/"):
            return None
        return self.crisis_net.judge(text)

    def safety_reminder(self) -> Reply:
        e = self.config.emergency
        return Reply(
            kind="safety",
            text=(
                f"If you need help now: in an emergency call {e.emergency_number}; if it "
                f"is urgent but not an emergency, call {e.urgent_number}; to talk to "
                f"someone, {e.crisis_line}."
            ),
        )

    def feedback_thanks(self, helpful: bool) -> Reply:
        if helpful:
            return Reply(kind="smalltalk", text="Thank you for letting us know.")
        return Reply(
            kind="smalltalk",
            text=(f"Thank you for letting us know. You could ask in other words, or contact {self.helpline_text()}."),
        )


def _iso(d: dt.date | None) -> str | None:
    return d.isoformat() if d else None
