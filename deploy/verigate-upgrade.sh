#!/bin/sh
# verigate-upgrade: zero-downtime hand-over between the slots of verigate@.service.
#
# Install the new binary at /usr/local/bin/verigate first (install(1) replaces the file, so the
# running process keeps its old copy), then run this as root. It also serves as a zero-downtime
# restart, e.g. to pick up a new key file (LoadCredential=) or changed [upstream]/[cache] settings.
#
#   verigate-upgrade            hand over from the active slot to the idle one
#
# Environment: VERIGATE_UPGRADE_SOCK (default /run/verigate/upgrade.sock, = server.upgrade_sock),
#              VERIGATE_ADMIN (default 127.0.0.1:9901, = server.admin_listen; "" skips the probe).
# Every wait is bounded; the script exits non-zero and says what to look at when a step fails.
set -eu

SOCK=${VERIGATE_UPGRADE_SOCK:-/run/verigate/upgrade.sock}
ADMIN=${VERIGATE_ADMIN-127.0.0.1:9901}

die() { echo "verigate-upgrade: $*" >&2; exit 1; }

old=""
for slot in a b; do
    if systemctl is-active --quiet "verigate@$slot"; then
        [ -z "$old" ] || die "both verigate@a and verigate@b are active; stop one first"
        old=$slot
    fi
done
[ -n "$old" ] || die "neither verigate@a nor verigate@b is active: start one with systemctl start verigate@a"
if [ "$old" = a ]; then new=b; else new=a; fi
old_pid=$(systemctl show -p MainPID --value "verigate@$old")
[ "${old_pid:-0}" -gt 0 ] || die "verigate@$old has no main PID"

# The new slot's unit check (ExecStartPre) validates the config before anything is signalled.
flags=/run/verigate-$new.flags
umask 077
echo "VERIGATE_RUN_FLAGS=--upgrade" > "$flags"
trap 'rm -f "$flags"' EXIT
systemctl reset-failed "verigate@$new" 2>/dev/null || true
rm -f "$SOCK"    # a leftover from an interrupted attempt would look like the new process's
echo "verigate-upgrade: starting verigate@$new with --upgrade"
systemctl start "verigate@$new" || die "verigate@$new did not start: journalctl -u verigate@$new"

# The new process creates the upgrade socket once its config is loaded, then waits about 5 s
# for the sockets. Signal the old one only then: if the old process found nobody to hand the
# sockets to, it would still stop serving.
i=0
until [ -S "$SOCK" ]; do
    i=$((i + 1))
    if [ "$i" -gt 100 ] || ! systemctl is-active --quiet "verigate@$new"; then
        systemctl stop "verigate@$new" 2>/dev/null || true
        die "verigate@$new never opened $SOCK; verigate@$old keeps serving. journalctl -u verigate@$new"
    fi
    sleep 0.1
done
echo "verigate-upgrade: SIGQUIT to verigate@$old (pid $old_pid): it hands over its sockets"
kill -QUIT "$old_pid"

# The hand-over is done when the new process has removed the socket file.
i=0
while [ -S "$SOCK" ]; do
    i=$((i + 1))
    [ "$i" -le 150 ] || die "the hand-over did not complete within 15 s: journalctl -u verigate@$old -u verigate@$new"
    sleep 0.1
done
rm -f "$flags"
systemctl is-active --quiet "verigate@$new" || die "verigate@$new is not running after the hand-over: journalctl -u verigate@$new"

systemctl enable --quiet "verigate@$new"
systemctl disable --quiet "verigate@$old"

if [ -n "$ADMIN" ] && command -v curl >/dev/null 2>&1; then
    # Both processes answer for 5 s; the old one then drains and exits.
    if curl -fsS --max-time 5 "http://$ADMIN/readyz" >/dev/null; then
        echo "verigate-upgrade: /readyz ok"
    else
        echo "verigate-upgrade: warning: http://$ADMIN/readyz did not answer 200" >&2
    fi
fi
echo "verigate-upgrade: verigate@$new serves; verigate@$old drains and exits by itself (5 s + up to 2 x grace_period_secs)"
