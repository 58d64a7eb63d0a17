// Command node-agent runs a node's camera-producer, temp-producer and
// master-watcher in one process with one admin server (the combined
// per-node mode). See ../../README.md.
package main

import (
	"context"
	"fmt"
	"io"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/svc"
	cameraproducer "github.com/sensornode/sensornode/services/camera-producer"
	"github.com/sensornode/sensornode/services/node-agent/internal/agent"
)

func main() {
	svc.Main(agent.Name, run, map[string]string{"kafka": bus.DefaultBackend(), "camera": fmt.Sprint(cameraproducer.CameraBuilt)})
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	if err := svc.NoArgs(args); err != nil {
		return err
	}
	cfg := agent.DefaultConfig()
	log, reg, err := svc.Start(agent.Name, &cfg, stdout, map[string]string{"kafka": bus.DefaultBackend()})
	if err != nil {
		return err
	}
	loaded, err := agent.Load(&cfg)
	if err != nil {
		return err
	}
	for _, w := range loaded.Warnings {
		log.Warn(w)
	}
	return agent.Run(ctx, &cfg, loaded, log, reg, stdout, agent.Options{})
}
