"""Typed application keys (aiohttp ``web.AppKey``) shared by the routes."""

from __future__ import annotations

from aiohttp import web

from frwatch.runtime import Runtime

RUNTIME = web.AppKey("runtime", Runtime)
