package svc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
)

// Version is the release version, set at build time with
// -ldflags "-X github.com/sensornode/sensornode/libs/svc.Version=v1.2.3".
var Version = "dev"

// BuildInfo describes the running binary.
type BuildInfo struct {
	Service   string
	Version   string
	Revision  string // VCS revision, "unknown" when not built from git
	GoVersion string
	Platform  string // GOOS/GOARCH[/vARM]
	Extra     map[string]string
}

// ReadBuildInfo gathers BuildInfo for service.
func ReadBuildInfo(service string) BuildInfo {
	bi := BuildInfo{Service: service, Version: Version, Revision: "unknown", GoVersion: runtime.Version(),
		Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				bi.Revision = s.Value
			case "GOARM":
				bi.Platform += "/v" + s.Value
			}
		}
	}
	return bi
}

func (b BuildInfo) String() string {
	s := fmt.Sprintf("%s %s (revision %s, %s, %s", b.Service, b.Version, b.Revision, b.GoVersion, b.Platform)
	for _, k := range sortedKeys(b.Extra) {
		s += fmt.Sprintf(", %s %s", k, b.Extra[k])
	}
	return s + ")"
}

// Program is what a service's main runs: args without the program name,
// stdout for command output. It returns when ctx is cancelled (SIGINT or
// SIGTERM) or on a fatal error.
type Program func(ctx context.Context, args []string, stdout io.Writer) error

// ErrUsage marks an error caused by bad arguments: exit status 2.
var ErrUsage = errors.New("usage")

// ExitError makes Main exit with Code (after printing Err), for check
// commands with more than one failure status (for example 1: the check
// failed, 2: it could not be made). It is a concrete type, so that errors
// that merely have an ExitCode method (*exec.ExitError) never change the
// exit status by accident.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }

func (e *ExitError) Unwrap() error { return e.Err }

// Main is the only exit of a service: it answers --version, runs prog with a
// context cancelled on SIGINT/SIGTERM, prints any error to stderr and exits
// non-zero. extra adds fields to the version line (e.g. the Kafka backend).
func Main(service string, prog Program, extra map[string]string) {
	os.Exit(run(service, prog, extra, os.Args[1:], os.Stdout, os.Stderr))
}

func run(service string, prog Program, extra map[string]string, args []string, stdout, stderr io.Writer) int {
	if len(args) == 1 && (args[0] == "--version" || args[0] == "-version" || args[0] == "version") {
		bi := ReadBuildInfo(service)
		bi.Extra = extra
		fmt.Fprintln(stdout, bi)
		return 0
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := prog(ctx, args, stdout); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(stderr, "%s: %v\n", service, err)
		if ee, ok := errors.AsType[*ExitError](err); ok && ee.Code > 0 {
			return ee.Code
		}
		if errors.Is(err, ErrUsage) {
			return 2
		}
		return 1
	}
	return 0
}

// Start is the common opening of a service's run: it loads cfg from the
// environment (LoadConfig), creates the JSON logger at cfg's log level,
// logs the configuration (secrets redacted), deprecated variable names in
// use and any unknown SENSORNODE_ variables, and creates the registry with
// build info (extra adds labels to sensornode_build_info, e.g. the Kafka
// backend). It also sets the Go memory limit from the container's (see
// ComputeMemoryLimit), logs it and exports it.
func Start(name string, cfg Config, out io.Writer, extra map[string]string) (*slog.Logger, *prometheus.Registry, error) {
	warnings, err := loadConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	log, err := NewLogger(out, name, cfg.common().LogLevel)
	if err != nil {
		return nil, nil, err
	}
	log.Info("starting", ConfigAttrs(cfg)...)
	for _, w := range warnings {
		log.Warn(w)
	}
	if unknown := UnknownEnv(cfg); len(unknown) > 0 {
		log.Warn("unknown SENSORNODE_ variables ignored (typos?)", "variables", unknown)
	}
	bi := ReadBuildInfo(name)
	bi.Extra = extra
	reg := NewRegistry(bi)
	ml, err := ComputeMemoryLimit(os.Getenv("GOMEMLIMIT") != "", cfg.common().MemoryLimitBytes, os.DirFS("/sys/fs/cgroup"))
	if err != nil {
		log.Warn("go memory limit left unset", "err", err)
	}
	applyMemoryLimit(ml, log, reg)
	return log, reg, nil
}

// applyMemoryLimit sets the Go runtime's soft memory limit to
// ml.GoLimit (when positive), logs the outcome and exports it on reg.
func applyMemoryLimit(ml MemoryLimit, log *slog.Logger, reg prometheus.Registerer) {
	if ml.GoLimit > 0 {
		debug.SetMemoryLimit(ml.GoLimit)
	}
	goLimit := func() float64 {
		if l := debug.SetMemoryLimit(-1); l != math.MaxInt64 {
			return float64(l)
		}
		return 0 // the runtime's "no limit"
	}
	log.Info("go memory limit", "source", ml.Source, "container_limit_bytes", ml.Container,
		"go_limit_bytes", int64(goLimit()), "percent", MemoryLimitPercent)
	f := NewMetricFactory(reg)
	f.GaugeFunc("sensornode_go_memory_limit_bytes",
		"The Go runtime's soft memory limit (GOMEMLIMIT or a share of the container's limit); 0: none.", goLimit)
	f.Gauge("sensornode_container_memory_limit_bytes",
		"The container memory limit the Go limit was derived from (SENSORNODE_MEMORY_LIMIT_BYTES or the cgroup's memory.max); 0: unknown or not used.").
		Set(float64(ml.Container))
}
