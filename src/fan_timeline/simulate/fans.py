"""Fans: the live comments of a game's threads (`threads.plan_threads`), written over its plays.

The comments behave as a real game's threads do (measured on a real NBA playoff game; the figures
and the checks that hold the sample to them are in `fan_timeline.realism`):

- fans: ~70% of the league thread's carry a team flair; a team's own subreddit says whose they are;
- pace: most comments are about the game in general, at the thread's own pace, which rises late
  in close games, drifts with the thread's mood, and rises in every stoppage (fouls, free throws,
  timeouts, period breaks: people write while they wait), so the loudest minutes follow dead balls,
  not baskets;
- reaction: a play adds comments in proportion to how much it excited its fans (`gold`'s latent
  excitement, which the feed does not show), weakly: a moment lifts the pace 1.5-3x, an ordinary
  basket barely at all. They come after the stream's lag (20-85 s, the game's own) plus the time
  to type, and the feed logs each play a few seconds to a minute after it happened, so against the
  feed's clock a burst peaks anywhere from 0 to ~105 s;
- words: a reaction names the play's player or says what happened ("BLOCK", "from three") in
  about half the cases; chatter names the players on the floor too, so a name lifts only 2-3x;
- stance: a team's fans are euphoric at their team's big play and angry (at players, coaches,
  referees) at the other team's; neutral fans are excited or calm. The same play is positive in
  one team's thread and negative in the other's;
- language: short bursts ("BARNES", "OH MY GOD"), caps, profanity, typos, emoji in some games,
  long rants, replies, deleted comments, bots.

`World` holds the knobs: `REALISTIC` (the default) and `CLEAN`, the loud, on-cue fans of earlier
samples (bursts of 5-100x, no stoppage chatter), kept to show what the realism check catches.

Everything runs on canonical play rows and their `facts.Fact`s: the same code writes threads over a
simulated game and over a real play-by-play file.
"""

from __future__ import annotations

import bisect
import math
import random
from dataclasses import dataclass

import numpy as np

from fan_timeline import sport
from fan_timeline.facts import Fact, surname
from fan_timeline.simulate.league import CITIES, NICKNAMES, ascii_name
from fan_timeline.simulate.text import (
    ADJECTIVES,
    ANTI,
    ARGUED,
    AUTOMOD,
    BAD_FOR_ACTOR,
    CALM,
    CHATTER,
    EMOJI,
    GENERAL,
    HYPE,
    NOUNS,
    PLAY_WORDS,
    PLAYER_TALK,
    POSSESSION,
    POSSESSION_NAMED,
    PRO,
    PROFANITY,
    RANTS_ANTI,
    RANTS_PRO,
    REPLIES,
    REPLIES_LONG,
    SHORT_ANTI,
    SHORT_CALM,
    SHORT_HYPE,
    SHORT_PRO,
    STOPPAGE,
    TAKES,
    bank_key,
)
from fan_timeline.simulate.threads import Comment, GameView, Thread

STANCES = ("pro", "anti", "hype", "calm")   # own team's good play / other team's / neutral excited / neutral calm
STANCE_FEELING = {"pro": "positive", "hype": "positive", "anti": "negative", "calm": "neutral"}
GRID_S = 5.0                                 # the pace is drawn on a grid of this many wall seconds
POSSESSION_AFTER_BASKET = 0.5                # of `World.possession`, after a made basket
CRUNCH_LEAGUE = 6.0                          # the end of a close game: the league thread's pace up to 7x ...
CRUNCH_TEAM = 3.0                            # ... a team's own up to 4x
# The stoppages fans talk through (the dead time after a row of this kind), and how much of
# `World.stoppage` each brings: a timeout or a period break all of it, a foul or a review most.
STOPPAGES = {"timeout": 1.0, "period_end": 1.0, "foul": 0.8, "free_throw_made": 0.6, "free_throw_missed": 0.6,
             "other": 0.8}


@dataclass(frozen=True)
class World:
    """How loud, how late and how plain a simulated game's fans are."""

    name: str
    gain: float          # comments the game's least moment draws, in minutes of its thread's pace ...
    exponent: float      # ... times (excitement / the least moment's) ** exponent
    max_minutes: float   # ... at most this many minutes' worth
    drift: float         # sd of the thread's slow mood swings (log pace; 0 = none)
    stoppage: float      # pace in a timeout or period break against live play (fouls, free throws: halfway)
    typing_s: float      # mean seconds from seeing a play (after the stream lag) to posting about it
    logging_s: float     # mean seconds the feed logs a play after it happened (0: at once)
    player_talk: float   # share of chatter that names a player on the floor
    play_words: float    # share of reactions that say what happened ("BLOCK", "from three")
    possession: float    # comments every possession draws (a basket, a miss, a foul), in minutes of pace


REALISTIC = World("realistic", gain=2.0, exponent=1.5, max_minutes=6.0, drift=0.22, stoppage=4.5, typing_s=16.0,
                  logging_s=5.0, player_talk=0.5, play_words=0.45, possession=1.0)
CLEAN = World("clean", gain=2.2, exponent=2.0, max_minutes=30.0, drift=0.0, stoppage=1.0, typing_s=10.0,
              logging_s=0.0, player_talk=0.03, play_words=0.1, possession=0.0)
WORLDS = {w.name: w for w in (REALISTIC, CLEAN)}


@dataclass
class Fan:
    name: str
    side: str                  # home / away / neutral
    flair: str | None
    flair_css: str | None
    activity: float


@dataclass(frozen=True)
class Mood:
    """How a game's threads behave: set per game by `draw_mood`."""

    lag_s: float               # the stream's lag: wall seconds from a play until the fans see it
    emoji: float               # share of comments with an emoji (old threads ~0, newer more)
    profanity: float
    caps: float
    deleted: float


def draw_mood(rng: random.Random, lag_s: float | None = None) -> Mood:
    """A game's mood; `lag_s` fixes the stream lag (else 20-50 s, and 50-85 s behind a slow stream)."""
    lag = rng.uniform(20, 50) if rng.random() < 0.8 else rng.uniform(50, 85)
    return Mood(lag_s=round(lag if lag_s is None else lag_s, 1), emoji=rng.choice((0.0, 0.01, 0.03, 0.08)),
                profanity=rng.uniform(0.14, 0.22), caps=rng.uniform(0.14, 0.24), deleted=rng.uniform(0.05, 0.07))


@dataclass(frozen=True)
class Latent:
    """What a play did to its fans, which the feed does not show (`gold.draw_latent`)."""

    salience: float           # its excitement against the game's least moment's (1 = just a moment)
    argued: bool = False       # a play fans argue about (a block that looked like a foul)


class ThreadWriter:
    """Writes every comment of a game's threads (a `random.Random` makes it deterministic)."""

    def __init__(self, rng: random.Random, game: GameView, threads: list[Thread], mood: Mood,
                 world: World = REALISTIC):
        self.rng, self.game, self.threads, self.mood, self.world = rng, game, threads, mood, world
        self.comments: list[Comment] = []
        self.ids: set[str] = set()
        self.plays = game.plays
        self.wall_list = [game.walls[p["seq"]] for p in self.plays]
        self.tip, self.end = self.wall_list[0], self.wall_list[-1]
        self.fans = {t.id: self.make_fans(t) for t in threads}
        self._weights: dict[tuple, list[float]] = {}
        self.t0 = min(t.created for t in threads)
        self.live = self._live_factor()
        self.players_at = [(w, p["player"]) for w, p in zip(self.wall_list, self.plays) if p.get("player")]

    # -- fans --------------------------------------------------------------------------------------
    def _username(self) -> str:
        rng = self.rng
        style = rng.random()
        if style < 0.5:
            return f"{rng.choice(ADJECTIVES)}_{rng.choice(NOUNS)}{rng.randint(1, 9999)}"
        if style < 0.8:
            return f"{rng.choice(ADJECTIVES).capitalize()}{rng.choice(NOUNS).capitalize()}{rng.randint(10, 99)}"
        return f"{rng.choice(('throwaway', 'u', 'not', 'just', 'the'))}-{rng.choice(NOUNS)}-{rng.randint(100, 99999)}"

    def _team_flair(self, side: str) -> tuple[str, str]:
        team, rng = self.game.team(side), self.rng
        f = rng.random()
        if f < 0.45:
            return team.name, f"{team.nickname.replace(' ', '')}{rng.randint(1, 3)}"
        if f < 0.75 and team.players:
            return f"[{team.code}] {surname(rng.choice(team.players[:8]))}", team.code
        return team.nickname, team.nickname.lower().replace(" ", "")

    def make_fans(self, thread: Thread) -> list[Fan]:
        rng = self.rng
        n = int(min(4000, max(40, thread.rate * 25)))
        share_home, share_away = rng.uniform(0.3, 0.45), rng.uniform(0.2, 0.35)
        fans, names = [], set()
        while len(fans) < n:
            name = self._username()
            if name in names:
                continue
            names.add(name)
            if thread.side:
                side, flair, css = thread.side, None, None
                if rng.random() < 0.4:
                    flair = rng.choice(self.game.team(thread.side).players[:9] or ("",)) or None
            else:
                r = rng.random()
                side = "home" if r < share_home else "away" if r < share_home + share_away else "neutral"
                flair = css = None
                if side != "neutral" and rng.random() < 0.85:
                    flair, css = self._team_flair(side)
                elif side == "neutral" and rng.random() < 0.5:
                    city, _tz = rng.choice(CITIES)
                    nick = rng.choice([n for n in NICKNAMES
                                       if n not in (self.game.home.nickname, self.game.away.nickname)])
                    flair, css = f"{city} {nick}", nick.lower().replace(" ", "")
            fans.append(Fan(name, side, flair, css, rng.paretovariate(1.6)))
        return fans

    # -- helpers -----------------------------------------------------------------------------------
    def new_id(self) -> str:
        while True:
            cid = "".join(self.rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(7))
            if cid not in self.ids:
                self.ids.add(cid)
                return cid

    def thread_at(self, threads: list[Thread], t: float) -> Thread:
        """The open thread of a subreddit at wall time t (a split league thread has two)."""
        for th in threads:
            if th.created <= t and (th.ends is None or t < th.ends):
                return th
        return threads[-1]

    def state_at(self, t: float) -> dict:
        lo, hi = 0, len(self.plays) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.wall_list[mid] <= t:
                lo = mid
            else:
                hi = mid - 1
        return self.plays[lo]

    def fill(self, template: str, side: str | None, fact: Fact | None) -> str:
        rng = self.rng
        side = side or rng.choice(("home", "away"))
        team = self.game.team(side)
        opp = self.game.team("away" if side == "home" else "home")
        star = surname(rng.choice(team.players[:6])) if team.players else team.code
        victim = surname(rng.choice(opp.players[:6])) if opp.players else opp.code
        if fact is not None and fact.kind in BAD_FOR_ACTOR:   # a miss or turnover: the actor is the other side's
            victim = fact.actor or victim
        elif fact is not None:
            star, victim = fact.actor or star, fact.victim or victim
        spoken = star if rng.random() < 0.75 else star.lower()
        return template.format(p=spoken, P=ascii_name(star).upper(), q=victim, t=team.nickname, o=opp.nickname,
                               T=team.nickname.upper())

    def style(self, body: str, excited: bool = False) -> str:
        rng, mood = self.rng, self.mood
        r = rng.random()
        if (excited and r < 0.45) or r < mood.caps * 0.5:
            body = body.upper()
        elif r < 0.35 and not any(ch.isupper() for ch in body[1:]):
            body = body.lower()
        if rng.random() < mood.profanity and len(body) > 8 and "fuck" not in body.lower():
            word = rng.choice(PROFANITY)
            body = f"{word.upper() if body.isupper() else word} {body}" if rng.random() < 0.5 else f"{body} {word}"
        if excited and rng.random() < 0.25:
            body += "!" * rng.randint(1, 5)
        if rng.random() < 0.06:   # typo: swap two letters of one longer word
            words = body.split(" ")
            long_words = [i for i, w in enumerate(words) if len(w) >= 5 and w.isalpha()]
            if long_words:
                i = rng.choice(long_words)
                w = words[i]
                k = rng.randrange(1, len(w) - 2)
                words[i] = w[:k] + w[k + 1] + w[k] + w[k + 2:]
                body = " ".join(words)
        if rng.random() < mood.emoji:
            body += " " + rng.choice(EMOJI)
        elif rng.random() < 0.07:
            body += " " + rng.choice(("lol", "lmao", "fr", "ngl", "smh", "bro"))
        return body

    def add(self, thread: Thread, fan: Fan, body: str, t: float, kind: str, parent: str | None = None,
            boost: float = 0.0, **kw: object) -> Comment:
        c = Comment(id=self.new_id(), thread=thread.id, subreddit=thread.subreddit,
                    parent=parent or f"t3_{thread.id}", author=fan.name, flair=fan.flair, flair_css=fan.flair_css,
                    body=body, created=int(t), kind=kind,
                    score=max(-12, int(self.rng.lognormvariate(1.0 + boost, 1.1)) - 1), **kw)  # type: ignore[arg-type]
        self.comments.append(c)
        return c

    def pick_fan(self, pool: list[Fan], cum_weights: list[float] | None = None) -> Fan:
        if cum_weights is None:
            cum_weights = self._cum(pool, None, 1.0)
        return self.rng.choices(pool, cum_weights=cum_weights)[0]

    def _cum(self, pool: list[Fan], good_for: str | None, anti_w: float) -> list[float]:
        """Cumulative pick weights: activity, times how likely each side is to react to a play."""
        key = (id(pool), good_for, anti_w)
        if key not in self._weights:
            total, out = 0.0, []
            for f in pool:
                w = 1.0 if good_for is None else 1.0 if f.side == good_for else 0.5 if f.side == "neutral" else anti_w
                total += f.activity * w
                out.append(total)
            self._weights[key] = out
        return self._weights[key]

    # -- the thread's pace -------------------------------------------------------------------------
    def _live_factor(self) -> np.ndarray:
        """Per GRID_S of wall time from the first thread's opening: how much busier than live play
        the threads are (stoppages, as the stream shows them: people write while they wait, and
        on for a while after), times a slow drift of mood."""
        n = int((self.end + 2400 - self.t0) / GRID_S) + 1
        factor = np.ones(n)
        w = self.world
        for i in range(len(self.plays) - 1):
            p, q = self.plays[i], self.plays[i + 1]
            a = self.wall_list[i]
            dead = self.wall_list[i + 1] - a - max(0.0, float(q["game_s"]) - float(p["game_s"]))
            kind = p["event_type"]
            if dead < 15 or kind not in STOPPAGES:
                continue   # live play (the clock runs as the wall does), or an inbound's pause
            boost = 1 + (w.stoppage - 1) * STOPPAGES[kind]
            a += self.mood.lag_s       # the fans see the stoppage when their stream shows it
            factor[int((a - self.t0) / GRID_S):int((a + dead + 20 - self.t0) / GRID_S) + 1] *= boost
        if w.drift:
            rng = np.random.default_rng(self.rng.getrandbits(63))
            rho = math.exp(-GRID_S / 120.0)
            x = np.empty(n)
            x[0] = rng.normal(0, w.drift)
            shocks = rng.normal(0, w.drift * math.sqrt(1 - rho ** 2), n)
            for k in range(1, n):
                x[k] = rho * x[k - 1] + shocks[k]
            factor *= np.exp(x - w.drift ** 2 / 2)
        return factor

    def tension(self, thread: Thread, t: float) -> float:
        """Comments a minute at wall time t in live play: quiet before tip-off, filling up as the game
        goes, and many times busier at the end of a close game (a league thread most of all: real
        ones go from a few comments a minute to hundreds), thinner in a blowout."""
        if t < self.tip:
            return thread.rate * 0.25 * max(0.1, 1 - (self.tip - t) / 3600)
        if t > self.end:
            return self.tension(thread, self.end - 1) * math.exp(-(t - self.end) / 600)
        p = self.state_at(t)
        period, margin = int(p["period"]), abs(int(p["score_home"]) - int(p["score_away"]))
        progress = min(1.0, float(p["game_s"]) / (sport.REGULATION_PERIODS * sport.PERIOD_S))
        r = thread.rate * (0.6 + 0.8 * progress)
        if period >= sport.REGULATION_PERIODS:
            into = 1.0 if period > sport.REGULATION_PERIODS else 1.0 - float(p["clock_s"]) / sport.PERIOD_S
            close = max(0.0, 1.0 - margin / 10.0)
            r *= 1.0 + (CRUNCH_TEAM if thread.side else CRUNCH_LEAGUE) * close * into ** 2
        if margin >= 20 and period > 2:
            r *= 0.5
        return r

    def pace(self, thread: Thread, t: float) -> float:
        """Comments a minute at wall time t: `tension` times the stoppage and mood factor."""
        k = min(len(self.live) - 1, max(0, int((t - self.t0) / GRID_S)))
        return self.tension(thread, t) * float(self.live[k])

    def dead_ball(self, t: float) -> bool:
        k = min(len(self.live) - 1, max(0, int((t - self.t0) / GRID_S)))
        return self.tip < t < self.end and self.world.stoppage > 1 and self.live[k] > 1.2

    # -- the threads -------------------------------------------------------------------------------
    def write(self, latent: dict[int, Latent]) -> list[Comment]:
        """Every comment of every thread; `latent` maps a fact's seq to what it did to the fans."""
        bot = Fan("AutoModerator", "neutral", None, None, 0.0)
        for th in self.threads:
            self.add(th, bot, AUTOMOD, th.created + 2, "bot", distinguished="moderator", stickied=True)
        groups: dict[str, list[Thread]] = {}
        for th in self.threads:
            groups.setdefault(th.subreddit, []).append(th)
        for subs in groups.values():
            self.chatter(subs)
            self.possessions(subs)
            for seq, lat in latent.items():
                self.react(subs, self.game.facts[seq], lat)
        self.stat_bot([g[0] for g in groups.values() if g[0].side is None])
        self.replies()
        self.mess()
        self.comments.sort(key=lambda c: (c.created, c.id))
        return self.comments

    def chatter(self, threads: list[Thread]) -> None:
        """The thread's own talk, bin by bin at its pace."""
        rng = self.rng
        first = threads[0]
        t, stop = first.created + 60.0, self.end + rng.uniform(1200, 2100)
        while t < stop:
            for _ in range(_poisson(rng, self.pace(first, t) * GRID_S / 60.0)):
                ts = t + rng.uniform(0, GRID_S)
                th = self.thread_at(threads, ts)
                fan = self.pick_fan(self.fans[th.id])
                kind = "pre" if ts < self.tip else "post" if ts > self.end else "chatter"
                self.add(th, fan, self.chatter_body(fan, ts), ts, kind)
            t += GRID_S

    def possessions(self, threads: list[Thread]) -> None:
        """The few comments every possession draws (`World.possession`): "nice", "cmon", "{p} again".
        A made basket draws fewer (POSSESSION_AFTER_BASKET): what it draws is its excitement (`react`),
        and the other team brings the ball up at once; a real thread's baskets do not stand out by
        volume, its stoppages do (`realism`)."""
        rng, w = self.rng, self.world
        if not w.possession:
            return
        typing = w.typing_s / 2.0
        for p, wall in zip(self.plays, self.wall_list):
            if p["event_type"] in ("substitution", "period_start"):
                continue
            share = POSSESSION_AFTER_BASKET if p["event_type"] == "made_shot" else 1.0
            for _ in range(_poisson(rng, self.tension(threads[0], wall) * w.possession * share)):
                t = wall + self.mood.lag_s + rng.gammavariate(2.0, typing)
                th = self.thread_at(threads, t)
                fan = self.pick_fan(self.fans[th.id])
                name = surname(p.get("player")) if p.get("player") and rng.random() < 0.2 else ""
                body = rng.choice(POSSESSION_NAMED).format(p=name) if name else \
                    rng.choice(POSSESSION) if rng.random() < 0.5 else self.general()
                self.add(th, fan, self.style(body), t, "chatter")

    def general(self) -> str:
        """A comment about the game in general, now and then two thoughts in one."""
        body = self.rng.choice(GENERAL)
        return body + ". " + self.rng.choice(GENERAL) if self.rng.random() < 0.45 else body

    def on_floor(self, t: float) -> str | None:
        """A player fans talk about at wall time t: one named by the plays of the two minutes before it."""
        lo = bisect.bisect_left(self.players_at, (t - 150.0,))
        hi = bisect.bisect_right(self.players_at, (t + 20.0, "~"))
        names = [name for _, name in self.players_at[lo:hi]]
        return surname(self.rng.choice(names)) if names else None

    def chatter_body(self, fan: Fan, t: float) -> str:
        rng = self.rng
        side = fan.side if fan.side in ("home", "away") else rng.choice(("home", "away"))
        if t < self.tip:
            bank = "pre"
        elif t > self.end:
            bank = "post"
        else:
            p = self.state_at(t)
            margin = int(p["score_home"]) - int(p["score_away"])
            r = rng.random()
            if int(p["period"]) == 2 and p["event_type"] == "period_end":
                bank = "half"
            elif r < self.world.player_talk:
                name = self.on_floor(t)
                if name:
                    spoken = name if rng.random() < 0.75 else name.lower()
                    body = rng.choice(PLAYER_TALK).format(p=spoken)
                    return self.style(body + ". " + rng.choice(GENERAL) if rng.random() < 0.3 else body)
                bank = "pro"
            elif self.dead_ball(t) and rng.random() < 0.35:
                return self.style(rng.choice(STOPPAGE))
            elif rng.random() < 0.15 or fan.side == "neutral" and rng.random() < 0.4:
                bank = "off"
            elif int(p["period"]) >= sport.REGULATION_PERIODS and abs(margin) <= 6 and rng.random() < 0.4:
                bank = "close"
            elif rng.random() < 0.25:
                return self.fill(rng.choice(TAKES), side, None)
            elif rng.random() < 0.75:
                return self.style(self.general())
            else:
                ahead = (margin > 0) == (side == "home") and margin != 0
                bank = "pro" if ahead or rng.random() < 0.35 else "anti"
        if bank == "anti" and rng.random() < 0.08:
            return self.fill(rng.choice(RANTS_ANTI), side, None)
        return self.style(self.fill(rng.choice(CHATTER[bank]), side, None))

    def reaction_body(self, fact: Fact, stance: str, side: str | None, lat: Latent) -> str:
        rng = self.rng
        key = bank_key(fact)
        big = key in ("lead", "tie", "final", "overtime") or fact.buzzer or rng.random() < min(0.8, lat.salience / 3)
        if lat.argued and rng.random() < 0.45:
            return self.style(self.fill(rng.choice(ARGUED), side, fact), excited=big)
        words = PLAY_WORDS.get(fact.kind, ())
        if words and rng.random() < self.world.play_words:
            word = rng.choice(words)
            if rng.random() < 0.4:
                return self.style(word + "!" * (big and rng.random() < 0.6), excited=big)
            if stance == "pro":
                body = self.fill(rng.choice(SHORT_PRO), side, fact)
            elif stance == "anti":
                body = self.fill(rng.choice(SHORT_ANTI), side, fact)
            else:
                body = self.fill(rng.choice(SHORT_HYPE), side, fact)
            return self.style(f"{body} {word}" if rng.random() < 0.5 else f"{word} {body}", excited=big)
        if stance == "pro":
            if rng.random() < (0.45 if big else 0.3):
                return self.style(self.fill(rng.choice(SHORT_PRO), side, fact), excited=True)
            if rng.random() < 0.04:
                return self.fill(rng.choice(RANTS_PRO), side, fact)
            return self.style(self.fill(rng.choice(PRO.get(key) or PRO["two"]), side, fact), excited=big)
        if stance == "anti":
            if rng.random() < 0.3:
                return self.style(self.fill(rng.choice(SHORT_ANTI), side, fact), excited=big and rng.random() < 0.4)
            if rng.random() < 0.07:
                return self.fill(rng.choice(RANTS_ANTI), side, fact)
            return self.style(self.fill(rng.choice(ANTI.get(key) or ANTI["two"]), side, fact))
        if stance == "hype":
            bank = SHORT_HYPE if rng.random() < 0.5 else HYPE
            return self.style(self.fill(rng.choice(bank), side, fact), excited=big)
        return self.style(self.fill(rng.choice(SHORT_CALM if rng.random() < 0.5 else CALM), side, fact))

    def reaction_minutes(self, salience: float) -> float:
        """How many minutes of its thread's pace a play adds: `World.gain` at the game's least
        moment, growing with its excitement against that moment's."""
        w = self.world
        return min(w.max_minutes, w.gain * max(0.0, salience) ** w.exponent)

    def react(self, threads: list[Thread], fact: Fact, lat: Latent) -> None:
        """The comments one play draws in one subreddit: as many as it excited its fans, their stances
        who the fans are, their times the stream's lag plus the time to type."""
        rng = self.rng
        good_for = self.game.side_of(fact.for_team)
        first = threads[0]
        wall = self.game.walls[fact.seq]
        own = 1.5 if first.side else 1.0      # a team's own fans react louder than the league's
        n = _poisson(rng, self.tension(first, wall) * self.reaction_minutes(lat.salience) * own)
        if n == 0:
            return
        big = fact.late or fact.kind in ("final", "overtime") or fact.lead_change or fact.ties
        anti_w = 0.9 if big else 0.3
        typing = self.world.typing_s / 2.0
        for _ in range(n):
            t = wall + self.mood.lag_s + rng.gammavariate(2.0, typing)
            th = self.thread_at(threads, t)
            pool = self.fans[th.id]
            if th.side:        # a team's own subreddit: every fan is that team's
                stance = "pro" if th.side == good_for else "anti"
                if stance == "anti" and rng.random() > anti_w + 0.2:
                    continue   # the other team's highlight: fewer bother to comment
                fan = self.pick_fan(pool)
            else:
                fan = self.pick_fan(pool, self._cum(pool, good_for or "neutral", anti_w))
                stance = "pro" if fan.side == good_for else "anti" if fan.side in ("home", "away") else \
                    ("hype" if rng.random() < 0.8 else "calm")
                if good_for is None and fan.side != "neutral":   # a tied period end: nobody's play
                    stance = "calm"
            body = self.reaction_body(fact, stance, good_for, lat)
            self.add(th, fan, body, t, "reaction", boost=0.6 if lat.salience > 1.5 else 0.0, play=fact.seq,
                     stance=stance)

    def stat_bot(self, threads: list[Thread]) -> None:
        bot = Fan("nba-stat-bot", "neutral", None, None, 0.0)
        home, away = self.game.home, self.game.away
        for p in self.plays:
            if p["event_type"] != "period_end":
                continue
            body = (f"**End of {sport.period_name(int(p['period']))}**: {away.code} {p['score_away']} - "
                    f"{home.code} {p['score_home']}")
            for subs in threads:
                t = self.game.walls[p["seq"]] + self.rng.uniform(30, 90)
                self.add(subs, bot, body, t, "bot")

    def replies(self) -> None:
        rng = self.rng
        by_thread = {t.id: t for t in self.threads}
        names = {t.id: {f.name: f.side for f in self.fans[t.id]} for t in self.threads}
        for c in list(self.comments):
            if c.kind == "bot" or rng.random() > 0.13:
                continue
            parent = c
            th = by_thread[c.thread]
            for _ in range(rng.choice((1, 1, 1, 2, 3))):
                fan = self.pick_fan(self.fans[th.id])
                parent_side = names[th.id].get(parent.author, "neutral")
                mood = "neutral" if "neutral" in (fan.side, parent_side) else (
                    "agree" if fan.side == parent_side else "disagree")
                body = rng.choice(REPLIES[mood]) if rng.random() < 0.4 else rng.choice(REPLIES_LONG)
                parent = self.add(th, fan, self.style(body), parent.created + rng.uniform(8, 150), "reply",
                                  parent=f"t1_{parent.id}")

    def mess(self) -> None:
        """Deleted/removed comments, edits, double posts: what real threads contain."""
        rng = self.rng
        by_thread = {t.id: t for t in self.threads}
        for c in list(self.comments):
            if c.kind == "bot":
                continue
            r = rng.random()
            if r < self.mood.deleted * 0.6:
                c.body, c.author, c.flair, c.flair_css = "[deleted]", "[deleted]", None, None
            elif r < self.mood.deleted:
                c.body, c.author, c.flair, c.flair_css = "[removed]", "[deleted]", None, None
            elif r < self.mood.deleted + 0.04:
                c.edited = c.created + rng.randint(20, 1500)
                if rng.random() < 0.5:
                    c.body += " edit: " + rng.choice(("typo", "nvm", "lol", "called it", "wow"))
            elif r < self.mood.deleted + 0.05:
                fan = Fan(c.author, "neutral", c.flair, c.flair_css, 0.0)
                self.add(by_thread[c.thread], fan, c.body, c.created + rng.uniform(2, 20), c.kind, parent=c.parent)


def _poisson(rng: random.Random, lam: float) -> int:
    if lam > 50:   # normal approximation: the product method underflows
        return max(0, int(round(rng.gauss(lam, math.sqrt(lam)))))
    limit, k, prod = math.exp(-lam), 0, rng.random()
    while prod > limit:
        k += 1
        prod *= rng.random()
    return k


