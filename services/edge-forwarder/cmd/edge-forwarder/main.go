// Command edge-forwarder carries pictures and temperature readings from the
// edge Kafka cluster to the cloud Kafka cluster. See ../../README.md.
package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/svc"
	"github.com/sensornode/sensornode/services/edge-forwarder/internal/forwarder"
)

const name = "edge-forwarder"

func main() {
	svc.Main(name, run, map[string]string{"kafka": bus.DefaultBackend()})
}

func run(ctx context.Context, args []string, _ io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("%w: no arguments expected (configure with SENSORNODE_* variables)", svc.ErrUsage)
	}
	cfg := forwarder.DefaultConfig()
	if err := svc.LoadConfig(&cfg); err != nil {
		return err
	}
	log, err := svc.NewLogger(os.Stdout, name, cfg.LogLevel)
	if err != nil {
		return err
	}
	log.Info("starting", svc.ConfigAttrs(cfg)...)
	if unknown := svc.UnknownEnv(&cfg); len(unknown) > 0 {
		log.Warn("unknown SENSORNODE_ variables ignored (typos?)", "variables", unknown)
	}
	bi := svc.ReadBuildInfo(name)
	bi.Extra = map[string]string{"kafka": bus.DefaultBackend()}
	return forwarder.Serve(ctx, cfg, log, svc.NewRegistry(bi), forwarder.Hooks{})
}
