# Helpers for the suites in this directory.  Source, don't run.
#
# Every suite prints one "PASS: ...", "FAIL: ..." or "SKIP: ... (reason)"
# line a test and ends with
#   RESULT <suite> passed=N failed=N skipped=N
# which scripts/check adds up.

_passed=0 _failed=0 _skipped=0

pass() { echo "PASS: $*"; _passed=$((_passed + 1)); }
fail() { echo "FAIL: $*"; _failed=$((_failed + 1)); }
skip() { echo "SKIP: $1 ($2)"; _skipped=$((_skipped + 1)); }

finish() {
	echo "RESULT $1 passed=$_passed failed=$_failed skipped=$_skipped"
	exit 0
}

can_fuse_mount() {
	[ -c /dev/fuse ] && [ "$(id -u)" = 0 ]
}

# mount_fuse SERVER IMAGE MOUNTPOINT [ARGS...]
# Start a fuse server in the foreground (in the background of this shell) and
# wait until the mount is there.  The server's pid is left in $fuse_pid.
mount_fuse() {
	local server=$1 img=$2 mnt=$3 i
	shift 3
	"$server" "$img" "$mnt" -f "$@" > "$mnt.server.log" 2>&1 &
	fuse_pid=$!
	for i in $(seq 100); do
		if mountpoint -q "$mnt"; then
			return 0
		fi
		kill -0 "$fuse_pid" 2>/dev/null || break
		sleep 0.1
	done
	sed 's/^/    server: /' "$mnt.server.log"
	kill "$fuse_pid" 2>/dev/null
	return 1
}

# umount_fuse MOUNTPOINT: unmount and wait for the server to exit cleanly.
umount_fuse() {
	local mnt=$1 rc
	umount "$mnt" || return 1
	wait "$fuse_pid"
	rc=$?
	if [ $rc -ne 0 ]; then
		echo "    server exited $rc"
		sed 's/^/    server: /' "$mnt.server.log"
		return 1
	fi
}

# cmp_tree A B: every regular file in A is identical in B.
cmp_tree() {
	local f ok=0
	for f in "$1"/*; do
		if ! cmp -s "$f" "$2/$(basename "$f")"; then
			echo "    differs: $(basename "$f")"
			ok=1
		fi
	done
	return $ok
}
