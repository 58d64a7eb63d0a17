package kubestack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	"sigs.k8s.io/yaml"
)

// The Prometheus Operator release whose CustomResourceDefinitions
// PrometheusOperatorCRDs fetches: the only version of the module the Go
// module proxy serves here (the chart's Go types in tools/deploycheck come
// from the separate pkg/apis/monitoring module, v0.95.2). The sum is
// go.sum's h1: hash of the module zip; a bump changes both (see README.md).
const (
	PrometheusOperatorVersion = "v0.85.0"
	prometheusOperatorModule  = "github.com/prometheus-operator/prometheus-operator"
	prometheusOperatorSum     = "h1:M5xLCLEoaW2IJfnuCwFzzpL+jSVQu3KGT84Pye+fW8s="
)

// prometheusOperatorCRDs are the kinds (by plural) of monitoring.coreos.com
// that the chart can emit or tools/deploycheck decodes: PodMonitor,
// ServiceMonitor, PrometheusRule.
var prometheusOperatorCRDs = []string{"podmonitors", "servicemonitors", "prometheusrules"}

// PrometheusOperatorCRDDir is where PrometheusOperatorCRDs keeps the CRDs
// under cacheDir.
func PrometheusOperatorCRDDir(cacheDir string) string {
	return filepath.Join(cacheDir, "prometheus-operator-crds-"+PrometheusOperatorVersion)
}

// PrometheusOperatorCRDs returns the paths of the PodMonitor,
// ServiceMonitor and PrometheusRule CRDs of PrometheusOperatorVersion,
// copied into PrometheusOperatorCRDDir(cacheDir) from the operator's Go
// module (example/prometheus-operator-crd/, the files its docs apply with
// kubectl apply --server-side) unless that directory's .fetched stamp
// exists. `go mod download` fetches the module (4 MB) through the Go
// module proxy and checks it against the checksum database; the zip's hash
// must also be the pinned one.
func PrometheusOperatorCRDs(ctx context.Context, cacheDir string) ([]string, error) {
	dir := PrometheusOperatorCRDDir(cacheDir)
	files := make([]string, len(prometheusOperatorCRDs))
	for i, p := range prometheusOperatorCRDs {
		files[i] = filepath.Join(dir, crdFile(p))
	}
	stamp := filepath.Join(dir, ".fetched")
	if _, err := os.Stat(stamp); err == nil {
		for _, f := range files {
			if _, err := os.Stat(f); err != nil {
				return nil, fmt.Errorf("CRD cache %s has a .fetched stamp but lacks %s: delete the directory to fetch again", dir, filepath.Base(f))
			}
		}
		return files, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	mod := prometheusOperatorModule + "@" + PrometheusOperatorVersion
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", mod)
	cmd.Dir = dir // no go.mod here: the module cache alone
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var dl struct{ Dir, Sum, Error string }
	if jerr := json.Unmarshal(out, &dl); jerr != nil || dl.Error != "" || err != nil {
		return nil, fmt.Errorf("go mod download %s: %w: %s %s", mod, errors.Join(err, jerr), dl.Error, bytes.TrimSpace(stderr.Bytes()))
	}
	if dl.Sum != prometheusOperatorSum {
		return nil, fmt.Errorf("go mod download %s: sum %s, want the pinned %s", mod, dl.Sum, prometheusOperatorSum)
	}
	for i, p := range prometheusOperatorCRDs {
		b, err := os.ReadFile(filepath.Join(dl.Dir, "example", "prometheus-operator-crd", crdFile(p)))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", mod, err)
		}
		if err := os.WriteFile(files[i], b, 0o644); err != nil {
			return nil, err
		}
	}
	if err := os.WriteFile(stamp, []byte(mod+" "+dl.Sum+"\n"), 0o644); err != nil {
		return nil, err
	}
	return files, nil
}

func crdFile(plural string) string { return "monitoring.coreos.com_" + plural + ".yaml" }

// InstallCRDs applies each CustomResourceDefinition file (one CRD each)
// server-side, then waits until the API server has established every one
// and serves its resource (discovery), so that helm can create objects of
// its kinds at once.
func (c *Client) InstallCRDs(ctx context.Context, files []string) error {
	type crd struct {
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
		Spec struct {
			Group string `json:"group"`
			Names struct {
				Plural string `json:"plural"`
			} `json:"names"`
			Versions []struct {
				Name   string `json:"name"`
				Served bool   `json:"served"`
			} `json:"versions"`
		} `json:"spec"`
	}
	const base = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"
	var crds []crd
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var d crd
		if err := yaml.Unmarshal(b, &d); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		if d.Metadata.Name == "" || d.Spec.Group == "" || d.Spec.Names.Plural == "" {
			return fmt.Errorf("%s: not a CustomResourceDefinition", f)
		}
		if err := c.Apply(ctx, base+d.Metadata.Name, "sensornode-kubestack", b, false); err != nil {
			return fmt.Errorf("apply %s: %w", d.Metadata.Name, err)
		}
		crds = append(crds, d)
	}
	for _, d := range crds {
		err := poll(ctx, time.Minute, func() error {
			var got struct {
				Status struct {
					Conditions []struct{ Type, Status, Message string } `json:"conditions"`
				} `json:"status"`
			}
			if err := c.Get(ctx, base+d.Metadata.Name, &got); err != nil {
				return err
			}
			i := slices.IndexFunc(got.Status.Conditions, func(c struct{ Type, Status, Message string }) bool {
				return c.Type == "Established"
			})
			if i < 0 || got.Status.Conditions[i].Status != "True" {
				return fmt.Errorf("%s not Established: %+v", d.Metadata.Name, got.Status.Conditions)
			}
			for _, v := range d.Spec.Versions {
				if !v.Served {
					continue
				}
				var list struct {
					Resources []struct{ Name string } `json:"resources"`
				}
				path := "/apis/" + d.Spec.Group + "/" + v.Name
				if err := c.Get(ctx, path, &list); err != nil {
					return err
				}
				if !slices.ContainsFunc(list.Resources, func(r struct{ Name string }) bool { return r.Name == d.Spec.Names.Plural }) {
					return fmt.Errorf("discovery %s lacks %s", path, d.Spec.Names.Plural)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}
