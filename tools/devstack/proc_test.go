package devstack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestLaunchDetachedAndIdentity starts a detached process the way the stack
// starts a JVM, and follows it through pause, resume and kill.
func TestLaunchDetachedAndIdentity(t *testing.T) {
	dir := t.TempDir()
	mark := marker(dir, "sleeper")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	spec := launchSpec{
		// The marker rides along as an argument the script ignores.
		Args:    []string{"/bin/sh", "-c", "echo started; while :; do sleep 1; done", "sh", mark},
		Env:     []string{"PATH=/usr/bin:/bin"},
		WorkDir: dir,
		Log:     filepath.Join(dir, "sleeper.log"),
		Marker:  mark,
		Banner:  "starting sleeper",
	}
	pid, start, err := launch(ctx, spec)
	if err != nil {
		t.Fatalf("launch() = %v", err)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	boot := bootID()
	waitState(t, func() bool { return strings.Contains(readFile(t, spec.Log), "started") }, "logging")

	// Detached: not our child, in its own session.
	if ppid := parentPID(t, pid); ppid == os.Getpid() {
		t.Errorf("parent of launched process = us, want it reparented")
	}
	if sid := sessionID(t, pid); sid == sessionID(t, os.Getpid()) {
		t.Errorf("session of launched process = %d, ours, want a new one", sid)
	}

	if got := check(pid, start, boot, mark); got != procRunning {
		t.Fatalf("check() = %v, want running", got)
	}
	if got := check(pid, start+1, boot, mark); got != procGone {
		t.Errorf("check() with another start time = %v, want gone (pid reuse)", got)
	}
	if got := check(pid, start, boot, marker(dir, "other")); got != procGone {
		t.Errorf("check() with another marker = %v, want gone", got)
	}
	if got := check(pid, start, "another-boot", mark); got != procGone {
		t.Errorf("check() from another boot = %v, want gone", got)
	}

	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	waitState(t, func() bool { return check(pid, start, boot, mark) == procStopped }, "stopped")
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	waitState(t, func() bool { return check(pid, start, boot, mark) == procRunning }, "running")

	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := waitGone(wctx, func() bool { return check(pid, start, boot, mark) != procGone }); err != nil {
		t.Fatalf("waitGone after SIGKILL: %v", err)
	}
	if log := readFile(t, spec.Log); !strings.Contains(log, "starting sleeper") {
		t.Errorf("log = %q, want the banner", log)
	}
}

func TestLaunchFailsForMissingBinary(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, _, err := launch(ctx, launchSpec{
		Args: []string{filepath.Join(dir, "no-such-java")}, WorkDir: dir,
		Log: filepath.Join(dir, "x.log"), Marker: "no-such-java",
	})
	if err == nil {
		t.Fatalf("launch(missing binary) = nil, want an error")
	}
}

func TestFileLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.lock")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sh1, err := LockFile(ctx, path, syscall.LOCK_SH)
	if err != nil {
		t.Fatal(err)
	}
	sh2, err := LockFile(ctx, path, syscall.LOCK_SH)
	if err != nil {
		t.Fatalf("second shared lock: %v", err)
	}
	if _, ok, err := TryLockFile(path, syscall.LOCK_EX); ok || err != nil {
		t.Errorf("TryLockFile(EX) with shared holders = %t, %v, want false, nil", ok, err)
	}
	sh1.Unlock()
	sh2.Unlock()
	ex, ok, err := TryLockFile(path, syscall.LOCK_EX)
	if !ok || err != nil {
		t.Fatalf("TryLockFile(EX) with no holder = %t, %v, want true, nil", ok, err)
	}
	short, cancel2 := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel2()
	if _, err := LockFile(short, path, syscall.LOCK_SH); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("LockFile(SH) while exclusively held = %v, want deadline exceeded", err)
	}
	ex.Unlock()
}

func TestStateRoundTrip(t *testing.T) {
	dir := t.TempDir()
	if _, err := readState(dir); !errors.Is(err, ErrNoStack) {
		t.Fatalf("readState(empty dir) = %v, want ErrNoStack", err)
	}
	want := &state{
		Version: stateVersion, Dir: dir, PortBase: 29000, ZooKeepers: 3, EdgeBrokers: 3, HDFS: true,
		SCRAMUser: "u", SCRAMPass: "p",
		Processes: []*process{{Name: "zk-1", Kind: KindZooKeeper, Index: 1, Args: []string{"java"}, Ports: map[string]int{"client": 29181}, PID: 42, StartTime: 7}},
	}
	if err := writeState(want); err != nil {
		t.Fatal(err)
	}
	got, err := readState(dir)
	if err != nil {
		t.Fatal(err)
	}
	p, err := got.proc("zk-1")
	if err != nil || p.PID != 42 || p.StartTime != 7 || p.Ports["client"] != 29181 || got.SCRAMPass != "p" {
		t.Errorf("readState() = %+v / %+v, %v", got, p, err)
	}
	if _, err := got.proc("zk-9"); !errors.Is(err, ErrUnknownProcess) {
		t.Errorf("proc(zk-9) = %v, want ErrUnknownProcess", err)
	}
	if fi, err := os.Stat(filepath.Join(dir, stateFileName)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("state file mode = %v, %v, want 0600 (it holds a password)", fi.Mode(), err)
	}
}

func TestCleanDirRefusesForeignFiles(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"zk-1", "logs", "tls"} {
		if err := os.MkdirAll(filepath.Join(dir, n), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "thesis.txt"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := CleanDir(dir); err == nil {
		t.Fatalf("CleanDir with a foreign file = nil, want a refusal")
	}
	if err := os.Remove(filepath.Join(dir, "thesis.txt")); err != nil {
		t.Fatal(err)
	}
	if err := CleanDir(dir); err != nil {
		t.Fatalf("CleanDir() = %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("dir still there after CleanDir: %v", err)
	}
}

func TestRepoRoot(t *testing.T) {
	root := t.TempDir()
	deep := filepath.Join(root, "tools", "devstack", "x")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "go.mod"), []byte("module example\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := RepoRoot(deep); err != nil || got != root {
		t.Errorf("RepoRoot(%s) = %q, %v, want %q", deep, got, err, root)
	}
}

func parentPID(t *testing.T, pid int) int {
	t.Helper()
	return statField(t, pid, 4)
}

func sessionID(t *testing.T, pid int) int {
	t.Helper()
	return statField(t, pid, 6)
}

// statField reads the numeric field n of /proc/PID/stat, numbered as in
// proc(5): 4 is the parent pid, 6 the session. The command name (field 2)
// may hold spaces, so fields are counted after its last ')'.
func statField(t *testing.T, pid, n int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	rest := string(b[strings.LastIndexByte(string(b), ')')+1:])
	v, err := strconv.Atoi(strings.Fields(rest)[n-3])
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func waitState(t *testing.T, ok func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("process not %s after 5s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
