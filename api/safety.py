"""Crisis and emergency detection for every visitor message, before anything else sees it.

Why this exists: people write to a health FAQ bot in the middle of a crisis. Someone may be
thinking of ending their life, having a stroke, bleeding from the groin after a vein procedure
abroad, or being hurt at home, and still type it into a box meant for questions about CCSVI. The
retriever would answer them with a trial result. This module finds those messages so the chat
route can answer with emergency and crisis contacts instead (999/112, NHS 111, Samaritans 116 123).

A missed crisis is the worst failure the product can have, so the rules lean towards flagging:
recall on tests/eval/safety.jsonl must be 100%; false alarms are measured and reported, not
forbidden. Questions *about* risks ("can the procedure cause a stroke?") are not emergencies and
should not flag; first-person, present, acute wording should.

How it works (standard library only, no model; a few hundred microseconds for 1000 characters):

1. ``normalise`` folds the message to lowercase ASCII words: unicode quotes and dashes, accents,
   zero-width characters, apostrophes dropped ("can't" -> "cant", "I'm" -> "im"), elongations
   ("pleeease" -> "pleease"), leetspeak inside words ("k1ll"), common misspellings and text-speak
   ("wanna", "cnt", "myslef"), a few spelled-out contractions ("i am" -> "im"). Sentence ends
   (. ? ! ; :) become " . " so small-gap patterns do not join words across sentences; line breaks
   and "..." do not, because distressed people type "i just... want to die".
2. The rules below are tried in order; the first that fires wins. Each rule is a category, a
   *mode* and a list of patterns (regular expressions with word boundaries and small gaps).
   Modes: ``always`` fires on any match; ``personal`` is held back when the whole message reads
   as a general question with no person in it ("does MS cause slurred speech?");
   ``current`` is also held back when the message talks about the past ("in 2010", "for years")
   with nothing acute or recent; ``recurring`` is held back when the sign keeps coming back
   ("my speech gets slurred when I'm tired"), as MS signs do, with nothing sudden or recent.
   Post-procedure complications are keyword co-occurrence: a symptom word AND a procedure word
   in the same message, within about a sentence of each other.
3. ``detect`` never raises. On an internal error (a bug), it logs and fails closed: it returns a
   ``medical_emergency`` match whose phrase is ``DETECTOR_ERROR``, so a crisis reply is shown
   rather than a crisis missed.

Pattern placeholders such as ``<PILLS>`` are expanded from ``FRAGMENTS`` when the module loads.
To add wording: add a line to the right list, add the message to tests/eval/safety.jsonl, and run
tests/unit/test_safety.py.
"""
from __future__ import annotations

import functools
import logging
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

log = logging.getLogger("faqbot.safety")

SUICIDE_SELF_HARM = "suicide_self_harm"
STROKE_NEURO_EMERGENCY = "stroke_neuro_emergency"
CHEST_BREATHING = "chest_breathing"
POST_PROCEDURE_COMPLICATION = "post_procedure_complication"
HARM_DISCLOSURE = "harm_disclosure"
MEDICAL_EMERGENCY = "medical_emergency"

CATEGORIES = (SUICIDE_SELF_HARM, STROKE_NEURO_EMERGENCY, CHEST_BREATHING,
              POST_PROCEDURE_COMPLICATION, HARM_DISCLOSURE, MEDICAL_EMERGENCY)

DETECTOR_ERROR = "(safety detector error)"


@dataclass(frozen=True)
class SafetyMatch:
    """A message that needs the safety reply: which kind, and the (normalised) words that matched."""

    category: str
    phrase: str


# --------------------------------------------------------------------------------------------------
# Normalisation data
# --------------------------------------------------------------------------------------------------

# Unicode look-alikes folded before anything else (NFKC has already folded full-width forms).
CHARACTER_FOLDS = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u02bc": "'",
    "\u02b9": "'", "\u0060": "'", "\u00b4": "'", "\uff07": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2033": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-", "\u2212": "-",
    "\u00a0": " ", "\u2009": " ", "\u202f": " ", "\u3000": " ",
}

# Whole words replaced after punctuation is gone: misspellings and text-speak seen in real chats.
WORD_FIXES = {
    # text-speak
    "wanna": "want to", "wana": "want to", "wantto": "want to", "gonna": "going to", "gunna": "going to",
    "gona": "going to", "imma": "im going to", "ima": "im going to", "u": "you", "ur": "your",
    "pls": "please", "plz": "please", "alot": "a lot", "nomore": "no more", "noone": "no one",
    "tonite": "tonight", "2nite": "tonight", "2day": "today", "idk": "i dont know",
    "hubby": "husband", "bf": "boyfriend", "gf": "girlfriend", "mom": "mum", "mam": "mum", "mummy": "mum",
    "daddy": "dad", "tabs": "tablets", "pils": "pills", "somone": "someone", "sombody": "somebody",
    "evryone": "everyone", "everone": "everyone", "everyon": "everyone",
    # cannot / do not typed every way
    "cnt": "cant", "carnt": "cant", "cannt": "cant", "kant": "cant", "canot": "cant", "cannot": "cant",
    "dnt": "dont", "wnt": "want",
    # dropped g
    "thinkin": "thinking", "feelin": "feeling", "goin": "going", "tryin": "trying", "hurtin": "hurting",
    "bleedin": "bleeding", "breathin": "breathing", "fittin": "fitting", "harmin": "harming", "killin": "killing",
    "cuttin": "cutting", "dyin": "dying", "livin": "living", "burnin": "burning", "swellin": "swelling",
    # myself
    "myslef": "myself", "mysef": "myself", "myslf": "myself", "mself": "myself", "meself": "myself",
    "mysel": "myself", "myselfe": "myself", "myseld": "myself",
    # symptoms and emergencies
    "headach": "headache", "hedache": "headache", "headace": "headache", "hedake": "headache",
    "ambulence": "ambulance", "ambulanse": "ambulance", "ambulnce": "ambulance",
    "unconcious": "unconscious", "unconsious": "unconscious", "unconcsious": "unconscious",
    "siezure": "seizure", "seizur": "seizure", "sezure": "seizure", "seisure": "seizure", "siezures": "seizures",
    "brething": "breathing", "breth": "breath", "brethe": "breathe", "breate": "breathe", "breahte": "breathe",
    "swolen": "swollen", "swolled": "swollen", "sollen": "swollen", "bleding": "bleeding", "bledding": "bleeding",
    "strok": "stroke", "strock": "stroke", "chesst": "chest", "numbe": "numb", "faintd": "fainted",
    "pasted": "passed", "heelp": "help", "hellp": "help", "pleease": "please", "stroek": "stroke", "brused": "bruised", "bruse": "bruise", "stnt": "stent", "angioplasy": "angioplasty",
}

# Spelled-out forms folded into the apostrophe-free contractions the patterns use.
PHRASE_FIXES = {
    "can not": "cant", "do not": "dont", "will not": "wont", "is not": "isnt", "does not": "doesnt",
    "did not": "didnt", "could not": "couldnt", "would not": "wouldnt", "are not": "arent",
    "i am": "im", "he is": "hes", "she is": "shes", "it is": "its", "what is": "whats", "there is": "theres",
    "any more": "anymore", "any longer": "anymore", "my self": "myself",
    "a and e": "ae", "him self": "himself", "her self": "herself", "kill my self": "kill myself",
}

# Fragments shared by many patterns; written <NAME> inside a pattern.
FRAGMENTS = {
    # one optional word between ("kill my own self" has its own gaps written out as (?:\w+ ){0,2})
    "GAP1": r"(?:\w+ )?",
    # "now" as in "and now my leg is swollen", not "I see now that..."
    "NOW": r"(?:and now|now (?:my|his|her|its|the|im|hes|shes|i|he|she|theres|it|ive|weve|there))",
    "HEADACHE": r"(?:headache|head pain|pain in (?:my|his|her|the) head|migraine)",
    # breathe, breath, breth, breathing, breathin
    "BREATHE": r"br(?:ea|e|ae)th(?:e|es|ed|ing)?",
    "PILLS": (r"(?:pills|tablets|tablet|meds|medication|medications|medicine|medicines|capsules|"
              r"painkillers|paracetamol|paracetemol|ibuprofen|aspirin|co codamol|codeine|tramadol|morphine|"
              r"oxycodone|baclofen|gabapentin|pregabalin|amitriptyline|nortriptyline|diazepam|sertraline|"
              r"citalopram|fluoxetine|insulin|sleeping pills|antidepressants|fampridine|them)"),
    # specific people a visitor may write about (not "someone", "people", "patients")
    "KIN": (r"(?:husband|wife|partner|boyfriend|girlfriend|fiance|fiancee|ex|mum|mother|dad|father|"
            r"stepdad|stepmum|son|daughter|brother|sister|child|kid|baby|nan|gran|grandma|grandad|"
            r"grandmother|grandfather|grandson|granddaughter|uncle|aunt|auntie|cousin|friend|carer|"
            r"neighbour|flatmate|family)"),
    # a specific person as a subject: I, he, she, they, my/our <kin>
    "PERSON": (r"(?:i|ive|im|id|he|hes|she|shes|they|theyre|theyve|(?:my|our) (?:\w+ )?<KIN>s?)"),
    # someone else who might be hurting the visitor
    "ABUSER": (r"(?:he|hes|she|shes|they|theyre|theyve|someone|somebody|(?:my|our|the) (?:\w+ )?"
               r"(?:<KIN>|care worker|support worker|carers|staff|landlord|in laws?|relatives?))"),
    "HIT": (r"(?:hits|hit|hitting|beats|beat|beating|beaten|punches|punched|punching|kicks|kicked|kicking|"
            r"slaps|slapped|slapping|pushes|pushed|pushing|shoves|shoved|chokes|choked|choking|strangles|"
            r"strangled|strangling|throttled|grabbed|grabs|hurts|hurt|hurting|harms|harmed|abuses|abused|"
            r"abusing|attacks|attacked|assaults|assaulted|rapes|raped|threatens|threatened|threatening|"
            r"shakes|shook|bites|bit|burns|burned|burnt|pinches|pinched|spits on|spat on|molests|molested|"
            r"touches|touched)"),
    "VICTIM": r"(?:me|us|my (?:kids|children|<KIN>))",
}

# --------------------------------------------------------------------------------------------------
# Context cues used by the "personal" and "current" modes
# --------------------------------------------------------------------------------------------------

# A person the message is about. If one remains after NOT_A_PERSON is removed, the message is
# not a general question.
PERSON_WORDS = r"\b(?:i|im|ive|id|me|my|mine|myself|we|weve|us|our|he|hes|him|his|himself|she|shes|her|herself|<KIN>s?)\b"

# First-person words that are about asking, not about a body: removed before looking for a person.
NOT_A_PERSON = (
    r"\b(?:can|could|would|will|might|may|should|do|does|did|if|when|before|whether|am|are|is) "
    r"(?:i|we|you|one|someone|people|they)\b",
    r"\b(?:tell|explain to|show|give|send|let|help) me\b",
    r"\b(?:i|ive|id) (?:read|heard|saw|wonder|was wondering|want to know|would like to know|like to know|"
    r"understand|have a question|got a question|was told|have been reading|been reading|have read|think that)\b",
    r"\bim (?:curious|researching|wondering|interested|reading|asking|trying to understand)\b",
    r"\bmy (?:neurologist|neuro|doctor|gp|nurse|ms nurse|consultant|specialist|question|understanding|research)\b",
)

# Openers of a general question (first word of a sentence).
QUESTION_OPENERS = frozenset(
    "what whats which who whos why how hows when where can could does do did is are was were will "
    "would should has have may might any if whether tell explain".split())

# Words that make a message about risk in general rather than about someone now.
GENERAL_WORDS = (r"\b(?:risks?|side effects?|complications?|trials?|study|studies|research|evidence|fda|nice|"
                 r"reported|reports?|cases|people|patients|anyone|anybody|someone|chance|likely|common|"
                 r"rate|percentage|statistics|stats|known|usually|normally|typically|generally|in general|cause|causes|causing)\b")

# Planning or hypothetical: "if I have the procedure will I bruise?".
FUTURE_WORDS = (r"\b(?:if i|if we|if my|when i have|before i|before my|will i|would i|could i|might i|am i likely|"
                r"thinking (?:of|about) (?:having|going|getting|booking|trying)|planning|plan to|"
                r"going to have|booked|considering|next (?:week|month|year))\b")

# Worry or urgency: the message is about something happening, whatever its grammar.
URGENT_WORDS = (r"\b(?:help|urgent|asap|emergency|<NOW>|right now|normal|is this|should i worry|"
                r"worried|worrying|scared|frightened|terrified|panicking|panic|what do i do|what should i do|"
                r"should i (?:go|call|ring|phone|see)|do i need)\b")

# Urgency that outweighs planning words: "if I have the procedure" + "help, it's bleeding".
STRONG_URGENT_WORDS = r"\b(?:help|urgent|asap|emergency|right now|what do i do|what should i do)\b"

# Recent or happening now.
RECENT_WORDS = (r"\b(?:yesterday|today|tonight|this (?:morning|afternoon|evening|week)|last (?:night|week)|"
                r"(?:\d+|a|an|one|two|three|four|five|six|seven|ten|few|couple of|couple) "
                r"(?:days?|hours?|weeks?|nights?) (?:ago|since|after|later)|"
                r"monday|tuesday|wednesday|thursday|friday|saturday|sunday|"
                r"just (?:had|got back|come home|came home|been|now)|got (?:back|home)|getting home|"
                r"(?:came|come|flew|flown) (?:home|back)|since (?:the|my|his|her|i|he|she|they|getting|"
                r"having|coming)(?! diagnos| ms\b)|right now|at the moment|currently|still|keeps?|kept|"
                r"getting (?:worse|bigger)|growing|spreading|wont (?:stop|go away)|sudden\w*|<NOW>|went in)\b")

# The past, long-standing or resolved: an MS symptom "for years" is not an emergency.
HISTORY_WORDS = (r"\b(?:in (?:19|20)\d\d|back in|years? ago|months ago|last (?:year|month)|"
                 r"(?:a|one|two|three|few|couple of|\d+) years?|for (?:years|months|ages|a long time|weeks|decades)|"
                 r"used to|cleared up|went away|comes and goes|on and off|since (?:i was |my |being )?diagnos\w*|"
                 r"when i was diagnosed|previous|in the past|at the time|afterwards|back then|long term|"
                 r"(?:was|were|is|are) (?:\w+ )?fine|recovered|settled down|"
                 r"sometimes|often|whenever|every time|when (?:im|i am|i get|i feel) (?:\w+ )?(?:tired|hot|stressed|"
                 r"cold|exhausted|run down))\b")

# Something that keeps happening, the MS way ("my speech gets slurred when I'm tired"): holds back
# the FAST signs, which MS itself causes, unless something sudden or recent is said too.
HABITUAL_WORDS = (r"\b(?:sometimes|often|whenever|every time|comes and goes|on and off|for (?:years|months|ages)|"
                  r"when (?:im|i am|i get|i feel|he is|hes|she is|shes|they are|theyre) (?:\w+ )?(?:tired|hot|"
                  r"stressed|cold|exhausted|run down|worn out))\b")

# "had a stroke" is an emergency only with one of these near it.
ACUTE_NEAR = (r"\b(?:just|think|thought|might|maybe|may have|today|tonight|this morning|last night|yesterday|"
              r"now|earlier|an hour|hours ago|minutes|again)\b")

# A general subject before "having a stroke/seizure": "has anyone had a seizure?".
GENERAL_SUBJECT_BEFORE = (r"\b(?:anyone|anybody|people|patients|someone|somebody|nobody|you|one|risk of|chance of|"
                          r"chances of|fear of|prevent|avoid|(?:afraid|scared|terrified|frightened|worried|worry|"
                          r"nervous|anxious|fear)(?: \w+)? (?:of|about))\b")

# Accidents: "I fell and hurt myself" is not self-harm.
ACCIDENT_NEAR = (r"\b(?:fell|fall|falling|fallen|tripped|trip|slipped|accident\w*|shaving|cooking|kitchen|"
                 r"chopping|gardening|oven|iron)\b")

# --------------------------------------------------------------------------------------------------
# Phrase lists by category. A pattern is a string, or a Near(...) with a condition on its
# surroundings (checked within NEAR_WINDOW characters either side of the match).
# --------------------------------------------------------------------------------------------------

NEAR_WINDOW = 60


@dataclass(frozen=True)
class Near:
    """A pattern that counts only if `requires` is near it and `unless` is not."""

    pattern: str
    unless: str | None = None
    requires: str | None = None
    unless_before: str | None = None


# Suicide, self-harm and wishing to be dead: always flagged, whatever the grammar.
SUICIDE_PATTERNS = (
    # the word itself, misspelt: suicide, sucide, suicde, suiside, suicidal, sucidal, suacide
    r"\bsu[ai]?s?[cs]i?d\w*",
    r"\bsewer ?slide\b",
    r"\bunalive\w*\b",
    # kill myself, kil myself, kll myself, killing myself, kms
    r"\bk+i*l+(?:ing|ed|s)? ?<GAP1>(?:myself|himself|herself|themselves|themself|yourself)\b",
    r"\bkms\b",
    r"\bkill me (?:now|already|please)\b",
    r"\b(?:someone|somebody|god|please|just) (?:\w+ )?kill me\b",
    r"\b(?:end|take|ending|taking|ended|took|finish|finishing) (?:my|his|her) (?:own )?life\b",
    r"\bend(?:ing)? it all\b",
    r"\bend (?:it|things|everything) (?:now|tonight|today|soon)\b",
    r"\b(?:going to|want to|thinking (?:of|about)|think about|thought about|plan(?:ning)? to|about to|ready to|"
    r"might|will|could) (?:just )?end(?:ing)? (?:it|things|everything|my life)\b",
    r"\bending things\b",
    r"\b(?:thinking|think|thought|thoughts|obsessed|obsessing|dreaming|fantasi\w*|daydream\w*) (?:a lot |all the time )?"
    r"(?:about|of) (?:dying|death|being dead|not being here|not existing|my (?:own )?death|my funeral)\b",
    r"\b(?:asleep|sleep) forever\b",
    r"\b(?:never|not) wake up again\b",
    r"\bhad enough of (?:life|living|everything|it all|being alive|this life|existing)\b",
    r"\bhad enough(?: now| of it all)?(?: \\.|$)",
    r"\b(?:bought|got|have|found|tied|tie|made) (?:a |the )?(?:rope|noose|ligature)\b",
    r"\bnoose\b",
    r"\b(?:should|might as well|may as well|deserve to|ought to) (?:just )?(?:die|be dead|kill myself|not be here)\b",
    r"\b(?:im|i am|i feel|feel like) (?:\w+ )?(?:a waste of (?:space|oxygen|air)|worthless)\b",
    # hopelessness
    r"\bno way out\b",
    r"\bonly (?:way out|way to stop|option left|answer|solution) (?:\w+ ){0,3}(?:die|death|dead|end it|suicide)\b",
    r"\bonly way out\b",
    r"\b(?:six|6) (?:feet|foot|ft) under\b",
    # the means at hand, or being told to
    r"\b<PILLS> (?:\w+ )?(?:next to|beside|in front of) me\b",
    r"\b(?:telling|tells|told|tell) me to (?:end it|kill|hurt|harm|die|do it|jump|cut)\b",
    r"\b(?:dont|do not|never) deserve to (?:live|be alive|be here|exist)\b",
    # self-harm going on
    r"\b(?:been|started|keep|keeps|still|back to) (?:\w+ )?(?:cutting|self harming|burning myself|"
    r"hurting myself)\b(?! (?:back|out|down|up|corners|the|my (?:hair|dose|nails|meds|medication)))",
    r"\bcutting (?:again|myself)\b",
    # no future, no point, giving up, giving things away
    r"\b(?:cant|dont|cannot) see (?:a|any) (?:future|way (?:out|forward|through)|reason to)\b",
    r"\bno future (?:for me|left)\b",
    r"\b(?:feel|feeling|im|i am|its|it all feels) (?:so |completely |totally |just )?hopeless\b",
    r"\b(?:whats|what is|what the|is there) (?:the |any )?point (?:of|in) (?:me|my life|my existence|being me)\b",
    r"\b(?:feel like|want to|going to|ready to|about to|thinking of|thinking about) (?:just )?giv(?:e|ing) up\b"
    r"(?! (?:on )?(?:my |the |on the )?(?:dmt|dmts|injections?|treatment|medication|meds|research|diet|job|work|"
    r"smoking|drinking|reading|hope of a cure|trying to understand))",
    r"\bgiv(?:e|ing|en) (?:all )?(?:my|away my) (?:things|stuff|belongings|possessions) away\b",
    r"\bgiv(?:e|ing|en) away (?:all )?my (?:things|stuff|belongings|possessions)\b",
    r"\bmy (?:own )?funeral\b",
    r"\b(?:still|not|wont|not going to) be (?:here|around|alive) (?:next|tomorrow|by|much longer|for long|this time)\b",
    r"\b(?:pills|tablets|rope|knife|blade|razor) (?:are |is )?(?:ready|lined up|counted out|all saved)\b",
    r"\b(?:enough|all the) (?:\w+ )?(?:pills|tablets) (?:to|for)\b",
    r"\b(?:drive|driving|crash|crashing|steer) (?:my car |the car )?(?:into|off) (?:a|the) (?:wall|tree|bridge|cliff|"
    r"lorry|river|sea|motorway)\b",
    r"\bwalk (?:into|in to) the (?:sea|river|lake|traffic)\b",
    r"\b(?:lethal|fatal|deadly) (?:dose|amount|overdose)\b",
    r"\bhow (?:much|many) (?:\w+ ){0,4}(?:would|will|does it take to|to|would it take to) "
    r"(?:kill|be fatal|be lethal|die|not wake)\b",
    r"\benough to kill\b",
    r"\b(?:tried|try|trying|attempted|attempt) to (?:kill|end|hurt|harm) (?:myself|my life|it)\b",
    r"\b(?:razor|blade)s? (?:\w+ ){0,3}(?:arms?|legs?|wrists?|skin|thighs?)\b",
    r"\b(?:cant|couldnt) be bothered (?:to live|living|being alive)\b",
    r"\b(?:goodbye|bye) (?:everyone|all|world|forever)\b",
    r"\b(?:dont think i can|i cant|cant) (?:keep going|go on|carry on)\b"
    r"(?! (?:with (?:the|my|this) (?:dmt|dmts|injections?|treatment|job|work|research)|holidays?|a|an|the|my|his|"
    r"her|our|trips?|walks?|long|about|to|for|as|at|in|planes?|flights?|buses|trains|public|any|that|this)\b)",
    r"\b(?:easier|better|happier|simpler|fine|relieved) (?:off )?(?:for (?:everyone|them|him|her|my \w+) )?if i "
    r"(?:wasnt|werent|was not|were not|was gone|were gone|died|disappeared|was dead|just died|wasnt here|"
    r"wasnt around|wasnt alive)\b",
    r"\bif i (?:was|were) (?:gone|dead)\b",
    r"\b(?:easiest|easy|quickest|quick|painless|best|surest|simplest|fastest) ways? (?:to|of) "
    r"(?:die|dying|go|end it|end my life|kill myself|do it|check out)\b",
    r"\bways (?:to|of) (?:die|dying|end it|kill myself|end my life|killing myself)\b",
    r"\b(?:crash\w*|hurt\w*|cut\w*|burn\w*|fall\w*|driv\w*|walk\w*|step\w*|jump\w*|overdos\w*|take|took|harm\w*) "
    r"(?:\w+ ){0,3}(?:on purpose|deliberately)\b",
    r"\b(?:hoping|hope|hoped|wish|wished|praying|pray|prayed) (?:that )?(?:i|id) (?:wouldnt|would not|dont|didnt|"
    r"never|wont) wake\b",
    r"\bwish i (?:hadnt|had not|didnt|did not|wouldnt|would not) (?:\w+ )?(?:woken|wake|woke|been born|survived)\b",
    r"\b(?:tired|sick|weary|exhausted|knackered|fed up) of (?:fighting|trying|struggling|being a burden|everything|"
    r"it all)\b"
    r"(?! (?:for|with|the|my|over|against))",
    r"\b(?:problem|burden|bother|trouble) (?:for|to) (?:anyone|anybody|everyone|you all|them) (?:much |for )?longer\b",
    r"\b(?:not going to|wont|will not) be (?:\w+ ){0,5}(?:much longer|for long|for much longer)\b",
    r"\b(?:stop|stopping|stopped) (?:taking )?(?:all )?(?:my|of my) (?:meds|medication|tablets|pills|insulin|"
    r"treatment) (?:\w+ ){0,3}(?:let|letting|die|end)\b",
    r"\blet(?:ting)? (?:myself|it all) (?:die|go|end|fade)\b",
    r"\b(?:top|toppin|topping|off|offing) myself\b",
    r"\bdo(?:ing)? myself in\b",
    r"\b(?:hang|hanging|drown|drowning|shoot|shooting|poison|poisoning|gas|gassing|suffocate|suffocating|"
    r"starve|starving|overdose) myself\b",
    r"\bslit (?:my|his|her) (?:wrist|throat)s?\b",
    r"\bself ?(?:harm|harming|harmed|harms|injur\w*)\b",
    # wanting to die / not exist
    r"\b(?:want|wanted|wanting|wish|wishing|ready|plan|planning|prefer|longing) (?:to|2) <GAP1>"
    r"(?:die|be dead|not be alive|not be here|not exist|stop existing|disappear)\b",
    r"\bwish (?:i|id) (?:was|were|had|could|would|didnt) (?:\w+ ){0,2}(?:dead|die|died|gone|never been born|"
    r"disappear|not wake up|not exist|sleep forever|wake up)\b",
    r"\b(?:dont|dont really|never|no longer|dont even) want to <GAP1>(?:be here|be alive|live|exist|go on|carry on|"
    r"wake up|be around)\b",
    r"\bbetter off (?:dead|without me|if i (?:was|were|wasnt|werent|wasn t) (?:\w+ )?(?:here|around|alive|gone|dead))\b",
    r"\b(?:no|dont see the|dont see any|cant see the|cant see any|whats the|what the|not much) point "
    r"(?:in |of )?(?:going on|carrying on|living|being alive|being here|life|trying anymore|anymore|any of it|"
    r"anything|me being here|continuing|existing|it all)\b",
    r"\bnothing (?:left )?to live for\b",
    r"\bno reason (?:to|2) (?:live|go on|carry on|keep going|be here|stay)\b",
    r"\bnot worth living\b",
    r"\blife (?:isnt|aint|isn t|is no longer) worth (?:it|living)\b",
    r"\b(?:go to sleep|fall asleep|sleep) and (?:not|never|no|dont) wake up\b",
    r"\b(?:no|lost (?:the|my)|losing (?:the|my)|dont have the|dont have any) will to live\b",
    r"\b(?:i|im|i am) (?:\w+ )?(?:want|wanting|going|thinking) (?:to |of |about )?kill(?:ing)? me\b",
    r"\b(?:go|going|went|drive|driving|walk|walking|head|heading) (?:\w+ )?to the (?:bridge|cliffs?|cliff edge|railway line|"
    r"train tracks|tracks|roof)\b(?! club)",
    r"\b(?:ready|want|time|going|planning) to check out\b(?! of (?:the )?(?:hospital|clinic|hotel))",
    r"\buntil i (?:die|am dead|pass away|starve)\b",
    r"\b(?:going to|will|decided to|ready to|plan to|planning to) do it (?:tonight|today|now|this weekend)\b",
    r"\brather not (?:be here|be alive|exist|wake up|live)\b",
    r"\b(?:nobody|no one|family|they|everyone|anyone) (?:\w+ )?(?:dont|doesnt|wont) (?:need|want) me\b",
    r"\ball (?:my |of my |the |his |her )?<PILLS> at once\b",
    r"\bend (?:my|this|all this|all my) (?:suffering|misery|existence)\b",
    r"\bend (?:\w+ ){0,2}for good\b",
    r"\bnothing (?:left )?(?:for me|worth living for)\b",
    r"\bstarve (?:myself|to death)\b",
    r"\b(?:to|and|just|id|would|rather|hope i|hoping i|wish i could|wish i would|about|of|thinking) "
    r"(?:not|never) wak(?:e|ing) up\b",
    r"\bhope i (?:dont|never) wake up\b",
    r"\b(?:nobody|no one|noone) would (?:even )?(?:miss|care|notice)\b",
    r"\bwould (?:anyone|everyone|people) (?:\w+ )?(?:miss me|care if i)\b",
    r"\bwont be (?:around|here) (?:much longer|for long|anymore|tomorrow)\b",
    # cannot go on
    r"\bcant (?:do (?:this|it|life)|take (?:it|this|any more|anymore)|cope|go on|carry on|keep going|"
    r"face (?:another day|tomorrow|it|life)|live like this|handle (?:it|this|life)|deal with (?:it|this|life)) "
    r"(?:anymore|no more)\b",
    r"\bcant (?:go on|carry on|keep going) (?:like this|living)\b",
    r"\b(?:give|giving|given|gave) up on (?:life|living|everything|myself)\b",
    r"\b(?:tired|sick|weary) of (?:living|life|being alive|existing|being here)\b",
    r"\b(?:done|finished) with (?:life|living|it all|everything)\b",
    r"\bwant (?:it all|everything|this|it) to (?:stop|end|be over)\b",
    r"\bhate (?:my )?(?:life|being alive)\b",
    r"\b(?:im|i am|feel like|feeling like|i feel) (?:\w+ )?(?:a|such a|just a|nothing but a) (?:\w+ )?burden\b",
    r"\brather (?:be )?(?:dead|die)\b",
    # plans and preparations
    r"\b(?:saving|saved) (?:up )?(?:all )?(?:of )?(?:my |his |her )?<PILLS>\b",
    r"\b(?:stockpil|hoard|stash)\w* (?:up )?(?:all )?(?:of )?(?:my |his |her )?<PILLS>\b",
    r"\b(?:want|going|thinking|thought|thoughts|planning|plan|tempted|ready|could|might|should just) (?:to |about |of )?"
    r"(?:just )?(?:take|taking|swallow|swallowing) (?:them all|all (?:of )?(?:my|the|his|her) <PILLS>|the lot|the whole)\b",
    Near(r"\bover ?dos(?:e|es|ing)\b", unless=r"\b(?:vitamin|vitamins|supplements?|vit d)\b"),
    r"\b(?:going to|want to|might|will|could|thinking (?:of|about)|think about|plan to|about to) (?:just )?od\b",
    r"\bod(?:ing)? on\b",
    r"\b(?:jump|jumping|throw|throwing|step|stepping|walk|walking) (?:myself )?(?:off|from|in front of|under) "
    r"(?:a |the |my )?(?:\w+ )?(?:bridge|building|cliff|roof|train|bus|car|lorry|balcony|motorway)\b",
    r"\b(?:wrote|written|writing|left|leave|leaving) (?:\w+ ){0,4}(?:letters?|notes?) (?:to|for) "
    r"(?:my|the|everyone|him|her|them)\b",
    r"\b(?:goodbye|farewell|suicide) (?:letter|note|message)s?\b",
    r"\bthis is goodbye\b",
    r"\bin case i (?:go through with it|do it)\b",
    # assisted dying: flagged so the reply can signpost gently
    r"\b(?:dignitas|euthanasia|euthanise|assisted (?:dying|death|suicide))\b",
)

# Injuring oneself: flagged unless it is plainly an accident ("I fell and hurt myself").
SELF_INJURY_PATTERNS = (
    Near(r"\b(?:hurt|hurting|harm|harming|harmed|cut|cutting|burn|burning|burnt|injure|injuring|scratch|scratching|"
         r"punish|punishing|bruise|bruising|hit|hitting|punch|punching|bang|banging|slap|slapping|bite|biting) myself\b",
         unless=ACCIDENT_NEAR),
    Near(r"\bcut(?:ting|s)? (?:my|his|her) (?:wrist|arm|leg|thigh|skin|stomach|tummy)s?\b", unless=ACCIDENT_NEAR),
    r"\b(?:until|till|til|so hard) (?:it|they|i) (?:bleed\w*|bled|bruise\w*)\b",
)

# An overdose already taken, or someone who cannot be woken: the most urgent, tried first.
OVERDOSE_TAKEN_PATTERNS = (
    r"\bover ?dosed\b",
    r"\b(?:taken|took|swallowed|had|done|did) (?:an |a )(?:\w+ )?over ?dose\b",
    Near(r"\b(?:taken|took|swallowed|had|necked|downed|eaten|ate) (?:all|the lot|the whole|"
         r"a (?:whole|full) (?:box|packet|pack|bottle|strip)|loads|lots|a lot|a load|a handful|handfuls|"
         r"too many|heaps|a bunch|[1-9]\d+|ten|twelve|fifteen|twenty|thirty|forty|fifty|a hundred) "
         r"(?:\w+ ){0,3}?<PILLS>\b",
         unless=r"\b(?:for (?:today|the day|this morning|tonight)|as prescribed|on time|usual|every day|"
                r"this morning|with (?:food|water))\b"),
    r"\b(?:swallowed|eaten|ate|got into) (?:some|a few|a lot|loads|lots|all|a handful|a bottle|a packet|a box)"
    r"\b (?:of )?(?:\w+ ){0,2}?<PILLS>\b",
    r"\b(?:taken|took|swallowed) too (?:many|much)\b",
    r"\b(?:had|given|been given|taken|took|swallowed) too (?:much|many) (?:of )?(?:my |his |her |their )?<PILLS>\b",
    r"\bun ?c[oa]n[sc]+h?i?[oe]?us\b",
    r"\bunresponsive\b",
    r"\b(?:barely|hardly|semi|not fully) conscious\b",
    r"\b(?:losing|lost|drifting in and out of|in and out of) consciousness\b",
    r"\b(?:wont|isnt|hasnt|(?:hes|shes|theyre|is|are|still) not) (?:wak(?:e|ing)|woken|come round|coming round|"
    r"coming to|come to)\b",
    r"\b(?:cant|couldnt) (?:wake|rouse) (?:him|her|them|my \w+|\w+) up\b",
)

# Breathing and chest: flagged whatever the grammar.
CHEST_ALWAYS_PATTERNS = (
    Near(r"\bhaving (?:a |another )?heart attack\b", unless_before=GENERAL_SUBJECT_BEFORE),
    Near(r"\bhad (?:a |another )?heart attack\b", requires=ACUTE_NEAR, unless_before=GENERAL_SUBJECT_BEFORE),
    r"\b(?:cant|couldnt|unable to|struggling to|struggle to|fighting to|fighting for|barely|hardly) <BREATHE>\b",
    r"\b(?:cant|couldnt) (?:get|catch) (?:my|his|her|a|their) breath\b",
    r"\b(?:not|isnt|stopped|stops|has stopped|hasnt been|wasnt|no longer) (?:\w+ )?<BREATHE>\b",
    r"\bgasping\b",
    r"\bchok(?:ing|ed|es)\b(?! (?:me|her|him|us|them|up)\b)",
    r"\b(?:lips?|face|fingers?|skin) (?:are |is |has |have )?(?:going|gone|turning|turned|went) (?:blue|grey|gray)\b",
    r"\bturning blue\b",
    r"\bcough(?:ing|ed)? (?:up )?blood\b",
    r"\bcrushing (?:\w+ ){0,3}chest\b",
    r"\b(?:cant|unable to|struggling to|hard to|trouble|cant seem to) (?:get|getting) (?:any |enough )?air\b",
    r"\b(?:struggling|fighting|gasping|desperate) for (?:breath|air)\b",
    r"\b(?:struggling|struggle|fighting|trying|hard|cant seem) to (?:get|catch) (?:my|his|her|a|their) breath\b",
    r"\bsuffocat\w*\b",
    r"\b(?:elephant|weight|pressure|band|vice|squeez\w*) (?:\w+ ){0,3}(?:on|across|around|in) (?:my|his|her|the) chest\b",
    r"\bchest (?:\w+ )?crushing\b",
)

# Breathing and chest symptoms also named in general questions ("is breathlessness a symptom?").
CHEST_PERSONAL_PATTERNS = (
    Near(r"\bchest (?:\w+ ){0,3}(?:pain|pains|ache|aches|hurts|hurting|tightness|tight|heavy|pressure|sore|burning|"
         r"is killing me|agony|excruciating|killing)\b", unless=r"\boff (?:my|his|her|your) chest\b"),
    r"\bpain (?:\w+ ){0,4}(?:left arm|jaw|down (?:my|his|her) arm)\b",
    r"\b(?:left arm|jaw) (?:\w+ ){0,3}(?:pain|ache|aching|hurts|hurting)\b",
    r"\bwheez\w*\b",
    r"\bcough\w* (?:\w+ ){0,5}blood\b(?! (?:tests?|pressure|sugar|results?|counts?|thinners?))",
    r"\b<BREATHE> (?:\w+ ){0,2}(?:fast|quick|quickly|rapid|rapidly|shallow|noisy|strange|weird|funny|bad|awful|"
    r"terrible|worse|wrong|laboured|struggling|slow|strange\w*|odd\w*|irregular|heav\w*)\b",
    r"\b(?:hurts|painful|pain|agony|sore) (?:to|when i|when i try to|when i) <BREATHE>\b",
    r"\bblue (?:lips|face|fingers)\b",
    r"\b(?:pain|pains|ache|tightness|pressure|tight|heavy|heaviness|squeezing) (?:in|across|on|around) (?:\w+ )?chest\b",
    r"\btight chest\b",
    r"\bbreathless\w*\b",
    r"\bshort(?:ness)? of breath\b",
    r"\bout of breath\b",
    r"\b(?:difficulty|difficulties|trouble|problems?|hard|difficult|struggl\w*|labou?red) (?:to )?<BREATHE>\b",
    r"\b<BREATHE> (?:is |has been |feels )?(?:difficult|hard|laboured|funny|weird|strange|shallow|noisy|"
    r"problems|difficulties)\b",
    r"\bheart (?:is )?(?:\w+ ){0,2}(?:racing|pounding|hammering|beating (?:\w+ )?(?:fast|quick|hard|funny|"
    r"irregular|weird)|going crazy|going mad|skipping|fluttering)\b",
    r"\bpalpitations\b",
)

# A heart attack named, which people also mention from the past ("my dad died of a heart attack in
# 2005"): held back in general questions and when about the past.
CHEST_CURRENT_PATTERNS = (
    r"\bheart attack\b",
    r"\bcardiac arrest\b",
)

# Stroke named, sudden worst headache: flagged whatever the grammar.
STROKE_ALWAYS_PATTERNS = (
    Near(r"\bhaving (?:a |another )?(?:mini )?(?:stroke|tia|brain bleed|bleed on (?:the|his|her|my) brain)\b",
         unless_before=GENERAL_SUBJECT_BEFORE),
    Near(r"\bhad (?:a |another )?(?:mini )?(?:stroke|tia|brain bleed)\b",
         requires=ACUTE_NEAR, unless_before=GENERAL_SUBJECT_BEFORE),
    r"\b(?:is this|is it|could this be|this might be|think (?:its|this is|it was|that was)|looks like) "
    r"(?:a |having a )?(?:mini )?stroke\b",
    r"\bworst (?:\w+ ){0,2}<HEADACHE> (?:of|in) (?:my|his|her) (?:\w+ )?life\b",
    r"\bworst <HEADACHE> (?:\w+ ){0,3}(?:ever|ive ever had|i have ever had)\b",
    r"\b<HEADACHE> (?:\w+ ){0,3}came on (?:suddenly|out of nowhere|all of a sudden|like a)\b",
    r"\bthunderclap\b",
    r"\bsudden(?:ly)? (?:\w+ ){0,2}(?:severe|terrible|awful|excruciating|blinding|splitting|massive|horrendous|"
    r"agonising|agonizing|bad|violent) <HEADACHE>\b",
    r"\b(?:severe|terrible|awful|excruciating|blinding|massive|agonising|splitting) <HEADACHE> "
    r"(?:that )?(?:came on )?(?:suddenly|out of nowhere|all of a sudden)\b",
)

# FAST signs (face, arms, speech): flagged unless the message is a general question, or says the
# sign keeps coming back ("when I'm tired") with nothing sudden or recent.
STROKE_PERSONAL_PATTERNS = (
    r"\bface (?:\w+ ){0,2}(?:droop\w*|drop(?:ped|ping|s)?|fallen|sagg\w*|lopsided|twisted|hanging|slipped|"
    r"crooked|paralys\w*)\b",
    r"\bface (?:\w+ )?(?:looks|feels|gone|went|is|has gone|is all) (?:all |really |very )?(?:funny|weird|wrong|"
    r"strange|odd|different|frozen)\b",
    r"\b(?:half|one side of|side of|left side of|right side of) (?:my|his|her|the) face (?:\w+ ){0,2}"
    r"(?:wont|cant|isnt|doesnt|has|feels|looks|gone|went|is)\b",
    r"\b(?:droop\w*|lopsided|twisted|paralysed|fallen) (?:on (?:one|the \w+) side of (?:my|his|her|the) )?face\b",
    r"\bmouth (?:is |has |feels |looks )?(?:gone |went )?(?:funny|weird|droop\w*|twisted|lopsided|numb|"
    r"dropped|crooked)\b",
    r"\bslur+(?:ed|ing|s|y)?\b",
    r"\b(?:cant|unable to|can t) (?:speak|talk)(?: properly| clearly| at all| right| and\b|$| \.)",
    r"\bsuddenly (?:cant|unable to) (?:speak|talk)\b",
    r"\b(?:cant|unable to) (?:get (?:my|his|her|the) words out|find (?:my|his|her|the) words|say (?:my|his|her)? ?words)\b",
    r"\b(?:words|speech) (?:\w+ ){0,4}(?:jumbled|muddled|garbled|wrong|gibberish|nonsense|funny|"
    r"weird|strange|odd|slurred|slurry|drunk)\b",
    r"\b(?:voice|talking) (?:is |sounds |has gone |went |gone )?(?:all )?(?:slurred|slurry|drunk|funny|weird|strange|"
    r"garbled)\b",
    r"\b(?:arm|leg|hand|side) (?:\w+ ){0,2}(?:gone|went|going) (?:\w+ )?(?:dead|weak|limp|floppy|heavy)\b",
    r"\b(?:hand|arm|leg|fingers) (?:wont|isnt|doesnt|cant) (?:work|move|grip)\b",
    r"\b(?:arm|hand|leg) (?:just |suddenly )?(?:flopped|flopping|floppy|dropped|fell)\b(?! (?:asleep|off))",
    r"\b(?:<KIN>|<KIN>s|hes|shes|he is|she is) (?:\w+ )?(?:(?:not|isnt) making (?:any )?sense|talking nonsense|talking gibberish)\b",
    r"\bsudden(?:ly)? (?:\w+ ){0,2}confus\w*\b",
    r"\b(?:cant|unable to) understand (?:what (?:people|anyone|you|he|she|they|my \w+) (?:are|is) saying|anyone|speech)\b",
    r"\b(?:arm|leg|hand|side of (?:my|his|her) body) (?:is |feels |has gone |went )?(?:suddenly )?"
    r"(?:weak|limp|dead|paralysed)\b",
)

# Signs MS itself often causes: flagged unless a general question, or about the past with
# nothing sudden or recent ("numbness in my face last year that cleared up").
STROKE_CURRENT_PATTERNS = (
    r"\bnumb(?:ness)? (?:in|on|down|across) (?:\w+ ){0,4}face\b",
    r"\b(?:half|one side of|side of) (?:my|his|her) (?:body|face) (?:\w+ ){0,2}(?:went|gone|is|has gone|feels|goes) "
    r"(?:\w+ )?(?:dead|numb|weak|limp|heavy|funny|floppy|paralysed)\b",
    r"\bseeing double\b",
    r"\blost (?:the )?use of (?:my|his|her|their) (?:\w+ )?(?:arm|leg|hand|side|arms|legs|hands)\b",
    r"\bblind in (?:one|my|his|her|the) (?:\w+ )?eye\b",
    r"\b(?:lost|losing|lose) (?:my|his|her|the ability to) (?:speech|words|speak|talk|voice)\b",
    r"\bface (?:\w+ ){0,2}numb\w*\b",
    r"\bnumb (?:side of (?:my|his|her|the) )?face\b",
    r"\b(?:cant|unable to|couldnt) (?:move|lift|raise|feel|use|grip with) (?:my|his|her|their|one|either|both|"
    r"the) (?:\w+ ){0,2}(?:arm|arms|leg|legs|hand|hands|side|face)\b",
    r"\bsudden(?:ly)? (?:\w+ ){0,3}?(?:lost|lose|losing|loss of|cant see|gone blind|went blind|blind\w*|blurred|"
    r"double vision|no vision)\b",
    r"\b(?:lost|lose|losing|loss of) (?:the |my |his |her |all )?(?:vision|sight|eyesight) (?:in|from|out of) "
    r"(?:my|his|her|one|the|both) (?:\w+ )?eyes?\b",
    r"\b(?:cant|cannot|can t) see (?:out of|from|with|in|through) (?:my|his|her|one|the|either) (?:\w+ )?eyes?\b",
    r"\b(?:vision|sight|eyesight|eye|everything) (?:has |is |just )?(?:suddenly )?(?:gone|went|going|turned) (?:\w+ )?"
    r"(?:black|dark|blank|grey|gray|dim|white)\b",
    r"\b(?:gone|went|going) blind\b",
    Near(r"\b(?:vision|sight|eyesight) (?:\w+ )?(?:gone|lost|disappeared|blacked out)\b",
         unless=r"\b(?:(?:double|blurr\w*|fuzzy|hazy) (?:vision|sight)|gone (?:back|away)|back to normal)\b"),
    r"\bsudden(?:ly)? (?:\w+ ){0,3}(?:numb\w*|weak\w*|paralys\w*)\b",
    r"\b(?:numb\w*|weak\w*|paralys\w*|tingl\w*) (?:\w+ ){0,3}(?:one|left|right) side\b",
    r"\b(?:suddenly|all of a sudden|out of nowhere) (?:\w+ ){0,3}?(?:cant|unable to) (?:walk|stand|move|speak|talk|"
    r"see|feel|lift|grip|swallow|understand)\b",
    r"\b(?:cant|unable to) (?:walk|stand|move|speak|talk|see|feel|lift|grip|swallow) (?:\w+ ){0,4}?"
    r"(?:suddenly|all of a sudden|out of nowhere)\b",
    r"\b(?:one|left|right) side (?:of (?:my|his|her) (?:body|face) )?(?:\w+ ){0,3}?(?:weak|dead|limp|floppy|heavy|"
    r"paralysed|numb)\b",
)

# Someone saying they are being hurt, threatened or controlled: always flagged.
HARM_PATTERNS = (
    Near(r"\b<ABUSER> (?:\w+ ){0,3}?<HIT> <VICTIM>\b", unless=r"\bhit (?:me|us) (?:hard|like|for six)\b"),
    Near(r"\b(?:has|have|had|keeps?|kept|been|is|was|gets?|started|always) (?:\w+ )?<HIT> <VICTIM>\b",
         unless=r"\b(?:hit (?:me|us) (?:hard|like|for six)|procedure|operation|stent|angioplasty|venoplasty|"
                r"injection|needle|treatment)\b"),
    Near(r"\b(?:being|been|was|am|im|getting|get|got) (?:\w+ )?(?:abused|beaten|hit|raped|assaulted|attacked|bullied|"
         r"controlled|threatened|strangled|choked|groomed|exploited)\b",
         unless=r"\b(?:hit (?:hard|by (?:the|this|that) (?:news|results?|trial|decision)|for six)|choked up)\b"),
    r"\b(?:domestic|sexual|financial|emotional|physical|elder) (?:abuse|violence)\b",
    r"\babusive\b",
    r"\b(?:scared|afraid|frightened|terrified) (?:of|to go home to|to be alone with|to go home because of) "
    r"(?:him|her|them|my (?:\w+ )?(?:husband|wife|partner|boyfriend|girlfriend|carer|son|daughter|dad|father|mum|"
    r"mother|stepdad|stepmum|ex|family|brother|sister))\b",
    r"\b(?:dont|never) feel safe\b",
    r"\bnot safe (?:at home|here|with (?:him|her|them|my))\b",
    r"\bunsafe (?:at home|with)\b",
    r"\b<ABUSER> (?:\w+ ){0,2}(?:wont|doesnt|never) let me (?:have|take|get) (?:my |any )?(?:meds|medication|"
    r"medicine|tablets|pills|injections?|food|money|phone|keys)\b",
    r"\b<ABUSER> (?:\w+ ){0,2}(?:wont|doesnt|never) let me (?:leave|go out|out of the house|see (?:my|anyone|friends|"
    r"family)|eat|sleep|call|phone|talk to (?:anyone|my)|speak to (?:anyone|my))\b",
    r"\b<ABUSER> (?:\w+ ){0,2}(?:takes?|took|taking|steals?|stole|stealing) my (?:money|pension|benefits|bank card|"
    r"card|savings|pin)\b",
    r"\b(?:hides?|hid|hiding|steals?|stole|took away|takes away) my (?:meds|medication|tablets|pills|phone|"
    r"wheelchair|walking stick|stick|keys|frame)\b",
    r"\block(?:s|ed|ing)? me (?:in|out|up)\b",
    r"\b(?:threaten\w*|said|says|told me) (?:\w+ ){0,2}(?:kill|hurt|hit|beat|harm|stab) (?:me|us)\b",
    r"\b(?:he|she|they|(?:my|our) (?:\w+ )?(?:husband|wife|partner|boyfriend|girlfriend|ex|son|daughter|dad|father|"
    r"mum|mother|stepdad|carer|brother|sister)) (?:\w+ ){0,2}(?:will|is going to|going to|would|might|could|may|"
    r"wants to|is trying to|tried to|keeps trying to) (?:\w+ )?"
    r"(?:kill|hurt|hit|beat|stab) (?:me|us|the kids|the children|my kids|my children|the baby|the dog)\b",
    r"\bif i (?:ever )?(?:leave|try to leave) (?:him|her|them|he|she|they)\b",
    r"\b(?:taking|takes|took|stealing|steals|stole) (?:\w+ )?(?:money|cash|cards?) (?:from|out of) (?:my|me)\b",
    r"\b(?:keeps|kept|keeping|withholds|withheld|withholding|hides|hid) (?:my|the) (?:meds|medication|tablets|pills|food|"
    r"money|phone) (?:from|away from) me\b",
    r"\b(?:hell|shell|theyll|hed|shed|theyd) (?:\w+ )?(?:kill|hurt|hit|beat|stab) (?:me|us)\b",
    r"\b(?:shouts|screams|yells|swears) at me\b",
    r"\b(?:rough|violent|aggressive|nasty|cruel) (?:with|to|towards) (?:me|us|my \w+)\b",
    r"\b(?:he|hes|she|shes|they|theyre|(?:my|our) (?:\w+ )?<KIN>s?) (?:\w+ ){0,3}(?:violent|aggressive)\b",
    Near(r"\bleaves? (?:me )?(?:with )?(?:bruises|marks)\b",
         unless=r"\b(?:injections?|needles?|jabs?|copaxone|interferon|blood tests?|cannula|drip|procedure)\b"),
    r"\b(?:grabs|grabbed|grabbing|squeezes|squeezed|twists|twisted|pulls|pulled|yanks|yanked) my "
    r"(?:arms?|wrists?|hair|neck|throat)\b",
    r"\b(?:scared|afraid|frightened|terrified) (?:to go|of going) (?:back )?home\b",
    r"\b<ABUSER> (?:\w+ ){0,2}control(?:s|ling|led)? (?:everything|all (?:my|the) money|my money|my phone|my life|"
    r"who i see|where i go|me)\b",
    r"\b(?:is|so|very|really|been) controlling\b",
    r"\b<ABUSER> (?:\w+ ){0,2}forc(?:es|ed|ing|e) me\b",
    r"\bknock(?:s|ed|ing)? me (?:about|around|over|down|out)\b",
    r"\b(?:beats|beat|beating|pushes|pushing|shoves|kicks) me (?:up|around|about)\b",
    r"\btak(?:ing|es|en|e|e) advantage of me\b",
    r"\b<ABUSER> (?:\w+ ){0,2}(?:wont|doesnt|never) let me (?:see|call|phone|ring|go to) (?:a|the|my) "
    r"(?:doctor|gp|nurse|hospital|friends?|family|neurologist)\b",
    r"\b(?:nobody|no one|noone) (?:will|would|is going to) (?:ever )?believe (?:me|you)\b",
    r"\bto keep me (?:quiet|quite|down|under control|sedated|docile)\b",
    r"\bdrugg(?:ing|ed) me\b",
    r"\b(?:throws|threw|throwing|chucks|chucked) (?:\w+ ){0,3}at me\b",
    r"\bwhat (?:he|she|they|my \w+) (?:does|did|has done|is doing|keeps doing) to me\b",
    r"\b(?:held|holds|pinned|pins|holding) me down\b",
    Near(r"\bif i (?:ever )?tell (?:anyone|anybody|someone|the police)\b",
         requires=r"\b(?:he|she|they)(?:ll| will| would| said| says| threatens| threatened)\b"),
    r"\bthreaten\w* to (?:put|leave|take|kick|throw|send|lock|hurt|kill|stop) me\b",
    r"\b(?:makes|made|make) me (?:have sex|do (?:sexual|things i dont want))\b",
)

# Other acute emergencies named in so many words: always flagged.
MEDICAL_ALWAYS_PATTERNS = (
    Near(r"\b(?:having|in|keeps having|keep having|been having) (?:a |another )?"
         r"(?:s[ei]{1,2}z(?:ure|ures)|fit|fits|convulsion|convulsions)\b", unless_before=GENERAL_SUBJECT_BEFORE),
    r"\bs[ei]{1,2}z(?:ure|ures)? (?:wont|isnt|not|hasnt|doesnt) stop",
    r"\bfits? (?:wont|isnt|hasnt|doesnt) stop",
    r"\b(?:been|is|hes|shes|keeps|started|still|has been) (?:fitting|seizing|convulsing)\b",
    r"\b(?:fitting|seizing|convulsing) (?:for|again|and|non ?stop)\b",
    r"\b(?:throat|tongue|lips?) (?:is |are |has |have |feels |feel |keeps )?(?:\w+ )?(?:closing|swelling|swollen|"
    r"swelled|tightening|puffing|puffed)\b",
    r"\b(?:im|i am|hes|shes|he is|she is|theyre|(?:my|our) \w+ is|(?:my|our) \w+s|think (?:i|he|she)(?:m|s)?) "
    r"dying\b(?! (?:to|of laugh|for|laugh|inside|of boredom|of embarrassment))",
    r"\bambul\w*\b",
    r"\b(?:call|ring|dial|phone|called|rang|phoned|calling|ringing|dialled|dialed) (?:\w+ )?(?:999|911|112)\b",
    r"\bae\b",
    r"\b(?:fell|fallen|fall) (?:\w+ ){0,4}?(?:cant|unable to|can t) (?:get|stand|move) (?:\w+ )?up\b",
    r"\bon the floor (?:for|and cant|and can t)\b",
    r"\b(?:hit|banged|bashed|smacked) (?:my|his|her|their) head\b",
    r"\b(?:bleeding|bleed) (?:\w+ )?(?:heavily|badly|a lot|loads|everywhere|wont stop|isnt stopping|non ?stop)\b",
    r"\bwont stop bleeding\b",
    r"\bblood (?:everywhere|pouring|gushing|spurting)\b",
    r"\b(?:so much|lots of|loads of|a lot of|pool of|covered in) blood\b(?! (?:tests?|work|pressure|results|sugar|"
    r"counts?|flow|vessels?|thinners?))",
    r"\b(?:he|hes|she|shes|they|theyre|(?:my|our) (?:\w+ )?<KIN>s?) (?:\w+ ){0,4}(?:wont|isnt|not|doesnt) "
    r"(?:respond|responding)\b(?! (?:to (?:the|his|her|their|treatment|drugs|meds|medication|dmts?)|well))",
    r"\b(?:he|hes|she|shes|they|theyre|(?:my|our) (?:\w+ )?<KIN>s?) (?:\w+ ){0,3}not moving\b",
    r"\b(?:isnt|is not|hasnt|wont|not) (?:moving|breathing) (?:at all|\.|$)",
    r"\b(?:fell|fallen|fall) (?:\w+ ){0,5}(?:isnt|not|wont|cant) (?:moving|move|getting up|get up|responding|talking)\b",
    r"\bcant (?:keep|get) (?:him|her|them|my \w+) (?:awake|up)\b",
    Near(r"\b(?:double|triple|twice|three times) (?:my|his|her|the|their) (?:\w+ )?dose\b",
         requires=r"\b(?:took|taken|had|accidentally|by mistake|swallowed|given)\b"),
    r"\b(?:drank|drunk|swallowed) (?:some )?(?:bleach|antifreeze|poison|weedkiller|cleaning \w+)\b",
    r"\b(?:grey|gray|clammy|pale) and (?:sweat\w*|clammy|cold)\b",
    r"\bsweating (?:loads|buckets|a lot|heavily)\b",
    r"\bfound (?:me|him|her|them) (?:\w+ )?(?:on the floor|unconscious|collapsed|passed out|not breathing|unresponsive)\b",
    r"\b(?:lying|found \w+|collapsed|slumped) on the floor\b",
    r"\b(?:drank|drunk|drinking) (?:\w+ ){0,4}(?:and|with) (?:\w+ )?(?:took|taken|take|taking) (?:\w+ ){0,2}<PILLS>\b",
    r"\b(?:took|taken|taking) (?:\w+ ){0,3}<PILLS> (?:with|and) (?:\w+ ){0,3}(?:vodka|alcohol|wine|drink|booze|"
    r"whisky|whiskey|gin|beer|cider)\b",
    r"\b(?:hes|shes|he is|she is|theyre|(?:his|her|my) (?:face|lips|skin)|(?:my|our) (?:\w+ )?<KIN>s?(?: is)?) "
    r"(?:\w+ )?(?:gone |going |turned |turning |looks |is )?(?:blue|grey|gray|lifeless)\b",
    r"\b(?:vomit\w*|throw\w* up|sick(?:ing)? up|been sick|being sick|was sick) (?:\w+ )?blood\b",
)

# Fainting or collapse without a procedure named: held back in general questions.
MEDICAL_PERSONAL_PATTERNS = (
    r"\b<PERSON> (?:\w+ )?(?:just |has |have |keeps |has just |keep )?collaps(?:ed|ing|es)\b",
    r"\b(?:fainted|fainting|passed out|blacked out|blacking out|passing out|keep fainting|keeps fainting)\b",
    r"\b(?:i think i|i might|might) (?:have|ve) (?:got )?a (?:blood )?clot\b",
    r"\b(?:going to|gonna|about to|might|feel like im going to) (?:pass out|faint|collapse|black out)\b",
    r"\b(?:allergic reaction|anaphyla\w*|sepsis|septic|meningitis|hypo|hypoglyc\w*)\b",
    r"\bface (?:is |has |keeps )?(?:\w+ )?(?:swelling|swollen|swelled|puffing|puffed) ?(?:up)?\b",
    r"\bblood sugar (?:\w+ )?(?:really |very |dangerously )?(?:low|high)\b",
)

# Injuries and seizures: held back in general questions and when about the past.
MEDICAL_CURRENT_PATTERNS = (
    Near(r"\bhad (?:a |another )?(?:s[ei]{1,2}z(?:ure|ures)|fit|fits|convulsion)\b",
         unless_before=GENERAL_SUBJECT_BEFORE),
    r"\bs[ei]{1,2}z(?:ure|ures|ing)\b",
    r"\b(?:bent|twisted|pointing|facing) the wrong way\b",
    r"\b(?:having|had|bad|severe|serious|allergic|awful|terrible) (?:\w+ ){0,2}reaction\b",
    r"\b(?:broken|broke|snapped|fractured) (?:my|his|her) (?:hip|leg|neck|back|arm|wrist|ankle)\b",
    r"\bbone (?:\w+ )?sticking out\b",
    r"\b(?:burnt|burned|scalded) (?:\w+ ){0,2}(?:badly|severely|really bad)\b",
    r"\bskin (?:is )?(?:\w+ )?(?:coming off|peeling off|blistering|melting)\b",
    r"\bstuck in (?:my|his|her|their) throat\b",
    r"\b(?:dropped|fell|slumped|keeled over|went down) (?:to|on|onto) the (?:floor|ground)\b",
    r"\bcant swallow\b(?! (?:tablets|pills|capsules|big|large|very|well|easily|properly))",
)

# --- After a vein procedure: a symptom word AND a procedure word in the same message, -----------
# --- no more than POST_PROCEDURE_WINDOW characters apart (about a sentence either way), so a long
# --- story about a friend's trip in 2010 and a collapse today are not joined into one.

POST_PROCEDURE_WINDOW = 120

# The procedure, where it was done, or the site where the catheter went in.
PROCEDURE_WORDS = (
    r"\b(?:procedure|procedures|op|operation|surgery|angioplasty|angio|venoplasty|balloon\w*|stent\w*|"
    r"liberation\w*|liberated|ccsvi (?:treatment|procedure|op|operation)|treatment (?:in|abroad|at)|"
    r"(?:the|a|my|his|her) clinic|catheter\w*|venogram|venography|vein (?:op|operation|procedure|treatment)|"
    r"veins? (?:done|treated|opened|fixed|ballooned|widened|unblocked)|neck veins?|jugular|azygos|groin|"
    r"puncture|insertion site|entry site|access site|wound|incision|plaster|bandage|"
    r"where (?:they|the \w+|he|she) (?:went|go|put|inserted|injected|cut)|went in|"
    r"poland|bulgaria|latvia|mexico|india|costa rica|egypt|kuwait|abroad)\b"
)

# Symptoms that are never normal after a procedure.
ACUTE_SYMPTOM_WORDS = (
    r"\b(?:swell|swells|swelling|swelled|swollen|puffy|puffed up|bleed|bleeds|bleeding|bled|"
    r"twice the size|double the size|huge|massive|ballooned|blown up|"
    r"blood (?:\w+ )?(?:everywhere|all over|coming|pouring|soaking|seeping|leaking|dripping|running|spurting|gushing|"
    r"through|on)|seeping|leaking|haemorrhag\w*|hemorrhag\w*|"
    r"faint|fainted|fainting|feel faint|passed out|passing out|pass out|blacked out|blacking out|collaps\w*|"
    r"lump|lumps|lumpy|bruis\w*|agony|agonising|agonizing|excruciating|unbearable|"
    r"(?:severe|terrible|awful|really bad|horrendous|horrible|extreme|sharp|stabbing) pain|"
    r"(?:pain|hurts?|hurting) (?:is )?(?:getting |much )?worse|fever|feverish|high temperature|temperature|"
    r"shivering|shaking|chills|rigors|pus|oozing|ooze|oozes|infected|infection|throbb\w*|clot|clots|clotting|dvt|"
    r"numb|vomit\w*|being sick|cant stop shaking|unwell|shivery|shivers|soaked|soaking|sweats|discharge|smells|"
    r"weeping|split open|opened up|stitches (?:have )?(?:burst|come out)|"
    r"(?:gone|going|turned|turning) (?:a )?(?:\w+ )?(?:blue|bluish|purple|black|white|pale|grey|gray)|"
    r"(?:leg|foot|feet|arm|hand|fingers|toes|neck) (?:is |are |has |have |feels |feel |gone |went |turned )?"
    r"(?:\w+ )?(?:cold|pale|blue|white|hot|red|purple))\b"
)

# Symptoms MS or everyday life also cause: need something recent or current as well.
AMBIGUOUS_SYMPTOM_WORDS = (
    r"\b(?:pain|pains|painful|hurts|hurting|sore|ache|aching|headache|headaches|migraine|dizzy|dizziness|"
    r"lightheaded|light headed|vertigo|numbness|tingl\w*|pins and needles|weak|weakness|sick|nausea|nauseous|"
    r"confus\w*|blurr\w*|palpitations|racing heart|hot|red|rash)\b"
)

# --------------------------------------------------------------------------------------------------
# Compilation
# --------------------------------------------------------------------------------------------------
#
# Speed: about 300 patterns cannot all be run over 1000 characters in well under a millisecond. So
# each pattern gets a *trigger* when the module loads: the words its matches can begin with, read
# from the compiled pattern itself (``re._parser``). A pattern is then tried only where one of its
# trigger words starts in the message (``regex.match`` at that position), not at every character.
# A pattern whose start cannot be read (it does not begin with ``\b`` and a literal, or the parser is
# not available) has no trigger and is searched in full: slower, never less sensitive.

try:
    from re import _constants as _sre_c
    from re import _parser as _sre_parse
except ImportError:  # pragma: no cover - a future Python without the private parser: no triggers
    _sre_parse = None

_MAX_STARTS = 300


def _expand(pattern: str) -> str:
    for _ in range(3):  # fragments may contain fragments (PERSON contains KIN)
        for name, value in FRAGMENTS.items():
            pattern = pattern.replace(f"<{name}>", value)
    return pattern


def _starts(items) -> tuple[set[str], set[str]]:
    """Literal beginnings of a parsed pattern: (still literal to the end, cut short by a non-literal)."""
    open_, closed = {""}, set()
    for op, av in items:
        if op is _sre_c.AT:
            if av is _sre_c.AT_BOUNDARY:  # after a word, a boundary is a space in normalised text
                open_ = {p + " " if p and p[-1].isalnum() else p for p in open_}
            continue
        if op is _sre_c.LITERAL:
            open_ = {p + chr(av) for p in open_}
            continue
        if op is _sre_c.SUBPATTERN:
            sub_open, sub_closed = _starts(av[-1])
        elif op is _sre_c.BRANCH:
            sub_open, sub_closed = set(), set()
            for alternative in av[1]:
                o, c = _starts(alternative)
                sub_open |= o
                sub_closed |= c
        elif op in (_sre_c.MAX_REPEAT, _sre_c.MIN_REPEAT) and av[0] >= 1:
            o, c = _starts(av[2])
            sub_open, sub_closed = set(), o | c
        else:
            return set(), closed | open_
        closed |= {p + q for p in open_ for q in sub_closed}
        open_ = {p + q for p in open_ for q in sub_open}
        if not open_ or len(open_) + len(closed) > _MAX_STARTS:
            return set(), closed | open_
    return open_, closed


def _trigger(pattern: str) -> tuple[frozenset[str], tuple[str, ...]] | None:
    """(whole first words, first-word beginnings) a match needs, or None when it cannot be told."""
    if _sre_parse is None:
        return None
    try:
        parsed = _sre_parse.parse(pattern)
        if not parsed.data or parsed.data[0] != (_sre_c.AT, _sre_c.AT_BOUNDARY):
            return None  # a match could begin inside a word, where no trigger is looked for
        open_, closed = _starts(parsed)
    except Exception:  # an unreadable start only costs speed
        return None
    words, beginnings = set(), set()
    for start in open_ | closed:
        if " " in start:
            words.add(start.split(" ", 1)[0])
        else:
            beginnings.add(start)
    if "" in words or "" in beginnings or not (words or beginnings):
        return None
    return frozenset(words), tuple(sorted(beginnings))


@dataclass(frozen=True, eq=False)
class _Compiled:
    regex: re.Pattern[str]
    trigger: tuple[frozenset[str], tuple[str, ...]] | None
    unless: re.Pattern[str] | None = None
    requires: re.Pattern[str] | None = None
    unless_before: re.Pattern[str] | None = None

    def finditer(self, msg: _Message) -> Iterator[re.Match[str]]:
        """Matches in the message, tried only where a trigger word starts."""
        if self.trigger is None:
            yield from self.regex.finditer(msg.text)
            return
        starts = msg.starts.get(self)
        if not starts:
            return
        text, match = msg.text, self.regex.match
        for start in sorted(starts):
            m = match(text, start)
            if m:
                yield m

    def search(self, msg: _Message) -> re.Match[str] | None:
        return next(self.finditer(msg), None)


def _compile(pattern: str) -> _Compiled:
    source = _expand(pattern)
    return _Compiled(re.compile(source), _trigger(source))


def _compile_list(patterns: tuple) -> tuple[_Compiled, ...]:
    out = []
    for p in patterns:
        if isinstance(p, Near):
            source = _expand(p.pattern)
            out.append(_Compiled(re.compile(source), _trigger(source),
                                 re.compile(_expand(p.unless)) if p.unless else None,
                                 re.compile(_expand(p.requires)) if p.requires else None,
                                 re.compile(_expand(p.unless_before)) if p.unless_before else None))
        else:
            out.append(_compile(p))
    return tuple(out)


# (category, mode, patterns), tried in this order; the first rule that fires wins. Order = what the
# reply must lead with: an overdose already taken beats the wish behind it; suicide beats a physical
# symptom mentioned alongside; a stroke or breathing problem after a procedure is answered as such.
RULES = (
    (MEDICAL_EMERGENCY, "always", _compile_list(OVERDOSE_TAKEN_PATTERNS)),
    (SUICIDE_SELF_HARM, "always", _compile_list(SUICIDE_PATTERNS + SELF_INJURY_PATTERNS)),
    (CHEST_BREATHING, "always", _compile_list(CHEST_ALWAYS_PATTERNS)),
    (STROKE_NEURO_EMERGENCY, "always", _compile_list(STROKE_ALWAYS_PATTERNS)),
    (CHEST_BREATHING, "personal", _compile_list(CHEST_PERSONAL_PATTERNS)),
    (CHEST_BREATHING, "current", _compile_list(CHEST_CURRENT_PATTERNS)),
    (STROKE_NEURO_EMERGENCY, "recurring", _compile_list(STROKE_PERSONAL_PATTERNS)),
    (STROKE_NEURO_EMERGENCY, "current", _compile_list(STROKE_CURRENT_PATTERNS)),
    (HARM_DISCLOSURE, "always", _compile_list(HARM_PATTERNS)),
    (POST_PROCEDURE_COMPLICATION, "cooccurrence", ()),
    (MEDICAL_EMERGENCY, "always", _compile_list(MEDICAL_ALWAYS_PATTERNS)),
    (MEDICAL_EMERGENCY, "personal", _compile_list(MEDICAL_PERSONAL_PATTERNS)),
    (MEDICAL_EMERGENCY, "current", _compile_list(MEDICAL_CURRENT_PATTERNS)),
)

_PERSON = _compile(PERSON_WORDS)
_NOT_A_PERSON_RE = re.compile("|".join(_expand(p) for p in NOT_A_PERSON))
_GENERAL = _compile(GENERAL_WORDS)
_FUTURE = _compile(FUTURE_WORDS)
_URGENT = _compile(URGENT_WORDS)
_STRONG_URGENT = _compile(STRONG_URGENT_WORDS)
_RECENT = _compile(RECENT_WORDS)
_HISTORY = _compile(HISTORY_WORDS)
_HABITUAL = _compile(HABITUAL_WORDS)
_PROCEDURE = _compile(PROCEDURE_WORDS)
_ACUTE_SYMPTOM = _compile(ACUTE_SYMPTOM_WORDS)
_AMBIGUOUS_SYMPTOM = _compile(AMBIGUOUS_SYMPTOM_WORDS)


def _build_trigger_index() -> tuple[dict[str, list[_Compiled]], dict[str, list[tuple[str, _Compiled]]]]:
    """Trigger word -> patterns, and first two letters (or the one) -> (word beginning, pattern)."""
    by_word: dict[str, list[_Compiled]] = {}
    by_beginning: dict[str, list[tuple[str, _Compiled]]] = {}
    compiled = [p for _, _, patterns in RULES for p in patterns]
    compiled += [_PERSON, _GENERAL, _FUTURE, _URGENT, _STRONG_URGENT, _RECENT, _HISTORY, _HABITUAL, _PROCEDURE,
                 _ACUTE_SYMPTOM, _AMBIGUOUS_SYMPTOM]
    for p in compiled:
        if p.trigger is None:
            continue
        whole, beginnings = p.trigger
        for word in whole:
            by_word.setdefault(word, []).append(p)
        for b in beginnings:
            by_beginning.setdefault(b[:2], []).append((b, p))
    return by_word, by_beginning


_BY_WORD, _BY_BEGINNING = _build_trigger_index()


@functools.lru_cache(maxsize=65536)
def _triggered_by(word: str) -> tuple[_Compiled, ...]:
    """The patterns a word can start a match of (cached: visitors' vocabulary repeats)."""
    found = list(_BY_WORD.get(word, ()))
    for key in (word[:2], word[:1]) if len(word) > 1 else (word,):
        found.extend(p for b, p in _BY_BEGINNING.get(key, ()) if word.startswith(b))
    return tuple(found)

# --------------------------------------------------------------------------------------------------
# Normalisation
# --------------------------------------------------------------------------------------------------

_FOLD_TABLE = str.maketrans(CHARACTER_FOLDS)
_INVISIBLE_RE = re.compile(r"[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u202a-\u202e"
                           r"\u2060-\u206f\ufeff\ufe00-\ufe0f]")
_COMBINING_RE = re.compile(r"[\u0300-\u036f]")
_ODD_RE = re.compile(r"\bod'd\b|\bod-ed\b|\boded\b")  # "OD'd" before apostrophes go ("odd" is a word)
_AE_RE = re.compile(r"\ba ?& ?e\b")
_LEET_RE = re.compile(r"(?<=[a-z])[01345@$](?=[a-z])")
_LEET = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "@": "a", "$": "s"}
_ELONGATED_RE = re.compile(r"([a-z])\1{2,}")
# ASCII letters and digits stay, sentence ends become "|" (then " . "), everything else a space.
# Line breaks and "..." are not sentence ends: frightened people type "i just... want to die".
_ASCII_TABLE = str.maketrans({chr(i): (chr(i) if chr(i).isalnum() else "|" if chr(i) in ".?!;:" else " ")
                              for i in range(128)})
_ELLIPSIS_RE = re.compile(r"\.\.+")
_SENTENCE_MARK_RE = re.compile(r"\|[| ]*")
_NON_ASCII_RE = re.compile(r"[^\x00-\x7f]+")
# "can t", "i m", "he s": an apostrophe that was some other character and became a space
_SPLIT_CONTRACTION_RE = re.compile(
    r"\b(can|don|won|isn|doesn|didn|wasn|couldn|wouldn|shouldn|haven|hasn|aren|weren|ain) t\b"
    r"|\b(i) (m|ve|d|ll)\b|\b(he|she|it|that|what|there) (s)\b")
_SPLIT_CONTRACTION_HINTS = (" t ", " m ", " ve ", " d ", " ll ", " s ")
_PHRASE_FIXES_SPACED = tuple((f" {k} ", f" {v} ") for k, v in
                             sorted(PHRASE_FIXES.items(), key=lambda kv: len(kv[0]), reverse=True))
_CLAUSE_END_RE = re.compile(r"[.?!;:,\n\r\u2026()-]+")
_FIRST_WORD_RE = re.compile(r"[a-z]+")


def _join_contraction(m: re.Match[str]) -> str:
    return "".join(g for g in m.groups() if g)


def normalise(message: str) -> str:
    """Lowercase ASCII words separated by single spaces; sentence ends kept as " . "."""
    text = message.replace("`", "'")
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text).translate(_FOLD_TABLE)
        text = _INVISIBLE_RE.sub("", text.replace("\u200b", " ")).casefold()
        text = _COMBINING_RE.sub("", unicodedata.normalize("NFKD", text))
    text = text.lower()
    if "od'" in text or "oded" in text or "od-" in text:
        text = _ODD_RE.sub(" overdosed ", text)
    if "&" in text:
        text = _AE_RE.sub(" ae ", text).replace("&", " and ")
    if any(c in text for c in "01345@$"):
        text = _LEET_RE.sub(lambda m: _LEET[m.group()], text)
    if ".." in text:
        text = _ELLIPSIS_RE.sub(" ", text)
    text = _ELONGATED_RE.sub(r"\1\1", text.replace("'", "")).translate(_ASCII_TABLE)
    if not text.isascii():
        text = _NON_ASCII_RE.sub(" ", text)
    text = " " + _SENTENCE_MARK_RE.sub(" . ", text) + " "
    if any(h in text for h in _SPLIT_CONTRACTION_HINTS):
        text = _SPLIT_CONTRACTION_RE.sub(_join_contraction, text)
    text = " " + " ".join([WORD_FIXES.get(w, w) for w in text.split()]) + " "
    for old, new in _PHRASE_FIXES_SPACED:
        while old in text:
            text = text.replace(old, new)
    return text.strip()


# --------------------------------------------------------------------------------------------------
# Context
# --------------------------------------------------------------------------------------------------


class _Message:
    """One normalised message and facts about it, each worked out at most once."""

    def __init__(self, message: str):
        self.message = message
        self.text = normalise(message)
        self.positions: dict[str, list[int]] = {}  # word -> where it starts in self.text
        i = 0
        for word in self.text.split(" "):
            self.positions.setdefault(word, []).append(i)
            i += len(word) + 1
        self.starts: dict[_Compiled, list[int]] = {}  # pattern -> where its trigger words start
        starts = self.starts
        for word, where in self.positions.items():
            for p in _triggered_by(word):
                if p in starts:
                    starts[p].extend(where)
                else:
                    starts[p] = list(where)
        self._general: bool | None = None
        self._historic: bool | None = None
        self._recent: bool | None = None

    @property
    def recent(self) -> bool:
        if self._recent is None:
            self._recent = _RECENT.search(self) is not None
        return self._recent

    @property
    def general(self) -> bool:
        """True when the message reads as a question about risks in general, with nobody in it."""
        if self._general is None:
            self._general = self._is_general()
        return self._general

    def _is_general(self) -> bool:
        if _FUTURE.search(self) and not self.recent and not _STRONG_URGENT.search(self):
            return True
        if _URGENT.search(self):
            return False
        if _PERSON.search(self) and _PERSON.regex.search(_NOT_A_PERSON_RE.sub(" ", self.text)):
            return False
        return bool(self._openers() & QUESTION_OPENERS) or _GENERAL.search(self) is not None

    def _openers(self) -> set[str]:
        """First word of every clause, commas included as clause ends: "..., is that right?"."""
        words = set()
        message = self.message.lower()
        if not message.isascii():
            message = message.translate(_FOLD_TABLE)
        for clause in _CLAUSE_END_RE.split(message.replace("'", "")):
            first = _FIRST_WORD_RE.search(clause)
            if first:
                words.add(first.group())
        return words

    @property
    def habitual(self) -> bool:
        """True when the message says the symptom keeps coming back, with nothing recent."""
        return _HABITUAL.search(self) is not None and not self.recent and _URGENT.search(self) is None

    @property
    def historic(self) -> bool:
        """True when the message is about the past or a long-standing symptom, with nothing recent."""
        if self._historic is None:
            self._historic = (_HISTORY.search(self) is not None and not self.recent
                              and _URGENT.search(self) is None)
        return self._historic


def _first_match(patterns: tuple[_Compiled, ...], msg: _Message) -> str | None:
    text = msg.text
    for p in patterns:
        for m in p.finditer(msg):
            lo, hi = max(0, m.start() - NEAR_WINDOW), m.end() + NEAR_WINDOW
            if p.unless and p.unless.search(text, lo, hi):
                continue
            if p.requires and not p.requires.search(text, lo, hi):
                continue
            if p.unless_before and p.unless_before.search(text[max(0, m.start() - 25):m.start()]):
                continue
            return m.group(0)
    return None


def _near_pair(first: list[re.Match[str]], second: list[re.Match[str]]) -> tuple[str, str] | None:
    for a in first:
        for b in second:
            if abs(a.start() - b.start()) <= POST_PROCEDURE_WINDOW:
                return a.group(0), b.group(0)
    return None


def _post_procedure(msg: _Message) -> str | None:
    procedures = list(_PROCEDURE.finditer(msg))
    if not procedures:
        return None
    pair = _near_pair(list(_ACUTE_SYMPTOM.finditer(msg)), procedures)
    if pair is None and msg.recent:
        pair = _near_pair(list(_AMBIGUOUS_SYMPTOM.finditer(msg)), procedures)
    if pair is None or msg.general or msg.historic:
        return None
    return f"{pair[0]} + {pair[1]}"


def _detect(message: str) -> SafetyMatch | None:
    msg = _Message(message)
    if not msg.text:
        return None
    for category, mode, patterns in RULES:
        if mode == "cooccurrence":
            phrase = _post_procedure(msg)
        else:
            phrase = _first_match(patterns, msg)
            if phrase is not None and mode != "always" and (
                    msg.general
                    or (mode == "current" and msg.historic)
                    or (mode == "recurring" and msg.habitual)):
                phrase = None
        if phrase is not None:
            return SafetyMatch(category, phrase)
    return None


def detect(message: str) -> SafetyMatch | None:
    """The crisis or emergency in a visitor's message, or None. Never raises; fast enough to run first."""
    try:
        if not isinstance(message, str):
            if message is None:
                return None
            if isinstance(message, (bytes, bytearray)):
                message = bytes(message).decode("utf-8", errors="replace")
            else:
                message = str(message)
        return _detect(message)
    except Exception:  # a bug here must not hide a crisis: fail closed, loudly
        log.exception("safety detector failed; treating the message as an emergency")
        return SafetyMatch(MEDICAL_EMERGENCY, DETECTOR_ERROR)
