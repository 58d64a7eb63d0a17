package devstack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// procStat is what /proc/PID/stat tells about a process.
type procStat struct {
	State     byte   // R, S, D, T (stopped), Z (zombie), ...
	StartTime uint64 // clock ticks after boot (field 22)
}

func readProcStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	return parseProcStat(b)
}

// parseProcStat parses /proc/PID/stat; the command name (field 2) may hold
// spaces and parentheses, so fields are counted after its last ')'.
func parseProcStat(b []byte) (procStat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, errors.New("malformed /proc stat")
	}
	fields := strings.Fields(string(b[i+1:]))
	// fields[0] is field 3 (state); field 22 (starttime) is fields[19].
	if len(fields) < 20 || len(fields[0]) != 1 {
		return procStat{}, errors.New("malformed /proc stat")
	}
	start, err := strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("malformed /proc stat: %w", err)
	}
	return procStat{State: fields[0][0], StartTime: start}, nil
}

func readCmdline(pid int) (string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return "", err
	}
	return string(bytes.ReplaceAll(b, []byte{0}, []byte{' '})), nil
}

func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// procState is the liveness of a recorded process.
type procState int

const (
	procGone    procState = iota // never started, exited, zombie, or the pid is someone else's
	procRunning                  // running or sleeping
	procStopped                  // SIGSTOPped (paused)
)

// check tells whether pid, started at startTime in boot bootID with marker
// on its command line, still runs. A pid reused by another process differs
// in start time or command line.
func check(pid int, startTime uint64, boot, mark string) procState {
	if pid <= 0 || boot != bootID() {
		return procGone
	}
	st, err := readProcStat(pid)
	if err != nil || st.StartTime != startTime {
		return procGone
	}
	switch st.State {
	case 'Z', 'X', 'x':
		return procGone
	}
	cmd, err := readCmdline(pid)
	if err != nil || !strings.Contains(cmd, mark) {
		return procGone
	}
	if st.State == 'T' || st.State == 't' {
		return procStopped
	}
	return procRunning
}

// launchSpec is a command to start detached.
type launchSpec struct {
	Args    []string
	Env     []string
	WorkDir string
	Log     string // stdout and stderr are appended here
	Marker  string // a string of Args, seen in /proc/PID/cmdline after exec
	Banner  string // a line written to Log first
}

// launch starts a process in its own session that is not a child of this
// one: /bin/sh (a new session leader) forks the command into the background,
// prints its pid and exits. The command is then reparented to init, so it
// outlives the caller (a CLI run or a test binary) and no goroutine of the
// caller waits for it.
func launch(ctx context.Context, s launchSpec) (pid int, startTime uint64, err error) {
	logf, err := os.OpenFile(s.Log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return 0, 0, err
	}
	defer logf.Close()
	if s.Banner != "" {
		fmt.Fprintf(logf, "==== devstack %s: %s ====\n", time.Now().UTC().Format(time.RFC3339), s.Banner)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return 0, 0, err
	}
	defer r.Close()
	// fd 3 carries the pid back; the background command must not keep it.
	cmd := exec.Command("/bin/sh", "-c", `"$@" 3>&- & echo $! >&3`, "sh")
	cmd.Args = append(cmd.Args, s.Args...)
	cmd.Env = s.Env
	cmd.Dir = s.WorkDir
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		w.Close()
		return 0, 0, fmt.Errorf("start %s: %w", s.Args[0], err)
	}
	w.Close()
	out, readErr := io.ReadAll(io.LimitReader(r, 64))
	if err := cmd.Wait(); err != nil {
		return 0, 0, fmt.Errorf("launcher shell: %w", err)
	}
	if readErr != nil {
		return 0, 0, readErr
	}
	pid, err = strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		return 0, 0, fmt.Errorf("launcher shell printed %q: %w", out, err)
	}
	st, err := readProcStat(pid)
	if err != nil {
		return 0, 0, fmt.Errorf("process %d exited at once (see %s)", pid, s.Log)
	}
	// Wait for the exec, so the marker check of later liveness checks holds.
	deadline := time.Now().Add(10 * time.Second)
	for {
		cmdline, err := readCmdline(pid)
		if err != nil {
			return 0, 0, fmt.Errorf("process %d exited at once (see %s)", pid, s.Log)
		}
		if strings.Contains(cmdline, s.Marker) {
			break
		}
		if time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("process %d: no exec of %s within 10s", pid, s.Args[0])
		}
		select {
		case <-ctx.Done():
			return pid, st.StartTime, context.Cause(ctx)
		case <-time.After(5 * time.Millisecond):
		}
	}
	return pid, st.StartTime, nil
}

// waitGone polls until the process no longer runs.
func waitGone(ctx context.Context, alive func() bool) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for alive() {
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-t.C:
		}
	}
	return nil
}

// runForeground runs a command to completion with its output appended to
// logPath; on failure the error carries the tail of that output.
func runForeground(ctx context.Context, s launchSpec) error {
	logf, err := os.OpenFile(s.Log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	if s.Banner != "" {
		fmt.Fprintf(logf, "==== devstack %s: %s ====\n", time.Now().UTC().Format(time.RFC3339), s.Banner)
	}
	var buf bytes.Buffer
	cmd := exec.CommandContext(ctx, s.Args[0], s.Args[1:]...)
	cmd.Env = s.Env
	cmd.Dir = s.WorkDir
	cmd.Stdout = io.MultiWriter(logf, &buf)
	cmd.Stderr = cmd.Stdout
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%w\n%s", err, lastLines(buf.String(), 30))
	}
	return nil
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	s = strings.TrimRight(s, "\n")
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// tailFile returns the last n lines of a file, reading at most its last
// 256 KiB.
func tailFile(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	defer f.Close()
	const max = 256 << 10
	if fi, err := f.Stat(); err == nil && fi.Size() > max {
		if _, err := f.Seek(-max, io.SeekEnd); err != nil {
			return fmt.Sprintf("(log: %v)", err)
		}
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return fmt.Sprintf("(log: %v)", err)
	}
	return lastLines(string(b), n)
}
