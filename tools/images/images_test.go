//go:build images

// Package images checks the images `make images` pushed: run by
// `make images-check` (build tag images, so neither `go test ./...` nor
// `make test` runs it). It reads the registry with crane and runs every
// image's binary on every platform with `docker run --platform` (qemu-user
// through binfmt_misc for arm64 and arm/v7).
//
// Environment (make images-check sets it): SENSORNODE_IMAGES_REGISTRY
// (e.g. 127.0.0.1:5000/sensornode), SENSORNODE_IMAGES_TAG,
// SENSORNODE_IMAGES_SERVICES (space separated, each service or
// service=platform,... when make images built only those platforms of it:
// make images-smoke), SENSORNODE_IMAGES_VERSION,
// SENSORNODE_IMAGES_CRANE (the crane binary), and DOCKER_HOST/DOCKER_CONFIG
// of the engine.
package images

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// platforms are the platforms of every image, in table order.
var platforms = []string{"linux/amd64", "linux/arm64", "linux/arm/v7"}

// kafkaBackend is the Kafka client each service reports in --version per
// platform ("" for services without Kafka): confluent-kafka-go where it
// builds, franz-go on 32-bit ARM (images/README.md).
var kafkaBackend = map[string]map[string]string{
	"camera-producer":   {"linux/amd64": "confluent", "linux/arm64": "confluent", "linux/arm/v7": "franz"},
	"temp-producer":     {"linux/amd64": "confluent", "linux/arm64": "confluent", "linux/arm/v7": "franz"},
	"edge-forwarder":    {"linux/amd64": "confluent", "linux/arm64": "confluent", "linux/arm/v7": "franz"},
	"cloud-ingest-hdfs": {"linux/amd64": "confluent", "linux/arm64": "confluent", "linux/arm/v7": "franz"},
	"master-watcher":    {},
	"viewer":            {},
	"node-agent":        {"linux/amd64": "confluent", "linux/arm64": "confluent", "linux/arm/v7": "franz"},
}

// wantLabels are the OCI labels every image carries; "" means any non-empty value.
func wantLabels(service, version string) map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":       service,
		"org.opencontainers.image.version":     version,
		"org.opencontainers.image.revision":    "",
		"org.opencontainers.image.created":     "",
		"org.opencontainers.image.source":      "https://github.com/sensornode/sensornode",
		"org.opencontainers.image.url":         "https://github.com/sensornode/sensornode/tree/main/services/" + service,
		"org.opencontainers.image.description": "",
		"org.opencontainers.image.licenses":    "Apache-2.0",
	}
}

type env struct {
	registry, tag, version, crane string
	services                      []string
	// platforms of each service: the three unless SENSORNODE_IMAGES_SERVICES names them.
	platforms map[string][]string
}

func loadEnv(t *testing.T) env {
	t.Helper()
	e := env{
		registry:  os.Getenv("SENSORNODE_IMAGES_REGISTRY"),
		tag:       os.Getenv("SENSORNODE_IMAGES_TAG"),
		version:   os.Getenv("SENSORNODE_IMAGES_VERSION"),
		crane:     os.Getenv("SENSORNODE_IMAGES_CRANE"),
		platforms: map[string][]string{},
	}
	for _, f := range strings.Fields(os.Getenv("SENSORNODE_IMAGES_SERVICES")) {
		svc, ps, ok := strings.Cut(f, "=")
		e.services = append(e.services, svc)
		e.platforms[svc] = platforms
		if ok {
			e.platforms[svc] = strings.Split(ps, ",")
		}
	}
	for _, ps := range e.platforms {
		for _, p := range ps {
			if !slices.Contains(platforms, p) {
				t.Fatalf("SENSORNODE_IMAGES_SERVICES names platform %q, want one of %v", p, platforms)
			}
		}
	}
	if e.registry == "" || e.tag == "" || e.version == "" || e.crane == "" || len(e.services) == 0 {
		t.Fatalf("run through make images-check: SENSORNODE_IMAGES_{REGISTRY,TAG,VERSION,CRANE,SERVICES} = %+v", e)
	}
	return e
}

func (e env) ref(service string) string { return e.registry + "/" + service + ":" + e.tag }

// run runs a command and returns its standard output.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

func decode(t *testing.T, what, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("decode %s: %v", what, err)
	}
}

type platform struct {
	OS           string `json:"os"`
	Architecture string `json:"architecture"`
	Variant      string `json:"variant,omitempty"`
}

func (p platform) String() string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

type descriptor struct {
	MediaType string    `json:"mediaType"`
	Digest    string    `json:"digest"`
	Size      int64     `json:"size"`
	Platform  *platform `json:"platform,omitempty"`
}

type manifest struct {
	MediaType string       `json:"mediaType"`
	Manifests []descriptor `json:"manifests"` // index
	Config    descriptor   `json:"config"`    // image
	Layers    []descriptor `json:"layers"`    // image
}

type imageConfig struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
	Variant      string `json:"variant"`
	Config       struct {
		User       string            `json:"User"`
		Entrypoint []string          `json:"Entrypoint"`
		Cmd        []string          `json:"Cmd"`
		Labels     map[string]string `json:"Labels"`
	} `json:"config"`
}

// image is what the checks found for one service on one platform.
type image struct {
	digest string
	bytes  int64 // compressed: config and layers, what a pull transfers
}

// TestImagesIndexAndConfig checks each service's index (exactly the three
// platforms, or those SENSORNODE_IMAGES_SERVICES names; no attestation entries) and each platform's image config
// (non-root user, exec entrypoint, OCI labels), and runs each image's
// binary with --version on its platform. It logs the size table of
// images/README.md.
func TestImagesIndexAndConfig(t *testing.T) {
	e := loadEnv(t)
	sizes := map[string]map[string]int64{}
	for _, svc := range e.services {
		t.Run(svc, func(t *testing.T) {
			if _, ok := kafkaBackend[svc]; !ok {
				t.Fatalf("service %s is not in kafkaBackend: add its Kafka client per platform", svc)
			}
			images := checkIndex(t, e, svc)
			sizes[svc] = map[string]int64{}
			for _, p := range e.platforms[svc] {
				img, ok := images[p]
				if !ok {
					continue // checkIndex failed already
				}
				sizes[svc][p] = img.bytes
				t.Run(p, func(t *testing.T) {
					checkConfig(t, e, svc, p, img)
					checkRun(t, e, svc, p, img)
				})
			}
		})
	}
	var b strings.Builder
	b.WriteString("\n| service | linux/amd64 | linux/arm64 | linux/arm/v7 |\n|---|---|---|---|\n")
	for _, svc := range e.services {
		fmt.Fprintf(&b, "| %s |", svc)
		for _, p := range platforms {
			if n, ok := sizes[svc][p]; ok {
				fmt.Fprintf(&b, " %.1f MB |", float64(n)/1e6)
			} else {
				b.WriteString(" - |")
			}
		}
		b.WriteString("\n")
	}
	t.Logf("compressed size per image (config + layers, MB = 10^6 bytes):%s", b.String())
}

func checkIndex(t *testing.T, e env, svc string) map[string]image {
	t.Helper()
	var idx manifest
	decode(t, "index of "+e.ref(svc), run(t, e.crane, "manifest", e.ref(svc)), &idx)
	if idx.MediaType != "application/vnd.oci.image.index.v1+json" {
		t.Errorf("%s: mediaType = %q, want an OCI image index", e.ref(svc), idx.MediaType)
	}
	var got []string
	images := map[string]image{}
	for _, d := range idx.Manifests {
		if d.Platform == nil {
			got = append(got, "<no platform>")
			continue
		}
		p := d.Platform.String()
		got = append(got, p)
		var m manifest
		decode(t, p+" manifest", run(t, e.crane, "manifest", e.registry+"/"+svc+"@"+d.Digest), &m)
		n := m.Config.Size
		for _, l := range m.Layers {
			n += l.Size
		}
		images[p] = image{digest: d.Digest, bytes: n}
	}
	if want := e.platforms[svc]; !slices.Equal(got, want) {
		t.Errorf("%s: index platforms = %v, want exactly %v", e.ref(svc), got, want)
	}
	return images
}

func checkConfig(t *testing.T, e env, svc, p string, img image) {
	var c imageConfig
	decode(t, "config", run(t, e.crane, "config", e.registry+"/"+svc+"@"+img.digest), &c)
	if got := (platform{OS: c.OS, Architecture: c.Architecture, Variant: c.Variant}).String(); got != p {
		t.Errorf("config platform = %s, want %s", got, p)
	}
	if c.Config.User != "65532:65532" {
		t.Errorf("User = %q, want 65532:65532 (non-root)", c.Config.User)
	}
	if want := []string{"/usr/local/bin/service"}; !slices.Equal(c.Config.Entrypoint, want) || len(c.Config.Cmd) != 0 {
		t.Errorf("Entrypoint, Cmd = %q, %q, want %q, none", c.Config.Entrypoint, c.Config.Cmd, want)
	}
	for k, want := range wantLabels(svc, e.version) {
		got, ok := c.Config.Labels[k]
		switch {
		case !ok || got == "":
			t.Errorf("label %s missing or empty", k)
		case want != "" && got != want:
			t.Errorf("label %s = %q, want %q", k, got, want)
		}
	}
}

// checkRun runs the image (by digest, so the platform is the one asked for)
// with --version and no network.
func checkRun(t *testing.T, e env, svc, p string, img image) {
	out := strings.TrimSpace(run(t, "docker", "run", "--rm", "--quiet", "--network", "none", "--read-only",
		"--platform", p, e.registry+"/"+svc+"@"+img.digest, "--version"))
	prefix := svc + " " + e.version + " ("
	if !strings.HasPrefix(out, prefix) || !strings.Contains(out, ", "+p) {
		t.Errorf("--version = %q, want %q... naming %s", out, prefix, p)
	}
	want := kafkaBackend[svc][p]
	switch {
	case want == "" && strings.Contains(out, "kafka"):
		t.Errorf("--version = %q, want no Kafka client", out)
	case want != "" && !strings.Contains(out, "kafka "+want):
		t.Errorf("--version = %q, want kafka %s", out, want)
	}
}

type bakePrint struct {
	Group  map[string]struct{ Targets []string } `json:"group"`
	Target map[string]struct {
		Args      map[string]string `json:"args"`
		Platforms []string          `json:"platforms"`
	} `json:"target"`
}

// bake runs `docker buildx bake --print` at the repository root with the
// base-image variables unset, then set as in extra.
func bake(t *testing.T, extra ...string) bakePrint {
	t.Helper()
	cmd := exec.Command("docker", "buildx", "bake", "-f", "images/docker-bake.hcl", "--print", "--progress=quiet")
	cmd.Dir = "../.."
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !slices.Contains([]string{"BASE_REGISTRY", "GO_IMAGE", "RUNTIME_STATIC", "RUNTIME_GLIBC", "DOCKERFILE_SYNTAX"}, k) {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, extra...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("bake --print %v: %v: %s", extra, err, stderr.String())
	}
	var p bakePrint
	decode(t, "bake --print", string(out), &p)
	return p
}

// TestImagesBakePrint checks the bake file without building: a target per
// service directory, three platforms each, and the base images: upstream
// ones without overrides, only stand-ins with BASE_REGISTRY. The frontend
// named in BUILDKIT_SYNTAX is the Dockerfile's own # syntax= line.
func TestImagesBakePrint(t *testing.T) {
	dirs, err := os.ReadDir("../../services")
	if err != nil {
		t.Fatal(err)
	}
	var services []string
	for _, d := range dirs {
		if d.IsDir() {
			services = append(services, d.Name())
		}
	}
	df, err := os.ReadFile("../../images/go-service.Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	syntax, _, _ := strings.Cut(string(df), "\n")
	syntax = strings.TrimPrefix(syntax, "# syntax=")

	upstream := map[string]string{
		"GO_IMAGE":        "golang:1.26-bookworm",
		"RUNTIME_STATIC":  "gcr.io/distroless/static-debian12:nonroot",
		"RUNTIME_GLIBC":   "gcr.io/distroless/base-debian12:nonroot",
		"BUILDKIT_SYNTAX": syntax,
		// an index even when one platform is built (make images-smoke)
		"BUILDKIT_MULTI_PLATFORM": "1",
	}
	standin := map[string]string{
		"GO_IMAGE":                "r.example:5000/b/library/golang:1.26-bookworm",
		"RUNTIME_STATIC":          "r.example:5000/b/distroless/static-debian12:nonroot",
		"RUNTIME_GLIBC":           "r.example:5000/b/distroless/base-debian12:nonroot",
		"BUILDKIT_SYNTAX":         "r.example:5000/b/" + syntax,
		"BUILDKIT_MULTI_PLATFORM": "1",
	}
	tests := []struct {
		name string
		give []string
		want map[string]string
	}{
		{"upstream", nil, upstream},
		{"stand-ins", []string{"BASE_REGISTRY=r.example:5000/b"}, standin},
		{"digest dropped for stand-ins", []string{"BASE_REGISTRY=r.example:5000/b", "GO_IMAGE=golang:1.26-bookworm@sha256:0123"}, standin},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := bake(t, tt.give...)
			if got := slices.Sorted(slices.Values(p.Group["default"].Targets)); !slices.Equal(got, services) {
				t.Errorf("default group = %v, want a target per service directory %v", got, services)
			}
			for _, svc := range services {
				tg := p.Target[svc]
				if !slices.Equal(tg.Platforms, platforms) {
					t.Errorf("%s platforms = %v, want %v", svc, tg.Platforms, platforms)
				}
				for k, want := range tt.want {
					if got := tg.Args[k]; got != want {
						t.Errorf("%s %s = %q, want %q", svc, k, got, want)
					}
				}
			}
		})
	}
}
