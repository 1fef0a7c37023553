#!/bin/sh
# zonegate boot check (systemd ExecStartPre; installed as /opt/zonegate/boot-check.sh, outside the
# slots). Decides which slot starts, before the daemon runs:
#   no trial marker                        → nothing to do
#   trial marker, not yet started          → mark it started (attempt 1) and let the new slot start
#   trial marker already started, and the
#   new version never committed (it commits
#   itself after its health period)        → roll back: `current` → the previous slot (one atomic
#                                            rename of a new symlink), record why in update.result
# runtime/update/install-update.ts writes the marker, trial-guard.ts commits or records a failure, and reads the result; the format is `key=value` lines
# so that this script needs nothing but POSIX sh (a new version that cannot even start its node
# must not be able to break its own rollback).
# ExecStopPost calls it with --stopped "$SERVICE_RESULT" "$EXIT_CODE" "$EXIT_STATUS": while a trial
# runs, that is kept in the marker and becomes the reason of a rollback.
# Usage: boot-check.sh --root /opt/zonegate --state /var/lib/zonegate [--stopped RESULT CODE STATUS]
set -eu
root=/opt/zonegate
state=/var/lib/zonegate
stopped=
while [ $# -gt 0 ]; do
  case "$1" in
    --root) root=$2; shift 2 ;;
    --state) state=$2; shift 2 ;;
    --stopped) stopped="${2:-}/${3:-}/${4:-}"; shift $(( $# < 4 ? $# : 4 )) ;;
    *) echo "boot-check: unknown argument $1" >&2; exit 2 ;;
  esac
done
marker="$state/update.trial"
[ -f "$marker" ] || exit 0

get() { sed -n "s/^$1=//p" "$marker" | head -n 1; }
from=$(get from); to=$(get to); version=$(get version); previous=$(get previousVersion); attempts=$(get attempts)
case "$from" in a|b) ;; *) echo "boot-check: bad trial marker (from=$from); removing it" >&2; rm -f "$marker"; exit 0 ;; esac
case "$to" in a|b) ;; *) echo "boot-check: bad trial marker (to=$to); removing it" >&2; rm -f "$marker"; exit 0 ;; esac
attempts=${attempts:-0}

# Atomic write: temp file in the same folder, fsync (sync FILE, coreutils ≥ 8.24), rename.
write_atomic() { # $1 target, content on stdin
  tmp="$1.tmp-$$"
  cat > "$tmp"
  # Runs as root (ExecStartPre=+): hand the file to the state folder's owner, the service user.
  chown --reference="$state" "$tmp" 2>/dev/null || true
  sync "$tmp" 2>/dev/null || sync
  mv -f "$tmp" "$1"
  sync "$(dirname "$1")" 2>/dev/null || sync
}

if [ -n "$stopped" ]; then
  { grep -v '^lastExit=' "$marker"; echo "lastExit=$stopped"; } | write_atomic "$marker"
  exit 0
fi

if [ "$attempts" -ge 1 ]; then
  # The trial version already had its start and did not commit: it crashed, was not READY
  # before TimeoutStartSec, or stopped pinging the watchdog.
  reason=$(get lastExit)
  # Why, as a stable code (runtime/update/state-files.ts ROLLBACK_CODES): what the trial version
  # recorded about itself (trial-guard.ts), else how its last process ended (systemd's
  # $SERVICE_RESULT, kept by --stopped).
  code=$(get failureCode); why=$(get failure)
  if [ -z "$code" ]; then
    case "$reason" in
      watchdog/*) code=ERR_UPDATE_WATCHDOG; why="the watchdog was not pinged in time" ;;
      timeout/*) code=ERR_UPDATE_START_TIMEOUT; why="not READY before the start deadline" ;;
      success/*) code=ERR_UPDATE_STOPPED; why="stopped before its health period ended" ;;
      "") code=ERR_UPDATE_INTERRUPTED; why="did not come back after its start (power loss or reboot)" ;;
      *) code=ERR_UPDATE_CRASH; why="crashed" ;;
    esac
  fi
  case "$code" in ERR_UPDATE_[A-Z_]*) ;; *) code=ERR_UPDATE_ROLLED_BACK ;; esac
  ln -sfn "slots/$from" "$root/current.tmp-$$"
  mv -fT "$root/current.tmp-$$" "$root/current"
  sync "$root" 2>/dev/null || sync
  now=$(date +%s)
  write_atomic "$state/update.result" <<RESULT
outcome=rolled-back
version=$version
previousVersion=$previous
from=$from
to=$to
at=$now
reason=version $version did not become healthy after $attempts start(s)${reason:+ (last exit: $reason)}; slot $from ($previous) restored${why:+ ($why)}
code=$code
audited=0
RESULT
  rm -f "$marker"
  sync "$state" 2>/dev/null || sync
  echo "boot-check: rolled back from slot $to ($version) to slot $from ($previous)" >&2
  exit 0
fi

# First start of the trial version: count it, so that the next start knows it already had one.
{ grep -v '^attempts=' "$marker"; echo "attempts=$((attempts + 1))"; } | write_atomic "$marker"
exit 0
