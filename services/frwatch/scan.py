"""``frwatch scan``: fetch and parse one feed, print each item's verdict, store nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TextIO

from frwatch.classify import ItemText
from frwatch.ingest.parse import parse_feed
from frwatch.runtime import open_runtime
from frwatch.settings import Settings


def as_url(target: str) -> str:
    """A bare path means a local file."""
    if "://" in target:
        return target
    return Path(target).resolve().as_uri()


async def scan(settings: Settings, target: str, *, as_json: bool, out: TextIO) -> int:
    url = as_url(target)
    async with open_runtime(settings) as rt:
        result = await rt.fetcher.fetch(url)
        parsed = parse_feed(result.body or b"", url=result.url, content_type=result.content_type)
        for entry in parsed.entries:
            verdict = rt.classifier.classify(ItemText(id=entry.key, title=entry.title, summary=entry.summary,
                                                      link=entry.link, published=entry.published))
            if as_json:
                record = {"key": entry.key, "title": entry.title, "link": entry.link,
                          "published": entry.published.isoformat() if entry.published else None,
                          **verdict.to_dict()}
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
            else:
                mark = "ENFORCEMENT" if verdict.is_enforcement else "-"
                facts = " ".join(f"{k}={v}" for k, v in (("regulator", verdict.regulator), ("action", verdict.action_type),
                                                          ("target", verdict.target), ("amount", verdict.amount),
                                                          ("currency", verdict.currency)) if v is not None)
                out.write(f"{mark:<12} {verdict.score:.2f} {entry.title[:100]}  {facts}\n")
        if not as_json:
            out.write(f"{len(parsed.entries)} items\n")
    return 0
