"""Raw-format readers: each turns one input file into canonical rows (see fan_timeline.tables).

Play-by-play: `pbp.read_pbp` detects and dispatches to `stats_v2`, `stats_v3`, `cdn_live`, `espn`.
Comments: `comments.read_comments` (Reddit NDJSON, Reddit API listing, scraper CSV).
Shared parsing helpers live in `common`.
"""
