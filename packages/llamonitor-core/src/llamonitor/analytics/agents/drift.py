"""Context drift: information an agent had that the next agent no longer has.

For every handoff whose two sides have captured content (``MonitorConfig(capture_content=True)``
or an adapter that records prompts), entities are extracted from what the source knew (its
input and output, including its own nested calls; for a delegation, the parent's input only,
since its output is produced after the hand-over) and looked up in the target's input and
output. ``drift_score = lost / source entities``; above 0.4 is *high drift*.

Entity types: ``email``, ``phone``, ``order_number``, ``id``, ``quantity``, ``quoted_text``,
``person_name`` (two or three capitalised words) and ``proper_noun`` (a capitalised word not
starting a sentence). Overlapping matches keep the most specific type (that order).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence

from llamonitor.analytics.agents.index import index_for
from llamonitor.analytics.agents.links import links_of
from llamonitor.analytics.agents.models import AgentOperation, DriftAnalysis, Entity, HandoffKind, gc_paused
from llamonitor.schema.events import MetricEvent

HIGH_DRIFT_THRESHOLD = 0.4

_VALUE = r"[A-Za-z]{0,5}-?\d[A-Za-z0-9-]{2,}"
_NAME_WORD = r"[A-Z][a-z]+(?:['’-][A-Z][a-z]+)?"
# One scan: alternatives tried in this order at each position (most specific first), leftmost wins.
_ENTITY = re.compile(
    r"(?P<email>[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})"
    r"|(?P<order>(?i:\b(?:order|purchase|invoice|shipment|tracking)\s*(?:number|no\.?|num|id)?\s*[:#]?\s*#?\s*)"
    rf"(?P<order_v>{_VALUE}))"
    r"|(?P<id>(?i:\b(?:ticket|case|ref|reference|account|customer|user|id|sku|booking|confirmation)\s*"
    rf"(?:id|no\.?|number|#)?\s*[:#]?\s*)(?P<id_v>{_VALUE})\b)"
    r"|(?P<uuid>\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b)"
    r"|(?P<code>\b[A-Z]{2,5}-\d{2,}\b)"
    rf"|(?P<hash>#\s?(?P<hash_v>{_VALUE}))"
    r"|(?P<phone>(?<![\w#])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)[\s.-]?)?\d{2,4}[\s.-]\d{3,4}(?:[\s.-]\d{2,4})?(?!\w))"
    r"|(?P<quantity>[$€£]\s?\d[\d,]*(?:\.\d+)?|(?i:\b\d[\d,]*(?:\.\d+)?\s?(?:%|percent\b|items?\b|units?\b|pcs\b|"
    r"kg\b|g\b|lbs?\b|km\b|miles?\b|days?\b|hours?\b|minutes?\b|weeks?\b|months?\b|years?\b|"
    r"usd\b|eur\b|dollars?\b|euros?\b|x\b)))"
    r"|\"(?P<quoted>[^\"\n]{3,200})\"|“(?P<quoted2>[^”\n]{3,200})”"
    rf"|(?P<cap>\b{_NAME_WORD}(?:\s+{_NAME_WORD}){{0,2}}\b)"
)
_WORD = re.compile(r"\S+")
_NON_DIGIT = re.compile(r"\D")
_NON_ALNUM = re.compile(r"[^A-Za-z0-9]")
_LOWER_NON_ALNUM = re.compile(r"[^a-z0-9]")
_WORDS = re.compile(r"[a-z0-9'’-]+")

#: capitalised words that are not names (greetings, sentence openers, weekdays are kept)
_STOP_TEXT = """
a an and are as at be but by can could dear did do does for from good hello hey hi how i if in is it its
let may me my no not of ok okay on or our please regards so thank thanks that the their then there these
they this to was we what when where which who why will with would yes you your sorry sure best kind
customer agent order refund ticket email phone user assistant system note notes summary intent
"""
STOPWORDS = frozenset(_STOP_TEXT.split())

def _sentence_start(text: str, pos: int) -> bool:
    i = pos - 1
    while i >= 0 and text[i] in " \t\"'(“":
        i -= 1
    return i < 0 or text[i] in ".!?:\n"


def _normalize(kind: str, value: str) -> str:
    if kind == "phone":
        return _NON_DIGIT.sub("", value)
    if kind in ("order_number", "id"):
        return _NON_ALNUM.sub("", value).lower()
    return " ".join(value.lower().split())


def extract_entities(text: str) -> list[Entity]:
    """The entities in ``text``, in order of appearance, one per distinct (type, normalised value).

    Quoted text counts when it holds at least two words (quoted JSON keys and values are not
    information a user gave); the entities inside a quotation are extracted as well.
    """
    found: list[Entity] = []
    seen: set[tuple[str, str]] = set()
    _scan(text, found, seen)
    return found


def _add(found: list[Entity], seen: set[tuple[str, str]], kind: str, value: str) -> None:
    norm = _normalize(kind, value)
    if norm and (kind, norm) not in seen:
        seen.add((kind, norm))
        found.append(Entity(value=value, entity_type=kind, normalized=norm))


def _scan(text: str, found: list[Entity], seen: set[tuple[str, str]]) -> None:
    for m in _ENTITY.finditer(text):
        group = m.lastgroup
        if group == "email":
            _add(found, seen, "email", m.group(0))
        elif group == "order":
            _add(found, seen, "order_number", m.group("order_v"))
        elif group == "hash":
            _add(found, seen, "order_number", m.group("hash_v"))
        elif group == "id":
            _add(found, seen, "id", m.group("id_v"))
        elif group in ("uuid", "code"):
            _add(found, seen, "id", m.group(0))
        elif group == "phone":
            if len(_NON_DIGIT.sub("", m.group(0))) >= 7:
                _add(found, seen, "phone", m.group(0).strip())
        elif group == "quantity":
            _add(found, seen, "quantity", m.group(0).strip())
        elif group in ("quoted", "quoted2"):
            inner = m.group(group)
            if " " in inner.strip():
                _add(found, seen, "quoted_text", inner)
                _scan(inner, found, seen)
        elif group == "cap":
            parts = [(m.start() + w.start(), w.group(0)) for w in _WORD.finditer(m.group(0))
                     if w.group(0).lower() not in STOPWORDS]
            if len(parts) >= 2:
                _add(found, seen, "person_name", " ".join(p[1] for p in parts))
            elif parts and len(parts[0][1]) >= 3 and not _sentence_start(text, parts[0][0]):
                # a lone capitalised word opening a sentence is ordinary capitalisation
                _add(found, seen, "proper_noun", parts[0][1])


class _Haystack:
    """A target text prepared (lazily) for entity look-ups."""

    __slots__ = ("_alnum", "_digits", "_words", "lower")

    def __init__(self, text: str) -> None:
        self.lower = " ".join(text.lower().split())
        self._digits: str | None = None
        self._alnum: str | None = None
        self._words: set[str] | None = None

    def contains(self, entity: Entity) -> bool:
        kind, norm = entity.entity_type, entity.normalized
        if kind == "phone":
            if self._digits is None:
                self._digits = _NON_DIGIT.sub("", self.lower)
            return norm in self._digits
        if kind in ("order_number", "id"):
            if norm in self.lower:
                return True
            if self._alnum is None:
                self._alnum = _LOWER_NON_ALNUM.sub("", self.lower)
            return norm in self._alnum
        if kind == "person_name":
            if norm in self.lower:
                return True
            # the person is still identified if their first or last name is there
            if self._words is None:
                self._words = set(_WORDS.findall(self.lower))
            parts = norm.split()
            return any(p in self._words for p in (parts[0], parts[-1]) if len(p) >= 3)
        return norm in self.lower


class ContextDriftDetector:
    """Finds handoffs that lose information (see the module doc)."""

    def __init__(self, high_drift_threshold: float = HIGH_DRIFT_THRESHOLD) -> None:
        self.high_drift_threshold = high_drift_threshold
        #: analyses of the last :meth:`detect_drift` call
        self.analyses: list[DriftAnalysis] = []
        #: handoffs of the last call that could not be judged (no captured content on a side)
        self.skipped_without_content = 0
        self._cache: dict[str, list[Entity]] = {}

    def _entities(self, text: str) -> list[Entity]:
        got = self._cache.get(text)
        if got is None:
            if len(self._cache) > 50_000:
                self._cache.clear()
            got = self._cache[text] = extract_entities(text)
        return got

    @gc_paused
    def detect_drift_sync(self, operations: Sequence[AgentOperation],
                          events: Sequence[MetricEvent] | None = None) -> list[DriftAnalysis]:
        """Synchronous :meth:`detect_drift`."""
        texts: dict[tuple[str, str], list[str]] = defaultdict(list)
        for o in operations:
            if o.input_content or o.output_content:
                key = (o.trace_id, o.entry_span_id)
                if o.input_content:
                    texts[key].append(o.input_content)
                if o.output_content:
                    texts[key].append(o.output_content)
        analyses: list[DriftAnalysis] = []
        skipped = 0
        haystacks: dict[tuple[str, str], _Haystack] = {}
        links = links_of(index_for(operations))
        for src, dst, kind in zip(links.sources, links.targets, links.kinds, strict=True):
            dkey = (dst.trace_id, dst.span_id)
            target_texts = texts.get(dkey)
            if kind is HandoffKind.DELEGATION:
                source_texts = [src.input_content] if src.input_content else []
            else:
                source_texts = texts.get((src.trace_id, src.span_id), [])
            if not source_texts or not target_texts:
                skipped += 1
                continue
            entities = self._merged(source_texts)
            hay = haystacks.get(dkey)
            if hay is None:
                hay = haystacks[dkey] = _Haystack("\n".join(target_texts))
            lost: list[Entity] = []
            kept: list[Entity] = []
            for e in entities:
                (kept if hay.contains(e) else lost).append(e)
            analyses.append(DriftAnalysis(
                from_agent=src.agent_name, to_agent=dst.agent_name, trace_id=dst.trace_id, session_id=dst.session_id,
                source_span_id=src.span_id, target_span_id=dst.span_id, source_entities=list(entities),
                preserved_entities=kept, lost_entities=lost,
                drift_score=len(lost) / len(entities) if entities else 0.0,
                high_drift_threshold=self.high_drift_threshold))
        self.analyses = analyses
        self.skipped_without_content = skipped
        return analyses

    def _merged(self, texts: Sequence[str]) -> list[Entity]:
        if len(texts) == 1:
            return self._entities(texts[0])
        merged: list[Entity] = []
        seen: set[tuple[str, str]] = set()
        for text in texts:
            for e in self._entities(text):
                if (e.entity_type, e.normalized) not in seen:
                    seen.add((e.entity_type, e.normalized))
                    merged.append(e)
        return merged

    async def detect_drift(self, operations: Sequence[AgentOperation],
                           events: Sequence[MetricEvent] | None = None) -> list[DriftAnalysis]:
        """One :class:`DriftAnalysis` per handoff with captured content on both sides, in time order.

        ``events`` is accepted for the seed API; the captured content travels on the operations.
        """
        return self.detect_drift_sync(operations, events)

    def get_high_drift_handoffs(self, threshold: float | None = None) -> list[DriftAnalysis]:
        """Analyses of the last call whose ``drift_score`` exceeds ``threshold`` (default 0.4), worst first."""
        limit = self.high_drift_threshold if threshold is None else threshold
        return sorted((a for a in self.analyses if a.drift_score > limit), key=lambda a: -a.drift_score)
