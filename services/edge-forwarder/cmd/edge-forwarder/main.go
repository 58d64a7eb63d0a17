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
	log, reg, err := svc.Start(name, &cfg, &cfg.LogLevel, os.Stdout, map[string]string{"kafka": bus.DefaultBackend()})
	if err != nil {
		return err
	}
	return forwarder.Serve(ctx, cfg, log, reg, forwarder.Hooks{})
}
