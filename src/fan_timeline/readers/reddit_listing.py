"""Reader for the Reddit API's thread JSON (`https://www.reddit.com/comments/<thread>.json`).

Shape: `[post_listing, comment_listing]`, each `{"kind": "Listing", "data": {"children": [...]}}`.
The post listing holds one `t3` (the thread); comment children are `{"kind": "t1", "data": {...}}`
with the same fields as a dump line (see reddit_ndjson) plus `replies`: another Listing, or ""
when there are none.

Quirks handled here:
- Replies nest arbitrarily deep: walked depth-first with an explicit stack (no recursion limit),
  parents before children, siblings in listing order.
- Collapsed branches are `{"kind": "more", "data": {"count", "children": [ids]}}` stubs: their
  comments are not in the file. Each stub is one rejection (collapsed_more_stub) whose detail says
  how many comments it hides, so missing comments are accounted, not silently absent. Fetch them
  with `/api/morechildren` if they matter.
- `link_id` is taken from the post when a comment lacks it.
- Rows are paths of child indexes ("3/0/1" = 2nd reply of the 1st reply of the 4th top-level
  comment), which locate a rejected comment in the nested file.
"""

from __future__ import annotations

from typing import Any

from fan_timeline.readers.comment_rows import CommentSink, reddit_comment
from fan_timeline.readers.common import load_json
from fan_timeline.tables import CommentResult, ReadLimits, UnreadableFileError

FORMAT = "reddit_listing"


def _children(listing: Any) -> list[Any] | None:
    """The `children` of a Listing object, or None when `listing` is not one."""
    if isinstance(listing, dict) and listing.get("kind") == "Listing":
        data = listing.get("data")
        if isinstance(data, dict) and isinstance(data.get("children"), list):
            return data["children"]
    return None


def read(data: bytes, source: str, limits: ReadLimits = ReadLimits()) -> CommentResult:
    """Comments of one thread JSON file, flattened from the reply tree."""
    doc = load_json(data, source)
    hint = "expected the Reddit API's [post_listing, comment_listing] from /comments/<thread>.json"
    if not isinstance(doc, list) or len(doc) != 2:
        raise UnreadableFileError(source, "not a Reddit thread listing (top level must be a 2-item array)", hint)
    posts, top = _children(doc[0]), _children(doc[1])
    if posts is None or top is None:
        raise UnreadableFileError(source, "not a Reddit thread listing (items are not Listing objects)", hint)
    thread_id = None
    if posts and isinstance(posts[0], dict) and isinstance(posts[0].get("data"), dict):
        post_id = posts[0]["data"].get("id")
        thread_id = post_id if isinstance(post_id, str) else None

    sink = CommentSink(source, FORMAT, limits.max_rows)
    stack: list[tuple[str, Any]] = [(str(i), c) for i, c in reversed(list(enumerate(top)))]
    while stack:
        path, child = stack.pop()
        kind = child.get("kind") if isinstance(child, dict) else None
        body = child.get("data") if isinstance(child, dict) else None
        if kind == "more":
            count = body.get("count") if isinstance(body, dict) else None
            ids = body.get("children") if isinstance(body, dict) else None
            sink.reject(path, None, "collapsed_more_stub",
                        f"{count if count is not None else 'unknown number of'} comment(s) collapsed "
                        "and not in the file; fetch them with /api/morechildren", ids)
            continue
        if kind != "t1" or not isinstance(body, dict):
            sink.reject(path, "kind", "bad_type", f"expected a t1 comment or a more stub, got kind {kind!r}",
                        child)
            continue
        replies = body.get("replies")

        def parse(body: dict[str, Any] = body) -> dict[str, Any]:
            comment = reddit_comment(body)
            if comment["thread_id"] is None:
                comment["thread_id"] = thread_id
            return comment

        sink.offer(path, parse)
        if replies in ("", None):
            continue
        kids = _children(replies)
        if kids is None:
            # The comment itself is kept; its unreadable reply subtree is one accounted row.
            sink.reject(f"{path}/replies", "replies", "bad_type", "replies is neither '' nor a Listing",
                        replies)
            continue
        stack.extend((f"{path}/{i}", c) for i, c in reversed(list(enumerate(kids))))
    return sink.result
