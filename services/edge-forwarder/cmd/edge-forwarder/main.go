// Command edge-forwarder carries pictures and temperature readings from the
// edge Kafka cluster to the cloud Kafka cluster. See ../../README.md.
package main

import (
	"context"
	"io"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/svc"
	"github.com/sensornode/sensornode/services/edge-forwarder/internal/forwarder"
)

const name = "edge-forwarder"

func main() {
	svc.Main(name, run, map[string]string{"kafka": bus.DefaultBackend()})
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	if err := svc.NoArgs(args); err != nil {
		return err
	}
	cfg := forwarder.DefaultConfig()
	log, reg, err := svc.Start(name, &cfg, stdout, map[string]string{"kafka": bus.DefaultBackend()})
	if err != nil {
		return err
	}
	return forwarder.Run(ctx, &cfg, log, reg, forwarder.Options{})
}
