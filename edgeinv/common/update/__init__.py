"""Device delivery: signed bundles, the OTA channel, A/B slots with boot counting and rollback.

Everything in this package except the publisher side (signing, in :mod:`.channel` and
:mod:`edgeinv.common.release`) uses the Python standard library only, so the *installed* copy
(``<prefix>/lib``) can verify a bundle, install it into a slot and supervise the service before a
single file of the bundle has run -- and on a device whose Python has no third-party packages yet.

Modules: :mod:`.verify` (Ed25519 + bundle/index checks, safe extraction), :mod:`.slots` (device
layout, state, install into the inactive slot, switch, commit, rollback, database snapshots, log),
:mod:`.health` (self-test + ``/healthz``), :mod:`.channel` (publish, fetch, download with resume,
the update procedure), :mod:`.supervisor` (plain process supervisor with boot counting).
"""
