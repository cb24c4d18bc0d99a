#!/usr/bin/env bash
# Install a signed edgeinv bundle on a device -- the first time, or by hand later (OTA: edgeinv-update).
#
#   deploy/install.sh BUNDLE.tar.gz --prefix /opt/edgeinv --pubkey signing.pub.pem [--python /usr/bin/python3]
#                     [--device-key device.key] [--port 8080] [--systemd] [--allow-unsigned]
#
# Run it from a trusted copy of edgeinv (this checkout): the bundle is verified by *this* code -- Ed25519
# over BUNDLE.json, every member's sha256, no links or unlisted files -- before anything of it is
# extracted or run; nothing from the bundle is built (code and dependencies come as wheels). It then
# installs into the inactive slot, self-tests every model on this CPU, and puts the slot on trial; the
# supervisor commits it after a healthy boot or rolls back. Works without systemd (prefix install, start
# PREFIX/bin/edgeinv-supervisor yourself); --systemd installs and starts the unit (needs root).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
python=${EDGEINV_PYTHON:-python3}
systemd=0
prefix=/opt/edgeinv
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --systemd) systemd=1 ;;
    --prefix) prefix="$2"; args+=("$1" "$2"); shift ;;
    --python) python="$2"; args+=("$1" "$2"); shift ;;
    *) args+=("$1") ;;
  esac
  shift
done
PYTHONPATH="$here" "$python" -m edgeinv.common.update install "${args[@]}"
if [ "$systemd" = 1 ]; then
  id edgeinv >/dev/null 2>&1 || useradd --system --home "$prefix/data" --shell /usr/sbin/nologin edgeinv
  # the supervisor (user edgeinv) writes state, slots, logs and the store; the trust anchor stays root's
  chown -R edgeinv:edgeinv "$prefix"
  chown -R root:root "$prefix/etc"
  if [ -f "$prefix/etc/device.key" ]; then chown edgeinv:edgeinv "$prefix/etc/device.key"; chmod 0600 "$prefix/etc/device.key"; fi
  sed "s|@PREFIX@|$prefix|g" "$here/deploy/edgeinv.service" > /etc/systemd/system/edgeinv.service
  if command -v systemd-analyze >/dev/null; then systemd-analyze verify /etc/systemd/system/edgeinv.service; fi
  systemctl daemon-reload
  systemctl enable --now edgeinv
  systemctl restart edgeinv
  echo "edgeinv: the supervisor boots the new slot and commits it once /healthz is healthy ($prefix/bin/edgeinv-status)"
else
  echo "edgeinv: installed into $prefix; start $prefix/bin/edgeinv-supervisor (it commits the slot after a healthy boot)"
fi
