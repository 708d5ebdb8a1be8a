"""Where fans write: the game as they watch it, the threads of a game, and the comments in them.

`GameView` is what the fans watch (the plays, their facts, when each happened); `plan_threads` opens
a game's threads: the league subreddit's game thread (r/nba; split into a 1st- and a 2nd-half thread
in about a third of games) and each team's own subreddit thread;
`Comment` is one comment as the writer (`fans.ThreadWriter`) makes it and the formats
(`formats.write_comments`) write it; `hide_collapsed` marks what a listing file folds away.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from fan_timeline.facts import Fact


@dataclass(frozen=True)
class Side:
    """A team as its fans talk about it."""

    code: str
    name: str                  # "Harbor Herons", or the code when the play-by-play names no team
    nickname: str              # "Herons", or the code
    subreddit: str             # the team's own subreddit, without "r/"
    players: tuple[str, ...]   # display names as the play-by-play writes them


@dataclass
class GameView:
    """What the fans watch: the game's plays, their facts, and when each happened (wall clock)."""

    game_id: str
    home: Side
    away: Side
    plays: list[dict]
    facts: dict[int, Fact]
    walls: dict[int, float]    # seq -> Unix seconds

    def side_of(self, code: str | None) -> str | None:
        return "home" if code == self.home.code else "away" if code == self.away.code else None

    def team(self, side: str) -> Side:
        return self.home if side == "home" else self.away


@dataclass
class Thread:
    id: str
    subreddit: str
    title: str
    created: int
    fmt: str                   # ndjson, ndjson_str, ndjson_zst, csv, listing
    file: str
    side: str | None           # "home"/"away" for a team's own subreddit, None for the league's
    rate: float                # comments a minute at an ordinary moment of live play
    ends: int | None = None    # a 1st-half thread stops taking comments here (the 2nd-half one opens)


@dataclass
class Comment:
    id: str
    thread: str                # link id without t3_
    subreddit: str
    parent: str                # t3_... or t1_...
    author: str
    flair: str | None
    flair_css: str | None
    body: str
    created: int               # UTC Unix seconds
    score: int
    kind: str                  # chatter reaction reply bot pre post
    edited: int | bool = False
    distinguished: str | None = None
    stickied: bool = False
    play: int | None = None    # seq of the play a reaction reacts to
    stance: str | None = None  # one of STANCES, for reactions
    hidden: bool = False       # collapsed behind a {"kind": "more"} stub in a listing file


def hide_collapsed(rng: random.Random, comments: list[Comment], listing_threads: set[str]) -> None:
    """Mark the branches a listing file collapses into {"kind": "more"} stubs."""
    by_thread: dict[str, list[Comment]] = {}
    for c in comments:
        if c.thread in listing_threads:
            by_thread.setdefault(c.thread, []).append(c)
    for cs in by_thread.values():
        children: dict[str, list[Comment]] = {}
        for c in cs:
            children.setdefault(c.parent, []).append(c)
        replies = [c for c in cs if c.parent.startswith("t1_")]
        top = [c for c in cs if c.parent.startswith("t3_") and c.kind != "bot"]
        for c in rng.sample(replies, min(len(replies), rng.randint(3, 7))) + top[-max(2, len(top) // 60):]:
            stack = [c]
            while stack:
                x = stack.pop()
                x.hidden = True
                stack.extend(children.get(f"t1_{x.id}", []))


def base36(rng: random.Random, n: int) -> str:
    return "1" + "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(n - 1))


EXT = {"ndjson": "ndjson", "ndjson_str": "ndjson", "ndjson_zst": "ndjson.zst", "csv": "csv", "listing": "json"}


def plan_threads(rng: random.Random, game: GameView, *, opened: int, half_end: float, size: float,
                 formats: tuple[str, ...], both_teams: bool = False) -> list[Thread]:
    """The league thread (split at halftime in about a third of games) and each team's own
    thread (the home team's in most games, the visitors' in fewer; both with `both_teams`).

    `size` scales every thread's pace: 1 is an ordinary game, 5+ a big one.
    """
    title = f"GAME THREAD: {game.away.name} @ {game.home.name}"
    league_rate = round(min(120.0, rng.lognormvariate(math.log(2.4), 0.4) * size), 1)
    threads: list[Thread] = []
    fmt = iter(formats)
    if rng.random() < 0.35:
        split = int(half_end + rng.uniform(120, 300))
        f1, f2 = next(fmt), next(fmt)
        threads.append(Thread(base36(rng, 7), "nba", title, opened, f1, f"r_nba_game_thread.{EXT[f1]}", None,
                              league_rate, ends=split))
        threads.append(Thread(base36(rng, 7), "nba", title.replace("GAME THREAD", "2ND HALF GAME THREAD"), split,
                              f2, f"r_nba_2nd_half.{EXT[f2]}", None, league_rate))
    else:
        f1 = next(fmt)
        threads.append(Thread(base36(rng, 7), "nba", title, opened, f1, f"r_nba_game_thread.{EXT[f1]}", None,
                              league_rate))
    for side, p in (("home", 0.65), ("away", 0.45)):
        if both_teams or rng.random() < p:
            team = game.team(side)
            f = next(fmt)
            rate = round(min(40.0, rng.lognormvariate(math.log(4.0), 0.3) * math.sqrt(size)), 1)
            threads.append(Thread(base36(rng, 7), team.subreddit, f"[Game Thread] {game.away.nickname} @ "
                                  f"{game.home.nickname}", opened + 600, f, f"r_{team.subreddit}_game_thread.{EXT[f]}",
                                  side, rate))
    return threads
