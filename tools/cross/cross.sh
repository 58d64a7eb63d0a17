#!/usr/bin/env bash
# `make cross`: builds every service (and the selfcheck program) for
# linux/amd64, linux/arm64 and linux/arm/v7 with tools/cross/build.sh (the
# recipe the Dockerfile uses), then proves what was built:
#   - `file`/`ldd`: amd64 fully static; arm64 an aarch64 glibc binary;
#     armv7 a 32-bit ARM EABI5 binary;
#   - `go version -m`: GOARCH/GOARM, and the Kafka client linked
#     (confluent-kafka-go on amd64/arm64, franz-go and no cgo librdkafka on
#     armv7);
#   - runs each binary (natively on amd64, under qemu-aarch64-static /
#     qemu-arm-static otherwise): `--version` must report the platform and
#     Kafka backend; a bad duration in its config must be refused with a
#     config error naming the variable (the config path runs on the target
#     architecture); selfcheck must find the expected backends, create and
#     close clients on each and round-trip the codecs.
# Output: dist/cross/<os>-<arch>/<binary>.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
SERVICES=${SERVICES:-"camera-producer temp-producer edge-forwarder cloud-ingest-hdfs master-watcher viewer node-agent"}
PLATFORMS=${PLATFORMS:-"linux/amd64 linux/arm64 linux/arm/v7"}
out=${CROSS_OUT:-$root/dist/cross}
export VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}

fail=0
pass=0
ok()  { pass=$((pass+1)); echo "  ok   $*"; }
bad() { fail=$((fail+1)); echo "  FAIL $*" >&2; }

for tool in file qemu-aarch64-static qemu-arm-static; do
  command -v "$tool" >/dev/null || { echo "cross: $tool missing: run tools/scripts/install-deps.sh" >&2; exit 1; }
done

# A typed (duration, else integer) variable of each service, to feed a bad
# value; found from the service's config source like the deploy tests do.
envlist=$(go run ./tools/deploycheck/cmd/envvars $SERVICES)
badvar() {
  local svc=$1
  awk -v s="# $svc " '
    index($0, s) == 1 { on = 1; next }
    /^# / && index($0, "#   ") != 1 { on = 0 }
    on && $2 == "time.Duration" && !d { d = $1 }
    on && ($2 == "int" || $2 == "int64") && !i { i = $1 }
    END { print (d ? d : i) }' <<<"$envlist"
}

for platform in $PLATFORMS; do
  case $platform in
    linux/amd64)  dir=linux-amd64; run=();                                        want_file="x86-64";          kafka=confluent; backends=confluent,franz; dep=github.com/confluentinc/confluent-kafka-go/v2 ;;
    linux/arm64)  dir=linux-arm64; run=(qemu-aarch64-static -L /usr/aarch64-linux-gnu); want_file="ARM aarch64"; kafka=confluent; backends=confluent,franz; dep=github.com/confluentinc/confluent-kafka-go/v2 ;;
    linux/arm/v7) dir=linux-armv7; run=(qemu-arm-static -L /usr/arm-linux-gnueabihf);  want_file="ARM, EABI5";  kafka=franz;     backends=franz;           dep=github.com/twmb/franz-go ;;
    *) echo "cross: unknown platform $platform" >&2; exit 2 ;;
  esac
  plat=${platform#linux/}
  echo "== $platform"
  for svc in $SERVICES selfcheck; do
    bin=$out/$dir/$svc
    src=$svc; [ "$svc" = selfcheck ] && src=./tools/deploycheck/cmd/selfcheck
    if ! tools/cross/build.sh "$src" "$platform" "$bin"; then
      bad "$svc: build failed"; continue
    fi
    desc=$(file -b "$bin")
    if [[ $desc != *"$want_file"* ]]; then bad "$svc: file says: $desc"; else ok "$svc: $desc" ; fi
    if [ "$platform" = linux/amd64 ]; then
      if [[ $desc == *"statically linked"* || $desc == *"static-pie linked"* ]] && ! ldd "$bin" >/dev/null 2>&1; then
        ok "$svc: static (ldd: $(ldd "$bin" 2>&1 | head -1 | tr -s ' \t' ' '))"
      else
        bad "$svc: not static: $(ldd "$bin" 2>&1 | head -3)"
      fi
    fi
    info=$(go version -m "$bin")
    goarch=${plat%%/*}
    grep -q "GOARCH=$goarch\$" <<<"$info" || bad "$svc: go version -m lacks GOARCH=$goarch"
    if [ "$platform" = linux/arm/v7 ]; then
      grep -q 'GOARM=7' <<<"$info" || bad "$svc: not built with GOARM=7"
      if grep -q 'confluent-kafka-go' <<<"$info"; then bad "$svc: links confluent-kafka-go on armv7"; fi
    fi
    # The viewer is pure Go: no cgo where build.sh decides per dependency
    # (armv7).
    if [ "$svc" = viewer ] && [ "$platform" = linux/arm/v7 ]; then
      if grep -q 'CGO_ENABLED=0' <<<"$info"; then ok "viewer: no cgo on armv7"; else bad "viewer: built with cgo on armv7"; fi
    fi
    # Services that use Kafka link libs/bus, and with it the franz-go module
    # on every platform; master-watcher and the viewer do not. (`go version
    # -m` lists modules, not packages: libs/bus is in this repository's one
    # module, so it never shows itself.)
    uses_bus=0
    if grep -q 'dep[[:space:]]*github.com/twmb/franz-go[[:space:]]' <<<"$info"; then uses_bus=1; fi
    if [ $uses_bus = 1 ]; then
      if grep -q "dep[[:space:]]*$dep[[:space:]]" <<<"$info"; then ok "$svc: links $dep"; else bad "$svc: does not link $dep"; fi
    else
      if grep -q 'dep[[:space:]]*github.com/confluentinc/confluent-kafka-go' <<<"$info"; then
        bad "$svc: links confluent-kafka-go but not libs/bus"
      else
        ok "$svc: no Kafka client (links neither franz-go, so no libs/bus, nor confluent-kafka-go)"
      fi
    fi

    if [ "$svc" = selfcheck ]; then
      if res=$("${run[@]}" "$bin" -want "$backends" -default "$kafka" 2>/dev/null); then
        ok "selfcheck: $(tr '\n' ';' <<<"$res")"
      else
        bad "selfcheck: $res"
      fi
      continue
    fi
    v=$("${run[@]}" "$bin" --version 2>&1) || { bad "$svc --version: $v"; continue; }
    vplat=$platform
    wantk="kafka $kafka"; [ $uses_bus = 0 ] && wantk=""
    if [[ $v == "$svc "* && ( $v == *"$vplat,"* || $v == *"$vplat)"* ) && $v == *"$wantk"* ]]; then ok "$svc --version: $v"; else bad "$svc --version: '$v' lacks $vplat ${wantk:+/ $wantk}"; fi
    var=$(badvar "$svc")
    if [ -z "$var" ]; then bad "$svc: no duration or integer variable found in its config"; continue; fi
    set +e
    msg=$(env -i PATH="$PATH" "$var=not-a-number" SENSORNODE_ADMIN_ADDR=127.0.0.1:0 timeout 60 "${run[@]}" "$bin" 2>&1 </dev/null)
    rc=$?
    set -e
    if [ $rc -eq 1 ] && [[ $msg == *"config"* && $msg == *"$var"* ]]; then
      ok "$svc refuses $var=not-a-number: $(head -c 160 <<<"$msg")"
    else
      bad "$svc with $var=not-a-number: exit $rc, output: $(head -c 300 <<<"$msg")"
    fi
  done
done
echo "cross: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
