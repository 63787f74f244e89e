"""``python -m stripe_sandbox``: serve the sandbox until SIGTERM or Ctrl-C."""

import argparse
import ipaddress
import signal
import sys
import threading

from werkzeug.serving import make_server

from .delivery import DEFAULT_RETRY_DELAYS
from .sandbox import Sandbox
from .server import create_app


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m stripe_sandbox",
        description="Offline Stripe sandbox for development and tests: a stateful "
        "stand-in for Stripe's API, hosted Checkout and Customer Portal "
        "pages, and signed webhooks. Not Stripe.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind; loopback only (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=12111, help="port to listen on, 0 for any free port (default 12111)"
    )
    parser.add_argument(
        "--webhook-url", action="append", default=[], metavar="URL", help="send signed webhook events here (repeatable)"
    )
    parser.add_argument(
        "--thin-webhook-url",
        action="append",
        default=[],
        metavar="URL",
        help="send signed thin event notifications (v2.core.event) here (repeatable; may be given with --webhook-url)",
    )
    parser.add_argument(
        "--rate-limit",
        type=float,
        metavar="N",
        help="answer 429 to API requests above N per second, as Stripe does (default: no limit)",
    )
    parser.add_argument(
        "--webhook-secret",
        metavar="whsec_...",
        help="signing secret for --webhook-url and --thin-webhook-url (default: a random one, printed on stderr)",
    )
    parser.add_argument(
        "--plans", metavar="FILE", help="TOML file of [[plans]] to seed (default: the bundled basic and pro plans)"
    )
    parser.add_argument(
        "--retry-delays",
        metavar="S,S,...",
        type=_delays,
        default=DEFAULT_RETRY_DELAYS,
        help="seconds before each retry of a failed delivery, one retry per value (default 1,2,4,8,16,32,60,60,60,60)",
    )
    parser.epilog = (
        "Open the printed URL in a browser for a home page; test controls "
        "live under /_sandbox (see stripe_sandbox/README.md)."
    )
    args = parser.parse_args(argv)
    if not _is_loopback(args.host):
        parser.error(
            f"--host {args.host} refused: the sandbox only binds loopback addresses (127.0.0.1, ::1, localhost)"
        )
    if args.rate_limit is not None and not args.rate_limit > 0:
        parser.error("--rate-limit must be more than 0 requests per second")
    if args.webhook_secret and not args.webhook_secret.startswith("whsec_"):
        parser.error("--webhook-secret must start with whsec_")
    return args


def _delays(text: str) -> tuple[float, ...]:
    try:
        delays = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of seconds: {text!r}") from None
    if any(d < 0 for d in delays):
        raise argparse.ArgumentTypeError("delays cannot be negative")
    return delays


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        sandbox = Sandbox(plans_path=args.plans, retry_delays=args.retry_delays)
    except (OSError, ValueError) as error:
        print(f"stripe_sandbox: cannot load plans: {error}", file=sys.stderr)
        return 2
    endpoints = [(url, "snapshot") for url in args.webhook_url] + [(url, "thin") for url in args.thin_webhook_url]
    for url, style in endpoints:
        endpoint = sandbox.add_webhook_endpoint(url, args.webhook_secret, style)
        if not args.webhook_secret:
            print(f"webhook {url} ({style}) secret: {endpoint.secret}", file=sys.stderr)
    if args.rate_limit is not None:
        sandbox.rate_limit.configure(args.rate_limit)
    try:
        server = make_server(args.host, args.port, create_app(sandbox), threaded=True)
    except OSError as error:
        print(f"stripe_sandbox: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
        sandbox.stop()
        return 2
    host = f"[{args.host}]" if ":" in args.host else args.host
    sandbox.store.base_url = f"http://{host}:{server.server_port}"
    _stop_on_signals(server)
    print(sandbox.store.base_url, flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        sandbox.stop()
    return 0


def _stop_on_signals(server) -> None:
    # shutdown() blocks until serve_forever returns, so call it off the main thread.
    def stop(_signum, _frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


if __name__ == "__main__":
    sys.exit(main())
