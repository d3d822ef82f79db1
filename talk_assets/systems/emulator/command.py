"""`talk-assets emulate`: serve every registered system's emulator until SIGINT or SIGTERM.

Prints one JSON line on stdout once all servers listen, `{"<system>": {"url", "base_url",
"token_url"}, ...}` (no secrets), then serves. Ports: `--<system>-port` per system (its spec's
`default_port`; 0 picks a free one).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from typing import Any

from talk_assets.systems import registry


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `emulate` options, one `--<system>-port` per registered system."""
    parser.add_argument("--host", default="127.0.0.1")
    for spec in registry.specs():
        parser.add_argument(
            f"--{spec.name}-port",
            type=int,
            default=spec.default_port,
            help=f"{spec.title} emulator port (default {spec.default_port})",
        )
    parser.add_argument("--seed", type=int, default=1, help="sample data seed (default 1)")
    parser.add_argument("--size", type=int, default=50, help="records per datatype; 0 = empty")
    parser.add_argument(
        "--fault-rate", type=float, default=0.0, help="probability of a fault (0-1)"
    )
    parser.add_argument("--no-rate-limit", action="store_true", help="switch rate limits off")
    parser.add_argument("--data-file", help="persist emulator data to this file across restarts")


def emulate_command(args: Any) -> int:
    from talk_assets.systems.emulator.serving import start_emulators

    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    ports = {
        spec.name: getattr(args, f"{spec.name}_port", spec.default_port)
        for spec in registry.specs()
    }
    try:
        emus = start_emulators(
            seed=args.seed,
            size=args.size,
            fault_rate=args.fault_rate,
            rate_limits=not args.no_rate_limit,
            host=args.host,
            data_file=args.data_file,
            ports=ports,
        )
    except OSError as exc:
        print(f"talk-assets emulate: {exc}", file=sys.stderr)
        return 1
    try:
        print(json.dumps(emus.describe()), flush=True)
        for handle in emus:
            print(
                f"{handle.system}: API {handle.base_url or handle.url}, token {handle.token_url}",
                file=sys.stderr,
                flush=True,
            )
        while not stop.wait(0.5):
            pass
    finally:
        emus.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
