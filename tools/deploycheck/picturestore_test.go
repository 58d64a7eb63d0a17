//go:build deploy

package deploycheck

import (
	"maps"
	"strings"
	"testing"
)

// The variables of the picture store (cloud-ingest-hdfs's
// SENSORNODE_PICTURE_STORE and SENSORNODE_PICTURE_BUNDLE_*).
const (
	envStore     = "SENSORNODE_PICTURE_STORE"
	envBundleDir = "SENSORNODE_PICTURE_BUNDLE_DIR"
	envMaxBytes  = "SENSORNODE_PICTURE_BUNDLE_MAX_BYTES"
	envMaxAge    = "SENSORNODE_PICTURE_BUNDLE_MAX_AGE"
	envIndexKeys = "SENSORNODE_PICTURE_BUNDLE_INDEX_KEYS"
)

// avroDefaults is the ingest env of the bundle store with the chart's
// default values (cloudIngestHdfs.pictureStore.type=avro, nothing else set),
// which must be the service's own defaults.
var avroDefaults = map[string]string{
	envStore:     "avro",
	envBundleDir: "/sensornode/bundles",
	envMaxBytes:  "134217728",
	envMaxAge:    "60s",
	envIndexKeys: "100000",
}

// pictureStoreEnv returns a container's picture-store variables.
func pictureStoreEnv(env map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range env {
		if k == envStore || strings.HasPrefix(k, "SENSORNODE_PICTURE_BUNDLE_") {
			out[k] = v
		}
	}
	return out
}

// TestPictureStore: cloudIngestHdfs.pictureStore (and the Kustomize
// component bundle-store) give cloud-ingest-hdfs the store, its directory
// and, for avro only, the bundle settings; the viewer reads the same bundle
// directory whichever store ingest writes; every variable is one the
// service reads, and the chart's defaults are the services' defaults.
func TestPictureStore(t *testing.T) {
	ingestVars, err := serviceEnv("cloud-ingest-hdfs")
	if err != nil {
		t.Fatal(err)
	}
	viewerVars, err := serviceEnv("viewer")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range avroDefaults {
		if name == envStore {
			continue // the service's default is files
		}
		if got := ingestVars[name].Default; got != want {
			t.Errorf("cloud-ingest-hdfs default of %s = %q, chart default %q", name, got, want)
		}
	}
	if got := viewerVars[envBundleDir].Default; got != avroDefaults[envBundleDir] {
		t.Errorf("viewer default of %s = %q, chart default %q", envBundleDir, got, avroDefaults[envBundleDir])
	}
	if got := ingestVars[envStore].Default; got != "files" {
		t.Errorf("cloud-ingest-hdfs default of %s = %q, want files (the chart's default)", envStore, got)
	}

	bundleValues := []string{
		"cloudIngestHdfs.pictureStore.type=avro", "cloudIngestHdfs.pictureStore.bundleDir=/sensornode/picture-bundles",
		"cloudIngestHdfs.pictureStore.maxBytes=268435456", "cloudIngestHdfs.pictureStore.maxAge=2m",
		"cloudIngestHdfs.pictureStore.indexKeys=200000",
	}
	tests := []struct {
		name string
		give func(t *testing.T) []Object
		want map[string]string // ingest's picture-store env
	}{
		{
			name: "chart default",
			give: func(t *testing.T) []Object { return helmObjects(t, []string{"ci/cloud-values.yaml"}) },
			want: map[string]string{envStore: "files", envBundleDir: "/sensornode/bundles"},
		},
		{
			name: "chart avro",
			give: func(t *testing.T) []Object {
				return helmObjects(t, []string{"ci/cloud-values.yaml"}, "cloudIngestHdfs.pictureStore.type=avro")
			},
			want: avroDefaults,
		},
		{
			name: "ci/cloud-bundles-values.yaml",
			give: func(t *testing.T) []Object { return helmObjects(t, []string{"ci/cloud-bundles-values.yaml"}) },
			want: map[string]string{envStore: "avro", envBundleDir: "/sensornode/picture-bundles",
				envMaxBytes: "268435456", envMaxAge: "2m", envIndexKeys: "200000"},
		},
		{
			// helm upgrade --reuse-values from a chart without pictureStore
			// keeps that chart's defaults: nothing is set, the services'
			// defaults (files, the same directory) apply.
			name: "no pictureStore",
			give: func(t *testing.T) []Object {
				return helmObjects(t, []string{"ci/cloud-values.yaml"}, "cloudIngestHdfs.pictureStore=null")
			},
			want: map[string]string{},
		},
		{
			name: "kustomize overlays/cloud",
			give: func(t *testing.T) []Object { return kustomizeObjects(t, "overlays/cloud") },
			want: map[string]string{envStore: "files", envBundleDir: "/sensornode/bundles"},
		},
		{
			name: "kustomize tests/cloud-bundle-store",
			give: func(t *testing.T) []Object { return kustomizeObjects(t, "tests/cloud-bundle-store") },
			want: avroDefaults,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws := Workloads(tt.give(t))
			ingest, viewer := byComponent(ws, "cloud-ingest-hdfs"), byComponent(ws, "viewer")
			if len(ingest) != 1 || len(viewer) != 1 {
				t.Fatalf("%d cloud-ingest-hdfs and %d viewer workloads, want one each", len(ingest), len(viewer))
			}
			got := pictureStoreEnv(EnvMap(container(t, ingest[0], "cloud-ingest-hdfs")))
			if !maps.Equal(got, tt.want) {
				t.Errorf("cloud-ingest-hdfs picture-store env = %v, want %v", got, tt.want)
			}
			vgot := pictureStoreEnv(EnvMap(container(t, viewer[0], "viewer")))
			vwant := map[string]string{}
			if dir, ok := tt.want[envBundleDir]; ok {
				vwant[envBundleDir] = dir
			}
			if !maps.Equal(vgot, vwant) {
				t.Errorf("viewer picture-store env = %v, want %v (ingest's bundle directory)", vgot, vwant)
			}
			for name := range got {
				if _, ok := ingestVars[name]; !ok {
					t.Errorf("%s is not read by cloud-ingest-hdfs", name)
				}
			}
			for name := range vgot {
				if _, ok := viewerVars[name]; !ok {
					t.Errorf("%s is not read by the viewer", name)
				}
			}
		})
	}

	// The CI file is ci/cloud-values.yaml plus its pictureStore values.
	t.Run("ci/cloud-bundles-values.yaml is the cloud values with the bundle store", func(t *testing.T) {
		want := Workloads(helmObjects(t, []string{"ci/cloud-values.yaml"}, bundleValues...))
		got := Workloads(helmObjects(t, []string{"ci/cloud-bundles-values.yaml"}))
		for _, err := range CompareWorkloads(want, got, false) {
			t.Error(err)
		}
	})

	t.Run("invalid", func(t *testing.T) {
		for _, tt := range []struct {
			name string
			sets []string
			want string
		}{
			{"unknown type", []string{"cloudIngestHdfs.pictureStore.type=parquet"}, "value must be one of 'files', 'avro'"},
			{"relative bundle dir", []string{"cloudIngestHdfs.pictureStore.bundleDir=bundles"}, "pictureStore/bundleDir"},
			{"root bundle dir", []string{"cloudIngestHdfs.pictureStore.bundleDir=/"}, "pictureStore/bundleDir"},
			{"zero max age", []string{"cloudIngestHdfs.pictureStore.maxAge=0s"}, "pictureStore/maxAge"},
			{"max age without unit", []string{"cloudIngestHdfs.pictureStore.maxAge=60"}, "pictureStore/maxAge"},
			{"zero max bytes", []string{"cloudIngestHdfs.pictureStore.maxBytes=0"}, "pictureStore/maxBytes"},
			{"zero index keys", []string{"cloudIngestHdfs.pictureStore.indexKeys=0"}, "pictureStore/indexKeys"},
			{"typo", []string{"cloudIngestHdfs.pictureStore.maxbytes=1"}, "additional properties 'maxbytes' not allowed"},
			{"store in ingest extraEnv", []string{"cloudIngestHdfs.extraEnv[0].name=" + envStore, "cloudIngestHdfs.extraEnv[0].value=avro"},
				"cloudIngestHdfs.extraEnv sets " + envStore + ": use cloudIngestHdfs.pictureStore"},
			{"bundle dir in viewer extraEnv", []string{"viewer.extraEnv[0].name=" + envBundleDir, "viewer.extraEnv[0].value=/b"},
				"viewer.extraEnv sets " + envBundleDir + ": use cloudIngestHdfs.pictureStore"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				_, err := rend.HelmTemplate([]string{"ci/cloud-values.yaml"}, tt.sets...)
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("helm template --set %v: error %v, want one containing %q", tt.sets, err, tt.want)
				}
			})
		}
	})
}
