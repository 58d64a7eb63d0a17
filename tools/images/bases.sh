#!/usr/bin/env bash
# tools/images/bases.sh BASE_REGISTRY: build the stand-in base images offline
# and push them to BASE_REGISTRY (e.g. 127.0.0.1:5000/sensornode-base) under
# the upstream names, so images/docker-bake.hcl with BASE_REGISTRY set finds
#   BASE_REGISTRY/library/golang:1.26-bookworm           linux/amd64
#   BASE_REGISTRY/distroless/static-debian12:nonroot     amd64, arm64, arm/v7
#   BASE_REGISTRY/distroless/base-debian12:nonroot       amd64, arm64, arm/v7
#   BASE_REGISTRY/docker/dockerfile:1.7                  linux/amd64
# Needs the engine (tools/images/engine.sh start). The root filesystems are
# made once into $SENSORNODE_IMAGES_CACHE/bases (a .stamp says from what):
#   builder-rootfs.tar   Debian bookworm by mmdebstrap from Debian's mirror:
#                        gcc, libc6-dev, git, curl, make, ca-certificates with
#                        this machine's extra CAs (module downloads go through
#                        a proxy that signs with them), and this machine's Go
#                        in /usr/local/go
#   runtime-common.tar   distroless-like: passwd/group with root, nobody and
#                        nonroot (65532), nsswitch.conf, os-release, the CA
#                        bundle, tzdata, /tmp, /home/nonroot
#   glibc-ARCH.tar       glibc per target: amd64 from this machine's libc6,
#                        arm64/arm from Debian's libc6-*-cross packages
#   frontend-rootfs.tar  BuildKit's Dockerfile frontend (engine.sh tools)
# The registry keeps manifests in memory: run this after every engine start
# (make images does); the layers are cached, so a push is a few seconds.
#
# tools/images/bases.sh --prepare: only make the root filesystems (no engine
# needed; engine.sh prepare, make test's background images-prepare-bg). One
# maker at a time ($OUT/.lock): a second waits, then finds the stamp.
set -euo pipefail

BASE_REGISTRY=${1:?usage: $0 BASE_REGISTRY|--prepare}
CACHE=${SENSORNODE_IMAGES_CACHE:-$HOME/.cache/sensornode/images}
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$CACHE/bases
BUILDKIT_VERSION=v0.34.2
FORMAT=1 # bump when what goes into the tarballs changes
GOROOT_HOST=$(go env GOROOT)
GOVERSION_HOST=$(go env GOVERSION)
STAMP="$FORMAT $GOROOT_HOST $GOVERSION_HOST $BUILDKIT_VERSION"

log() { echo "bases: $*" >&2; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/sensornode-bases.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

eval "$("$HERE/engine.sh" env)"

make_builder() {
	log "builder-rootfs.tar: mmdebstrap bookworm + gcc, git + Go $GOVERSION_HOST (a few minutes)"
	command -v mmdebstrap >/dev/null || { echo "bases: needs mmdebstrap (apt-get install mmdebstrap)" >&2; exit 1; }
	nice -n 19 mmdebstrap --mode=root --format=tar --variant=required \
		--include=apt,ca-certificates,curl,file,gcc,git,libc6-dev,make,netbase,pkg-config,procps,tzdata,xz-utils \
		--dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
		--dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
		--customize-hook="mkdir -p \"\$1/usr/local/share/ca-certificates\" && cp -a /usr/local/share/ca-certificates/. \"\$1/usr/local/share/ca-certificates/\"" \
		--customize-hook='chroot "$1" update-ca-certificates' \
		--customize-hook="cp -a '$GOROOT_HOST' \"\$1/usr/local/go\"" \
		--customize-hook='mkdir -p "$1/go/src" "$1/go/bin" && chmod -R 1777 "$1/go"' \
		bookworm "$OUT/builder-rootfs.new.tar" \
		"deb http://deb.debian.org/debian bookworm main" \
		"deb http://deb.debian.org/debian bookworm-updates main" \
		"deb http://deb.debian.org/debian-security bookworm-security main"
	mv "$OUT/builder-rootfs.new.tar" "$OUT/builder-rootfs.tar"
}

# tar_dir DIR OUT: a reproducible tarball of DIR (owners as in DIR).
tar_dir() {
	tar -C "$1" --sort=name --mtime=@0 --numeric-owner -cf "$2" .
}

make_runtime() {
	log "runtime-common.tar and glibc-{amd64,arm64,arm}.tar"
	local t=$WORK/runtime
	local r=$t/common
	mkdir -p "$r/etc/ssl/certs" "$r/usr/share" "$r/home/nonroot" "$r/root" "$r/tmp"
	cat >"$r/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
EOF
	cat >"$r/etc/group" <<'EOF'
root:x:0:
nobody:x:65534:
tty:x:5:
staff:x:50:
nonroot:x:65532:
EOF
	echo 'hosts: files dns' >"$r/etc/nsswitch.conf"
	cat >"$r/etc/os-release" <<'EOF'
PRETTY_NAME="sensornode stand-in for Distroless (Debian 12)"
NAME="Debian GNU/Linux"
ID="debian"
VERSION_ID="12"
HOME_URL="https://github.com/sensornode/sensornode/tree/main/images"
EOF
	cp /etc/ssl/certs/ca-certificates.crt "$r/etc/ssl/certs/"
	cp -a /usr/share/zoneinfo "$r/usr/share/"
	chown 65532:65532 "$r/home/nonroot"
	chmod 700 "$r/home/nonroot" "$r/root"
	chmod 1777 "$r/tmp"
	tar_dir "$r" "$OUT/runtime-common.tar"

	# amd64: the files of this machine's libc6 (not its docs or programs).
	local g=$t/glibc-amd64 f
	mkdir -p "$g"
	while read -r f; do
		[[ -d $f ]] && continue
		# Not cp --parents: here it fails on this machine's merged /usr
		# (/lib -> usr/lib) and makes the parents 0700.
		install -d -m 755 "$g$(dirname "$f")"
		cp -a "$f" "$g$f"
	done < <(dpkg -L libc6 | grep -E '^/(lib|lib64|usr/lib|etc/ld\.so\.conf\.d)/' | grep -vE '^/usr/lib/(locale|x86_64-linux-gnu/audit)')
	tar_dir "$g" "$OUT/glibc-amd64.tar"
	# arm64, arm: Debian's cross packages, moved from /usr/TRIPLET/lib to /lib
	# (the dynamic linker's default path; the binaries' interpreter is there).
	local arch pkg triplet
	for arch in arm64 arm; do
		case $arch in
		arm64) pkg=libc6-arm64-cross triplet=aarch64-linux-gnu ;;
		arm) pkg=libc6-armhf-cross triplet=arm-linux-gnueabihf ;;
		esac
		g=$t/glibc-$arch
		mkdir -p "$g/lib"
		dpkg -L "$pkg" >/dev/null || { echo "bases: needs $pkg (tools/scripts/install-deps.sh)" >&2; exit 1; }
		while read -r f; do
			[[ -d $f ]] || cp -a "$f" "$g/lib/"
		done < <(dpkg -L "$pkg" | grep "^/usr/$triplet/lib/[^/]*$")
		tar_dir "$g" "$OUT/glibc-$arch.tar"
	done
}

make_frontend() {
	log "frontend-rootfs.tar: dockerfile-frontend $BUILDKIT_VERSION"
	"$HERE/engine.sh" tools dockerfile-frontend
	local t=$WORK/frontend
	mkdir -p "$t/bin"
	cp "$CACHE/bin/dockerfile-frontend" "$t/bin/"
	tar_dir "$t" "$OUT/frontend-rootfs.tar"
}

mkdir -p "$OUT"
if [[ $(cat "$OUT/.stamp" 2>/dev/null) != "$STAMP" ]]; then
	exec 9>"$OUT/.lock"
	if ! flock -n 9; then
		log "waiting for another bases.sh making the tarballs ($OUT/.lock; make test's background one logs to $CACHE/log/prepare-bg.log)"
		flock -w "${SENSORNODE_IMAGES_LOCK_WAIT:-2400}" 9 || { echo "bases: $OUT/.lock held too long" >&2; exit 1; }
	fi
	if [[ $(cat "$OUT/.stamp" 2>/dev/null) != "$STAMP" ]]; then
		rm -f "$OUT/.stamp"
		make_builder 9>&-
		make_runtime 9>&-
		make_frontend 9>&-
		echo "$STAMP" >"$OUT/.stamp"
	fi
	exec 9>&-
fi
[[ $BASE_REGISTRY != --prepare ]] || exit 0
cp "$HERE/bases.Dockerfile" "$OUT/Dockerfile"
"$HERE/engine.sh" status >/dev/null || { echo "bases: the engine is not running: $HERE/engine.sh start" >&2; exit 1; }

# build TARGET PLATFORMS REF [ARGS...]
build() {
	local target=$1 platforms=$2 ref=$3
	shift 3
	log "$ref ($platforms)"
	nice -n 19 docker buildx build --builder "$BUILDX_BUILDER" --progress=quiet \
		--provenance=false --sbom=false --push \
		--target "$target" --platform "$platforms" -t "$ref" "$@" "$OUT" >/dev/null
}
all=linux/amd64,linux/arm64,linux/arm/v7
build golang linux/amd64 "$BASE_REGISTRY/library/golang:1.26-bookworm" \
	--build-arg GOLANG_VERSION="${GOVERSION_HOST#go}"
build static "$all" "$BASE_REGISTRY/distroless/static-debian12:nonroot"
build base "$all" "$BASE_REGISTRY/distroless/base-debian12:nonroot"
build frontend linux/amd64 "$BASE_REGISTRY/docker/dockerfile:1.7"
