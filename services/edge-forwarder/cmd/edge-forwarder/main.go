// Command edge-forwarder: see ../../README.md.
package main

import (
	"context"
	"errors"
	"io"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/svc"
)

func main() {
	svc.Main("edge-forwarder", run, map[string]string{"kafka": bus.DefaultBackend()})
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	return errors.New("not implemented yet")
}
