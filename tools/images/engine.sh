#!/usr/bin/env bash
# tools/images/engine.sh: a container engine of our own for `make images`, all
# state under $SENSORNODE_IMAGES_CACHE (default ~/.cache/sensornode/images).
#
#   engine.sh tools [NAME...]  build buildkitd, buildctl, docker-buildx, crane and the
#                      Dockerfile frontend from the Go module proxy (cached;
#                      a stamp .NAME-VERSION per binary). Safe to run twice at
#                      once: a build takes $BIN/.build.lock, and a second
#                      engine.sh waits for it, then finds the stamp
#   engine.sh prepare  tools, then bases.sh --prepare (the stand-in base images'
#                      root filesystems): all the slow work of a cold make
#                      images that needs no engine (compiling, downloading)
#   engine.sh prepare-bg  prepare in the background under nice -n 19 and return
#                      at once (make test starts it before its integration
#                      suites, so the compile overlaps them); output in
#                      $LOG/prepare-bg.log, exit status in $LOG/prepare-bg.rc.
#                      Nothing waits for it: a later tools/start waits for
#                      the build lock, and builds (loudly) what it left unbuilt
#   engine.sh start    tools, then start (idempotent): a registry on
#                      127.0.0.1:5000 (crane registry serve, blobs on disk),
#                      dockerd and buildkitd, and the buildx builder
#                      "sensornode" (remote driver to our buildkitd); registers
#                      qemu-arm and qemu-aarch64 with binfmt_misc if they are not
#                      (from qemu-user-static's /usr/lib/binfmt.d, flag F)
#   engine.sh stop     stop what start started (by pid file)
#   engine.sh status   what runs
#   engine.sh env      the environment the docker CLI needs, for eval
#
# Environment: SENSORNODE_IMAGES_CACHE (all state), SENSORNODE_IMAGES_REGISTRY_ADDR
# (127.0.0.1:5000), SENSORNODE_IMAGES_TOOLS_GOCACHE and _GOMODCACHE (the Go
# build and module caches of the tool builds; default: the user's), e.g. all
# pointed at empty directories to time a fresh machine;
# SENSORNODE_IMAGES_LOCK_WAIT (2400): seconds to wait for another build of a
# tool (or of the base tarballs) before failing, so nothing hangs for ever.
#
# dockerd runs with --bridge=none --iptables=false --ip-forward=false
# --ip-masq=false and its own data and exec roots: it does not touch the
# host's network. Containers it runs use the host network (loopback).
# buildx's docker-container driver would need a public BuildKit image; the
# remote driver talks to a buildkitd we start (OCI worker, runc, host network:
# apt-get in the builder stage reaches Debian's mirror, Go modules the proxy).
set -euo pipefail

CACHE=${SENSORNODE_IMAGES_CACHE:-$HOME/.cache/sensornode/images}
BIN=$CACHE/bin
RUN=$CACHE/run
LOG=$CACHE/log
REGISTRY_ADDR=${SENSORNODE_IMAGES_REGISTRY_ADDR:-127.0.0.1:5000}
BUILDER=sensornode
HERE=$(cd "$(dirname "$0")" && pwd)
LOCK_WAIT=${SENSORNODE_IMAGES_LOCK_WAIT:-2400}

BUILDKIT_VERSION=v0.34.2
BUILDX_VERSION=v0.38.2
CRANE_VERSION=v0.22.1

export DOCKER_HOST=unix://$RUN/docker.sock
export DOCKER_CONFIG=$CACHE/docker-config
export BUILDX_BUILDER=$BUILDER

log() { echo "engine: $*" >&2; }
die() { echo "engine: $*" >&2; exit 1; }

# build_tool NAME VERSION MODULE PACKAGE: build PACKAGE of
# MODULE@VERSION into $BIN/NAME. `go install pkg@version` refuses modules
# whose go.mod has replace or exclude directives (buildkit has excludes), so
# build inside a generated wrapper module that requires MODULE@VERSION and
# copies its replace, exclude and godebug lines: the build list is then the
# one MODULE's own go.mod gives. Every tool is built with CGO_ENABLED=0, as
# their releases are (static): buildkitd, buildctl and the frontend then share
# every compiled package (with cgo on for some and off for others, net and all
# that imports it compile twice), which matters on a cold build cache.
build_tool() {
	local name=$1 version=$2 module=$3 pkg=$4
	local stamp=$BIN/.$name-$version
	[[ -f $stamp && -x $BIN/$name ]] && return 0
	# One build at a time (make test's background prepare-bg and a foreground
	# make images may both get here): wait for the other, then look again.
	exec 9>"$BIN/.build.lock"
	if ! flock -n 9; then
		log "waiting for another build of the tools to finish ($BIN/.build.lock; make test's background one logs to $LOG/prepare-bg.log)"
		flock -w "$LOCK_WAIT" 9 || die "another build of the tools held $BIN/.build.lock for ${LOCK_WAIT}s (SENSORNODE_IMAGES_LOCK_WAIT)"
	fi
	if [[ -f $stamp && -x $BIN/$name ]]; then
		exec 9>&-
		return 0
	fi
	log "building $name $version (wrapper module; a few minutes)"
	local w
	w=$(mktemp -d "${TMPDIR:-/tmp}/sensornode-wrap-$name.XXXXXX")
	(
		trap 'rm -rf "$w"' EXIT
		cd "$w"
		export GOWORK=off GOFLAGS=-buildvcs=false
		[[ -z ${SENSORNODE_IMAGES_TOOLS_GOCACHE:-} ]] || export GOCACHE=$SENSORNODE_IMAGES_TOOLS_GOCACHE
		[[ -z ${SENSORNODE_IMAGES_TOOLS_GOMODCACHE:-} ]] || export GOMODCACHE=$SENSORNODE_IMAGES_TOOLS_GOMODCACHE
		go mod init sensornode.local/wrap/"$name" >/dev/null 2>&1
		local dl gomod
		dl=$(go mod download -json "$module@$version") ||
			die "go mod download $module@$version: $(jq -r '.Error // empty' <<<"$dl")"
		gomod=$(jq -r .GoMod <<<"$dl")
		local edits=()
		mapfile -t edits < <(go mod edit -json "$gomod" | jq -r '
			def mv: .Path + (if .Version then "@" + .Version else "" end);
			(.Replace // [])[] | "-replace=" + (.Old | mv) + "=" + (.New | mv)')
		mapfile -t -O "${#edits[@]}" edits < <(go mod edit -json "$gomod" | jq -r '
			(.Exclude // [])[] | "-exclude=" + .Path + "@" + .Version')
		mapfile -t -O "${#edits[@]}" edits < <(go mod edit -json "$gomod" | jq -r '
			(.Godebug // [])[] | "-godebug=" + .Key + "=" + .Value')
		local gover
		gover=$(go mod edit -json "$gomod" | jq -r .Go)
		go mod edit -go="$gover" -require="$module@$version" "${edits[@]}"
		# Resolve the package's imports (and go.sum) against that build list.
		go get "$pkg@$version" >/dev/null
		CGO_ENABLED=0 nice -n 19 go build -trimpath -o "$BIN/$name.new" \
			-ldflags "-s -w -X $module/version.Version=$version -X $module/version.Package=$module" "$pkg"
	) 9>&-
	mv "$BIN/$name.new" "$BIN/$name"
	rm -f "$BIN/.$name-"*
	touch "$stamp"
	exec 9>&- # the daemons start later must not hold the lock
}

# cmd_tools [NAME...]: build the tools (all, or the NAMEs) whose stamp is missing.
cmd_tools() {
	mkdir -p "$BIN"
	report_prepare_bg
	command -v jq >/dev/null || die "jq is needed (apt-get install jq)"
	if (($#)); then
		local n
		for n in "$@"; do tool_"${n//-/_}"; done
		return
	fi
	local n
	for n in buildkitd buildctl dockerfile-frontend docker-buildx crane; do tool_"${n//-/_}"; done
	mkdir -p "$DOCKER_CONFIG/cli-plugins"
	ln -sfn "$BIN/docker-buildx" "$DOCKER_CONFIG/cli-plugins/docker-buildx"
}

# cmd_prepare: the tools and the base tarballs (bases.sh --prepare: mmdebstrap
# runs as root; without root only the tools, and make images fails later
# anyway, as it needs root).
cmd_prepare() {
	cmd_tools
	if [[ $(id -u) == 0 ]]; then
		"$HERE/bases.sh" --prepare
	else
		log "not root: base tarballs not prepared (make images needs root)"
	fi
}

# cmd_prepare_bg: cmd_prepare in the background, niced, all its descriptors
# on the log (a pipe make's caller reads, e.g. `.ci/run | tee`, must not stay
# open until it ends); the exit status goes to $LOG/prepare-bg.rc.
cmd_prepare_bg() {
	mkdir -p "$BIN" "$LOG"
	rm -f "$LOG/prepare-bg.rc"
	nohup nice -n 19 bash -c '"$1" prepare; echo $? >"$2"' prepare-bg "$HERE/engine.sh" "$LOG/prepare-bg.rc" \
		>"$LOG/prepare-bg.log" 2>&1 </dev/null &
	log "preparing in the background (pid $!, nice 19): tools and base tarballs; log $LOG/prepare-bg.log"
}

# report_prepare_bg: a failed background prepare does not hide: say so,
# with the end of its log, before the foreground builds what it left.
report_prepare_bg() {
	local rc
	[[ -f $LOG/prepare-bg.rc ]] || return 0
	rc=$(cat "$LOG/prepare-bg.rc")
	[[ $rc == 0 ]] && return 0
	log "the background prepare (make test's images-prepare-bg) FAILED (exit $rc); the end of $LOG/prepare-bg.log:"
	tail -n 30 "$LOG/prepare-bg.log" | sed 's/^/  | /' >&2
	log "building what it left in the foreground"
	mv -f "$LOG/prepare-bg.rc" "$LOG/prepare-bg.rc.reported"
}

tool_buildkitd() {
	build_tool buildkitd "$BUILDKIT_VERSION" github.com/moby/buildkit github.com/moby/buildkit/cmd/buildkitd
}
tool_buildctl() {
	build_tool buildctl "$BUILDKIT_VERSION" github.com/moby/buildkit github.com/moby/buildkit/cmd/buildctl
}
# Runs inside the frontend image (FROM scratch): static.
tool_dockerfile_frontend() {
	build_tool dockerfile-frontend "$BUILDKIT_VERSION" github.com/moby/buildkit \
		github.com/moby/buildkit/frontend/dockerfile/cmd/dockerfile-frontend
}
tool_docker_buildx() {
	build_tool docker-buildx "$BUILDX_VERSION" github.com/docker/buildx github.com/docker/buildx/cmd/buildx
}
tool_crane() {
	build_tool crane "$CRANE_VERSION" github.com/google/go-containerregistry \
		github.com/google/go-containerregistry/cmd/crane
}

# alive NAME: the process in $RUN/NAME.pid runs.
alive() {
	local pid
	[[ -f $RUN/$1.pid ]] || return 1
	pid=$(cat "$RUN/$1.pid")
	[[ -n $pid ]] && kill -0 "$pid" 2>/dev/null
}

# wait_for WHAT SECONDS COMMAND...: retry COMMAND until it succeeds.
wait_for() {
	local what=$1 secs=$2
	shift 2
	local i
	for ((i = 0; i < secs * 5; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	die "$what did not come up in ${secs}s (logs in $LOG)"
}

write_configs() {
	cat >"$CACHE/daemon.json" <<EOF
{"deprecated-key-path": "$CACHE/docker-key.json"}
EOF
	cat >"$CACHE/buildkitd.toml" <<EOF
# Generated by tools/images/engine.sh.
[otel]
  # not the default /run/buildkit/otel-grpc.sock: nothing of ours outside the cache
  socketPath = "$RUN/buildkitd-otel.sock"
[worker.oci]
  enabled = true
  # As many build steps at once as there are cores (15 images would
  # otherwise compile at once on a shared machine).
  max-parallelism = 2
  gc = true
  gckeepstorage = "20GB"
[worker.containerd]
  enabled = false
[registry."$REGISTRY_ADDR"]
  http = true
EOF
}

start_registry() {
	alive registry && return 0
	log "registry on $REGISTRY_ADDR (blobs in $CACHE/registry; manifests live in memory)"
	mkdir -p "$CACHE/registry"
	setsid "$BIN/crane" registry serve --address "$REGISTRY_ADDR" --disk "$CACHE/registry" \
		>>"$LOG/registry.log" 2>&1 </dev/null &
	echo $! >"$RUN/registry.pid"
	wait_for registry 20 curl -fsS "http://$REGISTRY_ADDR/v2/"
}

start_dockerd() {
	alive dockerd && return 0
	log "dockerd (data root $CACHE/docker, socket $RUN/docker.sock)"
	rm -f "$RUN/docker.sock"
	setsid nice -n 19 dockerd \
		--config-file "$CACHE/daemon.json" \
		--data-root "$CACHE/docker" \
		--exec-root "$RUN/docker" \
		--pidfile "$RUN/dockerd.docker-pid" \
		--host "$DOCKER_HOST" \
		--bridge=none --iptables=false --ip-forward=false --ip-masq=false \
		>>"$LOG/dockerd.log" 2>&1 </dev/null &
	echo $! >"$RUN/dockerd.pid"
	wait_for dockerd 60 docker info
}

start_buildkitd() {
	alive buildkitd && return 0
	log "buildkitd (root $CACHE/buildkit, socket $RUN/buildkitd.sock)"
	rm -f "$RUN/buildkitd.sock"
	setsid nice -n 19 "$BIN/buildkitd" \
		--config "$CACHE/buildkitd.toml" \
		--root "$CACHE/buildkit" \
		--addr "unix://$RUN/buildkitd.sock" \
		>>"$LOG/buildkitd.log" 2>&1 </dev/null &
	echo $! >"$RUN/buildkitd.pid"
	wait_for buildkitd 60 "$BIN/buildctl" --addr "unix://$RUN/buildkitd.sock" debug workers
}

ensure_builder() {
	if ! docker buildx inspect "$BUILDER" >/dev/null 2>&1; then
		docker buildx create --name "$BUILDER" --driver remote "unix://$RUN/buildkitd.sock" >/dev/null
	fi
	docker buildx inspect --bootstrap "$BUILDER" >/dev/null
}

# ensure_binfmt: docker run --platform linux/arm/v7 (node5 of make
# run-images, make images-check) needs qemu registered with binfmt_misc, with
# flag F (the interpreter is opened now, so it works inside containers).
# Debian's qemu-user-static ships the entries; without systemd-binfmt (a
# fresh VM or container) nothing registers them.
ensure_binfmt() {
	local dir=/proc/sys/fs/binfmt_misc a conf
	for a in arm aarch64; do
		[[ -e $dir/qemu-$a ]] && continue
		if [[ ! -e $dir/register ]]; then
			mount -t binfmt_misc binfmt_misc "$dir" || die "cannot mount binfmt_misc on $dir"
			[[ -e $dir/qemu-$a ]] && continue
		fi
		conf=/usr/lib/binfmt.d/qemu-$a.conf
		[[ -f $conf ]] || die "no $conf (apt-get install qemu-user-static)"
		log "registering qemu-$a with binfmt_misc ($conf)"
		grep -v '^[#;]' "$conf" | grep . >"$dir/register"
	done
}

cmd_start() {
	command -v dockerd >/dev/null || die "no dockerd (Debian: apt-get install docker.io)"
	command -v docker >/dev/null || die "no docker CLI"
	[[ $(id -u) == 0 ]] || die "dockerd and buildkitd (rootful runc) need root"
	cmd_tools
	ensure_binfmt
	mkdir -p "$RUN" "$LOG"
	write_configs
	start_registry
	start_dockerd
	start_buildkitd
	ensure_builder
	log "up: registry $REGISTRY_ADDR, builder $BUILDER; eval \"\$($0 env)\" for the docker CLI"
}

# stop_one NAME: TERM the process of $RUN/NAME.pid, KILL after 30 s.
stop_one() {
	local name=$1 pid i
	[[ -f $RUN/$name.pid ]] || return 0
	pid=$(cat "$RUN/$name.pid")
	if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
		log "stopping $name ($pid)"
		kill -TERM "$pid"
		for ((i = 0; i < 150; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.2
		done
		kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
	fi
	rm -f "$RUN/$name.pid"
}

# unmount_leftovers: dockerd leaves the host's network namespace bind-mounted
# at $RUN/docker/netns/default when it stops (and a killed daemon may leave
# more); unmount whatever is still mounted below $CACHE, deepest first, so
# nothing of ours stays mounted and the cache can be removed.
unmount_leftovers() {
	local m
	awk -v c="$CACHE/" 'index($2, c) == 1 { print $2 }' /proc/self/mounts | sort -r |
		while read -r m; do
			umount "$m" 2>/dev/null || umount -l "$m" || log "cannot unmount $m"
		done
}

cmd_stop() {
	stop_one buildkitd
	stop_one dockerd
	stop_one registry
	unmount_leftovers
}

cmd_status() {
	local n rc=0
	for n in registry dockerd buildkitd; do
		if alive "$n"; then echo "$n: running (pid $(cat "$RUN/$n.pid"))"; else echo "$n: stopped"; rc=1; fi
	done
	return $rc
}

cmd_env() {
	echo "export DOCKER_HOST=$DOCKER_HOST DOCKER_CONFIG=$DOCKER_CONFIG BUILDX_BUILDER=$BUILDX_BUILDER"
}

case ${1:-} in
tools) shift; cmd_tools "$@" ;;
prepare) cmd_prepare ;;
prepare-bg) cmd_prepare_bg ;;
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
env) cmd_env ;;
*) die "usage: $0 tools|prepare|prepare-bg|start|stop|status|env" ;;
esac
