"""Beyond one box: MQTT ingest from sensor gateways, alarm notifications (webhooks, MQTT) and Dask batch runs.

* :mod:`.mqtt` — ``edgeinv ingest mqtt``: subscribe (QoS 1, persistent session), analyse each
  recording/spectrum/frame, store it like an upload, publish the result; exactly once per message
  through :mod:`.ledger`; bad payloads go to an error topic with the reason.
* :mod:`.notify` — an event when a machine's alarm (a field's advice, a flight's flagged zones)
  changes: HMAC-signed webhook POSTs with retries, backoff and dead letters, and MQTT.
* :mod:`.batch` — ``edgeinv <app> batch DIR_OR_GLOB [--scheduler local|tcp://...]``: many files,
  in this process or on Dask workers; a failing file is reported and the rest continue.
* :mod:`.analyse` — the shared step: one file -> ``read_many`` -> ``predict`` -> summary -> Store.
* :mod:`.cli` — the argparse wiring used by :mod:`edgeinv.common.cli`.

paho-mqtt (extra ``ingest``) and Dask (extra ``scale``) are imported only when used, so the edge
install serves and predicts without them. Nothing here imports torch or ``edgeinv.apps``.
"""
