"""Writers for the synthetic sample: each file in the real raw format, shapes copied from the samples.

Called by `simulate.cli`; nothing here draws game randomness except file-level mess (row order
jitter, duplicated dump lines), which uses the `random.Random` it is given.

One file of ~800 lines because each writer is one long function per real format, and the notes
below, which say what each real file holds, belong beside the writers that follow them; the writers
share only the clock, period and team helpers at the top.

What each file holds
--------------------
game.json  {"game_id", "date" (local YYYY-MM-DD), "tz" (IANA zone of the home arena), "home", "away"
           ({"team": tricode, "name", "aliases", "subreddit"}), "source"}. No tip-off time.

pbp.json, one of:
- stats_v2: `{"resource": "playbyplay", "parameters", "resultSets": [PlayByPlay, AvailableVideo]}`
  with the sample's 34 columns. WCTIMESTRING is the local wall time (game.json tz) at minute
  resolution; SCORE "away - home" on scoring, period start (after Q1), period end and replay rows
  only; PERSON types 4/5 home/away player, 2/3 home/away team, 1 official. Blocks ride on the
  missed-shot row (PLAYER3), steals on the turnover row (PLAYER2). No game-end row (like the real
  feed). Names in descriptions are ASCII ("Petrovic"), PLAYERn_NAME keeps diacritics.
- stats_v3: `{"meta", "game": {"gameId", "videoAvailable", "actions"}}`; scoreHome/scoreAway are ""
  except on scoring and period rows; steals and blocks are their own rows with actionType "" (as in
  the sample). Wall clock only in "Start of 1st Period (7:11 PM EST)" / "End of ..." /
  "Instant Replay4th Period (9:27 PM EST)" texts, in the home zone's abbreviation (EST, CDT, MST..).
- cdn_live: `{"meta", "game": {"gameId", "actions"}}`; timeActual UTC at 0.1 s ("...T00:06:19.0Z"),
  running scores on every action, separate block/steal actions, substitution out+in pairs,
  "game"/"end" last.
- espn: ESPN summary shape. `header.competitions[0].competitors[]` (homeAway, score, team{id,
  abbreviation, displayName, ...}, linescores), `boxscore.players[]` (per team: statistics[0].athletes
  [{athlete{id, displayName, shortDisplayName, jersey}, starter, stats}] = the roster that maps
  athlete ids to names), `plays[]` with id, sequenceNumber, type{id,text}, text (full names, e.g.
  "Chidi Okafor makes 24-foot three point jumper (Marcus Reyes assists)"; a blocked shot is one play
  "X blocks Y 's 6-foot hook shot"; a steal rides on the turnover "Y bad pass (X steals)"),
  awayScore, homeScore (ints, running), period{number, displayValue}, clock{displayValue},
  scoringPlay, scoreValue, team{id} (absent on period plays), participants[{athlete{id}}],
  wallclock (UTC, 1 s), shootingPlay, coordinate{x,y} (feet; ESPN's -214748340/-214748365
  sentinel on non-shots). type ids follow ESPN's numbering where known and are otherwise stable
  inventions.

comments/*, one file per thread:
- *.ndjson / *.ndjson.zst: Pushshift/Arctic-Shift comment objects, one per line, UTF-8; created_utc
  int (or string in `ndjson_str` layouts); ~1.5% of lines repeated later (same id; some with a
  newer score/retrieved_on); zstd level 10, no dictionary.
- *.csv: UTF-8 BOM, CRLF, columns id,parentId,postId,body,createdAt,upVotes,username,
  communityName,numberOfreplies,url; ids keep their t1_/t3_ prefixes; createdAt
  "2026-01-15T00:41:07.000Z"; no flair; ~1% duplicated rows.
- *listing*.json: `[post_listing, comment_listing]` from the Reddit API, comments nested through
  `replies` (newest top-level first, replies oldest first), created_utc floats, and
  `{"kind": "more"}` stubs in place of the collapsed branches (those comments are absent).
"""

from __future__ import annotations

import csv
import io
import json
import random
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import zstandard

from fan_timeline.simulate.engine import SHOTS, GameResult, Play
from fan_timeline.simulate.league import Player, Team, other
from fan_timeline.simulate.threads import Comment, Thread

ESPN_SENTINEL = {"x": -214748340, "y": -214748365}
ORDINAL = {1: "1st", 2: "2nd", 3: "3rd", 4: "4th"}


def write_json(path: Path, obj: Any, ensure_ascii: bool = True) -> None:
    path.write_text(json.dumps(obj, ensure_ascii=ensure_ascii) + "\n", encoding="utf-8")


def game_doc(game: GameResult, source: str) -> dict[str, Any]:
    def team(t: Team) -> dict[str, Any]:
        return {"team": t.tricode, "name": t.name, "aliases": [t.nickname, t.city, t.tricode],
                "subreddit": t.subreddit}
    return {"game_id": game.game_id, "date": game.local_date, "tz": game.tz,
            "home": team(game.home), "away": team(game.away), "source": source}


def write_pbp(path: Path, fmt: str, game: GameResult) -> None:
    doc = {"stats_v2": v2_doc, "stats_v3": v3_doc, "cdn_live": cdn_doc, "espn": espn_doc}[fmt](game)
    write_json(path, doc)


# --- shared helpers ---------------------------------------------------------------------------------
def _local(game: GameResult, wall: float) -> datetime:
    return datetime.fromtimestamp(wall, tz=timezone.utc).astimezone(ZoneInfo(game.tz))


def _hm(game: GameResult, wall: float) -> str:
    t = _local(game, wall)
    return f"{(t.hour - 1) % 12 + 1}:{t.minute:02d} {'AM' if t.hour < 12 else 'PM'}"


def _utc(wall: float, tenths: bool) -> str:
    t = datetime.fromtimestamp(int(wall), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    if tenths:
        return f"{t}.{int(round(wall * 10)) % 10}Z"
    return t + "Z"


def _iso_clock(clock_s: float) -> str:
    whole = int(clock_s)
    return f"PT{whole // 60:02d}M{whole % 60:02d}.{int(round(clock_s * 100)) % 100:02d}S"


def _team(game: GameResult, side: str) -> Team:
    return game.home if side == "home" else game.away


def _period_name(period: int) -> str:
    return f"{ORDINAL[period]} Period" if period <= 4 else f"{ORDINAL.get(period - 4, str(period - 4) + 'th')} OT"


TO_V2 = {"bad pass": (1, "Bad Pass"), "lost ball": (2, "Lost Ball"), "traveling": (4, "Traveling"),
         "offensive foul": (37, "Offensive Foul"), "out of bounds": (40, "Out of Bounds Lost Ball"),
         "step out of bounds": (39, "Step Out of Bounds")}
TO_V3 = {"bad pass": "Bad Pass", "lost ball": "Lost Ball", "traveling": "Traveling",
         "offensive foul": "Offensive Foul Turnover",
         "out of bounds": "Out of Bounds Lost Ball Turnover",
         "step out of bounds": "Step Out of Bounds Turnover"}
FOUL_V2 = {"personal": (1, "P.FOUL"), "shooting": (2, "S.FOUL"), "loose ball": (3, "L.B.FOUL"),
           "offensive": (4, "OFF.Foul")}
FT_CODE = {(1, 1): 10, (1, 2): 11, (2, 2): 12, (1, 3): 13, (2, 3): 14, (3, 3): 15}


def _ref(play: Play) -> str:
    if not play.referee:
        return "."
    first, last = play.referee[1].split(" ", 1)
    return f"{first[0]}.{last}"


def _shot_desc_v2(p: Play) -> str:
    assert p.player is not None
    text = SHOTS[p.shot][2]
    dist = f"{p.distance}' " if p.distance else " "
    if not p.made:
        return f"MISS {p.player.last_ascii} {dist}{text}"
    desc = f"{p.player.last_ascii} {dist}{text} ({p.n['p_pts']} PTS)"
    if p.assist:
        desc += f" ({p.assist.last_ascii} {p.n['assist_ast']} AST)"
    return desc


def _timeout_desc(game: GameResult, p: Play) -> str:
    assert p.side
    team = _team(game, p.side)
    if p.side == "home":
        return f"{team.nickname.upper()} Timeout: Regular (Full {p.n['timeouts']} Short 0)"
    return f"{team.nickname} Timeout: Regular (Reg.{p.n['timeouts']} Short 0)"


# --- stats.nba PlayByPlayV2 -------------------------------------------------------------------------
V2_HEADERS = ["GAME_ID", "EVENTNUM", "EVENTMSGTYPE", "EVENTMSGACTIONTYPE", "PERIOD", "WCTIMESTRING",
              "PCTIMESTRING", "HOMEDESCRIPTION", "NEUTRALDESCRIPTION", "VISITORDESCRIPTION", "SCORE",
              "SCOREMARGIN"] + [f"{a}{i}{b}" for i in (1, 2, 3) for a, b in (
                  ("PERSON", "TYPE"), ("PLAYER", "_ID"), ("PLAYER", "_NAME"), ("PLAYER", "_TEAM_ID"),
                  ("PLAYER", "_TEAM_CITY"), ("PLAYER", "_TEAM_NICKNAME"),
                  ("PLAYER", "_TEAM_ABBREVIATION"))] + ["VIDEO_AVAILABLE_FLAG"]


def v2_doc(game: GameResult) -> dict[str, Any]:
    rows = []
    eventnum = 1

    def person(pl: Player | None, side: str | None, team_only: bool = False) -> list[Any]:
        if side is None or (pl is None and not team_only):
            return [0, 0, None, None, None, None, None]
        team = _team(game, side)
        if pl is None:
            return [2 if side == "home" else 3, team.team_id, None, None, None, None, None]
        return [4 if side == "home" else 5, pl.pid, pl.name, team.team_id, team.city, team.nickname,
                team.tricode]

    for p in game.plays:
        if p.kind == "game_end":
            continue
        eventnum += 1 + (p.seq % 5 == 3) + (p.seq % 11 == 7)
        side = p.side
        opp = other(side) if side else None
        descs: dict[str, str | None] = {"home": None, "away": None}
        msg, act, score = 0, 0, False
        p1, p2, p3 = person(None, None), person(None, None), person(None, None)
        video = 1
        if p.kind == "period_start":
            msg, score, video = 12, p.period > 1, 0
        elif p.kind == "period_end":
            msg, score = 13, True
        elif p.kind == "jump_ball":
            msg = 10
            assert p.player and p.other and p.tip_to and p.sub
            descs["home"] = (f"Jump Ball {p.player.last_ascii} vs. {p.other.last_ascii}: "
                             f"Tip to {p.tip_to.last_ascii}")
            p1, p2, p3 = person(p.player, "home"), person(p.other, "away"), person(p.tip_to, p.sub)
        elif p.kind == "shot":
            msg, act = (1 if p.made else 2), SHOTS[p.shot][3]
            descs[side] = _shot_desc_v2(p)  # type: ignore[index]
            p1, score = person(p.player, side), p.made
            if p.assist:
                p2 = person(p.assist, side)
            if p.block:
                descs[opp] = f"{p.block.last_ascii} BLOCK ({p.n['block_blk']} BLK)"  # type: ignore[index]
                p3 = person(p.block, opp)
        elif p.kind == "free_throw":
            msg, act, score = 3, FT_CODE[(p.ft_n, p.ft_of)], p.made
            assert p.player
            descs[side] = (f"{p.player.last_ascii} Free Throw {p.ft_n} of {p.ft_of} ({p.n['p_pts']} PTS)"  # type: ignore[index]
                           if p.made else f"MISS {p.player.last_ascii} Free Throw {p.ft_n} of {p.ft_of}")
            p1 = person(p.player, side)
        elif p.kind == "rebound":
            msg = 4
            if p.player is None:
                team = _team(game, side)  # type: ignore[arg-type]
                name = team.nickname.upper() if side == "home" else team.nickname
                descs[side], act, p1 = f"{name} Rebound", 1, person(None, side, team_only=True)  # type: ignore[index]
                video = 0
            else:
                descs[side] = f"{p.player.last_ascii} REBOUND (Off:{p.n['p_off']} Def:{p.n['p_def']})"  # type: ignore[index]
                p1 = person(p.player, side)
        elif p.kind == "turnover":
            assert p.player
            msg, (act, text) = 5, TO_V2[p.sub]
            descs[side] = f"{p.player.last_ascii} {text} Turnover (P{p.n['p_to']}.T{p.n['team_to']})"  # type: ignore[index]
            p1 = person(p.player, side)
            if p.steal:
                descs[opp] = f"{p.steal.last_ascii} STEAL ({p.n['steal_stl']} STL)"  # type: ignore[index]
                p2 = person(p.steal, opp)
            else:
                p3 = [1, 0, None, None, None, None, None]
        elif p.kind == "foul":
            assert p.player and p.other
            msg, (act, text) = 6, FOUL_V2[p.sub]
            counts = f"(P{p.n['p_pf']})" if p.sub == "offensive" else f"(P{p.n['p_pf']}.T{p.n['team_fouls']})"
            descs[side] = f"{p.player.last_ascii} {text} {counts} ({_ref(p)})"  # type: ignore[index]
            p1, p2 = person(p.player, side), person(p.other, other(side))  # type: ignore[arg-type]
            p3 = [1, 0, None, None, None, None, None]
        elif p.kind == "substitution":
            assert p.player and p.other
            msg = 8
            descs[side] = f"SUB: {p.player.last_ascii} FOR {p.other.last_ascii}"  # type: ignore[index]
            p1, p2, video = person(p.other, side), person(p.player, side), 0
        elif p.kind == "timeout":
            msg, act, video = 9, 1, 0
            descs[side] = _timeout_desc(game, p)  # type: ignore[index]
            p1 = person(None, side, team_only=True)
        elif p.kind == "replay":
            msg, act, score, video = 18, 4, True, 0
            assert p.referee
            p1 = [0, p.referee[0], p.referee[1], None, None, None, None]
            p3 = [1, 0, None, None, None, None, None]
        pc = int(p.clock_s)
        margin = p.score_home - p.score_away
        rows.append([game.game_id, eventnum, msg, act, p.period, _hm(game, p.wall),
                     f"{pc // 60}:{pc % 60:02d}", descs["home"], None, descs["away"],
                     f"{p.score_away} - {p.score_home}" if score else None,
                     ("TIE" if margin == 0 else str(margin)) if score else None,
                     *p1, *p2, *p3, video])
    return {"resource": "playbyplay",
            "parameters": {"GameID": game.game_id, "StartPeriod": 0, "EndPeriod": 10},
            "resultSets": [{"name": "PlayByPlay", "headers": V2_HEADERS, "rowSet": rows},
                           {"name": "AvailableVideo", "headers": ["VIDEO_AVAILABLE_FLAG"],
                            "rowSet": [[1]]}]}


# --- stats.nba PlayByPlayV3 -------------------------------------------------------------------------
def v3_doc(game: GameResult) -> dict[str, Any]:
    actions: list[dict[str, Any]] = []
    number = 1

    def action(p: Play, side: str | None, pl: Player | None, desc: str, atype: str, sub: str,
               scored: bool = False, shot: bool = False, team_row: bool = False,
               shot_value: int = 0) -> None:
        nonlocal number
        number += 1 + (p.seq % 4 == 1)
        team = _team(game, side) if side else None
        is_fg = shot and p.player is pl
        actions.append({
            "actionNumber": number, "clock": _iso_clock(p.clock_s), "period": p.period,
            "teamId": 0 if team_row or not team else team.team_id,
            "teamTricode": "" if team_row or not team else team.tricode,
            "personId": team.team_id if team_row and team else (pl.pid if pl else 0),
            "playerName": pl.last if pl else "", "playerNameI": pl.initial_name if pl else "",
            "xLegacy": int(round(p.x * 10)) if is_fg else 0,
            "yLegacy": int(round((p.y - 5.25) * 10)) if is_fg else 0,
            "shotDistance": p.distance if is_fg else 0,
            "shotResult": ("Made" if p.made else "Missed") if is_fg else "",
            "isFieldGoal": 1 if is_fg else 0,
            "scoreHome": str(p.score_home) if scored else "",
            "scoreAway": str(p.score_away) if scored else "",
            "pointsTotal": p.score_home + p.score_away if scored else 0,
            "location": ("h" if side == "home" else "v") if side else "",
            "description": desc, "actionType": atype, "subType": sub,
            "videoAvailable": 0 if atype in ("period", "Substitution", "Timeout") else 1,
            "shotValue": shot_value, "actionId": len(actions) + 1})

    for p in game.plays:
        side = p.side
        opp = other(side) if side else None
        pl = p.player
        if p.kind == "period_start":
            action(p, None, None, f"Start of {_period_name(p.period)} ({_hm(game, p.wall)} "
                   f"{_local(game, p.wall).tzname()})", "period", "start", scored=True)
        elif p.kind == "period_end":
            action(p, None, None, f"End of {_period_name(p.period)} ({_hm(game, p.wall)} "
                   f"{_local(game, p.wall).tzname()})", "period", "end", scored=True)
        elif p.kind == "jump_ball":
            assert pl and p.other and p.tip_to
            action(p, "home", pl, f"Jump Ball {pl.last_ascii} vs. {p.other.last_ascii}: Tip to "
                   f"{p.tip_to.last_ascii}", "Jump Ball", "")
        elif p.kind == "shot":
            action(p, side, pl, _shot_desc_v2(p), "Made Shot" if p.made else "Missed Shot",
                   SHOTS[p.shot][4], scored=p.made, shot=True, shot_value=SHOTS[p.shot][0])
            if p.block:
                action(p, opp, p.block, f"{p.block.last_ascii} BLOCK ({p.n['block_blk']} BLK)", "", "",
                       shot_value=SHOTS[p.shot][0])
        elif p.kind == "free_throw":
            assert pl
            desc = (f"{pl.last_ascii} Free Throw {p.ft_n} of {p.ft_of} ({p.n['p_pts']} PTS)" if p.made
                    else f"MISS {pl.last_ascii} Free Throw {p.ft_n} of {p.ft_of}")
            action(p, side, pl, desc, "Free Throw", f"Free Throw {p.ft_n} of {p.ft_of}", scored=p.made)
        elif p.kind == "rebound":
            if pl is None:
                team = _team(game, side)  # type: ignore[arg-type]
                action(p, side, None, f"{team.nickname.upper() if side == 'home' else team.nickname} "
                       "Rebound", "Rebound", "Unknown")
            else:
                action(p, side, pl, f"{pl.last_ascii} REBOUND (Off:{p.n['p_off']} Def:{p.n['p_def']})",
                       "Rebound", "Unknown")
        elif p.kind == "turnover":
            assert pl
            action(p, side, pl, f"{pl.last_ascii} {TO_V2[p.sub][1]} Turnover (P{p.n['p_to']}."
                   f"T{p.n['team_to']})", "Turnover", TO_V3[p.sub])
            if p.steal:
                action(p, opp, p.steal, f"{p.steal.last_ascii} STEAL ({p.n['steal_stl']} STL)", "", "")
        elif p.kind == "foul":
            assert pl
            counts = f"(P{p.n['p_pf']})" if p.sub == "offensive" else f"(P{p.n['p_pf']}.T{p.n['team_fouls']})"
            action(p, side, pl, f"{pl.last_ascii} {FOUL_V2[p.sub][1]} {counts} ({_ref(p)})", "Foul",
                   p.sub.title())
        elif p.kind == "substitution":
            assert pl and p.other
            action(p, side, p.other, f"SUB: {pl.last_ascii} FOR {p.other.last_ascii}", "Substitution", "")
        elif p.kind == "timeout":
            action(p, side, None, _timeout_desc(game, p), "Timeout", "Regular", team_row=True)
        elif p.kind == "replay":
            assert p.referee
            first, last = p.referee[1].split(" ", 1)
            actions.append({
                "actionNumber": number + 1, "clock": _iso_clock(p.clock_s), "period": p.period,
                "teamId": 0, "teamTricode": "", "personId": p.referee[0], "playerName": last,
                "playerNameI": f"{first[0]}. {last}", "xLegacy": 0, "yLegacy": 0, "shotDistance": 0,
                "shotResult": "", "isFieldGoal": 0, "scoreHome": str(p.score_home),
                "scoreAway": str(p.score_away), "pointsTotal": p.score_home + p.score_away,
                "location": "", "description": f"Instant Replay{_period_name(p.period)} "
                f"({_hm(game, p.wall)} {_local(game, p.wall).tzname()})",
                "actionType": "Instant Replay", "subType": p.sub, "videoAvailable": 0,
                "shotValue": 0, "actionId": len(actions) + 1})
            number += 1
    return {"meta": {"version": 1, "request": f"http://nba.cloud/games/{game.game_id}/playbyplay?Format=json",
                     "time": _utc(game.plays[-1].wall + 5400, tenths=False)},
            "game": {"gameId": game.game_id, "videoAvailable": 1, "actions": actions}}


# --- cdn.nba.com liveData ---------------------------------------------------------------------------
CDN_TO = {"bad pass": ("bad pass", None), "lost ball": ("lost ball", None),
          "traveling": ("traveling", None), "offensive foul": ("offensive foul", None),
          "out of bounds": ("out-of-bounds", "lost ball"), "step out of bounds": ("out-of-bounds", "step")}


def cdn_doc(game: GameResult) -> dict[str, Any]:
    actions: list[dict[str, Any]] = []
    number = 1

    def base(p: Play, team_side: str | None, atype: str, sub: str | None, pl: Player | None,
             possession: str | None, delay: float = 0.0, **extra: Any) -> dict[str, Any]:
        nonlocal number
        number += 1 + (p.seq % 3 == 2)
        wall = p.wall + delay
        a: dict[str, Any] = {"actionNumber": number, "clock": _iso_clock(p.clock_s),
                             "timeActual": _utc(wall, tenths=True), "period": p.period,
                             "periodType": "REGULAR" if p.period <= 4 else "OVERTIME"}
        if team_side:
            team = _team(game, team_side)
            a["teamId"], a["teamTricode"] = team.team_id, team.tricode
        a["actionType"] = atype
        if sub is not None:
            a["subType"] = sub
        if "descriptor" in extra:
            a["descriptor"] = extra.pop("descriptor")
        a["qualifiers"] = extra.pop("qualifiers", [])
        a["personId"] = pl.pid if pl else 0
        a["x"], a["y"] = extra.pop("xy", (None, None))
        a["side"] = extra.pop("side", None)
        if "shotDistance" in extra:
            a["shotDistance"] = extra.pop("shotDistance")
        a["possession"] = _team(game, possession).team_id if possession else 0
        a["scoreHome"], a["scoreAway"] = str(p.score_home), str(p.score_away)
        a["edited"] = _utc(wall + 3 + (p.seq * 7) % 19, tenths=False)
        if "officialId" in extra:
            a["officialId"] = extra.pop("officialId")
        a["orderNumber"] = number * 10000
        xl = extra.pop("xyLegacy", (None, None))
        a["xLegacy"], a["yLegacy"] = xl
        a["isFieldGoal"] = extra.pop("isFieldGoal", 0)
        a.update(extra)
        if pl:
            a["playerName"], a["playerNameI"] = pl.last, pl.initial_name
        ids = [pl.pid] if pl else []
        for key in ("assistPersonId", "blockPersonId", "stealPersonId", "foulDrawnPersonId",
                    "jumpBallLostPersonId"):
            if key in a:
                ids.append(a[key])
        a["personIdsFilter"] = ids
        actions.append(a)
        return a

    for p in game.plays:
        side, pl = p.side, p.player
        opp = other(side) if side else None
        if p.kind in ("period_start", "period_end"):
            base(p, None, "period", p.kind.split("_")[1], None, None,
                 description="Period Start" if p.kind == "period_start" else "Period End")
        elif p.kind == "game_end":
            base(p, None, "game", "end", None, None, description="Game End")
        elif p.kind == "jump_ball":
            assert pl and p.other and p.tip_to and p.sub
            won, lost = (pl, p.other) if p.sub == "home" else (p.other, pl)
            base(p, p.sub, "jumpball", "recovered", p.tip_to, p.sub, descriptor="startperiod",
                 jumpBallRecoveredName=p.tip_to.last, jumpBallRecoverdPersonId=p.tip_to.pid,
                 jumpBallWonPlayerName=won.last, jumpBallWonPersonId=won.pid,
                 description=f"Jump Ball {pl.initial_name} vs. {p.other.initial_name}: Tip to "
                 f"{p.tip_to.initial_name}",
                 jumpBallLostPlayerName=lost.last, jumpBallLostPersonId=lost.pid)
        elif p.kind == "shot":
            assert pl
            value, family, _, _, _, sub, descriptor, _, _, _ = SHOTS[p.shot]
            court_side = "left" if (p.period + (side == "home")) % 2 else "right"
            fx = p.y / 94 * 100 if court_side == "left" else 100 - p.y / 94 * 100
            fy = 50 + p.x / 50 * 100
            quals = []
            if value == 2 and p.distance <= 8:
                quals.append("pointsinthepaint")
            if "fastbreak" in p.tags:
                quals.append("fastbreak")
            if "putback" in p.tags:
                quals.append("2ndchance")
            name = pl.initial_name
            dist = f"{p.distance}' " if p.distance >= 3 else ""
            what = f"3PT {descriptor}".strip() if value == 3 else f"{descriptor or ''} {sub}".strip()
            extra: dict[str, Any] = {}
            if p.made:
                desc = f"{name} {dist}{what} ({p.n['p_pts']} PTS)"
                extra.update(shotResult="Made", pointsTotal=p.n["p_pts"])
                if p.assist:
                    desc += f" ({p.assist.initial_name} {p.n['assist_ast']} AST)"
                extra.update(description=desc, playerName=pl.last, playerNameI=pl.initial_name)
                if p.assist:
                    extra.update(assistPlayerNameInitial=p.assist.initial_name,
                                 assistPersonId=p.assist.pid, assistTotal=p.n["assist_ast"])
            else:
                desc = f"MISS {name} {dist}{what}" + (" - blocked" if p.block else "")
                extra.update(shotResult="Missed", description=desc, playerName=pl.last,
                             playerNameI=pl.initial_name)
                if p.block:
                    extra.update(blockPlayerName=p.block.last, blockPersonId=p.block.pid)
            kw = {"descriptor": descriptor} if descriptor else {}
            base(p, side, f"{value}pt", sub, pl, side, qualifiers=quals, xy=(round(fx, 4), round(fy, 4)),
                 side=court_side, shotDistance=round(p.distance + (p.seq % 97) / 100, 2),
                 xyLegacy=(int(round(p.x * 10)), int(round((p.y - 5.25) * 10))), isFieldGoal=1,
                 **kw, **extra)
            if p.block:
                base(p, opp, "block", None, p.block, side,
                     description=f"{p.block.initial_name} BLOCK ({p.n['block_blk']} BLK)")
        elif p.kind == "free_throw":
            assert pl
            extra = {"shotResult": "Made" if p.made else "Missed"}
            if p.made:
                extra["pointsTotal"] = p.n["p_pts"]
            desc = (f"{pl.initial_name} Free Throw {p.ft_n} of {p.ft_of} ({p.n['p_pts']} PTS)"
                    if p.made else f"MISS {pl.initial_name} Free Throw {p.ft_n} of {p.ft_of}")
            base(p, side, "freethrow", f"{p.ft_n} of {p.ft_of}", pl, side, description=desc, **extra)
        elif p.kind == "rebound":
            if pl is None:
                base(p, side, "rebound", p.sub, None, side, qualifiers=["team"],
                     description=f"TEAM {p.sub} REBOUND")
            else:
                base(p, side, "rebound", p.sub, pl, side,
                     reboundTotal=p.n["p_off"] + p.n["p_def"], reboundDefensiveTotal=p.n["p_def"],
                     reboundOffensiveTotal=p.n["p_off"],
                     description=f"{pl.initial_name} REBOUND (Off:{p.n['p_off']} Def:{p.n['p_def']})")
        elif p.kind == "turnover":
            assert pl
            sub, descriptor = CDN_TO[p.sub]
            kw2: dict[str, Any] = {"descriptor": descriptor} if descriptor else {}
            words = " ".join(w for w in (descriptor, sub) if w)
            kw2.update(turnoverTotal=p.n["p_to"],
                       description=f"{pl.initial_name} {words} TURNOVER ({p.n['p_to']} TO)")
            if p.steal:
                kw2.update(stealPlayerName=p.steal.last, stealPersonId=p.steal.pid)
            base(p, side, "turnover", sub, pl, opp, **kw2)
            if p.steal:
                base(p, opp, "steal", None, p.steal, opp,
                     description=f"{p.steal.initial_name} STEAL ({p.n['steal_stl']} STL)")
        elif p.kind == "foul":
            assert pl and p.other and p.referee
            sub = "offensive" if p.sub == "offensive" else "personal"
            descriptor = {"shooting": "shooting", "loose ball": "loose ball"}.get(p.sub)
            kw3: dict[str, Any] = {"descriptor": descriptor} if descriptor else {}
            quals = []
            drawn = ""
            nxt = game.plays[p.seq + 1] if p.seq + 1 < len(game.plays) else None
            if nxt is not None and nxt.kind == "free_throw" and nxt.player is p.other:
                quals.append(f"{nxt.ft_of}freethrow")
                drawn = f" ({p.other.last} {nxt.ft_of} FT)"
            words = " ".join(w for w in (descriptor, sub) if w)
            base(p, side, "foul", sub, pl, opp, qualifiers=quals, officialId=p.referee[0],
                 foulPersonalTotal=p.n["p_pf"], foulTechnicalTotal=0,
                 foulDrawnPlayerName=p.other.last, foulDrawnPersonId=p.other.pid,
                 description=f"{pl.initial_name} {words} FOUL ({p.n['p_pf']} PF){drawn}", **kw3)
        elif p.kind == "substitution":
            assert pl and p.other
            base(p, side, "substitution", "out", p.other, side,
                 description=f"SUB out: {p.other.initial_name}")
            base(p, side, "substitution", "in", pl, side, description=f"SUB in: {pl.initial_name}")
        elif p.kind == "timeout":
            quals = ["team", "mandatory"] if "mandatory" in p.tags else ["team"]
            base(p, side, "timeout", "full", None, side, qualifiers=quals,
                 description=f"{_team(game, side).tricode} Timeout")  # type: ignore[arg-type]
        elif p.kind == "replay":
            base(p, None, "instantreplay", "request", None, None, description="Instant Replay")
    return {"meta": {"version": 1, "code": 200,
                     "request": f"http://nba.cloud/games/{game.game_id}/playbyplay?Format=json",
                     "time": datetime.fromtimestamp(int(game.plays[-1].wall) + 61, tz=timezone.utc)
                     .strftime("%Y-%m-%d %H:%M:%S.%f")},
            "game": {"gameId": game.game_id, "actions": actions}}


# --- ESPN summary -----------------------------------------------------------------------------------
ESPN_SHOT_TYPES = {"jump": 92, "pullup": 132, "stepback": 137, "fadeaway": 109, "float": 146,
                   "hook": 96, "layup": 110, "cutlayup": 119, "reverse": 111, "fingerroll": 113,
                   "putback": 120, "dunk": 116, "cutdunk": 118, "alleyoop": 117, "putbackdunk": 121,
                   "three": 92, "three_pullup": 132, "three_stepback": 137, "heave": 92}
ESPN_TO = {"bad pass": (62, "Bad Pass", "bad pass"), "lost ball": (63, "Lost Ball Turnover", "lost ball turnover"),
           "traveling": (73, "Traveling", "traveling"),
           "offensive foul": (84, "Offensive Foul Turnover", "offensive foul turnover"),
           "out of bounds": (66, "Out of Bounds - Lost Ball Turnover", "out of bounds lost ball turnover"),
           "step out of bounds": (67, "Out of Bounds - Step Turnover", "out of bounds step turnover")}
ESPN_FOUL = {"personal": (45, "Personal Foul"), "shooting": (42, "Shooting Foul"),
             "loose ball": (44, "Loose Ball Foul"), "offensive": (43, "Offensive Foul")}


def _espn_period(period: int) -> str:
    if period <= 4:
        return f"{ORDINAL[period]} Quarter"
    return "OT" if period == 5 else f"{period - 4}OT"


def _espn_clock(clock_s: float) -> str:
    if clock_s < 60:
        return f"{clock_s:.1f}"
    whole = int(clock_s)
    return f"{whole // 60}:{whole % 60:02d}"


def espn_doc(game: GameResult) -> dict[str, Any]:
    espn_game = "4019" + game.game_id[1:].rjust(5, "0")
    plays_out: list[dict[str, Any]] = []
    seqnum = 0
    for p in game.plays:
        side, pl = p.side, p.player
        if p.kind == "period_start":
            continue  # ESPN has no period-start play
        ptype: tuple[int, str]
        parts: list[Player] = []
        shooting, coord = False, dict(ESPN_SENTINEL)
        if p.kind == "jump_ball":
            assert pl and p.other and p.tip_to
            ptype, text, parts = (615, "Jump Ball"), (f"{pl.name} vs. {p.other.name} "
                                                     f"({p.tip_to.name} gains possession)"), [pl, p.other, p.tip_to]
            side = p.sub
        elif p.kind == "shot":
            assert pl
            what = SHOTS[p.shot][7]
            dist = f"{p.distance}-foot " if p.distance else ""
            ptype = (ESPN_SHOT_TYPES[p.shot], SHOTS[p.shot][2].replace("3PT ", "").title())
            if p.block:
                text = f"{p.block.name} blocks {pl.name} 's {dist}{what}"
                parts = [pl, p.block]
            else:
                text = f"{pl.name} {'makes' if p.made else 'misses'} {dist}{what}"
                parts = [pl]
                if p.assist:
                    text += f" ({p.assist.name} assists)"
                    parts.append(p.assist)
            shooting = True
            coord = {"x": int(round(25 + p.x)), "y": int(round(p.y))}
        elif p.kind == "free_throw":
            assert pl
            ptype = (96 + {(1, 1): 1, (1, 2): 2, (2, 2): 3, (1, 3): 4, (2, 3): 5, (3, 3): 6}[(p.ft_n, p.ft_of)],
                     f"Free Throw - {p.ft_n} of {p.ft_of}")
            text = f"{pl.name} {'makes' if p.made else 'misses'} free throw {p.ft_n} of {p.ft_of}"
            parts, shooting = [pl], True
        elif p.kind == "rebound":
            off = p.sub == "offensive"
            if pl is None:
                ptype = (157 if off else 158, f"{p.sub.title()} Team Rebound")
                text = f"{_team(game, side).nickname} {p.sub} team rebound"  # type: ignore[arg-type]
            else:
                ptype, text, parts = (156 if off else 155, f"{p.sub.title()} Rebound"), \
                    f"{pl.name} {p.sub} rebound", [pl]
        elif p.kind == "turnover":
            assert pl
            tid, ttext, words = ESPN_TO[p.sub]
            ptype, text, parts = (tid, ttext), f"{pl.name} {words}", [pl]
            if p.steal:
                text += f" ({p.steal.name} steals)"
                parts.append(p.steal)
        elif p.kind == "foul":
            assert pl and p.other
            fid, ftext = ESPN_FOUL[p.sub]
            ptype, text, parts = (fid, ftext), f"{pl.name} {ftext.lower()}", [pl, p.other]
        elif p.kind == "substitution":
            assert pl and p.other
            ptype, text, parts = (584, "Substitution"), f"{pl.name} enters the game for {p.other.name}", [pl, p.other]
        elif p.kind == "timeout":
            ptype = (16, "Full Timeout")
            text = f"{_team(game, side).nickname} Full timeout"  # type: ignore[arg-type]
        elif p.kind == "replay":
            ptype, text = (259, "Instant Replay"), "Instant replay review"
        elif p.kind == "period_end":
            ptype = (412, "End Period")
            text = f"End of the {_espn_period(p.period)}" if p.period <= 4 else f"End of {_espn_period(p.period)}"
        elif p.kind == "game_end":
            ptype, text = (402, "End Game"), "End of Game"
        else:
            continue
        seqnum += 1 + (p.seq % 6 == 5)
        item: dict[str, Any] = {
            "id": f"{espn_game}{seqnum}", "sequenceNumber": str(seqnum),
            "type": {"id": str(ptype[0]), "text": ptype[1]}, "text": text,
            "awayScore": p.score_away, "homeScore": p.score_home,
            "period": {"number": p.period, "displayValue": _espn_period(p.period)},
            "clock": {"displayValue": _espn_clock(p.clock_s)},
            "scoringPlay": p.points > 0, "scoreValue": p.points}
        if side:
            item["team"] = {"id": _team(game, side).espn_id}
        if parts:
            item["participants"] = [{"athlete": {"id": a.espn_id}} for a in parts]
        item.update({"wallclock": _utc(p.wall, tenths=False), "shootingPlay": shooting,
                     "coordinate": coord})
        plays_out.append(item)

    last = game.plays[-1]
    final = {"home": last.score_home, "away": last.score_away}

    def linescores(side: str) -> list[dict[str, str]]:
        out, prev = [], 0
        for p in game.plays:
            if p.kind == "period_end":
                now = p.score_home if side == "home" else p.score_away
                out.append({"displayValue": str(now - prev)})
                prev = now
        return out

    def team_obj(t: Team) -> dict[str, Any]:
        return {"id": t.espn_id, "uid": f"s:40~l:46~t:{t.espn_id}", "location": t.city,
                "name": t.nickname, "abbreviation": t.tricode, "displayName": t.name,
                "shortDisplayName": t.nickname}

    def boxscore_team(side: str) -> dict[str, Any]:
        t = _team(game, side)
        athletes = []
        for k, a in enumerate(t.players):
            pts = max((p.n.get("p_pts", 0) for p in game.plays if p.player is a), default=0)
            athletes.append({"athlete": {"id": a.espn_id, "uid": f"s:40~l:46~a:{a.espn_id}",
                                         "displayName": a.name,
                                         "shortDisplayName": f"{a.first[0]}. {a.last}",
                                         "jersey": a.jersey, "position": {"abbreviation": a.pos}},
                             "starter": k < 5, "didNotPlay": False, "stats": [str(pts)]})
        return {"team": team_obj(t), "statistics": [{"names": ["PTS"], "keys": ["points"],
                                                     "athletes": athletes}]}

    sched = _local(game, game.plays[0].wall).replace(second=0)
    sched = sched.replace(minute=0 if sched.minute < 30 else 30)
    competitors = [{"id": _team(game, s).espn_id, "uid": f"s:40~l:46~t:{_team(game, s).espn_id}",
                    "order": k, "homeAway": s, "winner": final[s] > final[other(s)],
                    "team": team_obj(_team(game, s)), "score": str(final[s]),
                    "linescores": linescores(s)} for k, s in enumerate(("home", "away"))]
    detail = "Final" if last.period <= 4 else f"Final/{_espn_period(last.period)}"
    return {
        "boxscore": {"teams": [{"team": team_obj(_team(game, s)), "homeAway": s} for s in ("away", "home")],
                     "players": [boxscore_team("away"), boxscore_team("home")]},
        "gameInfo": {"venue": {"fullName": f"{game.home.city} Arena"}, "attendance": 17000 + int(last.wall) % 3000},
        "header": {"id": espn_game, "uid": f"s:40~l:46~e:{espn_game}",
                   "season": {"year": 2026, "type": 2},
                   "competitions": [{"id": espn_game, "uid": f"s:40~l:46~e:{espn_game}~c:{espn_game}",
                                     "date": sched.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%MZ"),
                                     "neutralSite": False, "competitors": competitors,
                                     "status": {"type": {"completed": True, "description": "Final",
                                                         "detail": detail}}}],
                   "league": {"id": "46", "abbreviation": "NBA"}},
        "plays": plays_out,
    }


# --- comments ---------------------------------------------------------------------------------------
def _subreddit_id(name: str) -> str:
    if name == "nba":
        return "t5_2qo4s"
    digits = sum(ord(ch) * (k + 1) for k, ch in enumerate(name))
    return "t5_" + "".join("abcdefghijklmnopqrstuvwxyz0123456789"[(digits // 36 ** k) % 36] for k in range(5))


def _compact(obj: Any) -> str:
    """Dumps and the Reddit API write compact UTF-8 JSON."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def reddit_obj(c: Comment, created_as_str: bool = False, retrieved_delay: int = 0) -> dict[str, Any]:
    """A comment as Pushshift / Arctic Shift dumps write it."""
    return {
        "id": c.id, "name": f"t1_{c.id}", "link_id": f"t3_{c.thread}", "parent_id": c.parent,
        "body": c.body, "author": c.author, "author_flair_text": c.flair,
        "author_flair_css_class": c.flair_css,
        "created_utc": str(c.created) if created_as_str else c.created,
        "score": c.score, "ups": c.score, "downs": 0, "controversiality": int(c.score < 0),
        "gilded": 0, "distinguished": c.distinguished, "stickied": c.stickied,
        "subreddit": c.subreddit, "subreddit_id": _subreddit_id(c.subreddit),
        "retrieved_on": c.created + 1800 + retrieved_delay, "edited": c.edited,
        "archived": False, "score_hidden": False,
    }


def write_comments(path: Path, thread: Thread, comments: list[Comment], rng: random.Random) -> None:
    if thread.fmt in ("ndjson", "ndjson_str", "ndjson_zst"):
        data = _ndjson(comments, rng, created_as_str=thread.fmt == "ndjson_str").encode("utf-8")
        if thread.fmt == "ndjson_zst":
            data = zstandard.ZstdCompressor(level=10).compress(data)
        path.write_bytes(data)
    elif thread.fmt == "csv":
        path.write_bytes(_csv(thread, comments, rng).encode("utf-8-sig"))
    elif thread.fmt == "listing":
        path.write_text(_compact(_listing(thread, comments)), encoding="utf-8")
    else:
        raise ValueError(f"unknown comment format {thread.fmt!r}")


def _ndjson(comments: list[Comment], rng: random.Random, created_as_str: bool) -> str:
    order = list(comments)
    for i in range(len(order) - 1):  # dumps are only roughly time-ordered
        if rng.random() < 0.1:
            order[i], order[i + 1] = order[i + 1], order[i]
    lines = [_compact(reddit_obj(c, created_as_str)) for c in order]
    for i in sorted(rng.sample(range(len(order)), max(1, len(order) // 70)), reverse=True):
        c = order[i]
        # the same comment captured twice: sometimes verbatim, sometimes with a later score
        obj = reddit_obj(c, created_as_str, retrieved_delay=rng.choice((0, 86400)))
        if obj["retrieved_on"] != c.created + 1800:
            obj["score"] = obj["ups"] = c.score + rng.randint(1, 20)
        lines.insert(min(len(lines), i + rng.randint(3, 40)), _compact(obj))
    return "\n".join(lines) + "\n"


def _csv(thread: Thread, comments: list[Comment], rng: random.Random) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["id", "parentId", "postId", "body", "createdAt", "upVotes", "username",
                "communityName", "numberOfreplies", "url"])
    replies: dict[str, int] = {}
    for c in comments:
        replies[c.parent] = replies.get(c.parent, 0) + 1
    rows = []
    for c in comments:
        created = datetime.fromtimestamp(c.created, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        rows.append([f"t1_{c.id}", c.parent, f"t3_{c.thread}", c.body, created, c.score, c.author,
                     f"r/{c.subreddit}", replies.get(f"t1_{c.id}", 0),
                     f"https://www.reddit.com/r/{c.subreddit}/comments/{c.thread}/comment/{c.id}/"])
    for i in sorted(rng.sample(range(len(rows)), max(1, len(rows) // 100)), reverse=True):
        rows.insert(i + 1, list(rows[i]))
    w.writerows(rows)
    return buf.getvalue()


def _listing(thread: Thread, comments: list[Comment]) -> list[dict[str, Any]]:
    children: dict[str, list[Comment]] = {}
    for c in comments:
        children.setdefault(c.parent, []).append(c)

    def node(c: Comment, depth: int) -> dict[str, Any]:
        data = reddit_obj(c)
        del data["retrieved_on"]
        data["created_utc"] = float(c.created)
        data["created"] = float(c.created)
        data["depth"] = depth
        data["permalink"] = f"/r/{c.subreddit}/comments/{c.thread}/game_thread/{c.id}/"
        kids = sorted(children.get(f"t1_{c.id}", []), key=lambda k: (k.created, k.id))
        data["replies"] = level(kids, f"t1_{c.id}", depth + 1) if kids else ""
        return {"kind": "t1", "data": data}

    def level(items: list[Comment], parent: str, depth: int) -> dict[str, Any]:
        shown = [node(c, depth) for c in items if not c.hidden]
        hidden = [c for c in items if c.hidden]
        if hidden:
            shown.append({"kind": "more", "data": {
                "count": len(hidden), "name": f"t1_{hidden[0].id}", "id": hidden[0].id,
                "parent_id": parent, "depth": depth, "children": [c.id for c in hidden]}})
        return {"kind": "Listing", "data": {"after": None, "dist": None, "modhash": "",
                                            "geo_filter": "", "children": shown, "before": None}}

    top = sorted(children.get(f"t3_{thread.id}", []), key=lambda c: (-c.created, c.id))
    stickied = [c for c in top if c.stickied]
    top = stickied + [c for c in top if not c.stickied]
    post = {"kind": "t3", "data": {
        "id": thread.id, "name": f"t3_{thread.id}", "title": thread.title,
        "author": "nba-gamethread-bot" if thread.subreddit == "nba" else "AutoModerator",
        "subreddit": thread.subreddit, "subreddit_id": _subreddit_id(thread.subreddit),
        "selftext": "", "link_flair_text": "Game Thread", "created_utc": float(thread.created),
        "num_comments": len(comments), "score": 40 + len(comments) // 5, "over_18": False,
        "permalink": f"/r/{thread.subreddit}/comments/{thread.id}/game_thread/",
        "url": f"https://www.reddit.com/r/{thread.subreddit}/comments/{thread.id}/game_thread/"}}
    return [{"kind": "Listing", "data": {"after": None, "dist": 1, "modhash": "", "geo_filter": "",
                                         "children": [post], "before": None}},
            level(top, f"t3_{thread.id}", 0)]

