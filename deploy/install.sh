#!/usr/bin/env bash
# Install a checkout of edgeinv on a device, side by side with the running release, switch atomically,
# health-check, and roll back if the new release does not come up. Edge side only: no torch.
#   sudo deploy/install.sh [SOURCE_DIR | BUNDLE.tar.gz]   (default: the checkout this script is in)
# A bundle comes from `edgeinv bundle APP --out BUNDLE.tar.gz --sign-key KEY.pem`. If the device has the
# publisher's key at /etc/edgeinv/signing.pub.pem, every release's manifest signature must verify.
set -euo pipefail
arg="${1:-$(dirname "$0")/..}"
if [ -f "$arg" ]; then
  unpack=$(mktemp -d); trap 'rm -rf "$unpack"' EXIT
  tar -xzf "$arg" -C "$unpack"
  arg=$(find "$unpack" -mindepth 1 -maxdepth 1 -type d | head -n 1)
fi
src=$(cd "$arg" && pwd)
root=/opt/edgeinv
stamp=$(date +%Y%m%d%H%M%S)
new="$root/releases/$stamp"

id edgeinv >/dev/null 2>&1 || useradd --system --home /var/lib/edgeinv --shell /usr/sbin/nologin edgeinv
install -d -o edgeinv -g edgeinv -m 0750 /var/lib/edgeinv
install -d "$root/releases" /etc/edgeinv

cp -a "$src" "$new"
rm -rf "$new/.git" "$new/.venv"
python3 -m venv "$new/.venv"
"$new/.venv/bin/pip" install -q "$new"
# The manifest hashes must match the files before anything switches.
EDGEINV_MODELS_DIR="$new/models" "$new/.venv/bin/python" - <<'PY'
from pathlib import Path
from edgeinv.common.app import all_apps
from edgeinv.common.config import load_settings
from edgeinv.common.runtime.bundle import verify_release, verify_signature
settings = load_settings()
pub = Path("/etc/edgeinv/signing.pub.pem")
for app in all_apps().values():
    folder = app.models_dir(settings)
    if not (folder / "manifest.json").is_file():
        continue  # a bundle carries one app's models; the others show "no models"
    verify_signature(folder, pub.read_bytes()) if pub.is_file() else verify_release(folder)
print("models verified")
PY
# Every shipped variant on its golden set on *this* CPU: a config with no variant that is right here
# stops the install before anything switches (serve re-runs it at start and keeps the device's choice).
check_dir=$(mktemp -d)
if ! EDGEINV_MODELS_DIR="$new/models" "$new/.venv/bin/edgeinv" --data-dir "$check_dir" selftest; then
  rm -rf "$check_dir" "$new"; echo "self-test failed on this CPU; nothing switched" >&2; exit 1
fi
rm -rf "$check_dir"

previous=$(readlink -f "$root/current" 2>/dev/null || true)
ln -sfn "$new" "$root/current.tmp" && mv -T "$root/current.tmp" "$root/current"
install -m 0644 "$new/deploy/edgeinv.service" /etc/systemd/system/edgeinv.service
systemctl daemon-reload
systemctl restart edgeinv
for _ in $(seq 1 30); do
  if curl -fsS http://127.0.0.1:8080/healthz >/dev/null 2>&1; then echo "edgeinv $stamp is up"; exit 0; fi
  sleep 1
done
echo "health check failed; rolling back to $previous" >&2
if [ -n "$previous" ]; then
  ln -sfn "$previous" "$root/current.tmp" && mv -T "$root/current.tmp" "$root/current"
  systemctl restart edgeinv
fi
exit 1
