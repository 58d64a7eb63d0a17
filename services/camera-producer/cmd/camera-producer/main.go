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

const name = producer.Name

func main() {
	svc.Main(name, run, map[string]string{"kafka": bus.DefaultBackend(), "camera": fmt.Sprint(capture.CameraBuilt)})
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	if err := svc.NoArgs(args); err != nil {
		return err
	}
	cfg := producer.DefaultConfig()
	log, reg, err := svc.Start(name, &cfg, stdout, map[string]string{"kafka": bus.DefaultBackend()})
	if err != nil {
		return err
	}
	return producer.Run(ctx, &cfg, log, reg, producer.Options{})
}
