"""`fan-timeline` command line: the tools around the DVC pipeline.

    fan-timeline simulate --games 12 --seed 7 --out data/raw/sample
    fan-timeline serve --model models/export                   # API + web page on http://127.0.0.1:8000
    fan-timeline generate --pbp pbp.json --comments thread.ndjson --game game.json --out timeline.json
    fan-timeline demo                                          # pick a sample game, read its timeline

serve, generate and demo load the model once and go through fan_timeline.service, the code the
server uses. Every argument is checked before the model loads (a typo costs no load), and
generate reads the game, and checks the --audience and --windows asked of it, first too. The
pipeline stages themselves run through `dvc repro` (see dvc.yaml).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
from pathlib import Path
from typing import Any, TextIO

from rich.markup import escape

from fan_timeline.tables import COMMENT_FORMATS, PBP_FORMATS

DEFAULT_MODEL = "models/export"
DEFAULT_SAMPLES = "data/raw/sample"


def _number(low: float, high: float = float("inf"), kind: type = int):
    """An argparse type: a number of `kind` from `low` to `high` ("must be >= 1, not 0")."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None
        if not value >= low:   # also refuses nan
            raise argparse.ArgumentTypeError(f"must be >= {low}, not {text}")
        if value > high:
            raise argparse.ArgumentTypeError(f"must be <= {high}, not {text}")
        return value
    return parse


def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=DEFAULT_MODEL,
                   help="export directory (default models/export), another checkpoint directory, or "
                        "embedded:SmolLM2-135M-Instruct for the untrained base model")
    p.add_argument("--params", type=Path, default=None,
                   help="params.yaml whose ingest and build_sft sections read and window games "
                        "(default: the ones the export recorded in provenance.json, else the config defaults)")
    p.add_argument("--batch-size", type=_number(1), default=8, help="windows generated together")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fan-timeline", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("simulate", help="write deterministic synthetic games in the real raw formats", add_help=False)

    serve = sub.add_parser("serve", help="HTTP API and web page (set $FAN_TIMELINE_API_KEY to require a key)")
    _add_model_args(serve)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=_number(0, 65535), default=8000)
    serve.add_argument("--max-queue", type=_number(0), default=8,
                       help="requests that may wait while one generates; more get 503 + Retry-After")
    serve.add_argument("--max-body-mb", type=_number(0.001, 2**20, kind=float), default=50.0,
                       help="largest request body (MiB)")
    serve.add_argument("--max-inflight-mb", type=_number(0.001, 2**20, kind=float), default=128.0,
                       help="request bodies in the server at once (MiB, at least --max-body-mb): what bounds the "
                            "memory requests take; a request beyond it gets 503 + Retry-After before it is read")
    serve.add_argument("--samples", help=f"game directories the page offers (default {DEFAULT_SAMPLES})")

    gen = sub.add_parser("generate", help="timeline JSON of one game's raw files")
    _add_model_args(gen)
    gen.add_argument("--pbp", type=Path, help="play-by-play file (any format ingest reads)")
    gen.add_argument("--comments", type=Path, nargs="*", default=[],
                     help="comment files, or a directory of them")
    gen.add_argument("--game", type=Path, help="game.json: teams, local date and time zone, tip-off")
    gen.add_argument("--game-dir", type=Path, help="a raw game directory (pbp.*, comments/, game.json) instead")
    gen.add_argument("--pbp-format", choices=PBP_FORMATS)
    gen.add_argument("--comment-format", choices=COMMENT_FORMATS)
    gen.add_argument("--windows", help="comma-separated window indexes (default: the whole game)")
    gen.add_argument("--audience", help='whose comments and feeling, e.g. "r/nba" or a team\'s "r/clevelandcavs" '
                                        "(default: the game's largest audience)")
    gen.add_argument("--out", type=Path, help="write the JSON here (default: stdout)")
    gen.add_argument("--emit-prompts", type=Path, metavar="DIR",
                     help="write each window's chat messages and grounded JSON Schema into DIR, for llama.cpp, "
                          "Ollama, LM Studio or vLLM, instead of generating (the weights are not loaded)")

    demo = sub.add_parser("demo",
                          help="interactive: pick a sample game or give files, read its timeline window by window")
    _add_model_args(demo)
    demo.add_argument("--samples", help=f"game directories to pick from (default {DEFAULT_SAMPLES})")
    return parser


def _check(args: argparse.Namespace) -> str | None:
    """What is wrong with the arguments, found without loading the model (None: nothing)."""
    from fan_timeline.candidates import NO_SUBREDDIT
    from fan_timeline.config import BuildSftConfig, ConfigError, IngestConfig, load_section
    from fan_timeline.model import resolve_base_model

    audience = getattr(args, "audience", None)
    if audience is not None and not (audience == NO_SUBREDDIT or (audience.startswith("r/") and len(audience) > 2)):
        return (f"--audience: {audience!r} is not an audience: give a subreddit as \"r/<name>\" "
                f"(e.g. \"r/{audience.removeprefix('/').removeprefix('r/') or 'nba'}\"), or {NO_SUBREDDIT!r}")
    if args.command == "serve" and args.max_inflight_mb < args.max_body_mb:
        return (f"--max-inflight-mb ({args.max_inflight_mb:g}) must be at least --max-body-mb "
                f"({args.max_body_mb:g}): a body at the limit could never be admitted")
    if getattr(args, "samples", None) is not None and not Path(args.samples).is_dir():
        return f"--samples: {args.samples} is not a directory"
    if args.params is not None:
        try:
            load_section(IngestConfig, args.params)
            load_section(BuildSftConfig, args.params)
        except ConfigError as exc:
            return f"--params: {exc}"
        except OSError as exc:
            return f"--params: {_os_error(exc)}"
    if args.command == "serve":
        try:   # a port in use, or a host that is not this machine's: known now, not after the load
            family, kind, proto, _, address = socket.getaddrinfo(args.host, args.port, type=socket.SOCK_STREAM)[0]
            with socket.socket(family, kind, proto) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)   # as uvicorn binds: TIME_WAIT is no owner
                probe.bind(address)
        except OSError as exc:
            return f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}"
    if args.model == DEFAULT_MODEL and not Path(DEFAULT_MODEL).is_dir():
        return (f"{DEFAULT_MODEL} does not exist: build it with `dvc repro export`, or pass "
                "--model embedded:SmolLM2-135M-Instruct for the untrained base model")
    try:
        resolve_base_model(args.model)   # a directory without config.json, an unknown embedded name
    except (OSError, ValueError) as exc:
        return f"--model: {exc}"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args, rest = parser.parse_known_args(argv)
    if args.command == "simulate":
        from fan_timeline.simulate.cli import main as simulate_main
        return simulate_main(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    # Before torch is imported: spinning OpenMP threads slow everything down on a shared CPU
    # (2 threads ran several times slower than 1 when another process wanted a core).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if args.command == "generate":
        return _generate(args)
    problem = _check(args)
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    args.samples = args.samples or DEFAULT_SAMPLES
    service = _load(args)
    if service is None:
        return 2
    if args.command == "serve":
        from fan_timeline import server

        server.run(service, host=args.host, port=args.port, max_queue=args.max_queue,
                   api_key=os.environ.get(server.API_KEY_ENV) or None,
                   max_body_bytes=int(args.max_body_mb * 2**20), max_inflight_bytes=int(args.max_inflight_mb * 2**20),
                   samples_dir=args.samples)
        return 0
    if args.command == "demo":
        return Demo(service, args.samples, sys.stdin, sys.stdout).run()
    parser.error(f"unknown command {args.command}")
    return 2


def _load(args: argparse.Namespace):
    from fan_timeline.config import ConfigError
    from fan_timeline.service import TimelineService

    print(f"loading {args.model} …", file=sys.stderr)
    try:
        service = TimelineService.load(args.model, params_file=args.params, batch_size=args.batch_size)
    except (OSError, ValueError, ConfigError) as exc:
        print(f"error: cannot load {args.model}: {exc}", file=sys.stderr)
        return None
    p = service.params
    print(f"windows of {p.build_sft.window_s:g} s, params from {p.source}" +
          (f"\nwarning: {p.warning}" if p.warning else ""), file=sys.stderr)
    return service


# --------------------------------------------------------------------------------------------
# generate


def _comment_paths(paths: list[Path]) -> list[Path]:
    out = []
    for p in paths:
        out += sorted(f for f in p.iterdir() if f.is_file() and not f.name.startswith(".")) if p.is_dir() else [p]
    return out


def _read_inputs(args: argparse.Namespace):
    """(pbp RawFile, comment RawFiles, game meta) from the generate arguments; ValueError says what is wrong."""
    from fan_timeline.ingest import IngestError, _load_game_json
    from fan_timeline.samples import find_samples
    from fan_timeline.service import RawFile

    if args.game_dir is not None:
        if args.pbp is not None:
            raise ValueError("give --game-dir or --pbp, not both")
        games = find_samples(args.game_dir)
        if len(games) != 1:
            raise ValueError(f"{args.game_dir}: expected one game directory (with a pbp.* file), found {len(games)}")
        pbp_path, comment_paths, meta = games[0].pbp_file, list(games[0].comment_files), dict(games[0].meta)
    elif args.pbp is not None:
        try:
            pbp_path, comment_paths = args.pbp, _comment_paths(args.comments)
            meta = _load_game_json(args.game) if args.game is not None else {}
        except IngestError as exc:
            raise ValueError(str(exc)) from None
        except OSError as exc:
            raise ValueError(_os_error(exc)) from None
    else:
        raise ValueError("give --pbp FILE (and --comments FILE...), or --game-dir DIR")
    try:
        pbp = RawFile(str(pbp_path), pbp_path.read_bytes(), args.pbp_format)
        comments = [RawFile(str(p), p.read_bytes(), args.comment_format) for p in comment_paths]
    except OSError as exc:
        raise ValueError(_os_error(exc)) from None
    return pbp, comments, meta


def _os_error(exc: OSError) -> str:
    """"cannot read game.json: No such file or directory": the file and the reason, no traceback."""
    return f"cannot read {exc.filename}: {exc.strerror}"


def parse_windows(text: str | None) -> list[int] | None:
    """`--windows 0,3,4` -> [0, 3, 4]; ValueError naming the flag and the bad item."""
    if not text:
        return None
    out = []
    for item in (x.strip() for x in text.split(",")):
        if not item:
            continue
        if not item.isdigit():
            raise ValueError(f"--windows: {item!r} is not a window index (give numbers like 0,3,4)")
        out.append(int(item))
    return out


def _generate(args: argparse.Namespace) -> int:
    from fan_timeline import atomic
    from fan_timeline.config import ConfigError
    from fan_timeline.service import InputError, TimelineService

    try:
        pbp, comments, meta = _read_inputs(args)
        windows = parse_windows(args.windows)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    problem = _check(args)
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    try:   # the game read and windowed with the model's tokenizer, before its weights load
        reader = TimelineService.reader(args.model, params_file=args.params)
        game = reader.read_raw(pbp, comments, meta)
        audience = game.audience(args.audience)
        windows = reader.select(game, windows, audience)
    except InputError as exc:
        where = f"--{exc.loc[0]}" if exc.loc[:1] in (("audience",), ("windows",)) else exc.where()
        print(f"error: {where}: {exc.message}", file=sys.stderr)
        return 2
    except (OSError, ValueError, ConfigError) as exc:
        print(f"error: cannot load {args.model}'s tokenizer: {exc}", file=sys.stderr)
        return 2
    if args.emit_prompts is not None:
        return _emit_prompts(args.emit_prompts, game, windows, audience)
    service = _load(args)
    if service is None:
        return 2
    result = service.timeline(game, windows, audience, progress=True).as_dict()
    if args.out is not None:
        atomic.write_json(args.out, result)
    else:
        print(json.dumps(result, ensure_ascii=False, indent=2))
    g = result["generation"]
    print(f"{len(result['timeline'])} moments for {result['audience']} from {len(result['windows'])} of "
          f"{result['windows_total']} windows, "
          f"{g['new_tokens']} tokens in {g['seconds']:.1f} s" + (f" -> {args.out}" if args.out else ""),
          file=sys.stderr)
    return 0


def _emit_prompts(out_dir: Path, game: Any, windows: list[int], audience: str) -> int:
    """Per window, `<index>.messages.json` (the chat) and `<index>.schema.json` (its grounded JSON
    Schema), and `windows.json` listing them: what any runtime needs to write the window's timeline
    with its facts true (docs/serving.md shows a llama.cpp and an Ollama call)."""
    from fan_timeline import atomic
    from fan_timeline.service import runtime_request

    plans = game.windows(audience)
    listed = []
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for i in windows:
            request = runtime_request(plans[i])
            atomic.write_json(out_dir / f"{i:03d}.messages.json", request["messages"])
            atomic.write_json(out_dir / f"{i:03d}.schema.json", request["json_schema"])
            listed.append({**plans[i].info(), "messages": f"{i:03d}.messages.json", "schema": f"{i:03d}.schema.json"})
        atomic.write_json(out_dir / "windows.json", {"game": game.game, "audience": audience, "windows": listed})
    except OSError as exc:
        print(f"error: --emit-prompts: cannot write {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 1
    print(f"{len(listed)} windows' messages and schemas for {audience} -> {out_dir}", file=sys.stderr)
    return 0


# --------------------------------------------------------------------------------------------
# demo

SENTIMENT_STYLE = {"positive": "green", "negative": "red", "mixed": "magenta", "neutral": "bright_black"}


class Demo:
    """The interactive demo; reads answers line by line from `stdin`, so a script can drive it."""

    def __init__(self, service: Any, samples_dir: str | Path, stdin: TextIO, stdout: TextIO):
        from rich.console import Console

        from fan_timeline.samples import find_samples

        self.service = service
        self.samples = find_samples(samples_dir)
        self.stdin = stdin
        self.console = Console(file=stdout, highlight=False, soft_wrap=True)

    def ask(self, question: str) -> str | None:
        """One answer, stripped; None at end of input."""
        self.console.print(f"[bold]{question}[/bold] > ", end="")
        line = self.stdin.readline()
        if not line:
            self.console.print()
            return None
        answer = line.strip()
        if not self.stdin.isatty():
            self.console.print(escape(answer))   # echo, so a transcript reads like a session
        return answer

    def run(self) -> int:
        info = self.service.info
        self.console.print(f"[bold]fan-timeline demo[/bold]: model {escape(str(info.get('model')))}, "
                           f"schema {escape(str(info.get('schema_version')))}")
        while True:
            game = self.pick_game()
            if game is None:
                return 0
            if self.browse(game) == "quit":
                return 0

    def pick_game(self):
        from fan_timeline.service import InputError

        while True:
            if self.samples:
                self.console.print("Sample games:")
                for k, s in enumerate(self.samples, 1):
                    m = s.summary()
                    self.console.print(escape(f"  {k:2d}. {s.id}  {m['away']} at {m['home']}"
                                              f"{', ' + m['date'] if m['date'] else ''}  ({m['pbp']}, "
                                              f"{len(m['comment_files'])} comment file"
                                              f"{'s' if len(m['comment_files']) != 1 else ''})"))
            answer = self.ask("Pick a game: a number, 'f' to give your own files, 'q' to quit"
                              if self.samples else "No sample games here: 'f' to give files, 'q' to quit")
            if answer is None or answer.lower() in ("q", "quit"):
                return None
            try:
                if answer.lower() == "f":
                    pbp, comments, meta = self.ask_files()
                elif answer.isdigit() and 1 <= int(answer) <= len(self.samples):
                    s = self.samples[int(answer) - 1]
                    pbp, comments = s.raw_files()
                    meta = s.meta
                else:
                    self.console.print(f"[red]{escape(repr(answer))} is not one of the choices[/red]")
                    continue
                return self.service.read_raw(pbp, comments, meta)
            except InputError as exc:
                self.console.print(f"[red]cannot use this game: {escape(exc.where())}: {escape(exc.message)}[/red]")
            except OSError as exc:
                self.console.print(f"[red]{escape(_os_error(exc))}[/red]")
            except ValueError as exc:
                self.console.print(f"[red]{escape(str(exc))}[/red]")

    def ask_files(self):
        from fan_timeline.ingest import IngestError, _load_game_json
        from fan_timeline.service import RawFile

        pbp_path = self.ask("Play-by-play file")
        if not pbp_path:
            raise ValueError("no play-by-play file given")
        comment_paths = _comment_paths([Path(p) for p in (self.ask("Comment files or a directory (space-separated, "
                                                                   "Enter for none)") or "").split()])
        game_path = self.ask("game.json (Enter for none)")
        try:
            meta = _load_game_json(Path(game_path)) if game_path else {}
        except IngestError as exc:
            raise ValueError(str(exc)) from None
        return (RawFile(pbp_path, Path(pbp_path).read_bytes()),
                [RawFile(str(p), p.read_bytes()) for p in comment_paths], meta)

    def show_game(self, game) -> None:
        g, r = game.game, game.report
        a = r["alignment"]
        sources = (f" ({r['pbp_format']}; {', '.join(r['comment_formats']) or 'no comments'})"
                   if r["kind"] == "raw" else "")
        self.console.print(f"\n[bold]{escape(str(g['away_team']))} at {escape(str(g['home_team']))}[/bold]"
                           + escape(f"{', ' + g['date'] if g['date'] else ''}: "
                                    f"final {g['final_away']}-{g['final_home']}, {g['n_plays']} plays, "
                                    f"{g['n_comments']} comments{sources}"))
        if a["method"]:
            error = f", expected error ±{a['expected_error_s']:g} s" if a["expected_error_s"] is not None else ""
            self.console.print(f"comments aligned by {a['method']}{error}")
        others = [a["audience"] for a in game.audience_info()[1:]]
        self.console.print(escape(f"comments of {game.audience(None)}" + (f" (also in the game: {', '.join(others)})"
                                                                             if others else "")))
        for p in game.windows():
            i = p.info()
            trimmed = f", {i['comments_trimmed']} trimmed" if i["comments_trimmed"] else ""
            self.console.print(f"  #{i['index']:<2d} {i['start']} – {i['end']}   {i['candidates']:2d} candidate plays, "
                               f"{i['comments']:4d} comments{trimmed}")

    def browse(self, game) -> str:
        """Window after window until the user wants another game ("game") or to stop ("quit")."""
        self.show_game(game)
        nxt = 0
        while True:
            answer = self.ask(f"Window to write: a number, Enter for #{nxt}, 'g' for another game, 'q' to quit")
            if answer is None or answer.lower() in ("q", "quit"):
                return "quit"
            if answer.lower() == "g":
                return "game"
            if answer == "":
                index = nxt
            elif answer.isdigit() and int(answer) < len(game.windows()):
                index = int(answer)
            else:
                self.console.print(f"[red]choose a window 0..{len(game.windows()) - 1}[/red]")
                continue
            self.console.print(f"writing window #{index} …")
            result = self.service.timeline(game, [index])
            self.show_window(result.windows[0])
            nxt = (index + 1) % len(game.windows())

    def show_window(self, w) -> None:
        info = w.plan.info()
        self.console.print(f"\n[bold]{info['start']} – {info['end']}[/bold]  (window #{info['index']}: "
                           f"{len(w.entries)} moment{'s' if len(w.entries) != 1 else ''}, {w.n_new_tokens} tokens, "
                           f"{w.seconds:.1f} s; prompt showed {info['candidates']} plays and "
                           f"{info['comments_shown']} of {info['comments']} comments)")
        if w.errors:
            self.console.print(f"[red]invalid output: {escape('; '.join(w.errors))}[/red]")
        if not w.entries:
            self.console.print("  (no moments)")
        for e in w.entries:
            style = SENTIMENT_STYLE.get(e["fan_sentiment"], "white")
            self.console.print(f"  [bold]{escape(e['ts'])}[/bold]  [{style}]● {e['fan_sentiment']:<8}[/{style}]  "
                               f"{escape(e['event'])}")
            if e.get("quote"):
                self.console.print(f"              [italic]“{escape(e['quote'])}”[/italic]")
        self.console.print()


if __name__ == "__main__":
    sys.exit(main())
