"""Command-line wiring of ``edgeinv ingest mqtt`` and ``edgeinv <app> batch`` (called from :mod:`edgeinv.common.cli`)."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys


def _json_flag(parser) -> None:
    parser.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="print exactly one JSON document on stdout")


def _notify_args(p) -> None:
    g = p.add_argument_group("notifications (also EDGEINV_WEBHOOK_URLS, EDGEINV_WEBHOOK_SECRET)")
    g.add_argument("--webhook", action="append", default=[], metavar="URL",
                   help="POST an HMAC-signed JSON event here when an alarm/advice/flagged zones change (repeatable)")
    g.add_argument("--webhook-secret-file", metavar="FILE", help="file holding the HMAC secret shared with receivers")


def add_ingest_command(sub) -> None:
    """``edgeinv ingest mqtt ...`` (a top-level command)."""
    from ..app import app_names

    sp = sub.add_parser("ingest", help="analyse data arriving from sensor gateways (MQTT)")
    isub = sp.add_subparsers(dest="ingest_command", metavar="SOURCE", required=True)
    m = isub.add_parser("mqtt", help="subscribe to an MQTT broker, analyse, store and publish each message",
                        description="QoS 1 in a persistent session: each message gives exactly one stored and one "
                                    "published result, across ingester and broker restarts.")
    m.add_argument("--broker", required=True, metavar="HOST:PORT")
    m.add_argument("--topic", action="append", dest="topics", metavar="FILTER",
                   help="topic filter, e.g. 'plant/+/bearing/+' (repeatable)")
    m.add_argument("--app", dest="ingest_app", default="bearing-wear", choices=app_names(),
                   help="the app that analyses the messages (default bearing-wear)")
    m.add_argument("--client-id", default="", help="MQTT client id of the persistent session (default per host and app)")
    m.add_argument("--unknown", choices=("create", "refuse"), default="create",
                   help="a message for an unknown machine/field/flight: create it (default) or refuse it")
    m.add_argument("--result-prefix", default="edgeinv/results", help="results go to PREFIX/<topic>")
    m.add_argument("--error-prefix", default="edgeinv/errors", help="rejected messages go to PREFIX/<topic>")
    m.add_argument("--event-prefix", default="edgeinv/events", help="state-change events go to PREFIX/<app>/<entity>")
    m.add_argument("--username", help="broker user name (password from EDGEINV_MQTT_PASSWORD)")
    m.add_argument("--tls", action="store_true", help="connect with TLS (system CAs, or --cafile)")
    m.add_argument("--cafile", help="CA certificate (PEM) of the broker's TLS certificate")
    m.add_argument("--defaults", help="JSON settings for auto-created entities, e.g. '{\"rpm\": 1800, \"bearing\": \"6205-2rs\"}'")
    m.add_argument("--max-messages", type=int, help="stop after this many messages (default: run until stopped)")
    _notify_args(m)
    _json_flag(m)
    m.set_defaults(func=cmd_ingest_mqtt)

    w = isub.add_parser("watch", help="notify on alarm/advice/zone changes of results stored by any path (web uploads too)",
                        description="Polls the result store for new results and sends an event for each state change "
                                    "to the webhooks; history before the first run is taken as seen.")
    w.add_argument("--app", dest="watch_apps", action="append", choices=app_names(),
                   help="apps to watch (repeatable; default all)")
    w.add_argument("--interval", type=float, default=5.0, help="seconds between looks at the store (default 5)")
    w.add_argument("--once", action="store_true", help="look once, deliver what is due, and exit")
    _notify_args(w)
    _json_flag(w)
    w.set_defaults(func=cmd_ingest_watch)


def cmd_ingest_mqtt(args, ctx):
    import os

    from ..app import get_app
    from ..errors import InvalidInputError
    from .mqtt import Ingester, IngestOptions
    from .notify import notifier_from

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="ingest: %(message)s")
    defaults = {}
    if args.defaults:
        try:
            defaults = json.loads(args.defaults)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"--defaults is not JSON: {exc}") from None
        if not isinstance(defaults, dict):
            raise InvalidInputError("--defaults must be a JSON object")
    opts = IngestOptions(broker=args.broker, topics=args.topics or ["plant/+/bearing/+"], app=args.ingest_app,
                         client_id=args.client_id, unknown=args.unknown, result_prefix=args.result_prefix.rstrip("/"),
                         error_prefix=args.error_prefix.rstrip("/"), event_prefix=args.event_prefix.rstrip("/"),
                         username=args.username, password=os.environ.get("EDGEINV_MQTT_PASSWORD"),
                         tls=args.tls, cafile=args.cafile,
                         entity_defaults=defaults)
    app = get_app(args.ingest_app)
    holder = {}

    def publish(topic, body):
        holder["ingester"].publish(topic, body)

    notifier = notifier_from(ctx.settings, urls=args.webhook, secret_file=args.webhook_secret_file, publish=publish)
    if notifier is not None:
        notifier.topic_prefix = opts.event_prefix
    ingester = Ingester(app, ctx.settings, opts, notifier=notifier)
    holder["ingester"] = ingester
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: ingester.stop())
    counts = ingester.run(max_messages=args.max_messages)
    return {**counts, "text": "ingest stopped: " + ", ".join(f"{k} {v}" for k, v in counts.items())}


def cmd_ingest_watch(args, ctx):
    import threading

    from ..app import app_names
    from ..errors import InvalidInputError
    from ..web.store import Store
    from .notify import StoreWatcher, notifier_from

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="watch: %(message)s")
    if args.interval <= 0:
        raise InvalidInputError(f"--interval must be > 0, got {args.interval}")
    notifier = notifier_from(ctx.settings, urls=args.webhook, secret_file=args.webhook_secret_file)
    if notifier is None:
        raise InvalidInputError("nowhere to send events: give --webhook URL or set EDGEINV_WEBHOOK_URLS")
    store = Store(ctx.settings.db_path)
    watcher = StoreWatcher(store, notifier, args.watch_apps or app_names())
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    queued = 0
    try:
        if args.once:
            queued = watcher.poll()
            notifier.flush(timeout_s=30.0)
        else:
            notifier.start()
            while not stop.is_set():
                queued += watcher.poll()
                stop.wait(args.interval)
        pending, dead = len(notifier.rows("pending")), len(notifier.dead_letters())
    finally:
        notifier.stop()
        store.close()
    return {"queued": queued, "pending": pending, "dead_letters": dead,
            "text": f"{queued} event(s) queued; {pending} pending, {dead} dead letter(s)"}


def add_batch_command(asub, app) -> None:
    """``edgeinv <app> batch DIR_OR_GLOB ...`` (an app action)."""
    s = asub.add_parser("batch", help="run many files (folder or glob), store the results; Dask with --scheduler")
    s.add_argument("source", metavar="DIR_OR_GLOB", help="a folder, a file, or a glob pattern (quote it)")
    s.add_argument("--scheduler", help="'local' (a LocalCluster) or tcp://HOST:PORT; default: this process, no Dask")
    s.add_argument("--workers", type=int, default=2, help="worker processes for --scheduler local (default 2)")
    s.add_argument("--entity", help="machine/field/flight to store the results under (default 'batch <folder>')")
    s.add_argument("--no-store", action="store_true", help="print the results without storing them")
    app.predict_arguments(s)
    s.set_defaults(func=cmd_batch)
    _notify_args(s)


def cmd_batch(args, ctx):
    from .batch import run_batch
    from .notify import notifier_from

    app = args.app_obj
    # as for predict: the flags named like the app's options are the options (source "flag"), nothing else
    meta = {k: getattr(args, k) for k in app.options_type.names() if getattr(args, k, None) is not None}
    notifier = None if args.no_store else notifier_from(ctx.settings, urls=args.webhook,
                                                        secret_file=args.webhook_secret_file)
    if notifier is not None:
        notifier.start()
    try:
        report = run_batch(app, ctx.settings, args.source, scheduler=args.scheduler, workers=args.workers, meta=meta,
                           entity_name=args.entity, store=not args.no_store, progress=True, notifier=notifier)
    finally:
        if notifier is not None:
            notifier.flush(timeout_s=30.0)
            report_pending = len(notifier.rows("pending"))
            notifier.stop()
            if report_pending:
                print(f"{report_pending} notification(s) still pending in the outbox", file=sys.stderr)
    if not ctx.json:
        return {"text": report["text"]}
    for row in report["results"]:
        if row and "summary" in row:
            row["summary"] = {k: v for k, v in row["summary"].items() if k != "envelope"}
    return report
