#!/bin/sh
# Install armorwatch on a systemd host (what `make install` runs):
#   PREFIX   (/opt/armorwatch)  a venv with the locked dependencies and the package
#   UNITDIR  (/etc/systemd/system)  collector/processor/report units and the report timer
#   /usr/lib/sysusers.d/armorwatch.conf, /usr/lib/tmpfiles.d/armorwatch.conf
#   /etc/armorwatch/*.toml  example configs (an existing file is kept; the new one lands as .new)
#   /etc/apparmor.d/armorwatch-collector  the collector's profile
# DESTDIR stages everything under another root (packaging, tests); the venv's scripts then
# name PREFIX, not DESTDIR/PREFIX, so the tree works once copied to /.
# Without DESTDIR and as root it also creates the user and directories (systemd-sysusers,
# systemd-tmpfiles) and reloads systemd; enabling the services is left to the operator.
set -eu

PREFIX=${PREFIX:-/opt/armorwatch}
DESTDIR=${DESTDIR:-}
UNITDIR=${UNITDIR:-/etc/systemd/system}
PYTHON=${PYTHON:-python3}
SRC=$(cd "$(dirname "$0")/.." && pwd)
DEPLOY=$SRC/deploy

case $PREFIX in /*) ;; *) echo "install.sh: PREFIX must be absolute: $PREFIX" >&2; exit 2;; esac
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
    echo "install.sh: $PYTHON is older than 3.11" >&2; exit 2; }

root=$DESTDIR
venv=$root$PREFIX

# The venv: locked dependencies, then the package itself (builds the C scanner when a
# compiler is there; without one the pure-Python parser is used).
"$PYTHON" -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$DEPLOY/requirements.lock"
# Built from a copy of what the package is made of: pip builds in the source tree, whose
# build/ may hold an older layout's files (the wheel takes all of build/lib) or another
# build in progress. --force-reinstall: an upgrade keeps the version number, not the code.
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
tar -C "$SRC" --exclude=__pycache__ --exclude='*.so' -cf - \
    pyproject.toml README.md LICENSE armorwatch ingest parsers sinks jobs | tar -C "$stage" -xf -
"$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps --force-reinstall "$stage"
if [ -n "$DESTDIR" ]; then
    # Scripts' #! lines and activate name the staging path: point them at the final one.
    grep -rlF "$venv" "$venv/bin" | while read -r f; do
        sed -i "s|$venv|$PREFIX|g" "$f"
    done
fi

# Units call /opt/armorwatch/bin/armorwatch: rewrite for another PREFIX.
install -d -m 0755 "$root$UNITDIR"
for f in "$DEPLOY"/systemd/*.service "$DEPLOY"/systemd/*.timer; do
    sed "s|/opt/armorwatch/bin/armorwatch|$PREFIX/bin/armorwatch|g" "$f" \
        > "$root$UNITDIR/$(basename "$f")"
    chmod 0644 "$root$UNITDIR/$(basename "$f")"
done
install -D -m 0644 "$DEPLOY/sysusers.d/armorwatch.conf" "$root/usr/lib/sysusers.d/armorwatch.conf"
install -D -m 0644 "$DEPLOY/tmpfiles.d/armorwatch.conf" "$root/usr/lib/tmpfiles.d/armorwatch.conf"
install -D -m 0644 "$DEPLOY/apparmor/armorwatch-collector" "$root/etc/apparmor.d/armorwatch-collector"

# Example configs: never overwrite an operator's edited file.
install -d -m 0755 "$root/etc/armorwatch"
for f in "$DEPLOY"/config/*.toml; do
    dest=$root/etc/armorwatch/$(basename "$f")
    if [ -e "$dest" ] && ! cmp -s "$f" "$dest"; then dest=$dest.new; fi
    install -m 0644 "$f" "$dest"
done

if [ -z "$DESTDIR" ] && [ "$(id -u)" = 0 ] && [ -d /run/systemd/system ]; then
    systemd-sysusers /usr/lib/sysusers.d/armorwatch.conf
    systemd-tmpfiles --create /usr/lib/tmpfiles.d/armorwatch.conf
    systemctl daemon-reload
fi

cat <<EOF
armorwatch $("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("armorwatch"))') installed in $DESTDIR$PREFIX
next: edit /etc/armorwatch/*.toml, put the Kafka password in
  /etc/armorwatch/credentials/kafka-password (0600 root), then
  apparmor_parser -r /etc/apparmor.d/armorwatch-collector
  systemctl enable --now armorwatch-collector.service            # every host
  systemctl enable --now armorwatch-processor.service armorwatch-report.timer  # one host
EOF
