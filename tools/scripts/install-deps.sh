#!/usr/bin/env bash
# Installs what a fresh machine lacks for `make test` and `make run`:
# Debian packages (cross compilers, qemu-user-static, musl, chromium, the
# container engine of make images) and checks the
# toolchains the project runs on (Go, Java 17+, Maven). Idempotent and quiet
# when everything is present. Needs root (or sudo) only when installing.
set -euo pipefail

need_pkgs=()
want() { dpkg -s "$1" >/dev/null 2>&1 || need_pkgs+=("$1"); }

# Cross-compiling services for arm64 (confluent-kafka-go needs cgo) and
# armv7 (go4vl needs cgo), running the results under qemu, static amd64
# builds with musl, and netns-based fault tests.
want gcc-aarch64-linux-gnu
want libc6-dev-arm64-cross
want gcc-arm-linux-gnueabihf
want libc6-dev-armhf-cross
want qemu-user-static
want musl-tools
want iproute2
want procps
want curl
# The viewer's browser test (make test-browser) drives Debian's chromium
# headless from Go (chromedp): no browser download by a test tool.
want chromium
# make images / run-images (and their smoke in make test): Debian's dockerd
# (containerd, runc), mmdebstrap for the stand-in builder image, jq for the
# tool builds (tools/images/engine.sh, bases.sh). dockerd is never started as
# a system service: engine.sh starts its own, off the host's network.
want docker.io
want mmdebstrap
want jq
command -v mvn  >/dev/null 2>&1 || need_pkgs+=(maven)
command -v java >/dev/null 2>&1 || need_pkgs+=(openjdk-17-jre-headless)
command -v make >/dev/null 2>&1 || need_pkgs+=(make)
command -v gcc  >/dev/null 2>&1 || need_pkgs+=(gcc libc6-dev)

if ((${#need_pkgs[@]})); then
  echo "install-deps: installing ${need_pkgs[*]}" >&2
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # No service may start on install (docker.io's would make a bridge and
  # iptables rules): Debian's policy-rc.d hook, only while we install.
  added_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod 755 /usr/sbin/policy-rc.d
    added_policy=1
  fi
  rc=0
  $SUDO apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null || rc=$?
  if [ -n "$added_policy" ]; then $SUDO rm -f /usr/sbin/policy-rc.d; fi
  [ "$rc" = 0 ] || exit "$rc"
fi

# Toolchain checks: clear messages instead of odd failures later.
command -v go >/dev/null 2>&1 || { echo "install-deps: Go 1.26+ is required (https://go.dev/dl)" >&2; exit 1; }
gov=$(go env GOVERSION); gov=${gov#go}
case "$gov" in 1.2[6-9]*|1.[3-9]*) ;; *) echo "install-deps: Go $gov found, 1.26+ required" >&2; exit 1;; esac
jv=$(java -XshowSettings:properties -version 2>&1 | awk -F'= ' '/java.specification.version/{print $2}')
if [ "${jv%%.*}" -lt 17 ] 2>/dev/null; then echo "install-deps: Java $jv found, 17+ required" >&2; exit 1; fi
exit 0
