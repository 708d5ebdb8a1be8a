"""Deterministic synthetic sample data: NBA-style games, live fan comments and gold timelines.

    fan-timeline simulate --games 12 --seed 7 --out data/raw/sample
    python -m fan_timeline.simulate --games 4 --seed 1 --out /tmp/sample

Reddit text and real play-by-play are not ours to redistribute, so the sample data shipped with
the repo is invented here: fictional teams and players, a possession-level game simulation with a
game clock *and* a wall clock, a Reddit game thread whose fans react to what happened, and the gold
timeline of the moments the generator made important. Everything is written in the real raw
formats (see `simulate_formats` for exactly what each file contains), one directory per game:

    <out>/<game_id>/game.json      teams, local date and time zone (no tip-off time: readers and
                                   alignment must derive the wall clock from the formats)
    <out>/<game_id>/pbp.json       play-by-play in FORMATS[i % 4]
    <out>/<game_id>/comments/*     1-3 comment files (NDJSON, NDJSON.zst, scraper CSV, API listing)
    <out>/<game_id>/gold.json      {"game_id", "annotator": "simulate", "timeline": [...]}

Determinism: every random draw comes from a `random.Random` seeded from (seed, game index); no
clock, no `hash()`, JSON key order fixed by construction. The same call writes byte-identical files.
"""

from __future__ import annotations

import argparse
import math
import random
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from fan_timeline.sport import clock_label, game_seconds, period_length_s

FORMATS = ("stats_v2", "cdn_live", "stats_v3", "espn")
GAME_ID_PREFIX = "S"
SIDES = ("home", "away")

# Comment file layouts, chosen as COMMENT_LAYOUTS[i % 6]: (main thread format(s), team-sub format).
# A tuple of two formats means the r/nba thread is split into 1st- and 2nd-half threads.
COMMENT_LAYOUTS: tuple[tuple[tuple[str, ...], str | None], ...] = (
    (("ndjson",), None),
    (("ndjson_zst", "ndjson_zst"), None),
    (("csv",), None),
    (("listing",), "ndjson"),
    (("listing", "csv"), None),
    (("ndjson_str",), "listing"),
)


def other(side: str) -> str:
    return "away" if side == "home" else "home"


_NO_DECOMPOSITION = str.maketrans({"ø": "o", "Ø": "O", "æ": "ae", "Æ": "Ae", "đ": "d", "Đ": "D",
                                   "ł": "l", "Ł": "L", "ß": "ss"})


def ascii_name(text: str) -> str:
    """'Petrović' -> 'Petrovic', 'Sørensen' -> 'Sorensen' (descriptions and gold events are ASCII)."""
    text = unicodedata.normalize("NFKD", text.translate(_NO_DECOMPOSITION))
    return text.encode("ascii", "ignore").decode("ascii")


# --- teams and players ------------------------------------------------------------------------
@dataclass(frozen=True)
class Player:
    pid: int            # NBA-style person id
    espn_id: str        # ESPN athlete id
    first: str
    last: str
    pos: str            # G, F or C
    jersey: str
    usage: float        # relative share of shots

    @property
    def name(self) -> str:
        return f"{self.first} {self.last}"

    @property
    def last_ascii(self) -> str:
        return ascii_name(self.last)

    @property
    def initial_name(self) -> str:
        return f"{self.first[0]}. {self.last}"


@dataclass(frozen=True)
class Team:
    tricode: str
    city: str
    nickname: str
    tz: str
    team_id: int        # NBA-style team id
    espn_id: str
    players: tuple[Player, ...]

    @property
    def name(self) -> str:
        return f"{self.city} {self.nickname}"

    @property
    def subreddit(self) -> str:
        return (self.city + self.nickname).replace(" ", "")


_TEAM_SPECS = (
    ("HAR", "Harbor", "Herons", "America/New_York"),
    ("RWD", "Redwood", "Lumberjacks", "America/Los_Angeles"),
    ("PRA", "Prairie", "Comets", "America/Chicago"),
    ("DSC", "Desert", "Scorpions", "America/Phoenix"),
    ("LSH", "Lakeshore", "Loons", "America/Chicago"),
    ("CAP", "Capital", "Monarchs", "America/New_York"),
    ("BAY", "Bayou", "Bullfrogs", "America/Chicago"),
    ("SCF", "Steel City", "Forge", "America/New_York"),
    ("SUM", "Summit", "Yetis", "America/Denver"),
    ("EME", "Emerald", "Otters", "America/Los_Angeles"),
)
_FIRST_NAMES = (
    "Marcus", "Tobias", "Kenji", "Andre", "Mateo", "Jonas", "Rafael", "Dmitri", "Kofi", "Idris",
    "Theo", "Nikolai", "Samir", "Devin", "Malik", "Caleb", "Isaiah", "Omar", "Felix", "Hugo",
    "Aleks", "Bruno", "Darius", "Elijah", "Gabriel", "Hassan", "Ivo", "Joaquín", "Kwame", "Lars",
    "Milan", "Nils", "Oscar", "Pavel", "Quentin", "Rashad", "Stefan", "Tariq", "Viktor", "Wesley",
    "Xavier", "Yusuf", "Zoran", "Amadou", "Bastien", "Cyrus", "Dante", "Enzo", "Finn", "Goran",
    "Henrik", "Ismael", "Jarrett", "Chidi", "Tomas", "Rui", "Sione", "Baraka", "Emil", "Lucas",
)
_SURNAMES = (
    "Okafor", "Reyes", "Lindqvist", "Nakamura", "Petrović", "Haddad", "Kowalski", "Duarte",
    "Oyelaran", "Falk", "Castellanos", "Moreau", "Brennan", "Adeyemi", "Vasquez", "Sato", "Kiprop",
    "Novak", "Halvorsen", "Dubois", "Mensah", "Ferreira", "Kapoor", "Ivanov", "Jansen", "Olsen",
    "Achterberg", "Quiroga", "Brandt", "Lindgren", "Takahashi", "Obi", "Nwosu", "Salazar",
    "Bergström", "Delacroix", "Abara", "Touré", "Sørensen", "Whitfield", "Okonkwo", "Mahlangu",
    "Rahimi", "Costa", "Esposito", "Horvat", "Kovač", "Zielinski", "Barros", "Yilmaz", "Demir",
    "Aziz", "Karimi", "Oduya", "Fofana", "Diallo", "Keita", "Sissoko", "Lungu", "Moyo", "Banda",
    "Papadopoulos", "Georgiou", "Marchetti", "Ricci", "Lombardi", "Fischer", "Weber", "Hoffmann",
    "Kruger", "Schultz", "Nilsen", "Aho", "Virtanen", "Korhonen", "Park", "Tan", "Nguyen", "Tran",
    "Chen", "Wong", "Singh", "Mehta", "Bose", "O'Rourke", "McAllister", "Fitzgerald", "Donnelly",
    "Ashford", "Whitaker", "Holloway", "Pryce", "Garrity", "Ndiaye", "Sarr", "Camara", "Baptiste",
    "Pierre-Louis", "Alvarez", "Mendoza", "Ortega", "Rojas", "Acosta", "Navarro", "Ibarra",
    "Cienfuegos", "Eriksen", "Dahl", "Strand", "Holm", "Vidal", "Santos", "Achebe-Nwankwo",
    "Kaminski", "Lozano", "Mwangi", "Osei", "Quaresma", "Rautio", "Szabo",
)
_POSITIONS = ("G", "G", "F", "F", "C", "G", "F", "C", "G", "F", "G", "C")
_USAGE = (1.35, 1.2, 1.1, 0.95, 0.85, 1.0, 0.85, 0.7, 0.75, 0.6, 0.5, 0.45)


def build_teams() -> tuple[Team, ...]:
    """The fixed league: 10 fictional teams of 12 players (the same for every seed)."""
    rng = random.Random(20260115)
    surnames = list(_SURNAMES)
    rng.shuffle(surnames)
    teams = []
    for t, (tri, city, nick, tz) in enumerate(_TEAM_SPECS):
        star = rng.randrange(3)
        players = []
        jerseys = rng.sample(range(0, 56), 12)
        for k in range(12):
            usage = _USAGE[k] * (1.2 if k == star else 1.0)
            players.append(Player(
                pid=1641000 + t * 100 + k, espn_id=str(5105000 + t * 100 + k),
                first=rng.choice(_FIRST_NAMES), last=surnames[t * 12 + k], pos=_POSITIONS[k],
                jersey=str(jerseys[k]), usage=usage))
        teams.append(Team(tri, city, nick, tz, 1610619001 + t, str(101 + t), tuple(players)))
    return tuple(teams)


TEAMS = build_teams()

# Referees: (id, "First Last"); descriptions use "F.Last".
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
        self.profile = profile  # "ot", "close" or "open"
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
        if self.period >= 3 and deficit > 8:  # rubber band: blowouts are rarer than variance says
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


# --- moments and gold ----------------------------------------------------------------------------
@dataclass
class Moment:
    play: Play
    kind: str        # dunk three block steal and_one go_ahead tie run buzzer overtime final clutch
    side: str        # the team that benefited
    score: float     # importance
    players: tuple[Player, ...]
    run: int = 0
    gold: bool = False
    sentiment: str = "neutral"
    quote: str | None = None
    event: str = ""


def find_moments(plays: list[Play]) -> list[Moment]:
    """Every play a fan would react to, scored by importance (late, close, rare = important)."""
    out: list[Moment] = []
    prev_margin = 0
    run_side, run_pts = None, 0
    for i, p in enumerate(plays):
        late = p.period >= 4 and p.clock_s <= 300
        close = abs(p.margin) <= 6
        weight = 1.0 + (1.5 if late else 0.0) + (1.0 if close else 0.0) + (
            2.0 if p.period >= 4 and p.clock_s <= 60 and close else 0.0)
        if p.kind in ("shot", "free_throw") and p.made and p.side:
            if p.side == run_side:
                run_pts += p.points
            else:
                if run_side is not None and run_pts >= 10:
                    last = max(j for j in range(i) if plays[j].made and plays[j].side == run_side)
                    q = plays[last]
                    out.append(Moment(q, "run", run_side, 3.0 + run_pts / 4 + (1 if late else 0),
                                      (q.player,) if q.player else (), run=run_pts))
                run_side, run_pts = p.side, p.points
            sign_before = (prev_margin > 0) - (prev_margin < 0)
            sign_after = (p.margin > 0) - (p.margin < 0)
            players = tuple(x for x in (p.player, p.assist) if x)
            if p.kind == "shot":
                if "buzzer" in p.tags:
                    out.append(Moment(p, "buzzer", p.side, 6.0 + weight + (2 if p.period >= 4 else 0),
                                      players))
                elif sign_after != 0 and sign_after != sign_before and (p.period >= 4 or late):
                    out.append(Moment(p, "go_ahead", p.side, 3.0 + 1.5 * weight, players))
                elif sign_after == 0 and p.period >= 3:
                    out.append(Moment(p, "tie", p.side, 2.0 + 1.5 * weight, players))
                elif SHOTS[p.shot][1] == "dunk" and ("fastbreak" in p.tags or p.shot == "alleyoop"
                                                     or "and_one" in p.tags):
                    out.append(Moment(p, "dunk", p.side, 2.5 + weight, players))
                elif "and_one" in p.tags:
                    out.append(Moment(p, "and_one", p.side, 2.0 + weight, players))
                elif late and close:
                    out.append(Moment(p, "clutch", p.side, 2.0 + 1.2 * weight, players))
                elif SHOTS[p.shot][0] == 3 and p.distance >= 26:
                    out.append(Moment(p, "three", p.side, 1.0 + weight, players))
                elif SHOTS[p.shot][1] == "dunk":
                    out.append(Moment(p, "dunk", p.side, 1.2 + weight, players))
            elif late and close and p.ft_n == p.ft_of and sign_after != sign_before:
                out.append(Moment(p, "go_ahead" if sign_after else "tie", p.side,
                                  2.0 + 1.2 * weight, (p.player,) if p.player else ()))
            prev_margin = p.margin
        elif p.kind == "shot" and not p.made and p.block is not None and p.side:
            out.append(Moment(p, "block", other(p.side), 1.5 + weight * (1.3 if late else 1.0),
                              (p.block, p.player) if p.player else (p.block,)))
        elif p.kind == "turnover" and p.steal is not None and p.side and (late or
                                                                          i % 3 == 0):
            out.append(Moment(p, "steal", other(p.side), 1.0 + weight,
                              (p.steal, p.player) if p.player else (p.steal,)))
        elif p.kind == "period_end":
            if p.period >= 4 and p.margin == 0:
                scorer = next((q for q in reversed(plays[:i]) if q.made and q.side), None)
                side = scorer.side if scorer and scorer.side else "home"
                out.append(Moment(p, "overtime", side, 9.0, (scorer.player,) if scorer and
                                  scorer.player else ()))
        elif p.kind == "game_end":
            side = "home" if p.margin > 0 else "away"
            top = max((q for q in plays if q.side == side and q.player),
                      key=lambda q: q.n.get("p_pts", 0), default=None)
            out.append(Moment(p, "final", side, 10.0, (top.player,) if top and top.player else ()))
    return out


def select_gold(moments: list[Moment], rng: random.Random) -> list[Moment]:
    """12-25 most important moments, at least 10 game-seconds apart, in game order."""
    jitter = {id(m): rng.uniform(0, 0.6) for m in moments}
    strong = sum(1 for m in moments if m.score >= 4.5)
    want = max(12, min(25, strong + 6))
    chosen: list[Moment] = []
    per_period: dict[int, int] = {}
    while len(chosen) < want:
        # Diminishing returns per period spread the timeline over the whole game.
        free = [m for m in moments if m not in chosen and not any(
            abs(m.play.game_s - c.play.game_s) < 10 or m.play.label == c.play.label for c in chosen)]
        if not free:
            break
        best = max(free, key=lambda m: (m.score + jitter[id(m)]
                                        - 0.6 * per_period.get(min(m.play.period, 5), 0),
                                        -m.play.seq))
        chosen.append(best)
        per_period[min(best.play.period, 5)] = per_period.get(min(best.play.period, 5), 0) + 1
    for m in chosen:
        m.gold = True
    return sorted(chosen, key=lambda m: m.play.seq)


def score_phrase(p: Play, home: Team, away: Team) -> str:
    if p.margin == 0:
        return f"tied {p.score_home}-{p.score_away}"
    leader = home if p.margin > 0 else away
    hi, lo = max(p.score_home, p.score_away), min(p.score_home, p.score_away)
    return f"{leader.nickname} lead {hi}-{lo}"


def event_text(m: Moment, home: Team, away: Team) -> str:
    """A short factual ASCII sentence naming the player(s) and the score."""
    p, teams = m.play, {"home": home, "away": away}
    name = p.player.last_ascii if p.player else teams[m.side].nickname
    sc = score_phrase(p, home, away)
    shot = ""
    if p.kind == "shot":
        value, family = SHOTS[p.shot][0], SHOTS[p.shot][1]
        shot = {"three": f"{p.distance}-foot three", "dunk": "dunk", "layup": "layup",
                "hook": "hook shot", "floater": "floater", "jumper": f"{p.distance}-foot jumper"}[family]
        if p.shot == "alleyoop":
            shot = "alley-oop dunk"
        if value == 3 and p.distance >= 35:
            shot = f"{p.distance}-foot heave"
    if m.kind == "run":
        texts = [f"{teams[m.side].nickname} finish a {m.run}-0 run, {sc}",
                 f"{m.run}-0 {teams[m.side].nickname} run, {sc}"]
    elif m.kind == "buzzer":
        texts = [f"{name} beats the {p.label.split()[0]} buzzer with a {shot}, {sc}",
                 f"{name} {shot} at the buzzer, {sc}"]
    elif m.kind == "go_ahead":
        verb = "free throw" if p.kind == "free_throw" else shot
        texts = [f"{name} {verb} puts {teams[m.side].nickname} ahead, {sc}",
                 f"{name} go-ahead {verb}, {sc}"]
    elif m.kind == "tie":
        verb = "free throw" if p.kind == "free_throw" else shot
        texts = [f"{name} {verb} ties it at {p.score_home}-{p.score_away}",
                 f"{name} ties it, {sc}"]
    elif m.kind == "block":
        victim = p.player.last_ascii if p.player else "the shooter"
        blocker = p.block.last_ascii if p.block else name
        where = "at the rim" if SHOTS[p.shot][1] in ("layup", "dunk") else "on the jumper"
        texts = [f"{blocker} blocks {victim} {where}, {sc}", f"{blocker} blocks {victim}, {sc}"]
    elif m.kind == "steal":
        victim = p.player.last_ascii if p.player else "the ball handler"
        thief = p.steal.last_ascii if p.steal else name
        texts = [f"{thief} steals the ball from {victim}, {sc}", f"{thief} steal, {sc}"]
    elif m.kind == "dunk":
        extra = f" from {p.assist.last_ascii}" if p.assist else ""
        and1 = " and-one" if "and_one" in p.tags else ""
        texts = [f"{name}{and1} {shot}{extra}, {sc}", f"{name}{and1} {shot}, {sc}"]
    elif m.kind == "and_one":
        texts = [f"{name} and-one {shot}, {sc}", f"{name} and-one, {sc}"]
    elif m.kind == "clutch":
        texts = [f"{name} hits a clutch {shot}, {sc}", f"{name} scores, {sc}"]
    elif m.kind == "three":
        texts = [f"{name} drains a {shot}, {sc}", f"{name} three, {sc}"]
    elif m.kind == "overtime":
        texts = [f"End of regulation tied {p.score_home}-{p.score_away}, overtime"]
    else:  # final
        w, l = (home, away) if p.margin > 0 else (away, home)
        hi, lo = max(p.score_home, p.score_away), min(p.score_home, p.score_away)
        ot = " in overtime" if p.period > 4 else ""
        texts = [f"Final: {w.nickname} beat {l.nickname} {hi}-{lo}{ot}",
                 f"{w.nickname} win {hi}-{lo}{ot}"]
    texts = [t.replace(" a 8", " an 8").replace(" a 11-", " an 11-").replace(" a 18-", " an 18-")
             for t in texts]
    for t in texts:
        if 8 <= len(t) <= 72:
            return t
    return texts[-1][:72]


# --- fans and comments --------------------------------------------------------------------------
@dataclass
class Fan:
    name: str
    side: str              # home / away / neutral
    flair: str | None
    flair_css: str | None
    activity: float


@dataclass
class Comment:
    id: str
    thread: str            # link id without t3_
    subreddit: str
    parent: str            # t3_... or t1_...
    author: str
    flair: str | None
    flair_css: str | None
    body: str
    created: int           # UTC Unix seconds
    score: int
    kind: str              # chatter reaction reply bot pre post
    edited: int | bool = False
    distinguished: str | None = None
    stickied: bool = False
    moment: int | None = None
    sentiment: str | None = None
    hidden: bool = False   # collapsed behind a {"kind": "more"} stub in a listing file


@dataclass
class Thread:
    id: str
    subreddit: str
    title: str
    created: int
    fmt: str
    file: str


_ADJ = ("salty", "hoop", "baseline", "midrange", "corner", "lazy", "clutch", "bench", "frozen",
        "tired", "loud", "quiet", "rusty", "brick", "swish", "paint", "glass", "dunkin",
        "stepback", "fastbreak", "ancient", "sleepy", "cosmic", "based", "retired")
_NOUN = ("heron", "yeti", "otter", "loon", "comet", "monarch", "bullfrog", "goat", "panda", "ref",
         "lurker", "coach", "fan", "dad", "enjoyer", "merchant", "prophet", "truther", "guy",
         "analyst", "scout", "waffle", "noodle", "pigeon", "walrus")


def make_fans(rng: random.Random, home: Team, away: Team, n: int, only: str | None = None
              ) -> list[Fan]:
    """Commenters with flair: mostly team flair, some other-team flair, some none."""
    fans, names = [], set()
    share_home = rng.uniform(0.45, 0.6)
    share_away = rng.uniform(0.22, 0.35)
    while len(fans) < n:
        style = rng.random()
        if style < 0.5:
            name = f"{rng.choice(_ADJ)}_{rng.choice(_NOUN)}{rng.randint(1, 9999)}"
        elif style < 0.8:
            name = f"{rng.choice(_ADJ).capitalize()}{rng.choice(_NOUN).capitalize()}{rng.randint(10, 99)}"
        else:
            name = f"{rng.choice(('throwaway', 'u', 'not', 'just', 'the'))}-{rng.choice(_NOUN)}-{rng.randint(100, 99999)}"
        if name in names:
            continue
        names.add(name)
        r = rng.random()
        side = only or ("home" if r < share_home else "away" if r < share_home + share_away
                        else "neutral")
        flair, css = None, None
        f = rng.random()
        if side in SIDES:
            team = home if side == "home" else away
            if only:  # team subreddits use player flair or none
                if f < 0.6:
                    flair = rng.choice(team.players[:9]).name
            elif f < 0.45:
                flair, css = team.name, f"{team.nickname}{rng.randint(1, 3)}"
            elif f < 0.65:
                flair, css = f"[{team.tricode}] {rng.choice(team.players[:8]).last}", team.tricode
            elif f < 0.8:
                flair, css = team.nickname, team.nickname.lower()
        elif f < 0.65:
            team = rng.choice([t for t in TEAMS if t not in (home, away)])
            flair, css = (team.name, f"{team.nickname}{rng.randint(1, 3)}") if f < 0.45 else (
                f"[{team.tricode}] {rng.choice(team.players[:8]).last}", team.tricode)
        fans.append(Fan(name, side, flair, css, rng.paretovariate(1.6)))
    return fans


# Reaction templates: (moment kind or "*", stance) -> bodies. {p} = primary player, {P} = caps,
# {q} = second player, {t} = nickname of the team that benefited, {o} = the other team.
REACT: dict[tuple[str, str], tuple[str, ...]] = {
    ("dunk", "pro"): ("{P} WITH THE HAMMER", "{p} just put him on a poster 💀", "OH MY GOD {P}",
                      "{p} is a grown man", "that {p} dunk tho", "{P} THROWING IT DOWN",
                      "{p} said get out of the way", "posterized lmaooo {p}"),
    ("dunk", "anti"): ("nobody boxed out {p}??", "great defense as always", "our defense is a joke",
                       "we really let {p} walk in for that", "{p} traveled first but ok",
                       "who was guarding {p}?? nobody??"),
    ("three", "pro"): ("{P} FROM DOWNTOWN", "{p} is cooking tonight 🔥", "splash. {p} again",
                       "cash money {p}", "{p} can't miss rn", "{p} from the logo lmao"),
    ("three", "anti"): ("how do you leave {p} open", "of course {p} hits that", "closeout was lazy",
                        "cool cool cool", "{p} shooting 90% against us every game"),
    ("block", "pro"): ("{P} WITH THE SWAT", "get that weak stuff outta here {p}",
                       "{p} said not in my house", "REJECTED. {p} 🚫", "{p} sent it to the cheap seats",
                       "{q} really tried that on {p} lol"),
    ("block", "anti"): ("that was a foul on {p}", "refs swallowing the whistle again",
                        "{q} gotta stop driving into {p}", "goaltending? anyone?",
                        "{q} is allergic to passing"),
    ("steal", "pro"): ("{p} pickpocket lmao", "{P} WITH THE STEAL", "great hands by {p}",
                       "{p} reading that pass all day", "{p} with the theft 🥷"),
    ("steal", "anti"): ("{q} with another turnover smh", "bench {q}", "terrible pass lol",
                        "{q} has been careless all night", "wow another turnover, shocking"),
    ("and_one", "pro"): ("AND ONE {P}", "{p} too strong", "and 1!! {p} is a problem",
                         "{p} through the contact 💪"),
    ("and_one", "anti"): ("that's not a foul", "refs bailing out {p} again", "flop city",
                          "{p} gets every call lmao"),
    ("go_ahead", "pro"): ("{P} CLUTCH", "{p} ice in his veins 🥶", "THAT'S WHY WE PAY {P}",
                          "{p} wants the ball in these moments", "biggest shot of the year from {p}",
                          "{P}!!!!!! LETS GOOO", "{p} put us ahead!!!"),
    ("go_ahead", "anti"): ("I hate this team", "we always blow leads", "this is so on brand",
                           "why is {p} always open in the 4th", "refs giving the {t} every call",
                           "of course {p} hits that", "can't guard {p} to save our lives"),
    ("tie", "pro"): ("tied up let's gooo", "{p} ties it! here we go", "WE'RE TIED",
                     "{p} with the answer", "never doubted {p} 😤"),
    ("tie", "anti"): ("we were up big how", "choking again", "here we go again",
                      "how do you let {p} tie it", "this collapse is so on brand"),
    ("clutch", "pro"): ("{P} CLUTCH", "{p} is HIM", "{p} in the 4th quarter is different",
                        "big bucket from {p}", "{p} answering every time"),
    ("clutch", "anti"): ("can't get a stop to save our lives", "{p} again??", "need a stop here",
                         "someone guard {p} please", "our defense in crunch time 🤡"),
    ("run", "pro"): ("{t} are rolling", "this is the {t} I know", "{p} leading the charge",
                     "run run run 🔥", "{o} need a timeout lol", "{p} and the {t} on fire"),
    ("run", "anti"): ("call a timeout coach", "this is embarrassing", "fire the coach",
                      "we haven't scored in forever", "{p} is killing us", "turn this off tbh"),
    ("buzzer", "pro"): ("AT THE BUZZER {P}!!!!", "{P} BEAT THE BUZZER", "no way {p} hit that 😱",
                        "{p} with the buzzer beater!!!", "{P} YOU BEAUTIFUL MAN"),
    ("buzzer", "anti"): ("of course. of course {p} hits that", "unreal. {p} at the buzzer 😭",
                         "who leaves {p} open at the buzzer", "I'm going to bed"),
    ("overtime", "pro"): ("OVERTIME BABY", "{p} sent it to OT!!!", "free basketball 🏀",
                          "we're alive!!! OT", "never ever doubt {p}"),
    ("overtime", "anti"): ("we had this won", "blew it, now OT", "I can't watch OT with this team",
                           "how did we let {p} send it to OT"),
    ("final", "pro"): ("LETS GOOOO {T}", "W", "what a win", "{p} is the MVP of this team",
                       "huge W tonight", "{t} win!! {p} carried", "good guys win 🎉"),
    ("final", "anti"): ("pain", "this one hurts", "tank commander", "refs decided this one",
                        "another L", "{p} killed us tonight", "we deserved to lose that"),
    ("*", "neutral"): ("what a game", "this game is wild", "{p} is so fun to watch",
                       "🍿", "league pass game of the night", "wow {p}", "this game rules",
                       "{p}!!", "neutral here, this is great"),
}
CHATTER: dict[str, tuple[str, ...]] = {
    "pre": ("excited for this one", "{t} by 10", "who's starting tonight?", "is {p} playing?",
            "prediction: {t} win 114-106", "first game thread of the week lets go",
            "{p} gonna drop 30 tonight", "need this W", "trap game incoming"),
    "pro": ("{p} looking good tonight", "let's keep this going", "need more from the bench",
            "defense looks good tonight", "{p} has been great", "love the ball movement",
            "{t} basketball 😎", "this lineup works", "{p} is so underrated"),
    "anti": ("our bench is trash", "why is {p} still playing", "refs are blind tonight",
             "coach needs to be fired", "we can't rebound", "another night another brick",
             "love paying for league pass to watch this", "refs having a great game /s",
             "{p} has been invisible", "no effort on defense smh", "wow great spacing guys"),
    "off": ("anyone got a stream that works?", "my fantasy team is dying", "the announcers are so bad tonight",
            "ads every 2 min smh", "the crowd is so quiet", "first full game I've watched this season",
            "whats the over/under tonight", "who else is watching at work lol", "my parlay is cooked",
            "this broadcast crew needs to go", "pizza just got here perfect timing"),
    "half": ("halftime thoughts?", "need a better 3rd quarter", "good half", "{p} needs more shots",
             "halftime adjustments pls coach", "that half was ugly"),
    "post": ("good game both teams", "{p} deserved that", "see you next game", "what a night",
             "{p} postgame presser gonna be good", "i need a drink after that"),
    "close": ("this is too close", "my heart can't take this", "nervous af", "one possession game",
              "every possession matters now", "I can't watch"),
}
REPLIES = {
    "agree": ("this", "facts", "100%", "exactly what I was thinking", "real", "yep", "so true lol"),
    "disagree": ("cope", "lmao no", "bro what", "touch grass", "stay mad", "delusional take",
                 "not even close", "ratio"),
    "neutral": ("lol", "lmao", "fair", "we'll see", "idk man", "sure"),
}
AUTOMOD = ("Welcome to the game thread! Please keep the discussion civil. Streams are not "
           "allowed and will be removed.\n\n*I am a bot, and this action was performed "
           "automatically.*")


class CommentGen:
    """A Reddit game thread driven by the wall clock of the simulated game."""

    def __init__(self, rng: random.Random, game: GameResult, moments: list[Moment],
                 threads: list[Thread], split_at: float | None, team_thread: Thread | None):
        self.rng, self.game, self.moments = rng, game, moments
        self.threads, self.split_at, self.team_thread = threads, split_at, team_thread
        self.fans = make_fans(rng, game.home, game.away, rng.randint(170, 260))
        self.home_fans = make_fans(rng, game.home, game.away, 60, only="home")
        self.comments: list[Comment] = []
        self.ids: set[str] = set()
        self.plays = game.plays

    # -- helpers ---------------------------------------------------------------------------------
    def new_id(self) -> str:
        while True:
            cid = "".join(self.rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(7))
            if cid not in self.ids:
                self.ids.add(cid)
                return cid

    def thread_for(self, t: float) -> Thread:
        if self.split_at is not None and t >= self.split_at:
            return self.threads[1]
        return self.threads[0]

    def state_at(self, t: float) -> Play:
        lo, hi = 0, len(self.plays) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.plays[mid].wall <= t:
                lo = mid
            else:
                hi = mid - 1
        return self.plays[lo]

    def pick_fan(self, pool: list[Fan], bias: float = 1.0) -> Fan:
        ws = [f.activity * (bias if f.side == "neutral" else 1.0) for f in pool]
        return self.rng.choices(pool, weights=ws)[0]

    def fill(self, template: str, side: str, players: tuple[Player, ...]) -> str:
        side = side if side in SIDES else "home"
        teams = {"home": self.game.home, "away": self.game.away}
        team, opp = teams[side], teams[other(side)]
        p = players[0] if players else self.rng.choice(team.players[:6])
        q = players[1] if len(players) > 1 else self.rng.choice(opp.players[:6])
        last = p.last if self.rng.random() < 0.7 else p.last_ascii
        return template.format(p=last, P=p.last_ascii.upper(), q=q.last, t=team.nickname,
                               o=opp.nickname, T=team.nickname.upper())

    def style(self, body: str, hype: bool = False) -> str:
        rng = self.rng
        r = rng.random()
        if hype and r < 0.25:
            body = body.upper()
        elif r < 0.35 and not any(ch.isupper() for ch in body[1:]):
            body = body.lower()
        if rng.random() < 0.07:  # typo: swap two letters of one longer word
            words = body.split(" ")
            long_words = [i for i, w in enumerate(words) if len(w) >= 5 and w.isalpha()]
            if long_words:
                i = rng.choice(long_words)
                w = words[i]
                k = rng.randrange(1, len(w) - 2)
                words[i] = w[:k] + w[k + 1] + w[k] + w[k + 2:]
                body = " ".join(words)
        if rng.random() < 0.12:
            body += " " + rng.choice(("🔥", "😭", "💀", "😤", "🤡", "👀", "🙏", "😂"))
        elif rng.random() < 0.08:
            body += " " + rng.choice(("lol", "lmao", "fr", "ngl", "smh", "bro"))
        return body

    def add(self, fan: Fan, body: str, t: float, kind: str, parent: str | None = None,
            thread: Thread | None = None, **kw: object) -> Comment:
        thread = thread or self.thread_for(t)
        c = Comment(id=self.new_id(), thread=thread.id, subreddit=thread.subreddit,
                    parent=parent or f"t3_{thread.id}", author=fan.name, flair=fan.flair,
                    flair_css=fan.flair_css, body=body, created=int(t), kind=kind,
                    score=max(-12, int(self.rng.lognormvariate(1.2, 1.1)) - 1), **kw)  # type: ignore[arg-type]
        self.comments.append(c)
        return c

    # -- the thread ------------------------------------------------------------------------------
    def generate(self) -> list[Comment]:
        rng, plays = self.rng, self.plays
        tip, end = plays[0].wall, plays[-1].wall
        main = self.threads[0]
        bot = Fan("AutoModerator", "neutral", None, None, 0.0)
        self.add(bot, AUTOMOD, main.created + 2, "bot", thread=main, distinguished="moderator",
                 stickied=True)
        if len(self.threads) > 1:
            self.add(bot, AUTOMOD, self.threads[1].created + 2, "bot", thread=self.threads[1],
                     distinguished="moderator", stickied=True)
        self.chatter(main.created + 60, end + rng.uniform(1200, 2100), tip, end)
        self.stat_bot()
        for k, m in enumerate(self.moments):
            self.react(k, m)
        if self.team_thread:
            self.team_chatter(tip, end)
        self.replies()
        self.mess()
        self.comments.sort(key=lambda c: (c.created, c.id))
        return self.comments

    def rate(self, t: float, tip: float, end: float) -> float:
        """Baseline comments per minute at wall time t."""
        if t < tip:
            return 0.25 + 0.9 * max(0.0, 1 - (tip - t) / 1800)
        if t > end:
            return 3.0 * math.exp(-(t - end) / 600)
        p = self.state_at(t)
        r = 0.95
        if p.period >= 4:
            r *= 1.6 if p.period == 4 else 2.2
        if abs(p.margin) <= 8:
            r *= 1.3
        if p.period == 2 and p.kind == "period_end":
            r = 1.2  # halftime
        return r

    def chatter(self, start: float, stop: float, tip: float, end: float) -> None:
        rng = self.rng
        t = start
        while t < stop:
            n = _poisson(rng, self.rate(t, tip, end))
            for _ in range(n):
                ts = t + rng.uniform(0, 60)
                fan = self.pick_fan(self.fans)
                self.add(fan, self.chatter_body(fan, ts, tip, end), ts,
                         "pre" if ts < tip else "post" if ts > end else "chatter")
            t += 60

    def chatter_body(self, fan: Fan, t: float, tip: float, end: float) -> str:
        rng = self.rng
        side = fan.side if fan.side in SIDES else rng.choice(SIDES)
        if t < tip:
            bank = "pre"
        elif t > end:
            bank = "post"
        else:
            p = self.state_at(t)
            if p.period == 2 and p.kind == "period_end":
                bank = "half"
            elif rng.random() < 0.18 or fan.side == "neutral" and rng.random() < 0.5:
                bank = "off"
            elif p.period >= 4 and abs(p.margin) <= 6 and rng.random() < 0.4:
                bank = "close"
            else:
                ahead = (p.margin > 0) == (side == "home") and p.margin != 0
                bank = "pro" if ahead or rng.random() < 0.35 else "anti"
        team = self.game.home if side == "home" else self.game.away
        players = (rng.choice(team.players[:8]),)
        return self.style(self.fill(rng.choice(CHATTER[bank]), side, players))

    def react(self, k: int, m: Moment) -> None:
        """A burst of reactions 5-60 s after the play; stance depends on who the fan supports."""
        rng = self.rng
        n = rng.randint(8, 15) if m.gold else rng.randint(1, 3)
        if m.kind in ("final", "overtime"):
            n += 6
        t0 = m.play.wall
        # Both fan bases react to late drama; a highlight mostly excites the team that made it.
        anti_w = 0.9 if m.kind in ("go_ahead", "tie", "clutch", "buzzer", "overtime", "final") else 0.3
        ws = [f.activity * (1.0 if f.side == m.side else 0.4 if f.side == "neutral" else anti_w)
              for f in self.fans]
        for _ in range(n):
            fan = rng.choices(self.fans, weights=ws)[0]
            stance = "neutral" if fan.side == "neutral" else "pro" if fan.side == m.side else "anti"
            bank = REACT.get((m.kind, stance)) or REACT[("*", "neutral")]
            body = self.style(self.fill(rng.choice(bank), m.side, m.players), hype=stance == "pro")
            sentiment = {"pro": "positive", "anti": "negative", "neutral": "neutral"}[stance]
            self.add(fan, body, t0 + 5 + rng.expovariate(1 / 14) % 55, "reaction", moment=k,
                     sentiment=sentiment)
        if self.team_thread and m.gold and m.side == "home":
            for _ in range(rng.randint(2, 5)):
                fan = self.pick_fan(self.home_fans)
                body = self.style(self.fill(rng.choice(REACT[(m.kind, "pro")]), m.side, m.players), True)
                self.add(fan, body, t0 + 5 + rng.expovariate(1 / 14) % 55, "reaction",
                         thread=self.team_thread, moment=k, sentiment="positive")

    def team_chatter(self, tip: float, end: float) -> None:
        rng, t = self.rng, self.team_thread.created + 60  # type: ignore[union-attr]
        while t < end + 900:
            for _ in range(_poisson(rng, 0.6)):
                ts = t + rng.uniform(0, 60)
                fan = self.pick_fan(self.home_fans)
                self.add(fan, self.chatter_body(fan, ts, tip, end), ts, "chatter",
                         thread=self.team_thread)
            t += 60

    def stat_bot(self) -> None:
        bot = Fan("nba-stat-bot", "neutral", None, None, 0.0)
        home, away = self.game.home, self.game.away
        for p in self.plays:
            if p.kind not in ("period_end",):
                continue
            tops = []
            for side, team in (("away", away), ("home", home)):
                best = max(team.players, key=lambda q: self._pts_at(q, p.seq))
                tops.append(f"{best.last} {self._pts_at(best, p.seq)}")
            body = (f"**End of {p.label.split()[0]}**: {away.tricode} {p.score_away} - "
                    f"{home.tricode} {p.score_home}\n\nTop scorers: {', '.join(tops)}")
            self.add(bot, body, p.wall + self.rng.uniform(30, 90), "bot")

    def _pts_at(self, player: Player, seq: int) -> int:
        for q in reversed(self.plays[: seq + 1]):
            if q.player is player and "p_pts" in q.n:
                return q.n["p_pts"]
        return 0

    def replies(self) -> None:
        rng = self.rng
        for c in list(self.comments):
            if c.kind in ("bot",) or rng.random() > 0.13:
                continue
            depth_parent = c
            for _ in range(rng.choice((1, 1, 1, 2, 3))):
                pool = self.home_fans if self.team_thread and c.thread == self.team_thread.id else self.fans
                fan = self.pick_fan(pool)
                parent_fan_side = next((f.side for f in pool if f.name == depth_parent.author), "neutral")
                mood = "neutral" if "neutral" in (fan.side, parent_fan_side) else (
                    "agree" if fan.side == parent_fan_side else "disagree")
                body = self.style(rng.choice(REPLIES[mood]))
                thread = next(t for t in self.threads + ([self.team_thread] if self.team_thread else [])
                              if t.id == depth_parent.thread)
                depth_parent = self.add(fan, body, depth_parent.created + rng.uniform(8, 150), "reply",
                                        parent=f"t1_{depth_parent.id}", thread=thread)

    def mess(self) -> None:
        """Deleted/removed comments, edits, double posts: what real threads contain."""
        rng = self.rng
        for c in list(self.comments):
            if c.kind == "bot":
                continue
            r = rng.random()
            if r < 0.015:
                c.body, c.author, c.flair, c.flair_css = "[deleted]", "[deleted]", None, None
            elif r < 0.025:
                c.body, c.author, c.flair, c.flair_css = "[removed]", "[deleted]", None, None
            elif r < 0.065:
                c.edited = c.created + rng.randint(20, 1500)
                if rng.random() < 0.5:
                    c.body += " edit: " + rng.choice(("typo", "nvm", "lol", "called it", "wow"))
            elif r < 0.075:
                thread = next(t for t in self.threads + ([self.team_thread] if self.team_thread else [])
                              if t.id == c.thread)
                fan = Fan(c.author, "neutral", c.flair, c.flair_css, 0.0)
                self.add(fan, c.body, c.created + rng.uniform(2, 20), c.kind, parent=c.parent,
                         thread=thread)


def _poisson(rng: random.Random, lam: float) -> int:
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
        for c in rng.sample(replies, min(len(replies), rng.randint(3, 7))):
            stack = [c]
            while stack:
                x = stack.pop()
                x.hidden = True
                stack.extend(children.get(f"t1_{x.id}", []))
        top = [c for c in cs if c.parent.startswith("t3_") and c.kind != "bot"]
        for c in top[-max(2, len(top) // 60):]:
            stack = [c]
            while stack:
                x = stack.pop()
                x.hidden = True
                stack.extend(children.get(f"t1_{x.id}", []))


def label_gold(moments: list[Moment], comments: list[Comment], main_threads: set[str],
               rng: random.Random, gen: CommentGen) -> None:
    """Sentiment and quote of each gold moment, read off the reactions the generator wrote."""
    used: set[str] = set()
    for k, m in enumerate(moments):
        if not m.gold:
            continue
        rs = [c for c in comments if c.moment == k and c.thread in main_threads]
        pos = sum(c.sentiment == "positive" for c in rs)
        neg = sum(c.sentiment == "negative" for c in rs)
        total = max(1, len(rs))
        if pos / total >= 0.3 and neg / total >= 0.3:
            m.sentiment = "mixed"
        elif pos > neg and pos / total >= 0.4:
            m.sentiment = "positive"
        elif neg > pos and neg / total >= 0.4:
            m.sentiment = "negative"
        else:
            m.sentiment = "neutral"
        wanted = {"mixed": ("positive", "negative")}.get(m.sentiment, (m.sentiment,))
        names = [p.last for p in m.players] + [p.last_ascii.upper() for p in m.players] + \
            [p.last_ascii for p in m.players]

        def ok(c: Comment) -> bool:
            return (c.sentiment in wanted and not c.hidden and c.author != "[deleted]"
                    and 1 <= len(c.body) <= 60 and c.body.isprintable())

        cands = [c for c in rs if ok(c) and c.body not in used] or [c for c in rs if ok(c)]
        named = [c for c in cands if any(n in c.body for n in names)]
        pool = named or cands
        if not pool:  # guarantee a grounded quote: one more reaction that names the player
            stance = {"positive": "pro", "negative": "anti"}.get(wanted[0], "neutral")
            side_fans = [f for f in gen.fans if (f.side == m.side) == (stance == "pro")
                         and (f.side == "neutral") == (stance == "neutral")] or gen.fans
            fan = rng.choice(side_fans)
            bank = REACT.get((m.kind, stance)) or REACT[("*", "neutral")]
            body = gen.fill(rng.choice([b for b in bank if "{p}" in b] or bank), m.side, m.players)
            thread = next(t for t in gen.threads if t.id == gen.thread_for(m.play.wall + 20).id)
            c = gen.add(fan, body[:60], m.play.wall + rng.uniform(6, 40), "reaction", thread=thread,
                        moment=k, sentiment=wanted[0])
            pool = [c]
        m.quote = rng.choice(pool).body
        used.add(m.quote)


# --- orchestration ------------------------------------------------------------------------------
def _local_start(rng: random.Random, tz: str, season_day: int) -> tuple[str, float]:
    day = date(2025, 10, 21) + timedelta(days=season_day)
    hour, minute = rng.choice(((19, 0), (19, 0), (19, 30), (19, 30), (20, 0), (22, 0)))
    if tz in ("America/Los_Angeles", "America/Phoenix", "America/Denver") and hour == 22:
        hour = 19
    sched = datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZoneInfo(tz))
    tip = sched + timedelta(seconds=rng.uniform(6 * 60, 12 * 60))
    return day.isoformat(), tip.astimezone(timezone.utc).timestamp()


def simulate_game(index: int, seed: int) -> tuple[GameResult, list[Moment], list[Comment],
                                                   list[Thread]]:
    rng = random.Random(seed * 1_000_003 + index * 7919 + 17)
    game_id = f"{GAME_ID_PREFIX}{index + 1:04d}"
    home, away = rng.sample(TEAMS, 2)
    local_date, tip = _local_start(rng, home.tz, (index * 11 + rng.randrange(11)) % 170)
    # Overtime-bound script: about 1 in 5 games, always one in each block of five.
    profile = "ot" if index % 5 == 2 or rng.random() < 0.05 else (
        "close" if rng.random() < 0.55 else "open")
    refs = tuple(rng.sample(REFEREES, 3))
    plays = GameSim(rng, home, away, tip, profile, refs).play_game()
    game = GameResult(game_id, home, away, local_date, home.tz, plays, refs)
    moments = find_moments(plays)
    select_gold(moments, rng)
    for m in moments:
        if m.gold:
            m.event = event_text(m, home, away)

    fmts, team_fmt = COMMENT_LAYOUTS[index % len(COMMENT_LAYOUTS)]
    opened = int(tip - rng.uniform(45 * 60, 75 * 60))
    ext = {"ndjson": "ndjson", "ndjson_str": "ndjson", "ndjson_zst": "ndjson.zst", "csv": "csv",
           "listing": "json"}
    away_rec, home_rec = f"({rng.randint(5, 30)}-{rng.randint(5, 30)})", f"({rng.randint(5, 30)}-{rng.randint(5, 30)})"
    title = f"GAME THREAD: {away.name} {away_rec} @ {home.name} {home_rec} - ({local_date})"
    names = ("listing" if fmts[0] == "listing" else "r_nba_game_thread",)
    if len(fmts) == 2:
        names = (names[0], "r_nba_2nd_half")
    threads: list[Thread] = []
    half_end = next(p.wall for p in plays if p.kind == "period_end" and p.period == 2)
    split_at = half_end + rng.uniform(300, 600) if len(fmts) == 2 else None
    for k, f in enumerate(fmts):
        created = opened if k == 0 else int(half_end + rng.uniform(120, 300))
        t_title = title if k == 0 else title.replace("GAME THREAD", "2ND HALF GAME THREAD")
        fname = names[k] if f != "listing" or names[k] == "listing" else names[k] + "_listing"
        threads.append(Thread(_base36(rng, 7), "nba", t_title, created, f, f"{fname}.{ext[f]}"))
    team_thread = None
    if team_fmt:
        fname = f"r_{home.subreddit}_game_thread" + ("_listing" if team_fmt == "listing" else "")
        team_thread = Thread(_base36(rng, 7), home.subreddit,
                             f"[Game Thread] {home.nickname} vs. {away.nickname}", opened + 600,
                             team_fmt, f"{fname}.{ext[team_fmt]}")
    gen = CommentGen(rng, game, moments, threads, split_at, team_thread)
    comments = gen.generate()
    all_threads = threads + ([team_thread] if team_thread else [])
    hide_collapsed(rng, comments, {t.id for t in all_threads if t.fmt == "listing"})
    label_gold(moments, comments, {t.id for t in threads}, rng, gen)
    comments.sort(key=lambda c: (c.created, c.id))
    return game, moments, comments, all_threads


def _base36(rng: random.Random, n: int) -> str:
    return "1" + "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(n - 1))


def gold_doc(game: GameResult, moments: list[Moment]) -> dict:
    items = []
    for m in moments:
        if not m.gold:
            continue
        item = {"ts": m.play.label, "event": m.event, "fan_sentiment": m.sentiment}
        if m.quote:
            item["quote"] = m.quote
        items.append(item)
    return {"game_id": game.game_id, "annotator": "simulate", "timeline": items}


def simulate(out_dir: Path, games: int, seed: int) -> list[str]:
    """Write `games` synthetic games under out_dir; return their ids (sorted = generation order)."""
    from fan_timeline import simulate_formats as fmt

    out_dir = Path(out_dir)
    ids = []
    for i in range(games):
        game, moments, comments, threads = simulate_game(i, seed)
        gdir = out_dir / game.game_id
        (gdir / "comments").mkdir(parents=True, exist_ok=True)
        for old in (gdir / "comments").iterdir():  # a rerun must not leave stale formats behind
            old.unlink()
        pbp_format = FORMATS[i % len(FORMATS)]
        fmt.write_json(gdir / "game.json", fmt.game_doc(game, seed))
        fmt.write_pbp(gdir / "pbp.json", pbp_format, game)
        rng = random.Random(seed * 7_000_001 + i)
        for t in threads:
            fmt.write_comments(gdir / "comments" / t.file, t, [c for c in comments if c.thread == t.id],
                               game, rng)
        fmt.write_json(gdir / "gold.json", gold_doc(game, moments), ensure_ascii=False)
        last = game.plays[-1]
        ot = f" ({last.period - 4}OT)" if last.period > 4 else ""
        hours = (last.wall - game.plays[0].wall) / 3600
        n_gold = sum(m.gold for m in moments)
        print(f"{game.game_id} {game.local_date} {game.away.tricode} {last.score_away} @ "
              f"{game.home.tricode} {last.score_home}{ot}  {pbp_format:8s} {len(game.plays)} plays "
              f"{hours:.2f} h  comments {len(comments)} in {', '.join(t.file for t in threads)}  "
              f"gold {n_gold}")
        ids.append(game.game_id)
    return ids


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="fan-timeline simulate", description=__doc__.splitlines()[0])
    ap.add_argument("--games", type=int, default=12, help="number of games to generate")
    ap.add_argument("--seed", type=int, default=7, help="random seed; same seed, same bytes")
    ap.add_argument("--out", type=Path, default=Path("data/raw/sample"), help="output directory")
    args = ap.parse_args(argv)
    if args.games < 1:
        ap.error("--games must be at least 1")
    simulate(args.out, args.games, args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
