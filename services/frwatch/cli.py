"""The ``frwatch`` command line: run | migrate | scan | classify | sources …"""

from __future__ import annotations

import argparse
import asyncio
import sys
from contextlib import ExitStack
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Sequence, TextIO

from frwatch import logs
from frwatch.errors import ConfigError, FrwatchError
from frwatch.settings import Settings
from frwatch.sources_config import SourceSpec, parse_source
from frwatch.timeutil import format_duration

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="frwatch", description="Facial-recognition enforcement watch.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="migrate, sync sources, poll on schedule, deliver webhooks, serve the API")
    run.add_argument("--once", action="store_true", help="poll every due source once, deliver what is due, exit")
    sub.add_parser("migrate", help="apply database migrations (alembic upgrade head)")
    scan = sub.add_parser("scan", help="fetch and parse one feed and print each item's verdict; stores nothing")
    scan.add_argument("target", metavar="URL_OR_FILE")
    scan.add_argument("--json", action="store_true", help="one JSON object per item")
    classify = sub.add_parser("classify", help="classify JSON Lines items (see README)")
    classify.add_argument("--input", default="-", help="file or - for stdin")
    classify.add_argument("--output", default="-", help="file or - for stdout")
    sources = sub.add_parser("sources", help="manage sources in the database")
    ssub = sources.add_subparsers(dest="action", required=True)
    ssub.add_parser("list", help="list sources with their health")
    add = ssub.add_parser("add", help="add a source")
    for name in ("id", "name", "url"):
        add.add_argument(f"--{name}", required=True)
    add.add_argument("--kind", choices=("regulator", "news"), default="news")
    for name in ("regulator", "jurisdiction", "language", "poll-interval"):
        add.add_argument(f"--{name}")
    remove = ssub.add_parser("remove", help="delete a source (disabled instead if it has items, unless --purge)")
    remove.add_argument("id")
    remove.add_argument("--purge", action="store_true", help="also delete its items")
    imp = ssub.add_parser("import-opml", help="add the feeds of an OPML file")
    imp.add_argument("file")
    imp.add_argument("--kind", choices=("regulator", "news"), default="news")
    exp = ssub.add_parser("export-opml", help="write all sources as OPML")
    exp.add_argument("--output", default="-")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        logs.configure(settings.log_format, settings.log_level)
        return COMMANDS[args.command](args, settings)
    except ConfigError as exc:
        print(f"frwatch: configuration error: {exc}", file=sys.stderr)
        return 2
    except FrwatchError as exc:
        print(f"frwatch: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from frwatch.service import run_once, serve

    asyncio.run(run_once(settings) if args.once else serve(settings))
    return 0


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    from frwatch.migrate import upgrade

    upgrade(settings.database_url)
    print("database at head")
    return 0


def _scan(args: argparse.Namespace, settings: Settings) -> int:
    from frwatch.scan import scan

    return asyncio.run(scan(settings, args.target, as_json=args.json, out=sys.stdout))


def _classify(args: argparse.Namespace, settings: Settings) -> int:
    from frwatch.classify import Classifier
    from frwatch.classify.batch import classify_stream

    classifier = Classifier.load(settings.rules_dir)
    with ExitStack() as stack:
        source: TextIO = sys.stdin if args.input == "-" else stack.enter_context(open(args.input, encoding="utf-8"))
        sink: TextIO = sys.stdout if args.output == "-" else stack.enter_context(open(args.output, "w", encoding="utf-8"))
        errors = classify_stream(source, sink, classifier)
    return 1 if errors else 0


def _sources(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_sources_async(args, settings))


def _spec_from_args(args: argparse.Namespace) -> SourceSpec:
    raw: dict[str, Any] = {"id": args.id, "name": args.name, "url": args.url, "kind": args.kind}
    for name in ("regulator", "jurisdiction", "language"):
        if getattr(args, name):
            raw[name] = getattr(args, name)
    if args.poll_interval:
        raw["poll_interval"] = args.poll_interval
    try:
        return parse_source(raw)
    except ValueError as exc:
        raise ConfigError(f"source {args.id}: {exc}") from None


async def _sources_async(args: argparse.Namespace, settings: Settings) -> int:
    from frwatch.db import create_engine, session_factory, write_transaction
    from frwatch.migrate import upgrade_async
    from frwatch.timeutil import utcnow

    await upgrade_async(settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        async with write_transaction(session_factory(engine)) as session:
            await SOURCE_ACTIONS[args.action](session, args, utcnow())
    finally:
        await engine.dispose()
    return 0


async def _sources_list(session: AsyncSession, args: argparse.Namespace, now: datetime) -> None:
    from frwatch.store import sources as store

    rows = await store.list_all(session)
    for s in rows:
        state = "on " if s.enabled else "off"
        interval = format_duration(timedelta(seconds=s.poll_interval_s)) if s.poll_interval_s else "default"
        print(f"{s.id:<28} {state} {s.kind:<9} {str(s.last_status or '-'):<4} errors={s.error_count:<3} "
              f"every={interval:<8} next={s.next_poll_at:%Y-%m-%d %H:%M} {s.url}")
    print(f"{len(rows)} sources")


async def _sources_add(session: AsyncSession, args: argparse.Namespace, now: datetime) -> None:
    from frwatch.store import sources as store

    spec = _spec_from_args(args)
    if await store.get(session, spec.id):
        raise ConfigError(f"source {spec.id}: already exists")
    await store.add(session, spec, origin="cli", now=now)
    print(f"added {spec.id}")


async def _sources_remove(session: AsyncSession, args: argparse.Namespace, now: datetime) -> None:
    from frwatch.store import sources as store

    source = await store.get(session, args.id)
    if source is None:
        raise ConfigError(f"source {args.id}: no such source")
    print(f"{await store.remove(session, source, purge=args.purge, now=now)} {args.id}")


async def _sources_import_opml(session: AsyncSession, args: argparse.Namespace, now: datetime) -> None:
    from frwatch.opml import parse_opml
    from frwatch.store import sources as store

    specs = parse_opml(Path(args.file).read_text(encoding="utf-8"), default_kind=args.kind)
    added = 0
    for spec in specs:
        if await store.get(session, spec.id) is None:
            await store.add(session, spec, origin="cli", now=now)
            added += 1
    print(f"imported {added} of {len(specs)} feeds")


async def _sources_export_opml(session: AsyncSession, args: argparse.Namespace, now: datetime) -> None:
    from frwatch.opml import to_opml
    from frwatch.store import sources as store

    text = to_opml([store.spec_of(s) for s in await store.list_all(session)])
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text, encoding="utf-8")


SourceAction = Callable[["AsyncSession", argparse.Namespace, datetime], Awaitable[None]]
SOURCE_ACTIONS: dict[str, SourceAction] = {
    "list": _sources_list, "add": _sources_add, "remove": _sources_remove,
    "import-opml": _sources_import_opml, "export-opml": _sources_export_opml,
}


COMMANDS = {"run": _run, "migrate": _migrate, "scan": _scan, "classify": _classify, "sources": _sources}
