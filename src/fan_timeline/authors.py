"""Who wrote a comment: a stable pseudonym for the author, and the game team their flair or their
thread's subreddit says they support (ingest's `flair_team` and `fan_team` columns, the server's
audiences). Names, flairs and subreddits only; no wall clock, no play.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

ANONYMOUS_AUTHORS = frozenset({"[deleted]", "[removed]"})


def pseudonymise(author: str, salt: str) -> str:
    """Stable pseudonym "u_" + 12 hex of sha256(salt, name). Names are lower-cased first because
    Reddit names are unique case-insensitively; "[deleted]" stays as is (it is nobody)."""
    name = author.strip()
    if name in ANONYMOUS_AUTHORS:
        return name
    digest = hashlib.sha256(f"{salt}\x00{name.lower()}".encode("utf-8")).hexdigest()
    return "u_" + digest[:12]


def _team_terms(info: Mapping[str, Any]) -> list[str]:
    """Words that name a team in flair: tricode, full name, nickname (last word), aliases."""
    terms = [info.get("team"), info.get("name"), *(info.get("aliases") or [])]
    name = info.get("name")
    if isinstance(name, str) and len(name.split()) > 1:
        terms.append(name.split()[-1])   # "Harbor Herons" -> "Herons"; a city alone is ambiguous
    return [t.strip().lower() for t in terms if isinstance(t, str) and t.strip()]


def flair_team(flair: str | None, teams: Mapping[str, Mapping[str, Any]]) -> str | None:
    """Tricode of the one game team the flair names (whole words, case-insensitive), else None.

    `teams` is ingest's {"home": {"team", "name", "aliases"}, "away": {...}}. A flair naming
    both teams or neither (a third team's fan) supports no side of this game.
    """
    if not flair:
        return None
    text = flair.lower()
    found = set()
    for info in teams.values():
        for term in _team_terms(info):
            if re.search(rf"(?<![a-z0-9]){re.escape(term)}(?![a-z0-9])", text):
                found.add(info["team"])
                break
    return found.pop() if len(found) == 1 else None


def _squash(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def subreddit_team(subreddit: str | None, teams: Mapping[str, Mapping[str, Any]]) -> str | None:
    """Tricode of the game team whose own subreddit this is, else None (a league subreddit).

    game.json's `subreddit` decides when given; otherwise a name matches when the squashed
    subreddit ("clevelandcavs", "GoNets", "NOLAPelicans") holds a team's nickname, alias, city or
    squashed name of 4+ letters, and no word of the other team's.
    """
    if not subreddit:
        return None
    sub = _squash(subreddit)
    for info in teams.values():
        if info.get("subreddit") and _squash(str(info["subreddit"])) == sub:
            return info["team"]
    found = set()
    for info in teams.values():
        name = str(info.get("name") or "")
        terms = [*_team_terms(info), name.split()[0] if name else ""]
        if any(len(t) >= 4 and t in sub for t in map(_squash, terms)) or _squash(str(info["team"])) == sub:
            found.add(info["team"])
    return found.pop() if len(found) == 1 else None
