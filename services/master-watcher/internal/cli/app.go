// Package cli is the master-watcher command: the daemon and its two tools.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/sensornode/sensornode/libs/fleetview"
	"github.com/sensornode/sensornode/libs/svc"
	"github.com/sensornode/sensornode/services/master-watcher/internal/watcher"
	"github.com/sensornode/sensornode/services/master-watcher/internal/zkview"
	"github.com/sensornode/sensornode/services/master-watcher/internal/zkwait"
)

// Name is the service name.
const Name = "master-watcher"

const usage = `usage: master-watcher [command] [flags]

commands:
  run             (default) probe the masters and keep this node on a live one
  status          print every node's view from ZooKeeper; exit 0 when the fleet
                  agrees, 1 when it disagrees, 2 when it cannot tell
                  flags: --servers host:port,... --path ZNODE --timeout 10s
  wait-zookeeper  exit 0 once the ZooKeeper ensemble has a quorum (init container)
                  flags: --servers host:port,...[/chroot] --timeout 5m --interval 2s
                         --method both|srvr|session --attempt-timeout 5s
  --version       print the version

Configuration comes from SENSORNODE_* environment variables (see README.md);
flags override them.
`

// Run dispatches to a subcommand. It is the svc.Program of main.
func Run(ctx context.Context, args []string, stdout io.Writer) error {
	cmd := "run"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "run":
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprint(stdout, usage)
			return nil
		}
		if len(args) > 0 {
			return fmt.Errorf("%w: run takes no arguments, got %q", svc.ErrUsage, args)
		}
		return runDaemon(ctx, stdout)
	case "status":
		return runStatus(ctx, args, stdout)
	case "wait-zookeeper":
		return runWait(ctx, args, stdout)
	case "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return fmt.Errorf("%w: unknown command %q\n%s", svc.ErrUsage, cmd, usage)
}

// RegisterMetrics registers on reg every metric the daemon may register,
// through the constructors runDaemon uses (deploy/monitoring checks the
// alerts and dashboards against it).
func RegisterMetrics(reg prometheus.Registerer) {
	svc.NewProbe(reg)
	watcher.RegisterMetrics(reg)
}

func runDaemon(ctx context.Context, stdout io.Writer) error {
	cfg := watcher.DefaultConfig()
	log, reg, err := svc.Start(Name, &cfg, stdout, nil)
	if err != nil {
		return err
	}
	return Daemon(ctx, cfg, log, reg, nil)
}

// Daemon runs the watcher and, unless host runs it with other services in
// one process (services/node-agent; reg is then host.Registry(Name)), its
// admin server, until ctx is done or either fails.
func Daemon(ctx context.Context, cfg watcher.Config, log *slog.Logger, reg *prometheus.Registry, host *svc.Host) error {
	ready := svc.NewProbe(reg)
	w, err := watcher.New(cfg, log, reg, ready, watcher.WithVersion(svc.Version))
	if err != nil {
		return err
	}
	admin, err := svc.ServeAdmin(host, Name, cfg.Common, reg, ready, log)
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return admin.Run(gctx) })
	g.Go(func() error {
		err := w.Run(gctx)
		ready.Drain()
		return err
	})
	g.Go(func() error {
		<-gctx.Done()
		ready.Drain()
		log.Info("shutting down")
		return nil
	})
	err = g.Wait()
	log.Info("stopped", "err", err)
	return err
}

// overrides holds flags that replace environment settings when given.
type overrides struct {
	fs   *flag.FlagSet
	sets map[string]func() // by flag name: copy the flag's value into its setting
}

func newFlags(name string, stdout io.Writer) *overrides {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stdout)
	return &overrides{fs: fs, sets: map[string]func(){}}
}

// stringVar, listVar and durationVar declare a flag that, when given,
// replaces the setting *dst once the environment is loaded (see apply).
func (o *overrides) stringVar(dst *string, name, usage string) {
	v := o.fs.String(name, "", usage)
	o.sets[name] = func() { *dst = *v }
}

func (o *overrides) listVar(dst *[]string, name, usage string) {
	v := o.fs.String(name, "", usage)
	o.sets[name] = func() { *dst = svc.SplitList(*v) }
}

func (o *overrides) durationVar(dst *time.Duration, name, usage string) {
	v := o.fs.Duration(name, 0, usage)
	o.sets[name] = func() { *dst = *v }
}

// apply copies the flags given on the command line into their settings.
func (o *overrides) apply() {
	o.fs.Visit(func(f *flag.Flag) {
		if set := o.sets[f.Name]; set != nil {
			set()
		}
	})
}

func (o *overrides) parse(args []string) error {
	if err := o.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", svc.ErrUsage, err)
	}
	if o.fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", svc.ErrUsage, o.fs.Args())
	}
	return nil
}

// StatusConfig configures `status`.
type StatusConfig struct {
	LogLevel          string        `envconfig:"LOG_LEVEL" default:"warn"`
	ZooKeeperServers  []string      `envconfig:"ZOOKEEPER_SERVERS"`
	ZooKeeperViewPath string        `envconfig:"ZOOKEEPER_VIEW_PATH" default:"/sensornode/masters"`
	StatusTimeout     time.Duration `envconfig:"STATUS_TIMEOUT" default:"10s"`

	apply func() `ignored:"true"` // flags given, applied over the environment
}

// Validate applies flags, then checks.
func (c *StatusConfig) Validate() error {
	if c.apply != nil {
		c.apply()
	}
	var p svc.Problems
	if len(c.ZooKeeperServers) == 0 {
		p.Addf("no ZooKeeper servers: set SENSORNODE_ZOOKEEPER_SERVERS or --servers")
	}
	if err := (zkview.Config{Servers: c.ZooKeeperServers, Path: c.ZooKeeperViewPath, Node: "x", SessionTimeout: 1, CheckInterval: 1}).Validate(); err != nil && len(c.ZooKeeperServers) > 0 {
		p.Addf("%v", err)
	}
	if c.StatusTimeout <= 0 {
		p.Addf("status timeout must be positive")
	}
	return p.Err()
}

func runStatus(ctx context.Context, args []string, stdout io.Writer) error {
	var cfg StatusConfig
	o := newFlags("status", stdout)
	o.listVar(&cfg.ZooKeeperServers, "servers", "ZooKeeper servers, host:port,... (default $SENSORNODE_ZOOKEEPER_SERVERS)")
	o.stringVar(&cfg.ZooKeeperViewPath, "path", "parent znode of the views (default $SENSORNODE_ZOOKEEPER_VIEW_PATH or "+fleetview.DefaultPath+")")
	o.durationVar(&cfg.StatusTimeout, "timeout", "give up connecting after this long (default $SENSORNODE_STATUS_TIMEOUT or 10s)")
	if err := o.parse(args); err != nil {
		return usageErr(err)
	}
	cfg.apply = o.apply
	if err := svc.LoadConfig(&cfg); err != nil {
		return &svc.ExitError{Code: 2, Err: err}
	}
	log, err := svc.NewLogger(os.Stderr, Name, cfg.LogLevel)
	if err != nil {
		return &svc.ExitError{Code: 2, Err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.StatusTimeout)
	defer cancel()
	_, err = zkview.Status(ctx, cfg.ZooKeeperServers, cfg.ZooKeeperViewPath, stdout, log, time.Now())
	if se, ok := errors.AsType[*zkview.StatusError](err); ok {
		// 1: the fleet disagrees; 2: its state could not be established.
		return &svc.ExitError{Code: se.ExitCode(), Err: err}
	}
	return err
}

// WaitConfig configures `wait-zookeeper`.
type WaitConfig struct {
	LogLevel           string        `envconfig:"LOG_LEVEL" default:"info"`
	ZooKeeperServers   []string      `envconfig:"ZOOKEEPER_SERVERS"`
	WaitTimeout        time.Duration `envconfig:"WAIT_TIMEOUT" default:"5m"`
	WaitInterval       time.Duration `envconfig:"WAIT_INTERVAL" default:"2s"`
	WaitAttemptTimeout time.Duration `envconfig:"WAIT_ATTEMPT_TIMEOUT" default:"5s"`
	WaitMethod         string        `envconfig:"WAIT_METHOD" default:"both"`

	apply func() `ignored:"true"` // flags given, applied over the environment
}

// Validate applies flags, then checks.
func (c *WaitConfig) Validate() error {
	if c.apply != nil {
		c.apply()
	}
	if err := c.waitConfig().Validate(); err != nil {
		return fmt.Errorf("wait-zookeeper: %w (servers from SENSORNODE_ZOOKEEPER_SERVERS or --servers)", err)
	}
	return nil
}

func (c *WaitConfig) waitConfig() zkwait.Config {
	servers, _ := zkwait.SplitChroot(c.ZooKeeperServers)
	m, _ := zkwait.ParseMethod(c.WaitMethod)
	if c.WaitMethod != "" && m == "" {
		m = zkwait.Method(c.WaitMethod) // reported by Validate
	}
	return zkwait.Config{Servers: servers, Timeout: c.WaitTimeout, Interval: c.WaitInterval,
		AttemptTimeout: c.WaitAttemptTimeout, Method: m}
}

func runWait(ctx context.Context, args []string, stdout io.Writer) error {
	var cfg WaitConfig
	o := newFlags("wait-zookeeper", stdout)
	o.listVar(&cfg.ZooKeeperServers, "servers", "ZooKeeper servers host:port,... with an optional /chroot (default $SENSORNODE_ZOOKEEPER_SERVERS)")
	o.durationVar(&cfg.WaitTimeout, "timeout", "give up after this long, 0 = never (default $SENSORNODE_WAIT_TIMEOUT or 5m)")
	o.durationVar(&cfg.WaitInterval, "interval", "between attempts (default $SENSORNODE_WAIT_INTERVAL or 2s)")
	o.durationVar(&cfg.WaitAttemptTimeout, "attempt-timeout", "bound of each check (default $SENSORNODE_WAIT_ATTEMPT_TIMEOUT or 5s)")
	o.stringVar(&cfg.WaitMethod, "method", "srvr (4lw majority), session (a real read) or both (default $SENSORNODE_WAIT_METHOD or both)")
	if err := o.parse(args); err != nil {
		return usageErr(err)
	}
	cfg.apply = o.apply
	if err := svc.LoadConfig(&cfg); err != nil {
		return err
	}
	log, err := svc.NewLogger(stdout, Name, cfg.LogLevel)
	if err != nil {
		return err
	}
	return zkwait.Wait(ctx, cfg.waitConfig(), log.With("command", "wait-zookeeper"), nil)
}

// usageErr turns -h into a clean exit.
func usageErr(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}
