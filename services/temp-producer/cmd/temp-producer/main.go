// Command temp-producer sends the node's CPU temperature to the local edge
// topic temperatureLocal. See ../../README.md.
package main

import (
	"context"
	"io"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/svc"
	"github.com/sensornode/sensornode/services/temp-producer/internal/temperature"
)

const name = temperature.Name

func main() {
	svc.Main(name, run, map[string]string{"kafka": bus.DefaultBackend()})
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	if err := svc.NoArgs(args); err != nil {
		return err
	}
	cfg := temperature.DefaultConfig()
	log, reg, err := svc.Start(name, &cfg, stdout, map[string]string{"kafka": bus.DefaultBackend()})
	if err != nil {
		return err
	}
	return temperature.Run(ctx, &cfg, log, reg, temperature.Options{})
}
