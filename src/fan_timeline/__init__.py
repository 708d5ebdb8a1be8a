"""fan-timeline: play-by-play + live fan comments -> a short JSON timeline of the moments that mattered."""

__version__ = "0.1.0"
