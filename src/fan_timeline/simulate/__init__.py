"""Synthetic sample data: games, their fans' threads and gold timelines, in the real raw formats.

Reddit text and most play-by-play are not ours to redistribute, so the sample data shipped with
the repo is invented here, deterministically (every draw from a `random.Random` seeded by the
seed and the game's index: the same call writes the same bytes):

- `league`: teams and rosters drawn anew for every game from large pools of names;
- `engine`: a possession-level game with a game clock and a wall clock;
- `formats`: the play-by-play and comment files in the real formats;
- `fans`: the threads (the league's and the teams' own) reacting to the canonical plays;
- `gold`: which plays mattered, and how each audience felt about them;
- `cli`: `fan-timeline simulate`, also over a real play-by-play file (`--pbp`).

Nothing outside the sample-data tooling imports this package.
"""
