"""The product's components, in dependency order: sandbox (when configured), HTTP, the
Amazon account, the CDM, the player, the LAN side, autoplay."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from daemon.app.account import AmazonAccount, Endpoints
from daemon.app.adapters import Autoplay, Managed
from daemon.app.lan import lan_components
from daemon.app.lifecycle import AppContext, Component, ComponentFactory
from daemon.app.player import build_player
from daemon.core.tiers import Capability
from daemon.state.secrets import open_secret_store

if TYPE_CHECKING:
    from daemon.playback.engine import Player
    from daemon.sandbox.server import Sandbox

log = logging.getLogger("daemon.app")


def product_factories() -> list[ComponentFactory]:
    """What `speakerd run` starts."""
    return [product_components]


def _sandbox(ctx: AppContext) -> Sandbox:
    """The embedded emulator of every outside service, on a loopback port."""
    from daemon.contracts import amazon_music as am
    from daemon.sandbox.config import SandboxConfig
    from daemon.sandbox.server import Sandbox

    cfg = ctx.config
    backend = (am.LicenceBackend.CLEARKEY if cfg.drm.cdm == "clearkey"
               else am.LicenceBackend.WIDEVINE_TEST)
    return Sandbox(SandboxConfig(
        host="127.0.0.1", port=cfg.sandbox.port,
        data_dir=cfg.sandbox.data_dir or ctx.state_dir / "sandbox",
        catalog=cfg.sandbox.catalog, auto_approve=cfg.sandbox.auto_approve,
        admin_enabled=cfg.sandbox.admin, seed=cfg.sandbox.seed, licence_backend=backend),
        ctx.clock)


def product_components(ctx: AppContext) -> Sequence[Component]:
    """Every component of `speakerd run`, in the order they start."""
    from daemon.capabilities import (
        available_decoders,
        derive_capabilities,
        load_board,
        load_output,
    )
    from daemon.core.retry import RetryPolicy
    from daemon.drm.registry import create_cdm
    from daemon.services.http import HttpClient, Timeouts

    cfg = ctx.config
    parts: list[Component] = []

    sandbox = _sandbox(ctx) if cfg.service == "sandbox" else None
    if sandbox is not None:
        parts.append(Managed("sandbox", sandbox))

    def endpoints() -> Endpoints:
        if sandbox is not None:
            base = sandbox.base_url.rstrip("/")
            log.info("sandbox.ready url=%s", base)
            return Endpoints(lwa_url=base, music_url=base + "/", client_id=sandbox.lwa_client_id)
        return Endpoints(lwa_url=cfg.amazon.lwa_url, music_url=cfg.amazon.music_url,
                         client_id=cfg.amazon.client_id)

    http = HttpClient(
        clock=ctx.clock,
        timeouts=Timeouts(connect=cfg.http.connect_timeout, read=cfg.http.read_timeout,
                          request=max(30.0, cfg.http.read_timeout)),
        retry=RetryPolicy(max_attempts=cfg.http.max_attempts, total=cfg.http.max_retry_seconds))
    parts.append(Managed("http", http))

    store = open_secret_store(ctx.state_dir)

    output = load_output(cfg.audio.dac)
    board = load_board(cfg.audio.board)
    decoders = available_decoders()
    derivation = derive_capabilities(output, decoders=decoders, allow=cfg.quality.allow,
                                     board=board)
    tokens: tuple[Capability, ...] = tuple(sorted(derivation.tokens)) or (Capability.STD_RES,)
    log.info("capabilities.derived header=%s output=%s", derivation.header(), output.name)

    account = AmazonAccount(http=http, store=store, clock=ctx.clock, endpoints=endpoints,
                            language=cfg.amazon.accept_language,
                            image_style=cfg.amazon.image_style,
                            device_id=ctx.identity.device_id, capabilities=lambda: tokens,
                            spawn=ctx.supervisor.spawn, notifier=ctx.notifier)
    parts.append(account)

    cdm = create_cdm(cfg.drm, clock=ctx.clock, http=http)
    parts.append(Managed("cdm", cdm))

    player = build_player(cfg, state_dir=ctx.state_dir, clock=ctx.clock,
                          music=lambda: account.music, http=http, cdm=cdm,
                          capabilities=lambda: tokens, decoders=decoders, output=output)
    parts.append(player)
    parts += lan_components(ctx, account=account, player=player, store=store, http=http,
                            sandbox_url=(lambda: sandbox.base_url) if sandbox is not None
                            else None)
    if cfg.playback.autoplay or cfg.playback.resume:
        parts.append(_autoplay(ctx, account, player))
    return parts


def _autoplay(ctx: AppContext, account: AmazonAccount, player: Player) -> Autoplay:
    from daemon.playback.commands import Play, PlayKind

    cfg = ctx.config
    autoplay = cfg.playback.autoplay
    kind_name, _, _ = (autoplay or "").partition(":")

    async def play_once() -> None:
        """After sign-in: the saved queue (paused) when resuming, else the autoplay."""
        await account.wait_linked()
        if cfg.playback.resume and await player.restore():
            return
        if not autoplay:
            return
        try:
            kind = PlayKind(kind_name)
        except ValueError:
            kind = PlayKind.PLAYLIST
        log.info("autoplay.start item=%s", autoplay)
        await player.submit(Play(kind, autoplay))

    return Autoplay(run=play_once, spawn=ctx.supervisor.spawn)
