"""Text handling shared by every engine: one folding and tokenisation for documents and queries
(so the engine only ever sees whitespace-separated, pre-folded words), the typo budget, and
highlighting of matches in the original text.

User text is only ever split into words here; it is never handed to an engine's query parser.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "MatchSpec",
    "best_correction",
    "find_matches",
    "fold",
    "index_text",
    "joined_terms",
    "osa_distance",
    "typo_budget",
    "words",
]

_WORD = re.compile(r"[^\W_]+")
MAX_WORD_LEN = 40
MAX_QUERY_WORDS = 12


def fold(text: str) -> str:
    """Lower-case, accents removed, compatibility forms unified: "Amélie" → "amelie"."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return stripped.casefold()


def words(text: str) -> list[str]:
    """The folded words of a text, in order (punctuation, operators and emoji dropped)."""
    return [w[:MAX_WORD_LEN] for w in _WORD.findall(fold(text))]


def index_text(*texts: str) -> str:
    """What an engine indexes for a field: folded words separated by single spaces."""
    return " ".join(w for text in texts for w in words(text))


def joined_terms(title_words: Sequence[str], longest: int = 3) -> list[str]:
    """Runs of 2..`longest` adjacent title words written together ("stranger things" →
    "strangerthings"), so a title typed without its spaces still matches."""
    out = []
    for size in range(2, longest + 1):
        for start in range(len(title_words) - size + 1):
            out.append("".join(title_words[start : start + size])[:MAX_WORD_LEN])
    return out


def best_correction(word: str, candidates: Sequence[tuple[str, int, int]]) -> str:
    """The correction of `word` among (term, distance, count) candidates: terms found with
    the other query words (count > 0) first, then the closest, then the most frequent."""
    if not candidates:
        return word
    term, _, _ = min(candidates, key=lambda c: (c[2] <= 0, c[1], -c[2], c[0]))
    return term


def typo_budget(word: str) -> int:
    """Typos tolerated in a word, like Meilisearch's defaults: 1 from 5 letters, 2 from 9."""
    if len(word) >= 9:
        return 2
    if len(word) >= 5:
        return 1
    return 0


def osa_distance(a: str, b: str, limit: int) -> int:
    """Optimal-string-alignment distance (a transposition costs 1), capped at limit + 1."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    if a == b:
        return 0
    # One edit changes the set of letters by two at most (a substitution drops one and adds
    # one; a transposition none): most words are told apart here, before the table below.
    if len(set(a).symmetric_difference(b)) > 2 * limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        best = cur[0]
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            value = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                value = min(value, prev2[j - 2] + 1)
            cur[j] = value
            best = min(best, value)
        if best > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[-1]


@dataclass(frozen=True)
class MatchSpec:
    """The query words and whether the last one is matched as a prefix."""

    words: tuple[str, ...]
    prefix_last: bool = True

    def matches(self, token: str) -> bool:
        return self.match_length(token) is not None

    def match_length(self, token: str) -> int | None:
        """How many leading characters of `token` the query matches (all of it, or the typed
        prefix for the last word), or None."""
        lengths = _lengths(self)
        if token not in lengths:
            lengths[token] = self._match_length(token)
        return lengths[token]

    def _match_length(self, token: str) -> int | None:
        for index, word in enumerate(self.words):
            budget = typo_budget(word)
            if token == word:
                return len(token)
            if budget and osa_distance(token, word, budget) <= budget:
                return len(token)
            if self.prefix_last and index == len(self.words) - 1 and len(token) > len(word):
                head = token[: len(word)]
                if head == word or (budget and osa_distance(head, word, budget) <= budget):
                    return len(word)
        return None


@functools.lru_cache(maxsize=256)
def _lengths(spec: MatchSpec) -> dict[str, int | None]:
    """What `spec.match_length` answered, by word: the same words recur in every snippet of a
    page and in the next searches of the same query."""
    return {}


def find_matches(text: str, spec: MatchSpec) -> list[tuple[int, int]]:
    """(start, length) in code points of every word of `text` the query matches."""
    lengths = _lengths(spec)
    if text.isascii():
        # ASCII folds to lower case, letter for letter: look at each distinct word once, and
        # walk the text only when one of them matches
        folded = text.lower()
        distinct = set(_WORD.findall(folded))
        for token in distinct.difference(lengths):
            lengths[token] = spec._match_length(token)
        if all(lengths[token] is None for token in distinct):
            return []
        return [
            (match.start(), length)
            for match in _WORD.finditer(folded)
            if (length := lengths[match.group()]) is not None
        ]
    found = []
    for match in _WORD.finditer(text):
        original = match.group()
        token = "".join(words(original))
        if token not in lengths:
            lengths[token] = spec._match_length(token) if token else None
        length = lengths[token]
        if length is None:
            continue
        if length < len(token) and len(token) == len(original):
            found.append((match.start(), length))  # the typed prefix of the word
        else:
            found.append((match.start(), len(original)))
    return found


def excerpt(
    text: str, ranges: list[tuple[int, int]], max_chars: int = 160
) -> tuple[str, list[tuple[int, int]]]:
    """A window of `text` around the first match, with ranges shifted into it."""
    if len(text) <= max_chars or not ranges:
        snippet = text if len(text) <= max_chars else text[:max_chars].rstrip() + "…"
        return snippet, [r for r in ranges if r[0] + r[1] <= len(snippet)]
    first = ranges[0][0]
    start = max(0, first - max_chars // 4)
    space = text.rfind(" ", 0, start)
    if start > 0 and space >= 0 and start - space < 20:
        start = space + 1
    end = min(len(text), start + max_chars)
    prefix = "…" if start > 0 else ""
    suffix = "…" if end < len(text) else ""
    snippet = prefix + text[start:end] + suffix
    shift = len(prefix) - start
    inside = [(s + shift, n) for s, n in ranges if s >= start and s + n <= end]
    return snippet, inside
