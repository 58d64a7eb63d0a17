// Command kubestack runs a Kubernetes control plane (etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler) with kwok's simulated nodes on
// 127.0.0.1. See tools/kubestack/README.md.
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
	"strings"
	"time"

	"github.com/sensornode/sensornode/libs/svc"
	"github.com/sensornode/sensornode/tools/kubestack"
)

const usage = `usage: kubestack <command> [flags]

commands:
  up       build the binaries if the cache lacks them, then start the stack
           (or reuse it when all of it is healthy); flags: --port-base N
           (default 26400, 45 ports) --cache DIR --timeout 40m
  down     stop every process
  status   every process: running or not, and the stack's health
  env      print export lines (KUBECONFIG, SENSORNODE_KUBESTACK_DIR, ...)
  logs     NAME: print a process's log
  stop     NAME: stop one process (SIGTERM, SIGKILL after 20 s)
  start    NAME: start a stopped process again, wait until healthy
  crds     install the Prometheus Operator's PodMonitor, ServiceMonitor and
           PrometheusRule CRDs (fetched once from the Go module proxy into
           the cache) into the running stack; flag: --cache DIR

process names: etcd-N, kube-apiserver-N, kube-controller-manager-N,
kube-scheduler-N (masters N = 1..3), kwok.

every command takes --dir DIR (default: $SENSORNODE_KUBESTACK_DIR, else
.kubestack at the repo root).
`

func main() { svc.ToolMain("kubestack", run) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmd, args, fs, err := svc.Subcommand("kubestack", usage, args, stderr)
	if err != nil {
		return err
	}
	dirFlag := fs.String("dir", "", "stack dir (default $SENSORNODE_KUBESTACK_DIR or $REPO/.kubestack)")
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))

	switch cmd {
	case "up":
		portBase := fs.Int("port-base", kubestack.DefaultPortBase, "first of the stack's 6 loopback ports")
		cache := fs.String("cache", "", "build cache (default ~/.cache/sensornode/kubestack)")
		timeout := fs.Duration("timeout", 40*time.Minute, "give up after this long (a cold build takes about 12 minutes on 2 idle cores, over 20 on a busy machine)")
		dir, err := parseDir(fs, args, dirFlag)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		start := time.Now()
		st, err := kubestack.Up(ctx, kubestack.Config{
			Dir: dir, CacheDir: *cache, PortBase: *portBase, Logger: logger, BuildProgress: stderr,
		})
		if err != nil {
			return fmt.Errorf("up: %w", err)
		}
		fmt.Fprintf(stdout, "kubestack up after %s: API servers %s, kubeconfig %s (master 1), nodes %s\n",
			time.Since(start).Round(100*time.Millisecond), servers(st), st.Kubeconfig(), nodeNames())
		return nil

	case "crds":
		cache := fs.String("cache", "", "cache (default ~/.cache/sensornode/kubestack)")
		dir, err := parseDir(fs, args, dirFlag)
		if err != nil {
			return err
		}
		st, err := kubestack.Open(dir)
		if err != nil {
			return err
		}
		if *cache == "" {
			if *cache, err = kubestack.DefaultCacheDir(); err != nil {
				return err
			}
		}
		ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
		files, err := kubestack.PrometheusOperatorCRDs(ctx, *cache)
		if err != nil {
			return err
		}
		c, err := st.Client()
		if err != nil {
			return err
		}
		if err := c.InstallCRDs(ctx, files); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "installed and established: the CRDs of Prometheus Operator %s in %s\n",
			kubestack.PrometheusOperatorVersion, kubestack.PrometheusOperatorCRDDir(*cache))
		return nil

	case "down", "status", "env", "logs", "stop", "start":
		dir, err := parseDir(fs, args, dirFlag)
		if err != nil {
			return err
		}
		st, err := kubestack.Open(dir)
		if errors.Is(err, kubestack.ErrNoStack) && cmd == "down" {
			fmt.Fprintf(stderr, "no stack in %s\n", dir)
			return nil
		}
		if err != nil {
			return err
		}
		switch cmd {
		case "down":
			return st.WithLogger(logger).Down(ctx)
		case "status":
			running := st.Running()
			for _, n := range st.Processes() {
				state := "stopped"
				if running[n] {
					state = "running"
				}
				fmt.Fprintf(stdout, "%-24s %s\n", n, state)
			}
			ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if err := st.Healthy(ctx); err != nil {
				return fmt.Errorf("unhealthy: %w", err)
			}
			fmt.Fprintf(stdout, "healthy: %s\n", st.Server())
			return nil
		case "env":
			for _, kv := range st.Env() {
				fmt.Fprintf(stdout, "export %s='%s'\n", kv[0], strings.ReplaceAll(kv[1], "'", `'\''`))
			}
			return nil
		case "stop", "start":
			if fs.NArg() != 1 {
				return fmt.Errorf("%s: want one process name", cmd)
			}
			st = st.WithLogger(logger)
			ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
			defer cancel()
			if cmd == "stop" {
				return st.Stop(ctx, fs.Arg(0))
			}
			return st.Start(ctx, fs.Arg(0))
		default: // logs
			if fs.NArg() != 1 {
				return errors.New("logs: want one process name")
			}
			f, err := os.Open(st.LogFile(fs.Arg(0)))
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.Copy(stdout, f)
			return err
		}

	}
	return svc.UnknownCommand(cmd, usage, stdout, stderr)
}

// parseDir parses flags and resolves the stack dir: --dir, else
// $SENSORNODE_KUBESTACK_DIR, else $REPO/.kubestack.
func parseDir(fs *flag.FlagSet, args []string, dirFlag *string) (string, error) {
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	if *dirFlag != "" {
		return filepath.Abs(*dirFlag)
	}
	d, err := kubestack.DefaultDir()
	if err != nil {
		return "", fmt.Errorf("%w: pass --dir or set %s", err, kubestack.EnvDir)
	}
	return d, nil
}

func servers(st *kubestack.Stack) string {
	var s []string
	for i := 1; i <= kubestack.Masters; i++ {
		s = append(s, st.MasterServer(i))
	}
	return strings.Join(s, " ")
}

func nodeNames() string {
	names := make([]string, len(kubestack.Nodes))
	for i, n := range kubestack.Nodes {
		names[i] = n.Name
	}
	return strings.Join(names, ",")
}
