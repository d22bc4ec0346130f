"""A local feed server for tests: real HTTP on 127.0.0.1, routes configured per test.

    async with FeedServer() as server:
        server.add_feed("/feed.xml", FIXTURES / "real/ftc-press-release-competition.xml", etag='"v1"')
        server.add_redirect("/old.xml", "/feed.xml", status=301)
        server.add_status("/busy", 429, headers={"Retry-After": "120"})
        result = await fetcher.fetch(server.url("/old.xml"))
        assert server.hits["/feed.xml"] == 1
        assert server.last_headers["/feed.xml"]["If-None-Match"] == '"v1"'

Every route is a path → handler entry; adding a route again replaces it (e.g. to publish a new
version of a feed between two polls). Unknown paths answer 404. ``hits`` counts requests per
path and ``last_headers`` keeps the request headers of the last request per path.

Fetches through it need a ``UrlGuard`` that allows 127.0.0.0/8 (nothing else is ever contacted).
``StubResolver`` gives tests host names without DNS, e.g. ``{"feeds.example": ["127.0.0.1"]}``.
"""

from __future__ import annotations

import asyncio
import gzip
import socket
import zlib
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Self

import brotli
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.test_utils import TestServer
from multidict import CIMultiDictProxy

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def compress(body: bytes, encoding: str) -> bytes:
    """``body`` in a Content-Encoding: gzip, deflate (zlib stream) or br."""
    if encoding == "gzip":
        return gzip.compress(body)
    if encoding == "deflate":
        return zlib.compress(body)
    if encoding == "br":
        packed: bytes = brotli.compress(body)
        return packed
    raise ValueError(f"unknown encoding {encoding!r}")


def gzip_bomb(size: int) -> bytes:
    """A gzip stream of ``size`` zero bytes (about 1000:1), built without holding ``size`` bytes."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: gzip container
    block = bytes(1024 * 1024)
    parts = [packer.compress(block) for _ in range(size // len(block))]
    parts.append(packer.compress(bytes(size % len(block))))
    parts.append(packer.flush())
    return b"".join(parts)


class StubResolver(AbstractResolver):
    """Answers names from a table and never touches the network; ``asked`` records the lookups.

    Pass it to ``UrlGuard(..., resolver=StubResolver(...))``. Unknown names fail like NXDOMAIN.
    """

    def __init__(self, table: Mapping[str, list[str]]):
        self.table = dict(table)
        self.asked: list[str] = []

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        self.asked.append(host)
        if host not in self.table:
            raise OSError(socket.EAI_NONAME, f"unknown host {host}")
        return [
            {"hostname": host, "host": address, "port": port, "proto": 0, "flags": 0,
             "family": socket.AF_INET6 if ":" in address else socket.AF_INET}
            for address in self.table[host]
        ]

    async def close(self) -> None:
        pass


class FeedServer:
    """An aiohttp server on 127.0.0.1 with per-test routes and request counters."""

    def __init__(self) -> None:
        self.routes: dict[str, Handler] = {}
        self.hits: Counter[str] = Counter()
        self.last_headers: dict[str, CIMultiDictProxy[str]] = {}
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._server = TestServer(app, host="127.0.0.1")

    async def __aenter__(self) -> Self:
        await self._server.start_server()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self._server.close()

    @property
    def port(self) -> int:
        assert self._server.port is not None
        return self._server.port

    def url(self, path: str, *, host: str = "127.0.0.1") -> str:
        """Absolute URL of ``path``; ``host`` may be a name a ``StubResolver`` maps to 127.0.0.1."""
        return f"http://{host}:{self.port}{path}"

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        self.hits[request.path] += 1
        self.last_headers[request.path] = request.headers
        handler = self.routes.get(request.path)
        if handler is None:
            return web.Response(status=404, text="not found")
        return await handler(request)

    def add_handler(self, path: str, handler: Handler) -> None:
        """Any aiohttp handler, for cases the helpers below do not cover."""
        self.routes[path] = handler

    def add_feed(self, path: str, body: bytes | str | Path, *,
                 content_type: str = "application/rss+xml; charset=utf-8", etag: str | None = None,
                 last_modified: str | None = None, encoding: str | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        """Serve ``body`` (bytes, text or a file) with validators; a matching conditional GET gets 304.

        ``encoding`` ("gzip", "deflate", "br") compresses the body and sets Content-Encoding.
        """
        data = body.read_bytes() if isinstance(body, Path) else body.encode() if isinstance(body, str) else body
        payload = compress(data, encoding) if encoding else data

        async def handler(request: web.Request) -> web.StreamResponse:
            validators = dict(headers or {})
            if etag:
                validators["ETag"] = etag
            if last_modified:
                validators["Last-Modified"] = last_modified
            if etag and request.headers.get("If-None-Match") == etag or (
                    not etag and last_modified and request.headers.get("If-Modified-Since") == last_modified):
                return web.Response(status=304, headers=validators)
            response = web.Response(body=payload, headers=validators)
            response.headers["Content-Type"] = content_type
            if encoding:
                response.headers["Content-Encoding"] = encoding
            return response

        self.routes[path] = handler

    def add_redirect(self, path: str, location: str, *, status: int = 301) -> None:
        """Redirect to ``location`` (relative or absolute, any host — it is only followed if allowed)."""
        async def handler(request: web.Request) -> web.StreamResponse:
            return web.Response(status=status, headers={"Location": location})

        self.routes[path] = handler

    def add_status(self, path: str, status: int, *, body: bytes = b"",
                   headers: Mapping[str, str] | None = None) -> None:
        """A fixed status, e.g. 410, 404, 500, or 429/503 with ``{"Retry-After": "30"}``."""
        async def handler(request: web.Request) -> web.StreamResponse:
            return web.Response(status=status, body=body, headers=dict(headers or {}))

        self.routes[path] = handler

    def add_large(self, path: str, size: int, *, declare_length: bool = False) -> None:
        """``size`` bytes streamed in 64 KiB chunks; chunked unless ``declare_length`` sets Content-Length."""
        async def handler(request: web.Request) -> web.StreamResponse:
            response = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
            if declare_length:
                response.content_length = size
            await response.prepare(request)
            sent = 0
            block = b"x" * 65536
            try:
                while sent < size:
                    piece = block[: size - sent]
                    await response.write(piece)
                    sent += len(piece)
            except (ConnectionError, RuntimeError):  # the client hung up at its cap
                return response
            await response.write_eof()
            return response

        self.routes[path] = handler

    def add_gzip_bomb(self, path: str, size: int) -> None:
        """A small gzip body that inflates to ``size`` zero bytes."""
        payload = gzip_bomb(size)

        async def handler(request: web.Request) -> web.StreamResponse:
            return web.Response(body=payload, headers={"Content-Type": "application/rss+xml",
                                                       "Content-Encoding": "gzip"})

        self.routes[path] = handler

    def add_drip(self, path: str, *, chunk: bytes = b" ", interval: float = 0.05, count: int = 1000,
                 delay_headers: float = 0.0) -> None:
        """A slow server: waits ``delay_headers``, then sends ``chunk`` every ``interval`` seconds."""
        async def handler(request: web.Request) -> web.StreamResponse:
            await asyncio.sleep(delay_headers)
            response = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
            await response.prepare(request)
            try:
                for _ in range(count):
                    await response.write(chunk)
                    await asyncio.sleep(interval)
            except (ConnectionError, RuntimeError):
                return response
            await response.write_eof()
            return response

        self.routes[path] = handler

    def add_reset(self, path: str, *, prefix: bytes = b"<?xml version='1.0'?><rss><channel>",
                  declared_length: int = 100_000) -> None:
        """Promise ``declared_length`` bytes, send ``prefix``, then drop the connection."""
        async def handler(request: web.Request) -> web.StreamResponse:
            response = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
            response.content_length = declared_length
            await response.prepare(request)
            await response.write(prefix)
            assert request.transport is not None
            request.transport.abort()
            return response

        self.routes[path] = handler
