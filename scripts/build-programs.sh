#!/usr/bin/env bash
# Builds the real programs pagescope runs as static musl binaries from their Debian source
# packages, and takes one unmodified static binary from a Debian package, all cached by content.
#   scripts/build-programs.sh [DIR]      (DIR defaults to build/programs)
#
# Programs: lua (lua5.4), sqlite3 (sqlite3, the shell on the amalgamation), xz (xz-utils), each
# built with `musl-gcc -static`; busybox (busybox-static's bin/busybox, as it ships).
#
# Layout of DIR:
#   apt/                  a private apt configuration: its own sources.list (deb and deb-src lines
#                         for bookworm and bookworm-security), lists and cache; the machine's own
#                         apt sources and state are never read or written
#   sources/PKG/          what apt downloaded for PKG (.dsc + tarballs, or the .deb) and
#                         SHA256SUMS over those files, written once the download completed
#   bin/NAME              the program; bin/NAME.stamp records what it was made from: the package
#                         version, the checksum of the sources' SHA256SUMS, the checksum of the
#                         recipe (the build function's text and the compiler's version) and the
#                         binary's own sha256
#   bin/SHA256SUMS        every program's sha256 (sha256sum -c format)
#   logs/NAME-STEP.log    each step's output
#
# Invariants:
#   - a program is rebuilt only when its stamp disagrees with the binary, the sources or the
#     recipe; a run where every stamp agrees changes no file and uses no network;
#   - the network is used only to fetch sources that are missing or fail their checksums;
#     PROGRAMS_OFFLINE=1 turns any such fetch into an error (the tests use it);
#   - sources and binaries appear under their final names only when complete (written under a
#     temporary name, then renamed), so an interrupted run leaves nothing that passes a check;
#   - every failure names its program and step and shows the end of that step's log.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$here/build/programs}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
apt_dir=$dir/apt
mkdir -p "$dir/sources" "$dir/bin" "$dir/logs"

say() { echo "programs: $*"; }
fail() { echo "programs: FAILED: $*" >&2; exit 1; }

# run_step NAME STEP COMMAND...: runs COMMAND with its output in logs/NAME-STEP.log; on failure
# names the program and step and shows the log's last lines.
run_step() {
	local name=$1 step=$2
	shift 2
	local log=$dir/logs/$name-$step.log
	if ! "$@" >"$log" 2>&1; then
		echo "programs: FAILED: $name: step '$step' failed; last lines of $log:" >&2
		tail -n 20 "$log" | sed 's/^/    /' >&2
		exit 1
	fi
}

# --- the private apt configuration ---------------------------------------------------------------
apt_options=(
	-o "Dir::Etc::sourcelist=$apt_dir/etc/sources.list"
	-o "Dir::Etc::sourceparts=$apt_dir/etc/sourceparts"
	-o "Dir::Etc::preferencesparts=$apt_dir/etc/preferenceparts"
	-o "Dir::State=$apt_dir/state"
	-o "Dir::Cache=$apt_dir/cache"
	-o "APT::Sandbox::User=root"
	-o "Acquire::Languages=none"
)
apt_updated=0

apt_prepare() {
	mkdir -p "$apt_dir/etc/sourceparts" "$apt_dir/etc/preferenceparts" \
		"$apt_dir/state/lists/partial" "$apt_dir/cache/archives/partial"
	local keyring=/usr/share/keyrings/debian-archive-keyring.gpg
	[ -r "$keyring" ] || fail "fetch: $keyring is missing (Debian package debian-archive-keyring)"
	cat >"$apt_dir/etc/sources.list.tmp" <<-EOF
		# pagescope's private apt sources (scripts/build-programs.sh); the machine's are untouched
		deb [signed-by=$keyring] http://deb.debian.org/debian bookworm main
		deb-src [signed-by=$keyring] http://deb.debian.org/debian bookworm main
		deb [signed-by=$keyring] http://deb.debian.org/debian-security bookworm-security main
		deb-src [signed-by=$keyring] http://deb.debian.org/debian-security bookworm-security main
	EOF
	mv "$apt_dir/etc/sources.list.tmp" "$apt_dir/etc/sources.list"
}

apt_update_once() {
	[ $apt_updated = 1 ] && return
	apt_prepare
	say "apt-get update with the private configuration in $apt_dir"
	run_step apt update apt-get "${apt_options[@]}" -q update
	apt_updated=1
}

# --- sources ---------------------------------------------------------------------------------------
# sources_ok PKG: true when sources/PKG holds exactly the files its SHA256SUMS lists, unchanged.
sources_ok() {
	local src=$dir/sources/$1
	[ -f "$src/SHA256SUMS" ] || return 1
	(cd "$src" && sha256sum --quiet --strict -c SHA256SUMS >/dev/null 2>&1) || return 1
	[ "$(cd "$src" && ls | grep -vx SHA256SUMS | sort)" = "$(awk '{print $2}' "$src/SHA256SUMS" | sort)" ]
}

# fetch_sources PKG KIND: downloads PKG's source package (KIND=source) or binary package
# (KIND=deb) into sources/PKG through the private apt configuration.
fetch_sources() {
	local pkg=$1 kind=$2 src=$dir/sources/$1
	[ "${PROGRAMS_OFFLINE:-0}" = 1 ] &&
		fail "$pkg: step 'fetch' needs the network, but PROGRAMS_OFFLINE=1 ($src is missing or fails its checksums)"
	apt_update_once
	rm -rf "$src.partial"
	mkdir -p "$src.partial"
	say "$pkg: fetching the Debian $kind package"
	if [ "$kind" = source ]; then
		(cd "$src.partial" && run_step "$pkg" fetch apt-get "${apt_options[@]}" -q source --download-only "$pkg")
	else
		(cd "$src.partial" && run_step "$pkg" fetch apt-get "${apt_options[@]}" -q download "$pkg")
	fi
	(cd "$src.partial" && sha256sum -- * >SHA256SUMS.tmp && mv SHA256SUMS.tmp SHA256SUMS)
	rm -rf "$src"
	mv "$src.partial" "$src"
}

ensure_sources() {
	local pkg=$1 kind=$2
	if ! sources_ok "$pkg"; then
		[ -e "$dir/sources/$pkg" ] &&
			say "$pkg: cached sources in $dir/sources/$pkg fail their checksums or are incomplete; fetching them again"
		fetch_sources "$pkg" "$kind"
		sources_ok "$pkg" || fail "$pkg: step 'fetch': the downloaded files fail their own checksums"
	fi
}

# package_version PKG: the Debian version of what sources/PKG holds.
package_version() {
	local src=$dir/sources/$1
	local dsc
	dsc=$(ls "$src"/*.dsc 2>/dev/null | head -n 1)
	if [ -n "$dsc" ]; then
		sed -n 's/^Version: //p' "$dsc" | head -n 1
	else
		dpkg-deb -f "$(ls "$src"/*.deb | head -n 1)" Version
	fi
}

# unpack_source PKG WORK: extracts the source package into WORK/tree with Debian's patches applied
# (dpkg-source checks every tarball against the .dsc).
unpack_source() {
	local pkg=$1 work=$2
	run_step "$pkg" unpack dpkg-source --no-copy -x "$(ls "$dir/sources/$pkg"/*.dsc)" "$work/tree"
}

# --- recipes: each builds one program from WORK/tree into the path it is given -------------------
# They keep features to what the workloads need and leave out threads, readline and dlopen.
build_lua() {
	local tree=$1 out=$2
	# Debian's rules generate this header (it names the multiarch library directory).
	printf '#define DEB_HOST_MULTIARCH "x86_64-linux-musl"\n' >"$tree/src/lua5.4-deb-multiarch.h"
	(cd "$tree/src" && musl-gcc -static -O2 -std=gnu99 -DLUA_COMPAT_5_3 -DLUA_USE_POSIX \
		-o "$out" $(ls ./*.c | grep -v '^./luac\.c$') -lm)
}

build_sqlite3() {
	local tree=$1 out=$2
	# The amalgamation (sqlite3.c, shell.c) is generated by the upstream build with the host
	# compiler and tclsh; only the shell itself is compiled with musl.
	mkdir -p "$tree/../amalgamation"
	(cd "$tree/../amalgamation" && "$tree/configure" --disable-tcl --disable-readline \
		--disable-threadsafe --disable-load-extension && make sqlite3.c shell.c)
	(cd "$tree/../amalgamation" && musl-gcc -static -O2 -DSQLITE_THREADSAFE=0 \
		-DSQLITE_OMIT_LOAD_EXTENSION -DSQLITE_OMIT_DEPRECATED -DHAVE_READLINE=0 \
		-o "$out" shell.c sqlite3.c)
}

build_xz() {
	local tree=$1 out=$2
	(cd "$tree" && ./configure CC=musl-gcc CFLAGS=-O2 --disable-dependency-tracking \
		--disable-shared --enable-static --disable-nls --enable-threads=no --enable-sandbox=no \
		--disable-xzdec --disable-lzmadec --disable-lzmainfo --disable-lzma-links \
		--disable-scripts --disable-doc --disable-microlzma --disable-lzip-decoder)
	# libtool drops a plain -static when linking; -all-static is its word for a static program.
	(cd "$tree" && make -C src/liblzma && make -C src/xz LDFLAGS=-all-static && cp src/xz/xz "$out")
}

# extract_busybox DEB WORK OUT: bin/busybox exactly as the package ships it, checked against the
# package's own md5sums.
extract_busybox() {
	local deb=$1 tree=$2/tree out=$3
	dpkg-deb -x "$deb" "$tree"
	dpkg-deb -e "$deb" "$tree/DEBIAN"
	(cd "$tree" && grep ' bin/busybox$' DEBIAN/md5sums | md5sum --strict -c -)
	cp "$tree/bin/busybox" "$out"
}

# --- stamps ----------------------------------------------------------------------------------------
# recipe_id FUNCTION: identifies how a program is made: the function's text and the compiler.
recipe_id() {
	{ declare -f "$1"; musl-gcc --version 2>/dev/null | head -n 1; } | sha256sum | cut -d' ' -f1
}

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

# stamp_for NAME PKG RECIPE BINARY: the stamp's text for BINARY made from PKG by RECIPE.
stamp_for() {
	printf 'program %s\npackage %s %s\nsources %s\nrecipe %s\nbinary %s\n' "$1" "$2" \
		"$(package_version "$2")" "$(sha_of "$dir/sources/$2/SHA256SUMS")" "$(recipe_id "$3")" \
		"$(sha_of "$4")"
}

# stale_reason NAME PKG RECIPE: empty when bin/NAME agrees with its stamp, else why not. Reads
# only the stamp, the binary and the sources' SHA256SUMS (the sources themselves are checked only
# when a build needs them).
stale_reason() {
	local name=$1 pkg=$2 recipe=$3 bin=$dir/bin/$1
	[ -f "$bin.stamp" ] || { echo "not built yet"; return; }
	[ -f "$bin" ] || { echo "the binary is missing"; return; }
	[ "$(sed -n 's/^binary //p' "$bin.stamp")" = "$(sha_of "$bin")" ] ||
		{ echo "the binary's sha256 differs from its stamp (corrupted or replaced)"; return; }
	[ "$(sed -n 's/^recipe //p' "$bin.stamp")" = "$(recipe_id "$recipe")" ] ||
		{ echo "the recipe or the compiler changed"; return; }
	[ -f "$dir/sources/$pkg/SHA256SUMS" ] &&
		[ "$(sed -n 's/^sources //p' "$bin.stamp")" = "$(sha_of "$dir/sources/$pkg/SHA256SUMS")" ] ||
		{ echo "its sources changed or are missing"; return; }
}

# ensure_program NAME PKG KIND RECIPE
ensure_program() {
	local name=$1 pkg=$2 kind=$3 recipe=$4 bin=$dir/bin/$1 reason work
	reason=$(stale_reason "$name" "$pkg" "$recipe")
	if [ -z "$reason" ]; then
		say "$name: cached ($bin, sha256 $(sed -n 's/^binary //p' "$bin.stamp"))"
		return
	fi
	say "$name: building from Debian package $pkg: $reason"
	ensure_sources "$pkg" "$kind"
	work=$dir/work/$name
	rm -rf "$work" "$bin.tmp"
	mkdir -p "$work"
	if [ "$kind" = source ]; then
		unpack_source "$pkg" "$work"
		run_step "$name" build "$recipe" "$work/tree" "$bin.tmp"
		run_step "$name" strip strip --strip-debug "$bin.tmp"
	else
		run_step "$name" extract "$recipe" "$(ls "$dir/sources/$pkg"/*.deb)" "$work" "$bin.tmp"
	fi
	# A static program asks for no program interpreter (no PT_INTERP header).
	readelf -lW "$bin.tmp" >/dev/null 2>&1 && ! readelf -lW "$bin.tmp" | grep -q INTERP ||
		fail "$name: step 'check': $bin.tmp is not a static ELF executable (it has a PT_INTERP header or is no ELF)"
	stamp_for "$name" "$pkg" "$recipe" "$bin.tmp" >"$bin.stamp.tmp"
	mv "$bin.tmp" "$bin"
	mv "$bin.stamp.tmp" "$bin.stamp"
	rm -rf "$work"
	say "$name: built $bin ($(stat -c %s "$bin") bytes, sha256 $(sha_of "$bin"))"
}

for tool in musl-gcc dpkg-source dpkg-deb tclsh make strip readelf sha256sum md5sum; do
	command -v "$tool" >/dev/null ||
		fail "setup: '$tool' is not installed (run scripts/install-deps.sh programs)"
done

ensure_program lua lua5.4 source build_lua
ensure_program sqlite3 sqlite3 source build_sqlite3
ensure_program xz xz-utils source build_xz
ensure_program busybox busybox-static deb extract_busybox

# bin/SHA256SUMS is rewritten only when a checksum changed.
sums=$dir/bin/SHA256SUMS
listing=$(for name in lua sqlite3 xz busybox; do
	printf '%s  %s\n' "$(sed -n 's/^binary //p' "$dir/bin/$name.stamp")" "$name"
done)
if [ "$listing" != "$(cat "$sums" 2>/dev/null)" ]; then
	printf '%s\n' "$listing" >"$sums.tmp"
	mv "$sums.tmp" "$sums"
fi
rmdir "$dir/work" 2>/dev/null || true
say "all programs ready in $dir/bin"
