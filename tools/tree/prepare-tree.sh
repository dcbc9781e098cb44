#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Prepare the kernel tree in $1 (default build/src):
#   1. on first use, extract the pinned tarball ($LINUX_TARBALL: 7.3, or 6.12
#      for the stable backport) and commit it as the
#      pristine base (tag "pristine");
#   2. build the project's series ($SERIES, default tools/tree/series) as
#      commits on top of it,
#      from the project's own files, with git plumbing on a private index;
#   3. move branch "work" there, touching only files whose content changed,
#      so that kbuild rebuilds only what the change needs.
# The project's files are the single source of truth: nothing is edited in
# the prepared tree by hand.
set -euo pipefail

proj=$(cd "$(dirname "$0")/../.." && pwd)
. "$proj/tools/setup/versions.env"
src=${1:-${BUILD:-$proj/build}/src}
series=${SERIES:-$proj/tools/tree/series}

# The project's file F.
pfile() {
	echo "$proj/$1"
}

die() { printf 'prepare-tree: error: %s\n' "$*" >&2; exit 1; }

# Fixed identities and dates: the same project files give the same commits.
export GIT_AUTHOR_NAME="vCPU Suspend Developers"
export GIT_AUTHOR_EMAIL="vcpu-suspend@example.org"
export GIT_AUTHOR_DATE="2026-11-25T00:00:00Z"
export GIT_COMMITTER_NAME="$GIT_AUTHOR_NAME"
export GIT_COMMITTER_EMAIL="$GIT_AUTHOR_EMAIL"
export GIT_COMMITTER_DATE="$GIT_AUTHOR_DATE"

if ! git -C "$src" rev-parse -q --verify pristine >/dev/null 2>&1; then
	[ -r "$LINUX_TARBALL" ] || die "$LINUX_TARBALL missing: run tools/setup/setup.sh"
	echo "prepare-tree: extracting $LINUX_TARBALL into $src" >&2
	rm -rf "$src"
	mkdir -p "$src"
	tar -xf "$LINUX_TARBALL" -C "$src" --strip-components=1
	git -C "$src" init -q -b work
	git -C "$src" config core.autocrlf false
	git -C "$src" add -f -A
	ver=$(make -s -C "$src" kernelversion)
	deb=$(dpkg-query -W -f='${Version}' "$LINUX_SOURCE_PKG" 2>/dev/null || echo unknown)
	git -C "$src" commit -q -m "Linux $ver (Debian $LINUX_SOURCE_PKG $deb)"
	git -C "$src" tag pristine
fi

idx=$(mktemp)
msg=$(mktemp)
trap 'rm -f "$idx" "$msg" "$msg.body" "$msg.notes"' EXIT
export GIT_INDEX_FILE=$idx

parent=$(git -C "$src" rev-parse pristine)
subject=""
tags=""

flush() {
	[ -n "$subject" ] || return 0
	local tree
	tree=$(git -C "$src" write-tree)
	# The Signed-off-by joins the body's trailers (Fixes:, Cc:), if any.
	{
		printf '%s\n' "$subject"
		[ -s "$msg.body" ] && { echo; cat "$msg.body"; }
	} | git -C "$src" interpret-trailers \
		--trailer "Signed-off-by: $GIT_AUTHOR_NAME <$GIT_AUTHOR_EMAIL>" >"$msg"
	parent=$(git -C "$src" commit-tree "$tree" -p "$parent" -F "$msg")
	# The note for reviewers, below the '---' of the mail (format-patch --notes).
	if [ -s "$msg.notes" ]; then
		git -C "$src" notes add -f -F "$msg.notes" "$parent" 2>/dev/null
	fi
	rm -f "$msg.body" "$msg.notes"
	subject=""
}

lineno=0
while IFS= read -r line || [ -n "$line" ]; do
	lineno=$((lineno + 1))
	case "$line" in
	'#'*|'') continue ;;
	'|'*) printf '%s\n' "${line#|}" >>"$msg.body"; continue ;;
	'>'*) printf '%s\n' "${line#>}" >>"$msg.notes"; continue ;;
	esac
	read -r op a b <<<"$line"
	case "$op" in
	commit)
		flush
		subject=${line#commit }
		git -C "$src" read-tree "$parent"
		;;
	tag)
		flush
		[ -n "$a" ] || die "series:$lineno: tag needs a name"
		tags="$tags $a=$parent"
		continue
		;;
	add|append)
		f=$(pfile "$a")
		[ -f "$f" ] || die "series:$lineno: $a not found"
		[ -n "$b" ] || die "series:$lineno: $op needs a tree path"
		if [ "$op" = append ]; then
			git -C "$src" cat-file -e ":$b" 2>/dev/null ||
				die "series:$lineno: $b not in the tree"
			blob=$( { git -C "$src" cat-file blob ":$b"; cat "$f"; } |
				git -C "$src" hash-object -w --stdin)
		else
			blob=$(git -C "$src" hash-object -w "$f")
		fi
		mode=100644
		[ -x "$f" ] && mode=100755
		git -C "$src" update-index --add --cacheinfo "$mode,$blob,$b"
		;;
	patch)
		f=$(pfile "$a")
		[ -f "$f" ] || die "series:$lineno: $a not found"
		git -C "$src" apply --cached --whitespace=nowarn "$f" ||
			die "series:$lineno: $a does not apply"
		;;
	*) die "series:$lineno: unknown operation '$op'" ;;
	esac
done <"$series"
flush
unset GIT_INDEX_FILE

# Tag "upstream": the series without its trailing "NOT FOR MERGE" commits.
upstream=$parent
while git -C "$src" log -1 --format=%s "$upstream" | grep -q '^NOT FOR MERGE'; do
	upstream=$(git -C "$src" rev-parse "$upstream^")
done
git -C "$src" tag -f upstream "$upstream" >/dev/null
for t in $tags; do
	git -C "$src" tag -f "${t%%=*}" "${t#*=}" >/dev/null
done

if [ "$(git -C "$src" rev-parse HEAD)" != "$parent" ]; then
	git -C "$src" checkout -q -f -B work "$parent"
	echo "prepare-tree: work = $(git -C "$src" log --oneline pristine..work | wc -l) commits on pristine" >&2
fi
