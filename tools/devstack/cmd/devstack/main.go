// Command devstack runs ZooKeeper, Kafka (edge and cloud) and HDFS on
// 127.0.0.1 for local runs and integration tests. See tools/devstack/README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/sensornode/sensornode/libs/svc"
	"github.com/sensornode/sensornode/tools/devstack"
)

const usage = `usage: devstack <command> [flags]

commands:
  up       start the stack (or what of it is not running) and wait until healthy
           flags: --port-base N (default 29000) --zookeepers 3|5 --edge-brokers 3|5
                  --no-hdfs --timeout 5m; left out, they keep the values the
                  stack in --dir was created with
  down     stop every process (SIGTERM, SIGKILL after a grace period)
  status   show every process: pid, state, health, ports
  env      print export lines for the stack's endpoints
  logs     [NAME] [-f] [-n LINES]: a process's log (no NAME: the tail of each)
  kill     NAME [--signal KILL]: signal a process and wait until it is gone
  start    NAME: start a process and wait until it is healthy again
  pause    NAME: SIGSTOP a process
  resume   NAME: SIGCONT a paused process
  clean    down, then delete the stack dir (data, logs, state)

every command takes --dir DIR (default: $SENSORNODE_DEVSTACK_DIR, else
.devstack at the repo root, found by walking up to go.mod).
`

func main() { svc.ToolMain("devstack", run) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmd, args, fs, err := svc.Subcommand("devstack", usage, args, stderr)
	if err != nil {
		return err
	}
	dir := fs.String("dir", "", "stack dir (default $SENSORNODE_DEVSTACK_DIR or $REPO/.devstack)")
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))

	switch cmd {
	case "up":
		portBase := fs.Int("port-base", devstack.DefaultPortBase, "first port of the stack's 1000-port range")
		zks := fs.Int("zookeepers", devstack.DefaultZooKeepers, "ZooKeeper ensemble size: 3 or 5")
		edge := fs.Int("edge-brokers", devstack.DefaultEdgeBrokers, "edge Kafka brokers: 3 or 5")
		noHDFS := fs.Bool("no-hdfs", false, "leave out HDFS")
		timeout := fs.Duration("timeout", devstack.DefaultUpTimeout, "give up after this long")
		if _, err := parse(fs, args, 0); err != nil {
			return err
		}
		d, err := stackDir(*dir)
		if err != nil {
			return err
		}
		// Flags left out keep what the stack in d was brought up with.
		if prev, err := devstack.Open(d); err == nil {
			set := map[string]bool{}
			fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
			l := prev.Layout()
			if !set["port-base"] {
				*portBase = l.Base
			}
			if !set["zookeepers"] {
				*zks = l.ZooKeepers
			}
			if !set["edge-brokers"] {
				*edge = l.EdgeBrokers
			}
			if !set["no-hdfs"] {
				*noHDFS = !l.HDFS
			}
		}
		ctx, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		start := time.Now()
		st, err := devstack.Up(ctx, devstack.Config{
			Dir: d, PortBase: *portBase, ZooKeepers: *zks, EdgeBrokers: *edge, NoHDFS: *noHDFS, Logger: logger,
		})
		if err != nil {
			return fmt.Errorf("up: %w\n(processes that started keep running: see `devstack status`, `devstack logs NAME`, `devstack down`)", err)
		}
		printEndpoints(stdout, st)
		fmt.Fprintf(stdout, "\nhealthy after %s; `devstack env` prints export lines\n", time.Since(start).Round(100*time.Millisecond))
		return nil

	case "down", "clean":
		if _, err := parse(fs, args, 0); err != nil {
			return err
		}
		d, err := stackDir(*dir)
		if err != nil {
			return err
		}
		st, err := devstack.Open(d)
		if errors.Is(err, devstack.ErrNoStack) {
			if cmd == "clean" {
				return devstack.CleanDir(d)
			}
			fmt.Fprintf(stderr, "no stack in %s\n", d)
			return nil
		}
		if err != nil {
			return err
		}
		st = st.WithLogger(logger)
		if cmd == "clean" {
			return st.Clean(ctx)
		}
		return st.Down(ctx)

	case "status":
		_, st, err := parseOpen(fs, args, 0, dir)
		if err != nil {
			return err
		}
		return printStatus(ctx, stdout, st)

	case "env":
		_, st, err := parseOpen(fs, args, 0, dir)
		if err != nil {
			return err
		}
		for _, v := range st.Env() {
			fmt.Fprintf(stdout, "export %s=%s\n", v.Name, shellQuote(v.Value))
		}
		return nil

	case "logs":
		follow := fs.Bool("f", false, "follow")
		lines := fs.Int("n", 0, "print only the last N lines (default: all with NAME, 15 without)")
		pos, st, err := parseOpen(fs, args, -1, dir)
		if err != nil {
			return err
		}
		return logs(ctx, stdout, st, pos, *follow, *lines)

	case "kill":
		sigName := fs.String("signal", "TERM", "signal: TERM, KILL, INT, HUP, QUIT, USR1, USR2 or a number")
		pos, st, err := parseOpen(fs, args, 1, dir)
		if err != nil {
			return err
		}
		sig, err := parseSignal(*sigName)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		return st.WithLogger(logger).Kill(ctx, pos[0], sig)

	case "start":
		timeout := fs.Duration("timeout", 3*time.Minute, "give up after this long")
		pos, st, err := parseOpen(fs, args, 1, dir)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		return st.WithLogger(logger).Start(ctx, pos[0])

	case "pause", "resume":
		pos, st, err := parseOpen(fs, args, 1, dir)
		if err != nil {
			return err
		}
		if cmd == "pause" {
			return st.Pause(pos[0])
		}
		return st.Resume(pos[0])

	}
	return svc.UnknownCommand(cmd, usage, stdout, stderr)
}

// parse parses flags that may come before, between or after positional
// arguments, and checks the count of positionals (-1: any).
func parse(fs *flag.FlagSet, args []string, want int) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if want >= 0 && len(pos) != want {
		if want == 1 {
			return nil, fmt.Errorf("%s: want a process name", fs.Name())
		}
		return nil, fmt.Errorf("%s: unexpected arguments %q", fs.Name(), pos)
	}
	return pos, nil
}

// stackDir is --dir, else $SENSORNODE_DEVSTACK_DIR, else $REPO/.devstack.
func stackDir(flagDir string) (string, error) {
	if flagDir != "" {
		return filepath.Abs(flagDir)
	}
	d, err := devstack.DefaultDir()
	if err != nil {
		return "", fmt.Errorf("%w: pass --dir or set %s", err, devstack.EnvDir)
	}
	return d, nil
}

// parseOpen parses args like parse, then opens the stack in --dir (dir
// is read after parsing): the start of every command that works on a
// stack that exists.
func parseOpen(fs *flag.FlagSet, args []string, want int, dir *string) ([]string, *devstack.Stack, error) {
	pos, err := parse(fs, args, want)
	if err != nil {
		return nil, nil, err
	}
	d, err := stackDir(*dir)
	if err != nil {
		return nil, nil, err
	}
	st, err := devstack.Open(d)
	if errors.Is(err, devstack.ErrNoStack) {
		return nil, nil, fmt.Errorf("no stack in %s: run `devstack up`", d)
	}
	return pos, st, err
}

func printEndpoints(w io.Writer, st *devstack.Stack) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "stack dir\t%s\n", st.Dir())
	fmt.Fprintf(tw, "zookeeper\t%s (chroots %s, %s)\n", st.ZooKeeperConnect(), st.EdgeChroot(), st.CloudChroot())
	fmt.Fprintf(tw, "edge kafka\t%s\n", st.EdgeBootstrap())
	fmt.Fprintf(tw, "cloud kafka\t%s (PLAINTEXT)\n", st.CloudBootstrap())
	fmt.Fprintf(tw, "cloud kafka\t%s (SASL_SSL %s, user %s, password in %s, CA %s)\n",
		st.CloudSecureBootstrap(), st.SCRAMMechanism(), st.SCRAMUser(), st.SCRAMPasswordFile(), st.CACertFile())
	if st.HasHDFS() {
		fmt.Fprintf(tw, "hdfs\thdfs://%s (web/jmx http://%s)\n", st.NameNodeAddr(), st.NameNodeHTTP())
	}
	tw.Flush()
}

func printStatus(ctx context.Context, w io.Writer, st *devstack.Stack) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ps, err := st.Status(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tPID\tSTATE\tHEALTH\tPORTS\tPROBLEM")
	unhealthy := 0
	for _, p := range ps {
		state, pid := "stopped", "-"
		if p.Running {
			state, pid = "running", strconv.Itoa(p.PID)
		}
		if p.Paused {
			state = "paused"
		}
		health := "healthy"
		switch {
		case !p.Running:
			health = "-"
			unhealthy++
		case !p.Healthy:
			health = "UNHEALTHY"
			unhealthy++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", p.Name, pid, state, health, formatPorts(p.Ports), firstLine(p.Problem))
	}
	tw.Flush()
	if unhealthy > 0 {
		return fmt.Errorf("%d of %d processes not running or unhealthy", unhealthy, len(ps))
	}
	return nil
}

func formatPorts(ports map[string]int) string {
	names := make([]string, 0, len(ports))
	for n := range ports {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s=%d", n, ports[n])
	}
	return strings.Join(parts, ",")
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}

// signals are the names kill --signal takes, without "SIG".
var signals = map[string]syscall.Signal{
	"TERM": syscall.SIGTERM, "KILL": syscall.SIGKILL, "INT": syscall.SIGINT, "HUP": syscall.SIGHUP,
	"QUIT": syscall.SIGQUIT, "USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2,
}

func parseSignal(s string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		return syscall.Signal(n), nil
	}
	if sig, ok := signals[strings.TrimPrefix(strings.ToUpper(s), "SIG")]; ok {
		return sig, nil
	}
	return 0, fmt.Errorf("unknown signal %q", s)
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:,=+@%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func logs(ctx context.Context, w io.Writer, st *devstack.Stack, names []string, follow bool, n int) error {
	if len(names) == 0 {
		if follow {
			return errors.New("logs -f needs a process name")
		}
		if n == 0 {
			n = 15
		}
		for _, name := range st.Processes() {
			path, _ := st.LogFile(name)
			fmt.Fprintf(w, "==> %s (%s) <==\n%s\n\n", name, path, tail(path, n))
		}
		return nil
	}
	if len(names) > 1 {
		return errors.New("logs: one process name at most")
	}
	path, err := st.LogFile(names[0])
	if err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer func() { f.Close() }()
	if n > 0 {
		fmt.Fprintln(w, tail(path, n))
		if _, err := f.Seek(0, io.SeekEnd); err != nil {
			return err
		}
	} else if _, err := io.Copy(w, f); err != nil {
		return err
	}
	if !follow {
		return nil
	}
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if _, err := io.Copy(w, f); err != nil {
			return err
		}
		// Truncated or replaced (clean + up): start over.
		if fi, err := os.Stat(path); err == nil {
			if off, _ := f.Seek(0, io.SeekCurrent); fi.Size() < off {
				f.Close()
				if f, err = os.Open(path); err != nil {
					return err
				}
			}
		}
	}
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
