"""The game engine: a possession-level basketball game with a game clock and a wall clock.

`GameSim(rng, home, away, tip_utc, profile, referees).play_game()` returns the game's plays in
order; `formats` writes them in the real play-by-play formats. The wall clock pays for dead
balls, free throws, timeouts, reviews, quarter breaks and halftime, so a 48-minute game takes
about 2h15 of wall time, as real ones do.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from fan_timeline.simulate.league import SIDES, Player, Team, other
from fan_timeline.sport import clock_label, game_seconds, period_length_s

PROFILES = ("ot", "close", "open", "blowout")

REFEREES = ((20301, "Dana Keller"), (20302, "Ray Osterman"), (20303, "Lena Fujita"),
            (20304, "Tom Brigham"), (20305, "Ines Carvalho"), (20306, "Walt Pemberton"),
            (20307, "Kemi Adebayo"), (20308, "Jon Rask"))


# --- plays ------------------------------------------------------------------------------------
# Shot catalogue: key -> (value, family, v2 text, v2 action code, v3 subType, cdn subType,
# cdn descriptor, espn text, min ft, max ft)
SHOTS: dict[str, tuple[int, str, str, int, str, str, str | None, str, int, int]] = {
    "jump": (2, "jumper", "Jump Shot", 1, "Jump Shot", "Jump Shot", None, "jumper", 10, 22),
    "pullup": (2, "jumper", "Pullup Jump Shot", 79, "Pullup Jump shot", "Jump Shot", "pullup",
               "pullup jump shot", 12, 21),
    "stepback": (2, "jumper", "Step Back Jump Shot", 80, "Step Back Jump shot", "Jump Shot",
                 "step back", "step back jumpshot", 13, 20),
    "fadeaway": (2, "jumper", "Fadeaway Jumper", 63, "Fadeaway Jump Shot", "Jump Shot", "fadeaway",
                 "fade away jump shot", 8, 18),
    "float": (2, "floater", "Driving Floating Jump Shot", 101, "Driving Floating Jump Shot",
              "Jump Shot", "driving floating", "driving floating jump shot", 4, 12),
    "hook": (2, "hook", "Turnaround Hook Shot", 58, "Turnaround Hook Shot", "Hook", "turnaround",
             "turnaround hook shot", 3, 9),
    "layup": (2, "layup", "Driving Layup Shot", 6, "Driving Layup Shot", "Layup", "driving",
              "driving layup", 0, 4),
    "cutlayup": (2, "layup", "Cutting Layup Shot", 98, "Cutting Layup Shot", "Layup", "cutting",
                 "cutting layup shot", 0, 3),
    "reverse": (2, "layup", "Driving Reverse Layup", 73, "Driving Reverse Layup Shot", "Layup",
                "driving reverse", "reverse layup", 0, 3),
    "fingerroll": (2, "layup", "Driving Finger Roll Layup", 75, "Driving Finger Roll Layup Shot",
                   "Layup", "driving finger roll", "driving finger roll layup", 1, 4),
    "putback": (2, "layup", "Putback Layup", 72, "Putback Layup Shot", "Layup", "putback",
                "putback layup", 0, 2),
    "dunk": (2, "dunk", "Driving Dunk Shot", 9, "Driving Dunk Shot", "DUNK", "driving",
             "driving dunk", 0, 2),
    "cutdunk": (2, "dunk", "Cutting Dunk Shot", 108, "Cutting Dunk Shot", "DUNK", "cutting",
                "cutting dunk shot", 0, 2),
    "alleyoop": (2, "dunk", "Alley Oop Dunk", 52, "Alley Oop Dunk Shot", "DUNK", "alley-oop",
                 "alley oop dunk shot", 0, 1),
    "putbackdunk": (2, "dunk", "Putback Dunk", 87, "Putback Dunk Shot", "DUNK", "putback",
                    "putback dunk", 0, 1),
    "three": (3, "three", "3PT Jump Shot", 1, "Jump Shot", "Jump Shot", None,
              "three point jumper", 23, 27),
    "three_pullup": (3, "three", "3PT Pullup Jump Shot", 79, "Pullup Jump shot", "Jump Shot",
                     "pullup", "pullup three point shot", 24, 29),
    "three_stepback": (3, "three", "3PT Step Back Jump Shot", 80, "Step Back Jump shot",
                       "Jump Shot", "step back", "step back three point jumper", 24, 28),
    "heave": (3, "three", "3PT Jump Shot", 1, "Jump Shot", "Jump Shot", None,
              "three point jumper", 38, 62),
}
_MAKE_P = {"jumper": 0.40, "floater": 0.45, "hook": 0.50, "layup": 0.58, "dunk": 0.90,
           "three": 0.35}
_SHOT_MIX = {  # position -> (key, weight) for 2-point attempts
    "G": (("jump", 2), ("pullup", 3), ("stepback", 2), ("float", 3), ("layup", 3), ("reverse", 1),
          ("fingerroll", 1), ("cutlayup", 1), ("dunk", 0.5)),
    "F": (("jump", 2), ("pullup", 2), ("fadeaway", 2), ("float", 1), ("layup", 3), ("cutlayup", 2),
          ("dunk", 1.5), ("cutdunk", 1), ("alleyoop", 0.6)),
    "C": (("hook", 3), ("layup", 3), ("cutlayup", 2), ("dunk", 2.5), ("cutdunk", 1.5),
          ("alleyoop", 1.2), ("fadeaway", 0.5)),
}
_THREE_RATE = {"G": 0.48, "F": 0.38, "C": 0.12}
TURNOVERS = (  # key, weight, steal probability
    ("bad pass", 4, 0.65), ("lost ball", 3, 0.85), ("traveling", 1, 0.0),
    ("offensive foul", 1.5, 0.0), ("out of bounds", 1.5, 0.0), ("step out of bounds", 0.7, 0.0),
)


@dataclass
class Play:
    """One engine event. Format writers expand it (a blocked miss becomes two rows in some)."""

    seq: int
    kind: str  # period_start jump_ball shot free_throw rebound turnover foul violation
    # substitution timeout replay period_end game_end
    period: int
    clock_s: float
    wall: float                      # UTC Unix seconds (0.1 s)
    side: str | None = None          # acting team: "home" / "away"
    player: Player | None = None
    made: bool = False
    shot: str = ""                   # SHOTS key
    distance: int = 0
    x: float = 0.0                   # feet from the basket, left/right
    y: float = 0.0                   # feet from the baseline
    points: int = 0
    assist: Player | None = None
    block: Player | None = None
    steal: Player | None = None
    other: Player | None = None      # fouled player, player subbed out, jump-ball opponent
    tip_to: Player | None = None
    sub: str = ""                    # turnover / foul / timeout / violation / rebound kind
    ft_n: int = 0
    ft_of: int = 0
    referee: tuple[int, str] | None = None
    score_home: int = 0
    score_away: int = 0
    n: dict[str, int] = field(default_factory=dict)  # running totals used by descriptions
    tags: tuple[str, ...] = ()       # and_one, fastbreak, putback, buzzer, mandatory, ...

    @property
    def label(self) -> str:
        return clock_label(self.period, self.clock_s)

    @property
    def game_s(self) -> float:
        return game_seconds(self.period, self.clock_s)

    @property
    def margin(self) -> int:
        return self.score_home - self.score_away


@dataclass
class GameResult:
    game_id: str
    home: Team
    away: Team
    local_date: str
    tz: str
    plays: list[Play]
    referees: tuple[tuple[int, str], ...]


class GameSim:
    """Possession-level simulation with a game clock and a wall clock.

    Game clock runs while the ball is live (and through made baskets, except late in the 4th and
    overtime); the wall clock also pays for dead balls, free throws, timeouts, reviews, quarter
    breaks and halftime, so a 48-minute game takes about 2h15 of wall time.
    """

    def __init__(self, rng: random.Random, home: Team, away: Team, tip_utc: float, profile: str,
                 referees: tuple[tuple[int, str], ...]):
        self.rng = rng
        self.team = {"home": home, "away": away}
        self.profile = profile  # one of PROFILES
        self.refs = referees
        self.plays: list[Play] = []
        self.period, self.clock, self.wall = 1, 720.0, tip_utc
        self.score = {"home": 0, "away": 0}
        self.on_court = {s: list(self.team[s].players[:5]) for s in SIDES}
        self.played = {p.pid: 0.0 for s in SIDES for p in self.team[s].players}
        self.stint = {p.pid: 0.0 for s in SIDES for p in self.team[s].players}
        self.stats: dict[int, dict[str, int]] = {
            p.pid: {"pts": 0, "ast": 0, "blk": 0, "stl": 0, "off": 0, "def": 0, "pf": 0, "to": 0}
            for s in SIDES for p in self.team[s].players}
        self.team_fouls = {"home": 0, "away": 0}
        self.team_to = {"home": 0, "away": 0}
        self.timeouts = {"home": 0, "away": 0}
        self.adj = {s: rng.gauss(0.0, 0.015) for s in SIDES}
        if profile == "blowout":   # one side is simply better tonight
            self.adj[rng.choice(SIDES)] += 0.07
        self.surge = {"home": 0, "away": 0}
        self.run_side, self.run_pts = "home", 0
        self.run_at_timeout = 0
        self.mandatory_done: set[tuple[int, int]] = set()
        self.next_cap = 24.0       # shot clock of the next possession (14 after offensive rebound)
        self.fastbreak = False
        self.forced_ft: list[bool] = []

    # -- clocks ----------------------------------------------------------------------------------
    def run_clock(self, dt: float) -> None:
        dt = max(0.0, min(dt, self.clock))
        self.clock -= dt
        self.clock = float(round(self.clock)) if self.clock >= 60 else round(self.clock, 1)
        self.wall += dt
        for s in SIDES:
            for p in self.on_court[s]:
                self.played[p.pid] += dt
                self.stint[p.pid] += dt

    def dead(self, lo: float, hi: float) -> None:
        self.wall += self.rng.uniform(lo, hi)

    def late(self, within: float = 120.0) -> bool:
        return self.period >= 4 and self.clock <= within

    # -- emitting --------------------------------------------------------------------------------
    def emit(self, kind: str, side: str | None = None, player: Player | None = None,
             **kw: object) -> Play:
        play = Play(seq=len(self.plays), kind=kind, period=self.period, clock_s=self.clock,
                    wall=round(self.wall, 1), side=side, player=player, **kw)  # type: ignore[arg-type]
        play.score_home, play.score_away = self.score["home"], self.score["away"]
        if player is not None:
            play.n.update({f"p_{k}": v for k, v in self.stats[player.pid].items()})
        if side is not None:
            play.n["team_fouls"] = self.team_fouls[side]
            play.n["team_to"] = self.team_to[side]
            play.n["timeouts"] = self.timeouts[side]
        for role in ("assist", "block", "steal", "other"):
            p = getattr(play, role)
            if p is not None:
                play.n.update({f"{role}_{k}": v for k, v in self.stats[p.pid].items()})
        self.plays.append(play)
        return play

    def pick(self, side: str, exclude: Player | None = None, weight: str = "usage",
             pos: str | None = None) -> Player:
        cands = [p for p in self.on_court[side] if p is not exclude]
        if weight == "usage":
            ws = [p.usage for p in cands]
        elif weight == "reb":
            ws = [{"C": 3.0, "F": 2.0, "G": 1.0}[p.pos] for p in cands]
        else:
            ws = [1.0] * len(cands)
        if pos:
            ws = [w * (3 if p.pos == pos else 1) for w, p in zip(ws, cands)]
        return self.rng.choices(cands, weights=ws)[0]

    def add_points(self, side: str, pts: int, player: Player) -> None:
        self.score[side] += pts
        self.stats[player.pid]["pts"] += pts
        if pts:
            if side == self.run_side:
                self.run_pts += pts
            else:
                self.run_side, self.run_pts = side, pts

    # -- the game --------------------------------------------------------------------------------
    def play_game(self) -> list[Play]:
        jump_winner = self.start_period(1)
        period = 1
        while True:
            if period == 1 or period > 4:
                first = jump_winner if period == 1 else self.start_period(period)
            else:
                self.start_period(period)
                first = jump_winner if period == 4 else other(jump_winner)
            self.play_period(first)
            self.emit("period_end")
            if period >= 4 and self.score["home"] != self.score["away"]:
                self.emit("game_end")
                return self.plays
            period += 1
            self.dead(*((870, 960) if period == 3 else (100, 140) if period > 4 else (125, 165)))
            self.period = period
            self.clock = float(period_length_s(period))
            self.team_fouls = {"home": 0, "away": 0}

    def start_period(self, period: int) -> str:
        if period in (1, 3):
            for s in SIDES:
                self.on_court[s] = list(self.team[s].players[:5])
        elif period >= 4:
            for s in SIDES:  # closers: starters plus the best-rested bench player
                self.on_court[s] = list(self.team[s].players[:4]) + [self.team[s].players[5]]
        for s in SIDES:
            for p in self.on_court[s]:
                self.stint[p.pid] = 0.0
        self.emit("period_start")
        if period == 1 or period > 4:
            h = self.pick("home", weight="reb", pos="C")
            a = self.pick("away", weight="reb", pos="C")
            winner = self.rng.choice(SIDES)
            tip = self.pick(winner, exclude=h if winner == "home" else a, weight="flat")
            self.emit("jump_ball", "home", h, other=a, tip_to=tip, sub=winner)
            self.run_clock(self.rng.uniform(0.5, 2.0))
            return winner
        return "home"

    def play_period(self, off: str) -> None:
        while self.clock > 0:
            off = self.possession(off)

    # -- one possession --------------------------------------------------------------------------
    def possession(self, off: str) -> str:
        rng, defn = self.rng, other(off)
        lead = self.score[off] - self.score[defn]
        cap, self.next_cap = self.next_cap, 24.0
        fastbreak, self.fastbreak = self.fastbreak, False
        scripted = self.profile == "ot" and self.period == 4
        # Late-game fouling: the trailing defence stops the clock.
        if self.late(40) and 3 <= lead <= 8 and self.clock > 2 and not scripted:
            self.run_clock(rng.uniform(1.0, 4.0))
            fouler = self.pick(defn, weight="flat")
            target = max(self.on_court[off], key=lambda p: p.usage + rng.random())
            self.foul(defn, fouler, target, "personal", tags=("intentional",))
            return self.free_throws(off, target, 2)
        dur = rng.uniform(4.0, 8.0) if fastbreak else min(cap - 0.5, rng.triangular(5.0, cap, 13.0))
        if scripted and self.late(40) and lead > 0:
            dur = min(dur, max(1.0, self.clock - 9.0))  # leave the trailing team a last shot
        trailing_late = self.late(24) and -3 <= lead <= 0 and self.clock > 1.5
        heave = False
        if trailing_late:
            dur = max(0.0, self.clock - rng.uniform(0.4, 4.0))
        elif dur >= self.clock:
            if self.clock <= 3.0:
                heave = rng.random() < 0.7
                dur = max(0.0, self.clock - rng.uniform(0.0, 0.8))
                if not heave:
                    self.run_clock(self.clock)
                    return defn
            else:
                dur = max(0.0, self.clock - rng.uniform(0.3, 2.5))
        self.run_clock(dur)
        self.maybe_surge(off)
        if rng.random() < 0.15:
            self.dead(6, 25)  # ball out of bounds, injury check, floor wipe
        r = rng.random()
        s = 0.04 if self.surge[off] else 0.0
        if not heave and not trailing_late and r < 0.125 - s:
            return self.turnover(off)
        if not heave and not trailing_late and r < 0.2:
            fouler = self.pick(defn, weight="flat")
            target = self.pick(off)
            in_bonus = self.team_fouls[defn] >= 4
            self.foul(defn, fouler, target, rng.choice(("personal", "personal", "loose ball")))
            if in_bonus:
                return self.free_throws(off, target, 2)
            self.dead(10, 25)
            self.mandatory()
            self.maybe_subs()
            self.next_cap = max(14.0, cap - dur)
            return off
        return self.shot(off, heave=heave, fastbreak=fastbreak,
                         need=(-lead if trailing_late else None))

    def maybe_surge(self, off: str) -> None:
        for s in SIDES:
            if self.surge[s]:
                self.surge[s] -= 1
        if not self.surge[off] and self.rng.random() < 0.013:
            self.surge[off] = self.rng.randint(5, 8)

    def make_prob(self, off: str, family: str) -> float:
        defn = other(off)
        p = _MAKE_P[family] + self.adj[off] - self.adj[defn] * 0.5
        if self.surge[off]:
            p += 0.15
        if self.surge[defn]:
            p -= 0.05
        deficit = self.score[defn] - self.score[off]
        # rubber band: blowouts are rarer than variance says
        if self.period >= 3 and deficit > 8 and self.profile != "blowout":
            p += min(0.08, 0.01 * (deficit - 8))
        if self.profile == "ot" and self.period == 4 and self.clock <= 420:
            p += max(-0.3, min(0.35, 0.06 * deficit))
        elif self.profile in ("close", "ot") and self.late(300):
            p += max(-0.12, min(0.15, 0.012 * deficit))
        return min(0.95, max(0.05, p))

    def shot(self, off: str, heave: bool = False, fastbreak: bool = False, need: int | None = None,
             putback: Player | None = None) -> str:
        rng, defn = self.rng, other(off)
        shooter = putback or self.pick(off)
        if heave:
            key = "heave"
        elif putback is not None:
            key = rng.choice(("putback", "putback", "putbackdunk"))
        elif need == 3 or (need is None and rng.random() < _THREE_RATE[shooter.pos]):
            key = rng.choice(("three", "three", "three_pullup", "three_stepback"))
        elif fastbreak:
            key = rng.choice(("dunk", "layup", "dunk", "alleyoop"))
        else:
            keys, ws = zip(*_SHOT_MIX[shooter.pos])
            key = rng.choices(keys, weights=ws)[0]
        value, family = SHOTS[key][0], SHOTS[key][1]
        p = 0.07 if heave else self.make_prob(off, family)
        forced_make = (need is not None and self.profile == "ot" and self.period == 4
                       and need == value and self.score[defn] - self.score[off] == value)
        scripted = self.profile == "ot" and self.period == 4 and self.late(40)
        if scripted and (need == 0 or (need is None and self.score[off] > self.score[defn])):
            p = 0.0  # overtime-bound game: the leader misses, a tied last shot rims out
        if scripted and need == 1 and value == 2:
            # down one: fouled on the drive, splits the free throws to force overtime
            self.foul(defn, self.pick(defn, weight="flat"), shooter, "shooting")
            self.forced_ft = [True, False]
            return self.free_throws(off, shooter, 2)
        made = forced_make or rng.random() < p
        dist = rng.randint(SHOTS[key][8], SHOTS[key][9])
        ang = rng.uniform(-1.4, 1.4)
        x, y = round(dist * math.sin(ang), 1), round(max(0.0, dist * math.cos(ang)) + 5.25, 1)
        tags: list[str] = []
        if fastbreak:
            tags.append("fastbreak")
        if putback is not None:
            tags.append("putback")
        if self.clock <= 1.0 and made:
            tags.append("buzzer")
        if made:
            assist = None
            if putback is None and rng.random() < (0.85 if key == "alleyoop" else 0.62):
                assist = self.pick(off, exclude=shooter, weight="usage")
            and_one = value == 2 and family != "dunk" and rng.random() < 0.05 or (
                family == "dunk" and rng.random() < 0.07)
            if and_one:
                tags.append("and_one")
            self.add_points(off, value, shooter)
            if assist:
                self.stats[assist.pid]["ast"] += 1
            self.emit("shot", off, shooter, made=True, shot=key, distance=dist, x=x, y=y,
                      points=value, assist=assist, tags=tuple(tags))
            if and_one:
                fouler = self.pick(defn, weight="flat")
                self.foul(defn, fouler, shooter, "shooting")
                return self.free_throws(off, shooter, 1)
            if self.late():
                self.dead(4, 12)  # clock stops after made baskets late
            self.after_score(off)
            return defn
        # miss (a shooting foul on a miss records no field-goal attempt, only the free throws)
        if not heave and rng.random() < 0.13 and self.clock > 0:
            fouler = self.pick(defn, weight="flat")
            self.foul(defn, fouler, shooter, "shooting")
            return self.free_throws(off, shooter, value)
        blocker = None
        if family in ("layup", "dunk", "hook", "floater", "jumper") and rng.random() < (
                0.2 if family in ("layup", "dunk") else 0.08):
            blocker = self.pick(defn, weight="reb")
            self.stats[blocker.pid]["blk"] += 1
        self.emit("shot", off, shooter, made=False, shot=key, distance=dist, x=x, y=y,
                  block=blocker, tags=tuple(tags))
        return self.rebound(off, after_block=blocker is not None)

    def rebound(self, shooting_side: str, after_block: bool = False) -> str:
        rng = self.rng
        if self.clock <= 0:
            return shooting_side
        self.run_clock(rng.uniform(0.5, 2.5))
        offensive = rng.random() < (0.30 if after_block else 0.25)
        if self.profile == "ot" and self.period == 4 and self.late(40) and \
                self.score[shooting_side] > self.score[other(shooting_side)]:
            offensive = False
        side = shooting_side if offensive else other(shooting_side)
        if rng.random() < 0.05:
            self.emit("rebound", side, None, sub="offensive" if offensive else "defensive",
                      tags=("team",))
            self.dead(6, 15)
            return side
        p = self.pick(side, weight="reb")
        self.stats[p.pid]["off" if offensive else "def"] += 1
        self.emit("rebound", side, p, sub="offensive" if offensive else "defensive")
        if offensive:
            if rng.random() < 0.3 and self.clock > 1:
                self.run_clock(rng.uniform(0.5, 2.0))
                return self.shot(side, putback=p)
            self.next_cap = 14.0
        return side

    def turnover(self, off: str) -> str:
        rng, defn = self.rng, other(off)
        keys, ws, steals = zip(*TURNOVERS)
        i = rng.choices(range(len(keys)), weights=ws)[0]
        loser = self.pick(off)
        self.stats[loser.pid]["to"] += 1
        self.team_to[off] += 1
        stealer = None
        if rng.random() < steals[i]:
            stealer = self.pick(defn, weight="flat")
            self.stats[stealer.pid]["stl"] += 1
        if keys[i] == "offensive foul":
            self.foul(off, loser, self.pick(defn, weight="flat"), "offensive")
        self.emit("turnover", off, loser, sub=keys[i], steal=stealer)
        if stealer is not None:
            self.fastbreak = rng.random() < 0.55
        else:
            self.dead(8, 20)
            self.maybe_replay(0.15)
            self.mandatory()
            self.maybe_subs()
        return defn

    def foul(self, side: str, fouler: Player, target: Player, kind: str,
             tags: tuple[str, ...] = ()) -> None:
        self.stats[fouler.pid]["pf"] += 1
        if kind != "offensive":
            self.team_fouls[side] += 1
        self.emit("foul", side, fouler, other=target, sub=kind, referee=self.rng.choice(self.refs),
                  tags=tags)
        self.dead(15, 32)
        if self.stats[fouler.pid]["pf"] >= 6:
            self.substitute(side, fouler)

    def free_throws(self, side: str, shooter: Player, n: int) -> str:
        rng = self.rng
        pct = 0.78
        if self.profile == "ot" and self.period == 4 and self.late(60) and \
                self.score[side] > self.score[other(side)]:
            pct = 0.5
        made = False
        for k in range(1, n + 1):
            made = self.forced_ft.pop(0) if self.forced_ft else rng.random() < pct
            if made:
                self.add_points(side, 1, shooter)
            self.emit("free_throw", side, shooter, made=made, points=int(made), ft_n=k, ft_of=n)
            if k == 1:
                self.maybe_subs(0.25)
            self.dead(*((12, 24) if k < n else (4, 10)))
        if made:
            self.after_score(side)
            return other(side)
        return self.rebound(side)

    def after_score(self, side: str) -> None:
        """Timeouts: to stop a run, late in close games, and the mandatory TV timeouts."""
        defn = other(side)
        margin = self.score[side] - self.score[defn]
        if self.clock <= 0:
            return
        call = None
        if self.run_side == side and self.run_pts - self.run_at_timeout >= 8 and \
                self.rng.random() < 0.6:
            call = defn
        elif self.late(60) and 0 < margin <= 6 and self.rng.random() < 0.6:
            call = defn
        if call and self.timeouts[call] < 7:
            self.timeout(call)
        else:
            self.mandatory()

    def mandatory(self) -> None:
        """TV timeouts: the first dead ball under 9:00, 6:00 and 3:00 of each quarter."""
        if self.period > 4 or self.clock <= 0:
            return
        for mark in (540, 360, 180):
            key = (self.period, mark)
            if self.clock < mark and key not in self.mandatory_done:
                self.mandatory_done.add(key)
                side = self.rng.choice(SIDES)
                if self.timeouts[side] < 7:
                    self.timeout(side, mandatory=True)
                return

    def timeout(self, side: str, mandatory: bool = False) -> None:
        self.timeouts[side] += 1
        self.run_at_timeout = self.run_pts
        self.emit("timeout", side, None, sub="Regular", tags=("mandatory",) if mandatory else ())
        self.dead(110, 170)
        self.maybe_subs(0.9)

    def maybe_replay(self, p: float) -> None:
        if self.late(150) and self.rng.random() < p:
            self.emit("replay", None, None, referee=self.rng.choice(self.refs),
                      sub=self.rng.choice(("Replay Center", "Coach Challenge Ruling Stands",
                                           "Support Ruling")))
            self.dead(60, 150)

    # -- rotation --------------------------------------------------------------------------------
    def maybe_subs(self, p: float = 0.35) -> None:
        for s in SIDES:
            if self.rng.random() < p:
                tired = max(self.on_court[s], key=lambda q: self.stint[q.pid] + self.rng.uniform(0, 60))
                if self.stint[tired.pid] > 240:
                    self.substitute(s, tired)

    def substitute(self, side: str, out: Player) -> None:
        team = self.team[side]
        closing = self.late(300)
        bench = [p for p in team.players if p not in self.on_court[side]
                 and self.stats[p.pid]["pf"] < 6]
        if not bench:
            return
        target = {p.pid: (2100 if i < 5 else 1300 if i < 9 else 250) for i, p in enumerate(team.players)}

        def need(p: Player) -> float:
            idx = team.players.index(p)
            return (target[p.pid] - self.played[p.pid]) + (900 if closing and idx < 5 else 0) + \
                self.rng.uniform(0, 200)

        incoming = max(bench, key=need)
        self.on_court[side][self.on_court[side].index(out)] = incoming
        self.stint[incoming.pid] = 0.0
        self.emit("substitution", side, incoming, other=out)


