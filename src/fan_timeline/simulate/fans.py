"""Fans and their threads: live comments written over a game's canonical plays.

The comments react to the plays as real game threads do (measured on a real NBA playoff game's
threads; see docs/architecture.md, "Synthetic data"):

- threads: the league subreddit's game thread (r/nba; often split into a 1st- and a 2nd-half
  thread) where ~70% of comments carry a team flair, and each team's own subreddit thread, whose
  fans need no flair: the subreddit says whose they are;
- volume: from a couple to hundreds of comments a minute, busiest late in close games; each
  thread has its own size, and a few games are big;
- reaction: a burst after a play that mattered, peaking `lag_s` after it (20-45 s in real threads,
  up to 90 s behind a slow stream), as large as the play mattered (`gold.Moment.score`);
- stance: a team's fans are euphoric at their team's big play and angry (at players, coaches,
  referees) at the other team's; neutral fans are excited or calm. The same play is positive in
  one team's thread and negative in the other's;
- language: short bursts ("BARNES", "OH MY GOD"), caps, profanity, typos, emoji in some games,
  long rants, replies, deleted comments, bots.

Everything runs on canonical play rows (`tables.PLAY_COLUMNS`) and their `facts.Fact`s, so the
same code writes threads over a simulated game and over a real play-by-play file.

One file past 600 lines because `ThreadWriter` (~320 of them) is one generative process: volume,
bursts, stance and language share the thread's per-game draws, and split apart each would take
the others' state as arguments.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from fan_timeline import sport
from fan_timeline.facts import Fact, surname
from fan_timeline.simulate.league import CITIES, NICKNAMES, ascii_name

# Reactions to a play, in minutes' worth of the thread's usual pace: REACTION_SCALE * (2 * salience
# - 0.8)^2, so a play at half the game's least moment draws almost nothing of its own, a moment
# (salience 1) four minutes' worth inside 30 s, the game's biggest (3+) thirty: the 5-100x bursts of
# real threads (r/nba: median 3, p90 277 comments a minute).
REACTION_SCALE = 1.5
STANCES = ("pro", "anti", "hype", "calm")   # own team's good play / other team's / neutral excited / neutral calm
STANCE_FEELING = {"pro": "positive", "hype": "positive", "anti": "negative", "calm": "neutral"}


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

    lag_s: float               # wall seconds from a play to its reaction peak
    emoji: float               # share of comments with an emoji (old threads ~0, newer more)
    profanity: float
    caps: float
    deleted: float


def draw_mood(rng: random.Random) -> Mood:
    lag = rng.uniform(18, 45) if rng.random() < 0.8 else rng.uniform(45, 90)
    return Mood(lag_s=round(lag, 1), emoji=rng.choice((0.0, 0.01, 0.03, 0.08)), profanity=rng.uniform(0.12, 0.22),
                caps=rng.uniform(0.10, 0.2), deleted=rng.uniform(0.05, 0.07))


# --- text ---------------------------------------------------------------------------------------
# {P} the player's name in caps, {p} as fans write it, {q} the other player (blocked, stolen from, a
# teammate), {t}/{T} the team's nickname (as is / caps), {o} the other team's nickname.
SHORT_PRO = ("{P}", "{P}!!!", "{P} {P} {P}", "LETS GOOOO", "YESSSS", "HE IS HIM", "{P} IS HIM", "BANG", "WOW",
             "OH MY GOD", "COOKING", "lets go {p}", "{p}!!", "yes sir", "ELITE", "MVP MVP MVP", "{T}!!!")
SHORT_ANTI = ("NOOOO", "ugh", "pain", "of course", "unreal", "wtf", "cmon", "are you kidding me", "fuck",
              "bruh", "lmao we suck", "I hate this team", "jesus christ", "no way", "brutal")
SHORT_HYPE = ("WOW", "holy shit", "OH MY GOD", "what a play", "wow {p}", "{P}!!", "this game rules",
              "WHAT A GAME", "lmaooo", "insane", "filthy", "oh my", "🍿", "league pass alert")
SHORT_CALM = ("nice", "ok", "good play", "lol", "{p} is good", "solid", "fair", "interesting", "meh", "sure")

PRO = {
    "three": ("{P} FROM DOWNTOWN", "splash. {p} again", "{p} is on fire tonight", "{p} can't miss rn",
              "cash money {p}", "{p} from the logo lmao", "THAT'S A {P} THREE", "bang bang {p}"),
    "dunk": ("{P} WITH THE HAMMER", "{p} just put him on a poster", "posterized lmaooo", "{P} THREW IT DOWN",
             "{p} is a grown man", "get that weak shit out of here... wait that was us dunking lol"),
    "two": ("big bucket {p}", "{p} getting to the rim at will", "{p} is so smooth", "nice move {p}",
            "{p} too quick for them"),
    "free_throw": ("knock em down {p}", "{p} money from the line", "ice cold at the line"),
    "block": ("{P} WITH THE SWAT", "get that weak stuff outta here {p}", "{p} said not in my house",
              "REJECTED", "{p} sent it to the cheap seats", "{q} really tried that on {p} lol"),
    "steal": ("{p} pickpocket lmao", "{P} WITH THE STEAL", "great hands {p}", "{p} reading that pass all day",
              "{p} with the theft"),
    "turnover": ("TURNOVER LETS GO", "defense wins games", "they're panicking", "great pressure"),
    "miss": ("DEFENSE", "great contest", "no chance", "they're choking", "LETS GOOO GET THE BOARD"),
    "lead": ("{P} FOR THE LEAD", "ICE IN HIS VEINS", "{p} wanted that shot", "WE'RE UP", "{P} CLUTCH",
             "biggest shot of the season from {p}", "THAT'S WHY WE PAY {P}", "{p} is built for this"),
    "tie": ("TIE GAME", "{p} ties it!!", "we're not dead yet", "{p} with the answer", "never doubted {p}"),
    "run": ("{t} are rolling", "this is the {t} I know", "{p} leading the charge", "can't stop us rn",
            "{o} need a timeout lol", "momentum baby"),
    "final": ("WE WIN", "W", "what a win", "GOOD GUYS WIN", "{p} carried us tonight", "LETS GOOOO {T}",
              "huge W", "{t} win!! {p} was unreal"),
    "overtime": ("OVERTIME BABY", "free basketball", "we're alive!!!", "{p} sent it to OT", "OT LETS GO"),
    "period_end": ("good quarter", "keep it up", "love this energy", "{p} has been great"),
}
ANTI = {
    "three": ("how do you leave {p} open", "of course {p} hits that", "closeout was lazy", "cool cool cool",
              "WHY IS NOBODY GUARDING {P}", "{p} shooting 90% against us every game"),
    "dunk": ("nobody boxed out??", "our defense is a fucking joke", "we really let {p} walk in for that",
             "{p} traveled first but ok", "who was guarding {p}?? nobody??"),
    "two": ("can't guard anyone", "zero resistance", "our rim protection is nonexistent", "{p} again??"),
    "free_throw": ("refs gifting them free throws", "soft foul", "that was a flop", "{p} gets every call"),
    "block": ("that was a foul on {p}", "refs swallowing the whistle again", "{q} stop driving into {p}",
              "goaltending? anyone?", "{q} is allergic to passing"),
    "steal": ("{q} with another turnover smh", "bench {q}", "terrible pass lol", "{q} has been careless all night",
              "wow another turnover, shocking"),
    "turnover": ("WHAT ARE WE DOING", "{q} you can't do that", "throwing it away again", "fire the coach"),
    "miss": ("NOOO", "why did {q} take that shot", "terrible shot", "we needed that", "run a play coach"),
    "lead": ("I hate this team", "we always blow leads", "this is so on brand", "refs giving them every call",
             "why is {p} always open in the 4th", "can't guard {p} to save our lives", "WHY THE FUCK DID WE FOUL"),
    "tie": ("we were up big how", "choking again", "here we go again", "how do you let {p} tie it",
            "this collapse is so on brand"),
    "run": ("call a timeout coach", "this is embarrassing", "fire the coach", "we haven't scored in forever",
            "{p} is killing us", "turn this off tbh"),
    "final": ("pain", "this one hurts", "refs decided this one", "another L", "{p} killed us tonight",
              "blow it up", "season's over", "I'm done with this team"),
    "overtime": ("we had this won", "blew it, now OT", "I can't watch OT with this team", "how did we let {p} do that"),
    "period_end": ("ugly quarter", "need better than this", "coach needs to adjust", "bench was awful"),
}
HYPE = ("what a game", "this game is wild", "{p} is so fun to watch", "wow {p}", "this game rules",
        "neutral here, this is great", "{p} is different", "league pass game of the night", "that was filthy")
CALM = ("{p} is solid", "ok that was nice", "decent play", "{p} has been efficient tonight", "carry on")
RANTS_ANTI = (
    "I genuinely don't understand what we're doing on defense. Every single possession {p} gets whatever he wants "
    "and nobody rotates. This has been the problem all season and the coach refuses to adjust.",
    "Refs have been terrible all night. {q} gets hacked every drive and nothing, then they call that? Unreal. "
    "I'm not saying it's rigged but it's really hard to watch.",
    "We keep doing this. Up big, get comfortable, stop moving the ball, and suddenly it's a game. Same story "
    "every week. Front office needs to make a move.",
)
RANTS_PRO = (
    "People were saying {p} was washed at the start of the season. Look at him now. This is the best he has "
    "played in years and it is so much fun to watch.",
    "This is what happens when we actually move the ball. Everyone touches it, good shots, {p} gets going. "
    "More of this please.",
)
CHATTER = {
    "pre": ("excited for this one", "{t} by 10", "who's starting tonight?", "is {p} playing?",
            "prediction: {t} win 114-106", "first game thread of the week lets go", "{p} gonna drop 30 tonight",
            "need this W", "trap game incoming"),
    "pro": ("{p} looking good tonight", "let's keep this going", "need more from the bench", "defense looks good",
            "{p} has been great", "love the ball movement", "{t} basketball", "this lineup works",
            "{p} is so underrated"),
    "anti": ("our bench is trash", "why is {p} still playing", "refs are blind tonight", "coach needs to be fired",
             "we can't rebound", "another night another brick", "love paying for league pass to watch this",
             "refs having a great game /s", "{p} has been invisible", "no effort on defense smh",
             "wow great spacing guys", "this team has no heart"),
    "off": ("anyone got a stream that works?", "my fantasy team is dying", "the announcers are so bad tonight",
            "ads every 2 min smh", "the crowd is so quiet", "whats the over/under tonight",
            "who else is watching at work lol", "my parlay is cooked", "this broadcast crew needs to go",
            "pizza just got here perfect timing", "is it just me or is the stream laggy"),
    "half": ("halftime thoughts?", "need a better 3rd quarter", "good half", "{p} needs more shots",
             "halftime adjustments pls coach", "that half was ugly"),
    "post": ("good game both teams", "{p} deserved that", "see you next game", "what a night",
             "{p} postgame presser gonna be good", "i need a drink after that"),
    "close": ("this is too close", "my heart can't take this", "nervous af", "one possession game",
              "every possession matters now", "I can't watch", "I need a stop here PLEASE"),
}
REPLIES = {
    "agree": ("this", "facts", "100%", "exactly what I was thinking", "real", "yep", "so true lol"),
    "disagree": ("cope", "lmao no", "bro what", "touch grass", "stay mad", "delusional take", "not even close",
                 "ratio"),
    "neutral": ("lol", "lmao", "fair", "we'll see", "idk man", "sure"),
}
AUTOMOD = ("Welcome to the game thread! Please keep the discussion civil. Streams are not allowed and will be "
           "removed.\n\n*I am a bot, and this action was performed automatically.*")
PROFANITY = ("fucking", "fuckin", "holy shit", "wtf", "goddamn", "damn", "shit")
EMOJI = ("🔥", "😭", "💀", "😤", "🤡", "👀", "🙏", "😂", "🐐")
_ADJ = ("salty", "hoop", "baseline", "midrange", "corner", "lazy", "clutch", "bench", "frozen", "tired",
        "loud", "quiet", "rusty", "brick", "swish", "paint", "glass", "dunkin", "stepback", "fastbreak",
        "ancient", "sleepy", "cosmic", "based", "retired")
_NOUN = ("heron", "yeti", "otter", "loon", "comet", "monarch", "goat", "panda", "ref", "lurker", "coach", "fan",
         "dad", "enjoyer", "merchant", "prophet", "truther", "guy", "analyst", "scout", "waffle", "noodle",
         "pigeon", "walrus")


_BAD_FOR_ACTOR = frozenset({"turnover", "miss", "miss_three", "miss_free_throw"})


def _bank_key(fact: Fact) -> str:
    """Which reaction bank a play's fans draw from: the situation first, then what happened."""
    if fact.kind in ("final", "overtime"):
        return fact.kind
    if fact.lead_change and (fact.late or fact.margin <= sport.CLOSE_MARGIN):
        return "lead"
    if fact.ties:
        return "tie"
    if fact.run >= 10:
        return "run"
    return {"miss_three": "miss", "miss_free_throw": "miss"}.get(fact.kind, fact.kind)


class ThreadWriter:
    """Writes every comment of a game's threads (a `random.Random` makes it deterministic)."""

    def __init__(self, rng: random.Random, game: GameView, threads: list[Thread], mood: Mood):
        self.rng, self.game, self.threads, self.mood = rng, game, threads, mood
        self.comments: list[Comment] = []
        self.ids: set[str] = set()
        self.plays = game.plays
        self.wall_list = [game.walls[p["seq"]] for p in self.plays]
        self.tip, self.end = self.wall_list[0], self.wall_list[-1]
        self.fans = {t.id: self.make_fans(t) for t in threads}
        self._weights: dict[tuple, list[float]] = {}

    # -- fans --------------------------------------------------------------------------------------
    def _username(self) -> str:
        rng = self.rng
        style = rng.random()
        if style < 0.5:
            return f"{rng.choice(_ADJ)}_{rng.choice(_NOUN)}{rng.randint(1, 9999)}"
        if style < 0.8:
            return f"{rng.choice(_ADJ).capitalize()}{rng.choice(_NOUN).capitalize()}{rng.randint(10, 99)}"
        return f"{rng.choice(('throwaway', 'u', 'not', 'just', 'the'))}-{rng.choice(_NOUN)}-{rng.randint(100, 99999)}"

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
        if fact is not None and fact.kind in _BAD_FOR_ACTOR:   # a miss or turnover: the actor is the other side's
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

    # -- the threads -------------------------------------------------------------------------------
    def write(self, salience: dict[int, float]) -> list[Comment]:
        """Every comment of every thread; `salience` maps a fact's seq to how it stood out in the
        game (`gold.salience`)."""
        bot = Fan("AutoModerator", "neutral", None, None, 0.0)
        for th in self.threads:
            self.add(th, bot, AUTOMOD, th.created + 2, "bot", distinguished="moderator", stickied=True)
        groups: dict[str, list[Thread]] = {}
        for th in self.threads:
            groups.setdefault(th.subreddit, []).append(th)
        for subs in groups.values():
            self.chatter(subs)
            for seq, value in salience.items():
                self.react(subs, self.game.facts[seq], value)
        self.stat_bot([g[0] for g in groups.values() if g[0].side is None])
        self.replies()
        self.mess()
        self.comments.sort(key=lambda c: (c.created, c.id))
        return self.comments

    def pace(self, thread: Thread, t: float) -> float:
        """Comments a minute at wall time t: quiet before tip-off, loud late in close games."""
        if t < self.tip:
            return thread.rate * 0.25 * max(0.1, 1 - (self.tip - t) / 3600)
        if t > self.end:
            return thread.rate * 1.2 * math.exp(-(t - self.end) / 600)
        p = self.state_at(t)
        r = thread.rate
        margin = abs(int(p["score_home"]) - int(p["score_away"]))
        if int(p["period"]) >= sport.REGULATION_PERIODS:
            r *= 1.8 if margin <= 8 else 0.6 if margin >= 20 else 1.1
        elif margin >= 25:
            r *= 0.6
        return r

    def chatter(self, threads: list[Thread]) -> None:
        rng = self.rng
        first = threads[0]
        t, stop = first.created + 60.0, self.end + rng.uniform(1200, 2100)
        while t < stop:
            for _ in range(_poisson(rng, self.pace(first, t))):
                ts = t + rng.uniform(0, 60)
                th = self.thread_at(threads, ts)
                fan = self.pick_fan(self.fans[th.id])
                kind = "pre" if ts < self.tip else "post" if ts > self.end else "chatter"
                self.add(th, fan, self.chatter_body(fan, ts), ts, kind)
            t += 60

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
            if int(p["period"]) == 2 and p["event_type"] == "period_end":
                bank = "half"
            elif rng.random() < 0.18 or fan.side == "neutral" and rng.random() < 0.5:
                bank = "off"
            elif int(p["period"]) >= sport.REGULATION_PERIODS and abs(margin) <= 6 and rng.random() < 0.4:
                bank = "close"
            else:
                ahead = (margin > 0) == (side == "home") and margin != 0
                bank = "pro" if ahead or rng.random() < 0.35 else "anti"
        if bank == "anti" and rng.random() < 0.08:
            return self.fill(rng.choice(RANTS_ANTI), side, None)
        return self.style(self.fill(rng.choice(CHATTER[bank]), side, None))

    def reaction_body(self, fact: Fact, stance: str, side: str | None, salience: float) -> str:
        rng = self.rng
        key = _bank_key(fact)
        big = key in ("lead", "tie", "final", "overtime") or fact.buzzer or rng.random() < min(0.8, salience / 3)
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

    def react(self, threads: list[Thread], fact: Fact, salience: float) -> None:
        """A burst of reactions to one play in one subreddit: its size follows how much the play
        mattered, its stances who the fans are, its timing the game's lag."""
        rng = self.rng
        good_for = self.game.side_of(fact.for_team)
        first = threads[0]
        n = _poisson(rng, first.rate * REACTION_SCALE * max(0.0, 2.0 * min(salience, 2.5) - 0.8) ** 2)
        if n == 0:
            return
        big = fact.late or fact.kind in ("final", "overtime") or fact.lead_change or fact.ties
        anti_w = 0.9 if big else 0.3
        wall = self.game.walls[fact.seq]
        for _ in range(n):
            t = wall + max(3.0, self.mood.lag_s - 8.0 + rng.gammavariate(2.5, 5.0))
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
            body = self.reaction_body(fact, stance, good_for, salience)
            self.add(th, fan, body, t, "reaction", boost=0.6 if salience > 1.5 else 0.0, play=fact.seq, stance=stance)

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
                parent = self.add(th, fan, self.style(rng.choice(REPLIES[mood])), parent.created + rng.uniform(8, 150),
                                  "reply", parent=f"t1_{parent.id}")

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
    league_rate = round(min(120.0, rng.lognormvariate(math.log(3.5), 0.5) * size), 1)
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
            rate = round(min(40.0, rng.lognormvariate(math.log(4.0), 0.4) * math.sqrt(size)), 1)
            threads.append(Thread(base36(rng, 7), team.subreddit, f"[Game Thread] {game.away.nickname} @ "
                                  f"{game.home.nickname}", opened + 600, f, f"r_{team.subreddit}_game_thread.{EXT[f]}",
                                  side, rate))
    return threads
