"""Teams and players, drawn anew for every game from large pools of places, nicknames and names.

A fixed league would let a model learn its team names and rosters (a fine-tune that writes
"Herons lead 13-0" into a real game); drawing both sides of every game from thousands of
combinations leaves nothing to memorise but the task.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass

SIDES = ("home", "away")


def other(side: str) -> str:
    return "away" if side == "home" else "home"


_NO_DECOMPOSITION = str.maketrans({"ø": "o", "Ø": "O", "æ": "ae", "Æ": "Ae", "đ": "d", "Đ": "D",
                                   "ł": "l", "Ł": "L", "ß": "ss"})


def ascii_name(text: str) -> str:
    """'Petrović' -> 'Petrovic', 'Sørensen' -> 'Sorensen' (play-by-play descriptions are ASCII)."""
    text = unicodedata.normalize("NFKD", text.translate(_NO_DECOMPOSITION))
    return text.encode("ascii", "ignore").decode("ascii")


@dataclass(frozen=True)
class Player:
    pid: int            # NBA-style person id
    espn_id: str        # ESPN athlete id
    first: str
    last: str           # may carry a suffix ("Jones Jr.") or a hyphen, as real rosters do
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
    subreddit: str      # the team's own subreddit, without "r/"

    @property
    def name(self) -> str:
        return f"{self.city} {self.nickname}"


CITIES = (
    ("Harbor", "America/New_York"), ("Redwood", "America/Los_Angeles"), ("Prairie", "America/Chicago"),
    ("Desert", "America/Phoenix"), ("Lakeshore", "America/Chicago"), ("Capital", "America/New_York"),
    ("Bayou", "America/Chicago"), ("Steel City", "America/New_York"), ("Summit", "America/Denver"),
    ("Emerald", "America/Los_Angeles"), ("Granite", "America/New_York"), ("Cascade", "America/Los_Angeles"),
    ("Ironwood", "America/Detroit"), ("Bluegrass", "America/New_York"), ("Twin Rivers", "America/Chicago"),
    ("Gulf Coast", "America/Chicago"), ("Sierra", "America/Los_Angeles"), ("Ozark", "America/Chicago"),
    ("Mesa", "America/Phoenix"), ("Tidewater", "America/New_York"), ("Keystone", "America/New_York"),
    ("Magnolia", "America/Chicago"), ("Canyon", "America/Denver"), ("Hudson", "America/New_York"),
    ("Pinecrest", "America/New_York"), ("Riverside", "America/Los_Angeles"), ("Lone Star", "America/Chicago"),
    ("Atlantic", "America/New_York"), ("Pacific", "America/Los_Angeles"), ("Midland", "America/Chicago"),
    ("Great Lakes", "America/Detroit"), ("Badlands", "America/Denver"), ("Frontier", "America/Denver"),
    ("Blue Ridge", "America/New_York"), ("Copper", "America/Phoenix"), ("Silver Lake", "America/Los_Angeles"),
    ("Bay City", "America/Los_Angeles"), ("Northshore", "America/Chicago"), ("Sunset", "America/Los_Angeles"),
    ("Evergreen", "America/Los_Angeles"), ("Heartland", "America/Chicago"), ("Crescent", "America/Chicago"),
    ("Rio Grande", "America/Denver"), ("Appalachia", "America/New_York"), ("Chesapeake", "America/New_York"),
    ("Lowcountry", "America/New_York"), ("Palmetto", "America/New_York"), ("Sandhill", "America/Chicago"),
    ("Timberline", "America/Denver"), ("Salt Flats", "America/Denver"), ("Black Hills", "America/Denver"),
    ("Cape", "America/New_York"), ("Iron Range", "America/Chicago"), ("Coal Valley", "America/New_York"),
    ("Oakmont", "America/New_York"), ("Westbrook", "America/Chicago"), ("Port City", "America/New_York"),
    ("Highland", "America/Denver"), ("Seaside", "America/Los_Angeles"), ("Glacier", "America/Denver"),
)
NICKNAMES = (
    "Herons", "Lumberjacks", "Comets", "Scorpions", "Loons", "Monarchs", "Bullfrogs", "Forge", "Yetis",
    "Otters", "Foxes", "Pilots", "Miners", "Tides", "Falcons", "Bison", "Wolves", "Condors", "Stallions",
    "Anchors", "Sentinels", "Vipers", "Cyclones", "Ospreys", "Coyotes", "Badgers", "Marlins", "Ravens",
    "Moose", "Owls", "Cougars", "Gators", "Storm", "Blaze", "Thunderbirds", "Voyagers",
    "Mariners", "Lynx", "Pioneers", "Drifters", "Rattlers", "Sharks", "Admirals", "Meteors",
    "Foresters", "Wildcats", "Mustangs", "Hounds", "Petrels", "Cranes", "Barracudas", "Bobcats", "Ibex",
    "Grizzlies", "Squall", "Embers", "Ridgebacks", "Stingrays", "Kestrels", "Wranglers", "Mammoths",
    "Harriers", "Jackals", "Dragons", "Quakes", "Outlaws", "Hornbills", "Bandits", "Armada", "Surge",
    "Rangers", "Eclipse", "Orcas", "Buffaloes", "Skyhawks", "Tempest", "Flyers", "Sparks", "Knights",
)
FIRST_NAMES = (
    "Marcus", "Tobias", "Kenji", "Andre", "Mateo", "Jonas", "Rafael", "Dmitri", "Kofi", "Idris", "Theo",
    "Nikolai", "Samir", "Devin", "Malik", "Caleb", "Isaiah", "Omar", "Felix", "Hugo", "Aleks", "Bruno",
    "Darius", "Elijah", "Gabriel", "Hassan", "Ivo", "Joaquín", "Kwame", "Lars", "Milan", "Nils", "Oscar",
    "Pavel", "Quentin", "Rashad", "Stefan", "Tariq", "Viktor", "Wesley", "Xavier", "Yusuf", "Zoran",
    "Amadou", "Bastien", "Cyrus", "Dante", "Enzo", "Finn", "Goran", "Henrik", "Ismael", "Jarrett", "Chidi",
    "Tomas", "Rui", "Sione", "Baraka", "Emil", "Lucas", "Jalen", "Tyrese", "DeShawn", "Keon", "Jamal",
    "Trey", "Cam", "Dillon", "Bryce", "Luka", "Nikola", "Giannis", "Domantas", "Jusuf", "Bogdan", "Dario",
    "Alperen", "Franz", "Moritz", "Killian", "Rudy", "Evan", "Josh", "Zach", "Tyler", "Jordan", "Austin",
    "Brandon", "Chris", "Derrick", "Kyle", "Kevin", "Anthony", "Jaylen", "Jayson", "Donovan", "Shai",
    "Desmond", "Mikal", "Scottie", "Obi", "Precious", "Onyeka", "Usman", "Santi", "Gui", "Facundo",
    "Nicolás", "Ousmane", "Mamadou", "Bismack", "Serge", "Jonas", "Kristaps", "Dāvis", "Lauri", "Mikko",
    "Sasha", "Vlatko", "Dejan", "Hamidou", "Yuta", "Rui", "Hiro", "Kai", "Tae", "Min-jun", "Wei", "Zhou",
    "Arjun", "Dev", "Rohan", "Amir", "Karim", "Youssef", "Eli", "Noah", "Liam", "Mason", "Ethan", "Aiden",
    "Jace", "Kobe", "Shaq", "Dwight", "Reggie", "Vince", "Tracy", "Grant", "Penny", "Latrell", "Rasheed",
)
SURNAMES = (
    "Okafor", "Reyes", "Lindqvist", "Nakamura", "Petrović", "Haddad", "Kowalski", "Duarte", "Oyelaran",
    "Falk", "Castellanos", "Moreau", "Brennan", "Adeyemi", "Vasquez", "Sato", "Kiprop", "Novak",
    "Halvorsen", "Dubois", "Mensah", "Ferreira", "Kapoor", "Ivanov", "Jansen", "Olsen", "Achterberg",
    "Quiroga", "Brandt", "Lindgren", "Takahashi", "Obi", "Nwosu", "Salazar", "Bergström", "Delacroix",
    "Abara", "Touré", "Sørensen", "Whitfield", "Okonkwo", "Mahlangu", "Rahimi", "Costa", "Esposito",
    "Horvat", "Kovač", "Zielinski", "Barros", "Yilmaz", "Demir", "Aziz", "Karimi", "Oduya", "Fofana",
    "Diallo", "Keita", "Sissoko", "Lungu", "Moyo", "Banda", "Papadopoulos", "Georgiou", "Marchetti",
    "Ricci", "Lombardi", "Fischer", "Weber", "Hoffmann", "Kruger", "Schultz", "Nilsen", "Aho", "Virtanen",
    "Korhonen", "Park", "Tan", "Nguyen", "Tran", "Chen", "Wong", "Singh", "Mehta", "Bose", "O'Rourke",
    "McAllister", "Fitzgerald", "Donnelly", "Ashford", "Whitaker", "Holloway", "Pryce", "Garrity",
    "Ndiaye", "Sarr", "Camara", "Baptiste", "Pierre-Louis", "Alvarez", "Mendoza", "Ortega", "Rojas",
    "Acosta", "Navarro", "Ibarra", "Cienfuegos", "Eriksen", "Dahl", "Strand", "Holm", "Vidal", "Santos",
    "Achebe-Nwankwo", "Kaminski", "Lozano", "Mwangi", "Osei", "Quaresma", "Rautio", "Szabo", "Barnes",
    "Jenkins", "Porter", "Mitchell", "Harris", "Coleman", "Bryant", "Simmons", "Walker", "Greene", "Hayes",
    "Brooks", "Sanders", "Price", "Bennett", "Wood", "Ross", "Henderson", "Jordan", "Reed", "Cook",
    "Morgan", "Bell", "Murphy", "Bailey", "Rivera", "Cooper", "Richardson", "Cox", "Howard", "Ward",
    "Torres", "Peterson", "Gray", "Ramirez", "James", "Watson", "Kim", "Lee", "Young", "Allen", "King",
    "Wright", "Scott", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall", "Campbell", "Carter",
    "Roberts", "Phillips", "Evans", "Turner", "Parker", "Collins", "Edwards", "Stewart", "Morris",
    "Murray", "Sullivan", "Wallace", "Woods", "Cole", "West", "Jordan-Hill", "Owens", "Reynolds", "Fisher",
    "Ellis", "Harrison", "Gibson", "McDonald", "Cruz", "Marshall", "Ortiz", "Gomez", "Murillo", "Freeman",
    "Wells", "Webb", "Simpson", "Stevens", "Tucker", "Hunter", "Hicks", "Crawford", "Boyd", "Mason",
    "Warren", "Dixon", "Ramos", "Reyes-Ortiz", "Burns", "Gordon", "Shaw", "Holmes", "Rice", "Robertson",
    "Antetokounmpo", "Dončić", "Jokić", "Sabonis", "Nurkić", "Bogdanović", "Šarić", "Valančiūnas",
    "Porziņģis", "Bertāns", "Markkanen", "Wagner", "Theis", "Schröder", "Hartenstein", "Gobert",
    "Fournier", "Batum", "Wembanyama", "Yabusele", "Şengün", "Osman", "Hachimura", "Watanabe", "Kawamura",
    "Yang", "Zhang", "Li", "Wang", "Liu", "Patel", "Shah", "Gupta", "Iyer", "Haidari", "Mansour",
    "Abdullah", "Al-Amin", "Ben-Haim", "Cohen", "Levi", "Friedman", "Dos Santos", "Da Silva", "De la Cruz",
    "Van Dyke", "Van der Berg", "MacLeod", "Ó Súilleabháin", "Ng", "Vo", "Pham", "Le", "Lam", "Ho",
    "Adebayo", "Olaniyan", "Achiuwa", "Anunoby", "Okogie", "Okongwu", "Nnaji", "Ezeli", "Uzoh", "Obiora",
    "Kuminga", "Mbenga", "Tshibangu", "Kalala", "Mutombo", "Sefolosha", "Capela", "Ntilikina", "Niang",
)
SUFFIXES = (" Jr.", " II", " III", " Sr.")
POSITIONS = ("G", "G", "F", "F", "C", "G", "F", "C", "G", "F", "G", "C", "F")
USAGE = (1.35, 1.2, 1.1, 0.95, 0.85, 1.0, 0.85, 0.7, 0.75, 0.6, 0.5, 0.45, 0.4)
ROSTER_SIZE = 13


def _tricode(city: str, taken: set[str], rng: random.Random) -> str:
    letters = "".join(ch for ch in ascii_name(city).upper() if ch.isalpha())
    words = ascii_name(city).upper().split()
    options = []
    if len(words) >= 2:
        options.append((words[0][:2] + words[1][0])[:3])
        options.append((words[0][0] + words[1][:2])[:3])
    options += [letters[:3], letters[0] + letters[2:4], letters[0] + letters[-2:]]
    for code in options:
        if len(code) == 3 and code not in taken:
            return code
    while True:
        code = letters[0] + "".join(rng.choice("ABCDEFGHIJKLMNOPRSTUVWXYZ") for _ in range(2))
        if code not in taken:
            return code


def _subreddit(city: str, nickname: str, rng: random.Random) -> str:
    """The forms real team subreddits take: r/clevelandcavs, r/warriors, r/GoNets, r/NOLAPelicans."""
    city_word, nick_word = city.replace(" ", ""), nickname.replace(" ", "")
    form = rng.random()
    if form < 0.35:
        return ascii_name(city_word + nick_word).lower()
    if form < 0.6:
        return ascii_name(nick_word).lower()
    if form < 0.8:
        return "Go" + ascii_name(nick_word)
    return ascii_name(city_word[:4].upper() + nick_word)


def draw_teams(rng: random.Random, index: int) -> tuple[Team, Team]:
    """(home, away): two teams with their own places, names and 13-man rosters, new for this game."""
    (home_city, home_tz), (away_city, away_tz) = rng.sample(CITIES, 2)
    home_nick, away_nick = rng.sample(NICKNAMES, 2)
    taken: set[str] = set()
    surnames = rng.sample(SURNAMES, 2 * ROSTER_SIZE)
    teams = []
    for k, (city, tz, nick) in enumerate(((home_city, home_tz, home_nick), (away_city, away_tz, away_nick))):
        code = _tricode(city, taken, rng)
        taken.add(code)
        star = rng.randrange(3)
        players = []
        jerseys = rng.sample(range(0, 56), ROSTER_SIZE)
        for j in range(ROSTER_SIZE):
            last = surnames[k * ROSTER_SIZE + j]
            if rng.random() < 0.05:
                last += rng.choice(SUFFIXES)
            players.append(Player(
                pid=1630000 + index * 100 + k * 30 + j, espn_id=str(4430000 + index * 100 + k * 30 + j),
                first=rng.choice(FIRST_NAMES), last=last, pos=POSITIONS[j], jersey=str(jerseys[j]),
                usage=USAGE[j] * (1.25 if j == star else 1.0)))
        teams.append(Team(code, city, nick, tz, 1610612000 + index * 2 + k, str(200 + index * 2 + k), tuple(players),
                          _subreddit(city, nick, rng)))
    return teams[0], teams[1]
