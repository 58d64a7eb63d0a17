// Command kustomizegen writes the generated parts of deploy/kustomize (the
// per-service base files and the edge-kafka component) from the Helm
// chart: `make kustomize-gen`.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/sensornode/sensornode/tools/deploycheck"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "kustomizegen:", err)
		os.Exit(1)
	}
}

func run() error {
	r, err := deploycheck.NewRenderer()
	if err != nil {
		return err
	}
	files, err := deploycheck.GenerateKustomize(r)
	if err != nil {
		return err
	}
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		full := filepath.Join(r.Root, "deploy", "kustomize", p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(full, files[p], 0o644); err != nil {
			return err
		}
		fmt.Println("wrote", filepath.Join("deploy", "kustomize", p))
	}
	return nil
}
