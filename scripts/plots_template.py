"""Write an HTML template for `dvc plots show` / `dvc plots diff` that renders with no network.

DVC's default plots page loads Vega, Vega-Lite and vega-embed from a CDN, so it stays blank
offline. This template inlines them instead, from the bundle that the
`vl-convert-python` wheel ships (no download: the JavaScript is inside the wheel):

    python scripts/plots_template.py                    # writes build/plots_offline.html (~0.9 MB)
    dvc plots show --html-template build/plots_offline.html -o build/plots
    dvc plots diff HEAD~1 --html-template build/plots_offline.html -o build/plots_diff

`--set-config` also records the template in .dvc/config.local (not committed), so plain
`dvc plots show` / `dvc plots diff` use it. The page is build/plots/index.html.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "build" / "plots_offline.html"

# DVC fills {plot_divs} (one <div> + inline `vegaEmbed(...)` call per plot) and {refresh_tag}. The
# template has no {scripts} placeholder, which is where DVC would put its CDN <script src> tags.
PAGE = """<!DOCTYPE html>
<html>
<head>
    {refresh_tag}
    <meta charset="utf-8">
    <title>DVC Plot</title>
    <!-- Vega __VEGA__, Vega-Lite __VEGALITE__, vega-embed __EMBED__: inlined from vl-convert-python __VLC__ -->
    <script type="text/javascript">
__BUNDLE__
    </script>
    <style>
        table {
            border-spacing: 15px;
        }
    </style>
</head>
<body>
    {plot_divs}
</body>
</html>
"""


def vegalite_version(available: list[str]) -> str:
    """The newest Vega-Lite 5.x in the wheel: DVC's plot templates are Vega-Lite v5 specs."""
    v5 = [v for v in available if v.split(".")[0] == "5"]
    return max(v5 or available, key=lambda v: tuple(int(p) for p in v.split(".")))


def build_template() -> str:
    from importlib.metadata import version

    import vl_convert as vlc

    vl = vegalite_version(list(vlc.get_vegalite_versions()))
    bundle = vlc.javascript_bundle(vl_version=vl)
    # An inline script ends at the first "</script": keep the bundle from closing it early.
    bundle = bundle.replace("</script", "<\\/script")
    for placeholder in ("{plot_divs}", "{refresh_tag}", "{scripts}"):
        if placeholder in bundle:  # DVC replaces these strings anywhere in the template
            raise RuntimeError(f"the Vega bundle contains {placeholder!r}; the template would be corrupted")
    return (PAGE.replace("__VEGA__", vlc.get_vega_version()).replace("__VEGALITE__", vl)
            .replace("__EMBED__", vlc.get_vega_embed_version()).replace("__VLC__", version("vl-convert-python"))
            .replace("__BUNDLE__", bundle))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"template path (default {DEFAULT_OUT})")
    parser.add_argument("--set-config", action="store_true",
                        help="also set plots.html_template in .dvc/config.local of the current repository")
    args = parser.parse_args(argv)
    out = args.out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(build_template(), encoding="utf-8")
    os.replace(tmp, out)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")
    if args.set_config:
        # DVC resolves a relative plots.html_template against .dvc/; an absolute path is simplest.
        subprocess.run(["dvc", "config", "--local", "plots.html_template", str(out)], check=True)
        print(f"dvc config --local plots.html_template {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
