// Command master-watcher keeps a node talking to a live Kubernetes API
// server; see ../../README.md.
package main

import (
	"github.com/sensornode/sensornode/libs/svc"
	"github.com/sensornode/sensornode/services/master-watcher/internal/cli"
)

func main() {
	svc.Main(cli.Name, cli.Run, nil)
}
