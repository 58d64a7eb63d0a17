package images

// Tests of engine.sh's tool builds that need no engine, no root and no
// network (run by go test ./... and make test): `go` is a stub on PATH that
// builds nothing but a file, and can be held in its build step, so two
// engine.sh processes overlap for sure.

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// stubGo is `go` for build_tool: mod init/download/edit/get answer as the
// real one would for a module without replace lines; build writes its -o
// file, counts itself in $STUB_DIR/builds, and when $STUB_DIR/hold exists
// waits (touching $STUB_DIR/building) until it is removed. STUB_FAIL=1 makes
// mod download fail as with GOPROXY=off.
const stubGo = `#!/usr/bin/env bash
set -eu
case "$1 ${2:-}" in
"mod init") exit 0 ;;
"mod download")
	if [[ ${STUB_FAIL:-} == 1 ]]; then echo '{"Error": "stub: module lookup disabled"}'; exit 1; fi
	echo "module stub" >"$STUB_DIR/stub.mod"
	echo "{\"GoMod\": \"$STUB_DIR/stub.mod\"}" ;;
"mod edit")
	if [[ $3 == -json ]]; then echo '{"Go": "1.22"}'; fi ;;
"get "*) exit 0 ;;
"build "*)
	echo x >>"$STUB_DIR/builds"
	if [[ -e $STUB_DIR/hold ]]; then
		touch "$STUB_DIR/building"
		while [[ -e $STUB_DIR/hold ]]; do sleep 0.05; done
	fi
	shift
	while (($#)); do
		if [[ $1 == -o ]]; then echo '#!/bin/sh' >"$2"; chmod +x "$2"; fi
		shift
	done ;;
*) echo "stub go: unexpected: $*" >&2; exit 2 ;;
esac
`

// engineEnv is a cache and a PATH with the stub go, for engine.sh.
type engineEnv struct {
	t     *testing.T
	cache string
	stub  string
	env   []string
}

func newEngineEnv(t *testing.T) *engineEnv {
	t.Helper()
	for _, tool := range []string{"jq", "flock"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed (tools/scripts/install-deps.sh): %v", tool, err)
		}
	}
	dir := t.TempDir()
	stub := filepath.Join(dir, "stub")
	if err := os.MkdirAll(filepath.Join(stub, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(stub, "bin", "go"), []byte(stubGo), 0o755); err != nil {
		t.Fatal(err)
	}
	e := &engineEnv{t: t, cache: filepath.Join(dir, "cache"), stub: stub}
	e.env = append(os.Environ(),
		"PATH="+filepath.Join(stub, "bin")+":"+os.Getenv("PATH"),
		"STUB_DIR="+stub,
		"SENSORNODE_IMAGES_CACHE="+e.cache,
		"TMPDIR="+dir,
	)
	return e
}

// cmd is engine.sh ARGS with the stub environment plus extra.
func (e *engineEnv) cmd(stderr *bytes.Buffer, extra []string, args ...string) *exec.Cmd {
	c := exec.Command("./engine.sh", args...)
	c.Env = append(append([]string{}, e.env...), extra...)
	c.Stdout = stderr
	c.Stderr = stderr
	return c
}

// builds is how many times the stub's go build ran.
func (e *engineEnv) builds() int {
	b, err := os.ReadFile(filepath.Join(e.stub, "builds"))
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return strings.Count(string(b), "x")
}

// waitFor polls cond (a condition on files another process writes) until it
// holds; the deadline only keeps a broken test from hanging.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// exists: path exists.
func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// Two engine.sh tools at once (make test's background prepare and a
// foreground make images): one builds, the other waits for it and builds
// nothing.
func TestEngineToolsConcurrentBuildOnce(t *testing.T) {
	e := newEngineEnv(t)
	hold := filepath.Join(e.stub, "hold")
	if err := os.WriteFile(hold, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var outA bytes.Buffer
	a := e.cmd(&outA, nil, "tools", "crane")
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first build to start", func() bool { return exists(filepath.Join(e.stub, "building")) })

	// B's output goes to a file, readable while B runs.
	bLog := filepath.Join(e.stub, "b.log")
	f, err := os.Create(bLog)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := exec.Command("./engine.sh", "tools", "crane")
	b.Env = e.env
	b.Stdout, b.Stderr = f, f
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the second engine.sh to wait for the lock", func() bool {
		out, _ := os.ReadFile(bLog)
		return strings.Contains(string(out), "waiting for another build of the tools")
	})
	if err := os.Remove(hold); err != nil {
		t.Fatal(err)
	}
	if err := a.Wait(); err != nil {
		t.Fatalf("first engine.sh tools crane: %v\n%s", err, outA.String())
	}
	if err := b.Wait(); err != nil {
		out, _ := os.ReadFile(bLog)
		t.Fatalf("second engine.sh tools crane: %v\n%s", err, out)
	}
	if got := e.builds(); got != 1 {
		out, _ := os.ReadFile(bLog)
		t.Errorf("go build ran %d times, want 1 (second engine.sh:\n%s)", got, out)
	}
	for _, f := range []string{"crane", ".crane-v0.22.1"} {
		if !exists(filepath.Join(e.cache, "bin", f)) {
			t.Errorf("%s not in the cache's bin", f)
		}
	}
}

// A failed background prepare does not hide: the next engine.sh tools
// prints its status and the end of its log (once), then builds itself.
func TestEnginePrepareBgFailureReported(t *testing.T) {
	e := newEngineEnv(t)
	var out bytes.Buffer
	if err := e.cmd(&out, []string{"STUB_FAIL=1"}, "prepare-bg").Run(); err != nil {
		t.Fatalf("engine.sh prepare-bg: %v\n%s", err, out.String())
	}
	rcFile := filepath.Join(e.cache, "log", "prepare-bg.rc")
	waitFor(t, "the background prepare to end", func() bool { return exists(rcFile) })
	if rc, _ := os.ReadFile(rcFile); strings.TrimSpace(string(rc)) == "0" {
		t.Fatalf("prepare-bg.rc = 0, want a failure")
	}

	out.Reset()
	if err := e.cmd(&out, nil, "tools", "crane").Run(); err != nil {
		t.Fatalf("engine.sh tools crane: %v\n%s", err, out.String())
	}
	for _, want := range []string{"background prepare", "FAILED", "stub: module lookup disabled", "building crane"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("engine.sh tools after a failed prepare-bg: no %q in\n%s", want, out.String())
		}
	}
	out.Reset()
	if err := e.cmd(&out, nil, "tools", "crane").Run(); err != nil {
		t.Fatalf("engine.sh tools crane again: %v\n%s", err, out.String())
	}
	if strings.Contains(out.String(), "FAILED") {
		t.Errorf("the failure is reported again:\n%s", out.String())
	}
}
