package viewer

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
	"golang.org/x/crypto/bcrypt"

	"github.com/sensornode/sensornode/libs/svc"
	"github.com/sensornode/sensornode/services/viewer/internal/auth"
	"github.com/sensornode/sensornode/services/viewer/internal/web"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestConfigFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		check   func(c *Config) string
		wantErr []string
	}{
		{name: "defaults", env: map[string]string{"SENSORNODE_VIEWER_USERS_FILE": "/etc/viewer/users"}, check: func(c *Config) string {
			switch {
			case c.Addr != "127.0.0.1:8090", c.AdminAddr != ":9106", c.Auth != "users", !c.CookieSecure:
				return "listener, admin, auth or cookie defaults"
			case strings.Join(c.HDFS.NameNodes, ",") != "127.0.0.1:8020" || c.HDFS.User != "sensornode":
				return "hdfs defaults"
			case c.PictureLayout != "/sensornode/camera/{camera}/{yyyy}/{MM}/{dd}/{HH}{mm}{ss}-{key}.jpg",
				c.TemperatureDirLayout != "/sensornode/temperature/{node}/{yyyy}/{MM}/{dd}/{HH}":
				return "layouts differ from cloud-ingest-hdfs's"
			case c.StoreConfig().PictureBundleDir != "/sensornode/bundles" || c.StoreConfig().BundleLookahead != 2*time.Hour:
				return "bundle store defaults"
			case c.ZooKeeperViewPath != "/sensornode/masters" || c.healthConfigured():
				return "health defaults"
			}
			return ""
		}},
		{name: "overrides", env: map[string]string{
			"SENSORNODE_VIEWER_AUTH": "proxy", "SENSORNODE_VIEWER_TRUSTED_PROXIES": "10.0.0.0/8,192.0.2.7",
			"SENSORNODE_VIEWER_COOKIE_SECURE": "false", "SENSORNODE_HDFS_NAMENODE_ADDR": "nn1:8020,nn2:8020",
			"SENSORNODE_HDFS_USER": "viewer", "SENSORNODE_PROMETHEUS_URL": "http://prometheus:9090",
			"SENSORNODE_VIEWER_METRICS_TARGETS": "ingest:9104", "SENSORNODE_VIEWER_THUMB_DIR": "/cache",
		}, check: func(c *Config) string {
			p, err := c.trustedProxies()
			switch {
			case err != nil || len(p) != 2 || p[1].String() != "192.0.2.7/32":
				return "trusted proxies"
			case c.CookieSecure || len(c.HDFS.NameNodes) != 2 || c.HDFS.User != "viewer":
				return "cookie or hdfs"
			case !c.healthConfigured() || c.HealthConfig().PrometheusURL != "http://prometheus:9090" || c.StoreConfig().ThumbDir != "/cache":
				return "store or health config"
			}
			return ""
		}},
		{name: "users without a file", wantErr: []string{"SENSORNODE_VIEWER_USERS_FILE is empty"}},
		{name: "none needs nothing", env: map[string]string{"SENSORNODE_VIEWER_AUTH": "none"}},
		{name: "bad values", env: map[string]string{
			"SENSORNODE_VIEWER_AUTH": "magic", "SENSORNODE_VIEWER_ADDR": "8090", "SENSORNODE_VIEWER_TRUSTED_PROXIES": "proxy.local",
			"SENSORNODE_PROMETHEUS_URL": "prometheus:9090", "SENSORNODE_VIEWER_WALL_REFRESH": "0s",
			"SENSORNODE_PICTURE_BUNDLE_DIR": "bundles", "SENSORNODE_VIEWER_BUNDLE_LOOKAHEAD": "-1h",
		}, wantErr: []string{
			"SENSORNODE_PICTURE_BUNDLE_DIR", "SENSORNODE_VIEWER_BUNDLE_LOOKAHEAD must be positive",
			`SENSORNODE_VIEWER_AUTH "magic"`, `SENSORNODE_VIEWER_ADDR "8090"`, "SENSORNODE_VIEWER_TRUSTED_PROXIES",
			"SENSORNODE_PROMETHEUS_URL", "SENSORNODE_VIEWER_WALL_REFRESH must be positive",
		}},
		{name: "proxy without proxies", env: map[string]string{"SENSORNODE_VIEWER_AUTH": "proxy"},
			wantErr: []string{"needs SENSORNODE_VIEWER_TRUSTED_PROXIES"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			c := DefaultConfig()
			err := svc.LoadConfig(&c)
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatal("no error")
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.check != nil {
				if bad := tt.check(&c); bad != "" {
					t.Errorf("%s: %+v", bad, c)
				}
			}
			for _, k := range svc.UnknownEnv(&c) {
				if _, ok := tt.env[k]; ok {
					t.Errorf("%s is not read", k)
				}
			}
		})
	}
}

// fakeStore is enough of a store for Run: the wall of no cameras and a
// ping.
type fakeStore struct {
	web.Pictures     // nil: other methods are not called
	web.Temperatures // nil
	ping             error
}

func (f *fakeStore) Ping(context.Context) error                { return f.ping }
func (f *fakeStore) Cameras(context.Context) ([]string, error) { return nil, nil }

func testConfig(t *testing.T) Config {
	t.Helper()
	c := DefaultConfig()
	for k, v := range map[string]string{"SENSORNODE_VIEWER_ADDR": "127.0.0.1:0", "SENSORNODE_ADMIN_ADDR": "127.0.0.1:0",
		"SENSORNODE_VIEWER_AUTH": "none", "SENSORNODE_CHECK_INTERVAL": "50ms"} {
		t.Setenv(k, v)
	}
	if err := svc.LoadConfig(&c); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRunRefusesWithoutUsers(t *testing.T) {
	c := testConfig(t)
	c.Auth = web.AuthUsers
	err := Run(t.Context(), &c, slog.New(slog.DiscardHandler), prometheus.NewRegistry(), Options{Store: &fakeStore{}})
	if err == nil || !strings.Contains(err.Error(), "SENSORNODE_VIEWER_USERS_FILE") {
		t.Errorf("Run without a users file = %v, want a configuration error", err)
	}
	c.UsersFile = filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(c.UsersFile, []byte("# nobody yet\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Run(t.Context(), &c, slog.New(slog.DiscardHandler), prometheus.NewRegistry(), Options{Store: &fakeStore{}}); err == nil {
		t.Error("Run with an empty users file: no error")
	}
}

func TestRun(t *testing.T) {
	c := testConfig(t)
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	ctx, cancel := context.WithCancel(t.Context())
	addrs := make(chan [2]string, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, &c, log, prometheus.NewRegistry(), Options{
			Store:     &fakeStore{},
			Listening: func(w, a string) { addrs <- [2]string{w, a} },
		})
	}()
	var a [2]string
	select {
	case a = <-addrs:
	case err := <-done:
		t.Fatalf("Run = %v", err)
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	get := func(url string) (int, string) {
		res, err := client.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, _ := get("http://" + a[1] + "/readyz")
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz = %d after 5 s", code)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code, body := get("http://" + a[0] + "/"); code != 200 || !strings.Contains(body, "No camera has stored a picture yet") {
		t.Errorf("GET / = %d:\n%s", code, body)
	}
	if code, body := get("http://" + a[1] + "/metrics"); code != 200 || !strings.Contains(body, `sensornode_viewer_http_requests_total{code="200",route="GET /{$}"} 1`) {
		t.Errorf("/metrics = %d, lacks the request count:\n%s", code, body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v after cancel, want nil", err)
	}
	if !strings.Contains(logs.String(), "AUTHENTICATION IS OFF") {
		t.Error("no warning about SENSORNODE_VIEWER_AUTH=none")
	}
}

func TestHashPassword(t *testing.T) {
	var out bytes.Buffer
	// The cost-12 hash takes seconds under the race detector: the
	// lowest cost here, the same code.
	if err := hashPassword([]string{"alice"}, strings.NewReader("pw one\n"), &out, bcrypt.MinCost); err != nil {
		t.Fatal(err)
	}
	users, err := auth.ParseUsers(&out)
	if err != nil {
		t.Fatal(err)
	}
	if bcrypt.CompareHashAndPassword(users["alice"], []byte("pw one")) != nil {
		t.Error("hash does not match")
	}
	if c, _ := bcrypt.Cost(users["alice"]); c != bcrypt.MinCost {
		t.Errorf("cost %d, want %d", c, bcrypt.MinCost)
	}
	for _, args := range [][]string{nil, {"a", "b"}, {"-h"}} {
		if err := HashPassword(args, strings.NewReader("x\n"), io.Discard); err == nil {
			t.Errorf("HashPassword(%q): no error", args)
		}
	}
	if err := HashPassword([]string{"alice"}, strings.NewReader("\n"), io.Discard); err == nil {
		t.Error("empty password accepted")
	}
}
