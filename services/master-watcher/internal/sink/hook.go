package sink

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// HookConfig configures the hook sink.
type HookConfig struct {
	// Command runs on every switch. A JSON array (["/usr/local/bin/x",
	// "arg"]) is executed directly; any other string runs with /bin/sh -c.
	Command string
	// Timeout bounds a run; the process group is killed after it.
	Timeout time.Duration
}

// ParseCommand turns a Command setting into argv.
func ParseCommand(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("empty hook command")
	}
	if strings.HasPrefix(s, "[") {
		var argv []string
		if err := json.Unmarshal([]byte(s), &argv); err != nil {
			return nil, fmt.Errorf("hook command as JSON array: %w", err)
		}
		if len(argv) == 0 || argv[0] == "" {
			return nil, errors.New("hook command: empty JSON array")
		}
		return argv, nil
	}
	return []string{"/bin/sh", "-c", s}, nil
}

// maxHookOutput bounds the output kept for the log (the tail is kept).
const maxHookOutput = 8 << 10

// Hook runs a command on every switch (the original restarted the node's
// Kubernetes services), with the change in its environment:
//
//	MASTER_ACTIVE_URL, MASTER_ACTIVE_ADDR, MASTER_ACTIVE_INDEX,
//	MASTER_PREVIOUS_URL, MASTER_PREVIOUS_INDEX (empty on the initial choice),
//	MASTER_REASON (initial, failover, failback), MASTER_READY (true/false),
//	MASTER_NODE, MASTER_SINCE (RFC 3339).
//
// Its exit status, duration and output are logged. Run it behind a Runner
// with retry so that it never blocks probing and a failed run is repeated
// with backoff until it succeeds or a newer change replaces it.
type Hook struct {
	argv    []string
	timeout time.Duration
	log     *slog.Logger
	m       *Metrics
}

// NewHook parses cfg.Command.
func NewHook(cfg HookConfig, log *slog.Logger, m *Metrics) (*Hook, error) {
	argv, err := ParseCommand(cfg.Command)
	if err != nil {
		return nil, err
	}
	if cfg.Timeout <= 0 {
		return nil, fmt.Errorf("hook timeout %v, want > 0", cfg.Timeout)
	}
	return &Hook{argv: argv, timeout: cfg.Timeout, log: log.With("sink", "hook"), m: m}, nil
}

// HookEnv is the environment a hook run adds for c.
func HookEnv(c Change) []string {
	prevURL, prevIdx := "", ""
	if c.Previous != nil {
		prevURL, prevIdx = c.Previous.URL, strconv.Itoa(c.Previous.Index)
	}
	return []string{
		"MASTER_ACTIVE_URL=" + c.Active.URL,
		"MASTER_ACTIVE_ADDR=" + c.Active.Addr,
		"MASTER_ACTIVE_INDEX=" + strconv.Itoa(c.Active.Index),
		"MASTER_PREVIOUS_URL=" + prevURL,
		"MASTER_PREVIOUS_INDEX=" + prevIdx,
		"MASTER_REASON=" + c.Reason,
		"MASTER_READY=" + strconv.FormatBool(c.Ready),
		"MASTER_NODE=" + c.Node,
		"MASTER_SINCE=" + c.Since.UTC().Format(time.RFC3339Nano),
	}
}

// Apply runs the command once for c. The error is for tests and the
// Runner; it is logged here already.
func (h *Hook) Apply(ctx context.Context, c Change) error {
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, h.argv[0], h.argv[1:]...)
	cmd.Env = append(os.Environ(), HookEnv(c)...)
	out := &tailBuffer{max: maxHookOutput}
	cmd.Stdout, cmd.Stderr = out, out
	// Own process group, killed as a whole: a shell's children must not
	// outlive the timeout.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	h.m.HookDuration.Observe(took.Seconds())
	attrs := []any{"command", strings.Join(h.argv, " "), "active", c.Active.URL, "reason", c.Reason,
		"took", took.Round(time.Millisecond).String(), "output", out.String()}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		h.m.HookRuns.WithLabelValues("ok").Inc()
		h.log.Info("hook ran", append(attrs, "exit_code", 0)...)
		return nil
	case ctx.Err() == context.DeadlineExceeded:
		h.m.HookRuns.WithLabelValues("timeout").Inc()
		h.log.Error("hook timed out and was killed", append(attrs, "timeout", h.timeout.String(), "err", err)...)
		return fmt.Errorf("hook: timed out after %v", h.timeout)
	case errors.As(err, &exitErr):
		h.m.HookRuns.WithLabelValues("exit_error").Inc()
		h.log.Error("hook failed", append(attrs, "exit_code", exitErr.ExitCode(), "err", err)...)
		return fmt.Errorf("hook: %w", err)
	default:
		h.m.HookRuns.WithLabelValues("start_error").Inc()
		h.log.Error("hook could not run", append(attrs, "err", err)...)
		return fmt.Errorf("hook: %w", err)
	}
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	max   int
	trunc bool
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(p)
	if extra := t.buf.Len() - t.max; extra > 0 {
		t.buf.Next(extra)
		t.trunc = true
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.TrimSpace(t.buf.String())
	if t.trunc {
		s = "..." + s
	}
	return s
}
