"""The `speakerd` command line: run, check-config, version, and the tools of each layer.

Every failure a person can fix ends as one line on stderr and a sysexits code (78 for
configuration), never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from daemon import __version__
from daemon.core.errors import DaemonError

Handler = Callable[[argparse.Namespace], int]

# Subcommands contributed by other layers: the command names each registers, its module
# and registrar (which calls `set_defaults(func=...)`). Only the module of the command being
# run is imported (importing every layer costs about half a second on a Pi, before the
# daemon can even start); help and unknown commands import them all to list them.
_LAYER_COMMANDS: tuple[tuple[tuple[str, ...], str, str], ...] = (
    (("login",), "daemon.cli.commands", "add_login"),
    (("probe",), "daemon.cli.commands", "add_probe"),
    (("pair", "status"), "daemon.cli.commands", "add_local"),
    (("remote",), "daemon.cli.commands", "add_remote"),
    (("sandbox",), "daemon.sandbox.cli", "add_parser"),
)
_OWN_COMMANDS = ("run", "check-config", "version")


def _cmd_version(args: argparse.Namespace) -> int:
    print(f"speakerd {__version__}")
    return 0


def _cmd_check_config(args: argparse.Namespace) -> int:
    from daemon.core.config import load_config
    from daemon.core.configschema import to_plain

    config = load_config(args.file)
    if config.drm.cdm == "widevine" and config.drm.widevine_device is not None:
        from daemon.drm.widevine import read_device_file

        read_device_file(config.drm.widevine_device)  # raises with the reason, exit 78
    if args.show:
        import yaml

        print(yaml.safe_dump(to_plain(config), sort_keys=False), end="")
    else:
        print(f"{args.file}: OK")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from daemon.app import App
    from daemon.app.wiring import product_factories
    from daemon.core.clock import SystemClock
    from daemon.core.config import Config, load_config
    from daemon.core.logs import setup_logging
    from daemon.core.systemd import Notifier

    config = load_config(args.config) if args.config is not None else Config()
    setup_logging(config.logging.level, verbose=args.verbose)
    # what the unit's UMask=0077 gives, also when started from a shell: every file the
    # daemon or its embedded sandbox creates in the state directory is private
    os.umask(0o077)
    notifier = Notifier()
    try:
        app = App(config, config_path=args.config, clock=SystemClock(), notifier=notifier,
                  factories=product_factories())
        return asyncio.run(app.run())
    finally:
        notifier.close()


def _command_of(argv: Sequence[str] | None) -> str | None:
    """The subcommand named in `argv` (the first word that is not an option), if any."""
    words = sys.argv[1:] if argv is None else argv
    return next((w for w in words if not w.startswith("-")), None)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; given `argv`, only the subcommand it names is registered (with its
    module imported), unless it names none or an unknown one."""
    parser = argparse.ArgumentParser(
        prog="speakerd",
        description="Speaker daemon: Amazon Music and Audible playback, LAN control, mDNS.")
    parser.add_argument("--version", action="version", version=f"speakerd {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = sub.add_parser("run", help="run the daemon in the foreground",
                         description="Run the daemon until SIGTERM or Ctrl-C. Without --config,"
                         " every option has its default (the offline sandbox).")
    run.add_argument("--config", type=Path, metavar="FILE", help="YAML configuration file")
    run.add_argument("-v", "--verbose", action="store_true", help="log at debug level")
    run.set_defaults(func=_cmd_run)

    check = sub.add_parser("check-config", help="validate a configuration file",
                           description="Report every problem in FILE with its line and dotted"
                           " path; exit 0 when valid, 78 otherwise.")
    check.add_argument("file", type=Path, metavar="FILE")
    check.add_argument("--show", action="store_true",
                       help="print the effective configuration, secrets masked")
    check.set_defaults(func=_cmd_check_config)

    version = sub.add_parser("version", help="print the version",
                             description="Print speakerd's version.")
    version.set_defaults(func=_cmd_version)

    wanted = _command_of(argv) if argv is not None else None
    known = {n for names, _, _ in _LAYER_COMMANDS for n in names}
    everything = wanted is None or (wanted not in known and wanted not in _OWN_COMMANDS)
    for names, module_name, function in _LAYER_COMMANDS:
        if everything or wanted in names:
            getattr(importlib.import_module(module_name), function)(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(words)
    args = parser.parse_args(words)
    func: Handler = args.func
    try:
        return func(args)
    except DaemonError as exc:
        for line in str(exc).splitlines():
            print(f"speakerd: {line}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
