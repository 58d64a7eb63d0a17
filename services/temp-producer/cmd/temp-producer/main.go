// Command temp-producer sends the node's CPU temperature to the local edge
// topic temperatureLocal. See ../../README.md.
package main

import (
	"context"
	"io"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/svc"
	"github.com/sensornode/sensornode/services/temp-producer/internal/temp"
)

const name = "temp-producer"

func main() {
	svc.Main(name, run, map[string]string{"kafka": bus.DefaultBackend()})
}

func run(ctx context.Context, _ []string, stdout io.Writer) error {
	var cfg temp.Config
	if err := svc.LoadConfig(&cfg); err != nil {
		return err
	}
	log, err := svc.NewLogger(stdout, name, cfg.LogLevel)
	if err != nil {
		return err
	}
	log.Info("starting", svc.ConfigAttrs(&cfg)...)
	if unknown := svc.UnknownEnv(&cfg); len(unknown) > 0 {
		log.Warn("unknown SENSORNODE_ variables ignored (typos?)", "variables", unknown)
	}
	return temp.Run(ctx, &cfg, log, svc.NewRegistry(svc.ReadBuildInfo(name)), temp.Options{})
}
