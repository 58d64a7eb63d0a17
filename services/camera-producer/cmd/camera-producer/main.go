// Command camera-producer sends every motion picture of a node to the
// node's local Kafka topic, deleting a picture only after its delivery is
// confirmed. See ../../README.md.
package main

import (
	"context"
	"fmt"
	"io"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/svc"
	"github.com/sensornode/sensornode/services/camera-producer/internal/capture"
	"github.com/sensornode/sensornode/services/camera-producer/internal/producer"
)

const name = "camera-producer"

func main() {
	svc.Main(name, run, map[string]string{"kafka": bus.DefaultBackend(), "camera": fmt.Sprint(capture.CameraBuilt)})
}

func run(ctx context.Context, _ []string, stdout io.Writer) error {
	var cfg producer.Config
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
	return producer.Run(ctx, &cfg, log, svc.NewRegistry(svc.ReadBuildInfo(name)), producer.Options{})
}
