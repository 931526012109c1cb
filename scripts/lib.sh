# Helpers shared by the scripts in this directory.  Source, don't run.

IOMAP_NAME="e2fsprogs iomap team"
IOMAP_EMAIL="iomap@e2fsprogs.invalid"

# Set the commit identity of a repository.
git_identity() {
	git -C "$1" config user.name "$IOMAP_NAME"
	git -C "$1" config user.email "$IOMAP_EMAIL"
	git -C "$1" config core.abbrev 12
}

# The patch files of a series, in order (comments and blank lines skipped).
series_files() {
	local s="$top/patches/$1/series"
	[ -f "$s" ] || return 0
	sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$s"
}

# The subjects of a series' patches, one a line, in order.
series_subjects() {
	local p
	series_files "$1" | while read -r p; do
		git mailinfo -k /dev/null /dev/null < "$top/patches/$1/$p" |
			sed -n 's/^Subject: \(\[PATCH[^]]*\] \)\{0,1\}//p'
	done
}

# Options that make git format-patch output depend only on the commits.
FORMAT_PATCH_OPTS="--no-signature --zero-commit --abbrev=12 --no-numbered --subject-prefix=PATCH --no-cover-letter --no-thread --encode-email-headers"
