// Package svc is the shared runtime of every sensornode service: the single
// exit point (Main), configuration from the environment with validation,
// JSON logging, a Prometheus registry with build info and a factory that
// declares each metric in one call, the admin HTTP server with /metrics,
// /livez and /readyz, readiness conditions and backoff. Developer tools
// with subcommands (devstack, kubestack) exit through ToolMain, which,
// unlike Main, fails an interrupted run, and open and close their command
// switch with Subcommand and UnknownCommand.
//
// Every service has the same shape:
//
//   - a Config struct that embeds Common (log level, admin address and
//     pprof switch, shutdown timeout, memory limit) and, if it creates topics, bus.TopicSettings; its
//     own fields carry envconfig default tags, and DefaultConfig() sets the
//     blocks' per-service defaults (the admin port);
//   - one vocabulary for the same setting: SENSORNODE_CHECK_INTERVAL (how
//     often a dependency is checked), SENSORNODE_RETRY_MIN/MAX_INTERVAL
//     (retry backoff), SENSORNODE_FORM (the form the service writes);
//     renamed variables stay readable for one release (Renamer);
//   - one entry point, Run(ctx, cfg, log, reg, Options), whose zero Options
//     are what the service runs with (tests inject clients through them);
//   - a main of a few lines: Main → NoArgs → DefaultConfig → Start → Run;
//   - dependency checks as Watch loops that keep readiness conditions current.
//
// Only Main, ToolMain, LoadConfig and Start (GOMEMLIMIT and the cgroup's memory.max
// for the Go memory limit, see ComputeMemoryLimit) touch the process
// environment; everything else takes its inputs as arguments.
package svc
