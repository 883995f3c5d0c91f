"""What the conversation layer needs to know: who to refer people to, and its own cut-offs.

The defaults here are the only place these values are written in code; `config.yml` documents them
(sections `conversation`, `helpline` and `emergency`) and `api/settings.py` composes them with the
other layers' settings.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator


class HelplineSettings(BaseModel):
    name: str = "MS Society helpline"
    phone: str = "0808 800 8000"
    hours: str = ""
    url: str = "https://www.mssociety.org.uk/support-and-community/ms-helpline"

    @field_validator("name", "phone")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        # A visitor must never see an empty or placeholder contact.
        if not v.strip():
            raise ValueError("the helpline needs a name and a phone number")
        return v.strip()


class EmergencySettings(BaseModel):
    emergency_number: str = "999 (or 112)"
    urgent_number: str = "NHS 111"
    crisis_line: str = "Samaritans, 116 123 (free, any time)"


class ConversationSettings(BaseModel):
    """Cut-offs of the dialogue (config.yml `conversation:`)."""

    # Sources older than this many years are shown as historical wherever they are cited.
    historical_after_years: int = Field(5, ge=0)
    # A message of at most this many words that leans on the last answer is read as a follow-up.
    follow_up_max_words: int = Field(8, ge=1)
    # Rasa's out_of_scope intent at or above this confidence declines a hesitant "did you mean".
    out_of_scope_confidence: float = Field(0.6, ge=0, le=1)
    # Rasa's crisis intent: a verdict at or above crisis_confidence; a doubt (numbers added) above crisis_doubt.
    # 0.8 for both: below 0.8 the intent bought 1% recall for 2% false alarms on the crisis net's
    # training file, and it fires on everyday chatter (17% of it at 0.6).
    crisis_confidence: float = Field(0.8, ge=0, le=1)
    crisis_doubt: float = Field(0.8, ge=0, le=1)
    # The meaning net beside the phrase rules (bot/safety/semantic.py), a probability that the message
    # is a crisis: the safety reply at or above crisis_net_sure; the reply with the crisis numbers under
    # it at or above crisis_net_doubt. Rasa's crisis intent counts only where the net agrees: its
    # verdict needs crisis_net_agree, its doubt crisis_net_floor. Calibrated by cross-validation on
    # bot/safety/crisis_training.jsonl (python -m bot.safety.semantic), never on the held-out sets.
    crisis_net: bool = True
    crisis_net_sure: float = Field(0.9, ge=0, le=1)
    crisis_net_doubt: float = Field(0.35, ge=0, le=1)
    crisis_net_agree: float = Field(0.5, ge=0, le=1)
    crisis_net_floor: float = Field(0.1, ge=0, le=1)
    # A message of at most this many content words, none of them a word the collection is about or a
    # name, gets the menu of example questions and the helpline instead of a guess (bot/menu.py).
    vague_max_words: int = Field(2, ge=0)
    # How many example questions the menu offers.
    menu_options: int = Field(4, ge=1, le=8)
    # A conversation idle for this long is forgotten: the next message starts a new one.
    session_idle_minutes: float = Field(60, gt=0)
    # Rasa keeps a conversation's events for this many messages, then starts a fresh tracker for it
    # (bot/sessions.py rasa_sender); what the conversation must remember across (the last pair
    # answered, for follow-ups) goes with every message. Every message of a tracker costs Rasa more than
    # the one before (it stores, reloads and sends the whole history each time), so without a bound the
    # 50th message of a conversation took four times as long as the first.
    rasa_turns_per_tracker: int = Field(4, ge=1)
    # Rasa forgets a tracker idle this long (at most session_idle_minutes), in memory and in Redis. Every
    # rule of the bot is one message -> one action and the conversation's memory goes with each message
    # (above), so a tracker is worth nothing once its visitor has gone quiet; kept for the whole idle
    # limit, trackers of finished conversations grew Rasa by 67 MB in a 10-minute load (5,300 of them).
    rasa_tracker_idle_minutes: float = Field(5, gt=0)


class BotConfig(BaseModel):
    """Everything the answerer, the custom actions and the sessions read."""

    conversation: ConversationSettings = ConversationSettings()
    helpline: HelplineSettings = HelplineSettings()
    emergency: EmergencySettings = EmergencySettings()
