package svc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/sensornode/sensornode/libs/svc/svctest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type testConfig struct {
	Brokers  string        `envconfig:"BROKERS" default:"127.0.0.1:9092"`
	Interval time.Duration `envconfig:"INTERVAL" default:"5s"`
	Password string        `envconfig:"PASSWORD" secret:"true"`
	Nested   struct {
		Enabled bool `envconfig:"ENABLED" default:"false"`
	} `envconfig:"NESTED"`
	Callback func() `ignored:"true"`
}

func (c *testConfig) Validate() error {
	var p Problems
	if c.Interval <= 0 {
		p.Addf("SENSORNODE_INTERVAL must be positive, got %v", c.Interval)
	}
	if c.Brokers == "" {
		p.Addf("SENSORNODE_BROKERS is empty")
	}
	return p.Err()
}

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    testConfig
		wantErr string
	}{
		{name: "defaults", want: testConfig{Brokers: "127.0.0.1:9092", Interval: 5 * time.Second}},
		{name: "overrides", env: map[string]string{"SENSORNODE_BROKERS": "a:1,b:2", "SENSORNODE_INTERVAL": "250ms", "SENSORNODE_NESTED_ENABLED": "true"},
			want: testConfig{Brokers: "a:1,b:2", Interval: 250 * time.Millisecond}},
		{name: "bad duration", env: map[string]string{"SENSORNODE_INTERVAL": "5"}, wantErr: "INTERVAL"},
		{name: "invalid values reported together", env: map[string]string{"SENSORNODE_INTERVAL": "-1s", "SENSORNODE_BROKERS": ""},
			wantErr: "SENSORNODE_INTERVAL must be positive, got -1s; SENSORNODE_BROKERS is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svctest.Setenv(t, tt.env)
			var c testConfig
			if !svctest.Succeeds(t, "LoadConfig()", LoadConfig(&c), tt.wantErr) {
				return
			}
			if c.Brokers != tt.want.Brokers || c.Interval != tt.want.Interval {
				t.Errorf("LoadConfig() = %+v, want %+v", c, tt.want)
			}
			if tt.name == "overrides" && !c.Nested.Enabled {
				t.Errorf("nested SENSORNODE_NESTED_ENABLED not applied")
			}
		})
	}
}

func TestConfigAttrsRedactsSecrets(t *testing.T) {
	c := testConfig{Brokers: "b:1", Password: "hunter2", Interval: 1500 * time.Millisecond}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", ConfigAttrs(&c)...)
	out := buf.String()
	if strings.Contains(out, "Callback") || strings.Contains(out, "!ERROR") {
		t.Errorf("log line renders an ignored field: %s", out)
	}
	if strings.Contains(out, "hunter2") {
		t.Errorf("log line leaks the secret: %s", out)
	}
	for _, want := range []string{`"Password":"<redacted>"`, `"Brokers":"b:1"`, `"Nested.Enabled":false`, `"Interval":"1.5s"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log line %s lacks %s", out, want)
		}
	}
}

func TestAdminEndpoints(t *testing.T) {
	bi := BuildInfo{Service: "svc-test", Version: "v9", Revision: "r", GoVersion: "go", Platform: "linux/amd64"}
	reg := NewRegistry(bi)
	probe := NewProbe(reg)
	probe.Register("kafka")
	get := startAdmin(t, Common{AdminAddr: "127.0.0.1:0", ShutdownTimeout: time.Second}, reg, probe)
	tests := []struct {
		name     string
		before   func()
		path     string
		wantCode int
		wantBody string
	}{
		{"live", nil, "/livez", 200, "ok"},
		{"not ready until checked", nil, "/readyz", 503, "kafka: not checked yet"},
		{"ready", func() { probe.Set("kafka", nil) }, "/readyz", 200, "ok"},
		{"broker down", func() { probe.Set("kafka", errors.New("all brokers down")) }, "/readyz", 503, "all brokers down"},
		{"metrics", nil, "/metrics", 200, `sensornode_build_info{goversion="go",platform="linux/amd64",revision="r",service="svc-test",version="v9"} 1`},
		{"ready gauge", nil, "/metrics", 200, `sensornode_ready{condition="kafka"} 0`},
		{"draining", func() { probe.Set("kafka", nil); probe.Drain() }, "/readyz", 503, "shutting down"},
	}
	for _, tt := range tests {
		if tt.before != nil {
			tt.before()
		}
		code, body := get(tt.path)
		if code != tt.wantCode || !strings.Contains(body, tt.wantBody) {
			t.Errorf("%s: GET %s = %d %q, want %d containing %q", tt.name, tt.path, code, body, tt.wantCode, tt.wantBody)
		}
	}
}

// startAdmin runs an admin server for c until the test ends and returns a
// GET of a path on it (status code and body).
func startAdmin(t *testing.T, c Common, reg *prometheus.Registry, probe *Probe) func(path string) (int, string) {
	t.Helper()
	adm, err := NewAdmin(c, reg, probe, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- adm.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run() after cancel = %v, want nil", err)
		}
	})
	return func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + adm.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
}

// The pprof endpoints exist only with SENSORNODE_ADMIN_PPROF_ENABLED.
func TestAdminPprof(t *testing.T) {
	paths := []string{"/debug/pprof/", "/debug/pprof/heap?debug=1", "/debug/pprof/allocs?debug=1",
		"/debug/pprof/goroutine?debug=1", "/debug/pprof/cmdline", "/debug/pprof/symbol",
		"/debug/pprof/profile?seconds=1"}
	tests := []struct {
		name     string
		give     bool
		wantCode int
	}{
		{"disabled by default", false, http.StatusNotFound},
		{"enabled", true, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := NewRegistry(BuildInfo{Service: "svc-test"})
			get := startAdmin(t, Common{AdminAddr: "127.0.0.1:0", AdminPprofEnabled: tt.give, ShutdownTimeout: 5 * time.Second},
				reg, NewProbe(reg))
			for _, p := range paths {
				if code, body := get(p); code != tt.wantCode {
					t.Errorf("GET %s = %d %.80q, want %d", p, code, body, tt.wantCode)
				}
			}
			if code, _ := get("/metrics"); code != http.StatusOK {
				t.Errorf("GET /metrics = %d, want 200", code)
			}
		})
	}
}

func TestRunExitCodes(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		prog       Program
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"version", []string{"--version"}, nil, 0, "demo dev (revision", ""},
		{"ok", nil, func(context.Context, []string, io.Writer) error { return nil }, 0, "", ""},
		{"error", nil, func(context.Context, []string, io.Writer) error { return errors.New("boom") }, 1, "", "demo: boom"},
		{"usage", []string{"x"}, func(context.Context, []string, io.Writer) error { return fmt.Errorf("%w: unknown command x", ErrUsage) }, 2, "", "unknown command x"},
		{"exit error", nil, func(context.Context, []string, io.Writer) error {
			return fmt.Errorf("check: %w", &ExitError{Code: 3, Err: errors.New("fleet disagrees")})
		}, 3, "", "demo: check: fleet disagrees"},
		{"exec exit code is not an exit status", nil, func(context.Context, []string, io.Writer) error {
			return fmt.Errorf("hook: %w", exec.Command("/bin/sh", "-c", "exit 7").Run())
		}, 1, "", "demo: hook: exit status 7"},
		{"cancelled is clean", nil, func(context.Context, []string, io.Writer) error { return context.Canceled }, 0, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run("demo", tt.prog, map[string]string{"kafka": "x"}, tt.args, &out, &errb)
			if code != tt.wantCode || !strings.Contains(out.String(), tt.wantStdout) || !strings.Contains(errb.String(), tt.wantStderr) {
				t.Errorf("run(%v) = %d, stdout %q, stderr %q; want %d, %q, %q", tt.args, code, out.String(), errb.String(), tt.wantCode, tt.wantStdout, tt.wantStderr)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	b := Backoff{Min: 10 * time.Millisecond, Max: 80 * time.Millisecond}
	wantMax := []time.Duration{10, 20, 40, 80, 80, 80}
	for i, m := range wantMax {
		m *= time.Millisecond
		d := b.Next()
		if d < m/2 || d > m {
			t.Errorf("attempt %d: Next() = %v, want in [%v, %v]", i, d, m/2, m)
		}
	}
	b.Reset()
	if d := b.Next(); d > 10*time.Millisecond {
		t.Errorf("after Reset, Next() = %v, want <= 10ms", d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := SleepCtx(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("SleepCtx(cancelled) = %v", err)
	}
}

type nestedSecret struct {
	Username string   `envconfig:"USERNAME"`
	Brokers  []string `envconfig:"BROKERS" default:"a:1"`
}

type fallbackConfig struct {
	Edge  nestedSecret `envconfig:"EDGE"`
	Cloud nestedSecret `envconfig:"CLOUD"`
	Count int          `split_words:"true" default:"3"`
}

func (*fallbackConfig) Validate() error { return nil }

// envconfig alone would read $USERNAME and $BROKERS into every nested
// config; LoadConfig must only honour the prefixed names.
func TestLoadConfigNoBareFallback(t *testing.T) {
	t.Setenv("USERNAME", "local-login")
	t.Setenv("BROKERS", "evil:9092")
	t.Setenv("SENSORNODE_CLOUD_USERNAME", "cloud-user")
	t.Setenv("SENSORNODE_COUNT", "7")
	var c fallbackConfig
	if err := LoadConfig(&c); err != nil {
		t.Fatal(err)
	}
	if c.Edge.Username != "" || c.Cloud.Username != "cloud-user" {
		t.Errorf("usernames = %q, %q; want \"\", cloud-user", c.Edge.Username, c.Cloud.Username)
	}
	if len(c.Edge.Brokers) != 1 || c.Edge.Brokers[0] != "a:1" {
		t.Errorf("Edge.Brokers = %v, want the default [a:1]", c.Edge.Brokers)
	}
	if c.Count != 7 {
		t.Errorf("Count = %d, want 7 (split_words key SENSORNODE_COUNT)", c.Count)
	}
	if got := os.Getenv("USERNAME"); got != "local-login" {
		t.Errorf("USERNAME after LoadConfig = %q, want it restored", got)
	}
}

func TestUnknownEnv(t *testing.T) {
	t.Setenv("SENSORNODE_EDGE_BROKER", "typo:1")
	t.Setenv("SENSORNODE_EDGE_BROKERS", "ok:1")
	t.Setenv("SENSORNODE_DEVSTACK_EDGE_BROKERS", "tool:1")
	t.Setenv("SENSORNODE_KUBESTACK_DIR", "/tool") // the Makefile exports it to every command
	got := strings.Join(UnknownEnv(&fallbackConfig{}), " ")
	if !strings.Contains(got+" ", "SENSORNODE_EDGE_BROKER ") || strings.Contains(got, "SENSORNODE_EDGE_BROKERS") || strings.Contains(got, "SENSORNODE_COUNT") || strings.Contains(got, "STACK") {
		t.Errorf("UnknownEnv() = %v, want SENSORNODE_EDGE_BROKER and no known key", got)
	}
}

type startConfig struct {
	Common
	Token    string        `envconfig:"TOKEN" secret:"true"`
	Interval time.Duration `envconfig:"CHECK_INTERVAL" default:"5s"`
}

func (c *startConfig) Validate() error {
	var p Problems
	c.Check(&p)
	return p.Err()
}

func (*startConfig) RenamedEnv() map[string]string {
	return map[string]string{"PING_INTERVAL": "CHECK_INTERVAL"}
}

func defaultStartConfig() startConfig { return startConfig{Common: DefaultCommon(":9100")} }

func TestStart(t *testing.T) {
	t.Setenv("SENSORNODE_LOG_LEVEL", "debug")
	t.Setenv("SENSORNODE_TOKEN", "s3cret")
	t.Setenv("SENSORNODE_TOKNE", "typo")
	cfg := defaultStartConfig()
	var out bytes.Buffer
	log, reg, err := Start("demo", &cfg, &out, map[string]string{"kafka": "franz"})
	if err != nil {
		t.Fatal(err)
	}
	log.Debug("visible at debug")
	got := out.String()
	for _, want := range []string{`"msg":"starting"`, `"Token":"<redacted>"`, `SENSORNODE_TOKNE`, `"msg":"visible at debug"`, `"service":"demo"`,
		`"LogLevel":"debug"`, `"AdminAddr":":9100"`, `"ShutdownTimeout":"20s"`, `"msg":"go memory limit"`} {
		if !strings.Contains(got, want) {
			t.Errorf("Start() output lacks %s:\n%s", want, got)
		}
	}
	if strings.Contains(got, "s3cret") {
		t.Errorf("Start() logged the secret")
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, mf := range mfs {
		if mf.GetName() == "sensornode_build_info" {
			for _, l := range mf.GetMetric()[0].GetLabel() {
				found = found || l.GetName() == "kafka" && l.GetValue() == "franz"
			}
		}
	}
	if !found {
		t.Errorf("sensornode_build_info lacks kafka=franz")
	}
	t.Setenv("SENSORNODE_LOG_LEVEL", "loud")
	if _, _, err := Start("demo", &cfg, &out, nil); err == nil {
		t.Errorf("Start() with log level loud: want an error")
	}
}

// The embedded Common block is read under the outer names, keeps the
// DefaultConfig values when unset, and is validated.
func TestCommon(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    Common
		wantErr string
	}{
		{name: "defaults", want: Common{LogLevel: "info", AdminAddr: ":9100", ShutdownTimeout: 20 * time.Second}},
		{name: "set", env: map[string]string{"SENSORNODE_LOG_LEVEL": "warn", "SENSORNODE_ADMIN_ADDR": "127.0.0.1:1",
			"SENSORNODE_SHUTDOWN_TIMEOUT": "3s", "SENSORNODE_ADMIN_PPROF_ENABLED": "true", "SENSORNODE_MEMORY_LIMIT_BYTES": "134217728"},
			want: Common{LogLevel: "warn", AdminAddr: "127.0.0.1:1", AdminPprofEnabled: true, ShutdownTimeout: 3 * time.Second,
				MemoryLimitBytes: 134217728}},
		{name: "invalid", env: map[string]string{"SENSORNODE_LOG_LEVEL": "loud", "SENSORNODE_ADMIN_ADDR": "",
			"SENSORNODE_SHUTDOWN_TIMEOUT": "0s", "SENSORNODE_MEMORY_LIMIT_BYTES": "-1"},
			wantErr: `SENSORNODE_LOG_LEVEL "loud": want debug, info, warn or error; SENSORNODE_ADMIN_ADDR is empty; SENSORNODE_SHUTDOWN_TIMEOUT 0s must be positive; SENSORNODE_MEMORY_LIMIT_BYTES -1 must not be negative (0: from the cgroup)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svctest.Setenv(t, tt.env)
			cfg := defaultStartConfig()
			if !svctest.Succeeds(t, "LoadConfig()", LoadConfig(&cfg), tt.wantErr) {
				return
			}
			if cfg.Common != tt.want {
				t.Errorf("Common = %+v, want %+v", cfg.Common, tt.want)
			}
		})
	}
}

// A renamed variable is read under its old name with a warning, is not
// reported as unknown, and conflicting old and new values are an error;
// the environment is left as it was.
func TestRenamedEnv(t *testing.T) {
	tests := []struct {
		name        string
		env         map[string]string
		want        time.Duration
		wantWarning string
		wantErr     string
	}{
		{name: "new name", env: map[string]string{"SENSORNODE_CHECK_INTERVAL": "2s"}, want: 2 * time.Second},
		{name: "old name", env: map[string]string{"SENSORNODE_PING_INTERVAL": "3s"}, want: 3 * time.Second,
			wantWarning: "SENSORNODE_PING_INTERVAL is deprecated and will be removed in the next release: use SENSORNODE_CHECK_INTERVAL"},
		{name: "both alike", env: map[string]string{"SENSORNODE_PING_INTERVAL": "3s", "SENSORNODE_CHECK_INTERVAL": "3s"},
			want: 3 * time.Second, wantWarning: "SENSORNODE_PING_INTERVAL is deprecated"},
		{name: "both differ", env: map[string]string{"SENSORNODE_PING_INTERVAL": "3s", "SENSORNODE_CHECK_INTERVAL": "4s"},
			wantErr: `SENSORNODE_CHECK_INTERVAL="4s" and its deprecated old name SENSORNODE_PING_INTERVAL="3s" are both set`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svctest.Setenv(t, tt.env)
			cfg := defaultStartConfig()
			var out bytes.Buffer
			_, _, err := Start("demo", &cfg, &out, nil)
			if !svctest.Succeeds(t, "Start()", err, tt.wantErr) {
				return
			}
			if cfg.Interval != tt.want {
				t.Errorf("Interval = %v, want %v", cfg.Interval, tt.want)
			}
			logs := out.String()
			if tt.wantWarning != "" && !strings.Contains(logs, tt.wantWarning) {
				t.Errorf("logs lack %q:\n%s", tt.wantWarning, logs)
			}
			if tt.wantWarning == "" && strings.Contains(logs, "deprecated") {
				t.Errorf("unexpected deprecation warning:\n%s", logs)
			}
			if strings.Contains(logs, "unknown SENSORNODE_ variables") {
				t.Errorf("the old name was reported as unknown:\n%s", logs)
			}
			if _, set := tt.env["SENSORNODE_CHECK_INTERVAL"]; !set {
				if v, ok := os.LookupEnv("SENSORNODE_CHECK_INTERVAL"); ok {
					t.Errorf("SENSORNODE_CHECK_INTERVAL=%q left in the environment", v)
				}
			}
		})
	}
}

func TestNoArgs(t *testing.T) {
	if err := NoArgs(nil); err != nil {
		t.Errorf("NoArgs(nil) = %v", err)
	}
	if err := NoArgs([]string{"x"}); !errors.Is(err, ErrUsage) {
		t.Errorf("NoArgs([x]) = %v, want ErrUsage", err)
	}
}

func TestProblemsPositive(t *testing.T) {
	var p Problems
	p.Positive(map[string]time.Duration{"B": 0, "A": -time.Second, "C": time.Second})
	want := "invalid configuration: A must be positive, got -1s; B must be positive, got 0s"
	if err := p.Err(); err == nil || err.Error() != want {
		t.Errorf("Positive(A=-1s, B=0, C=1s): %v, want %s", err, want)
	}
}

func TestSplitList(t *testing.T) {
	tests := []struct {
		name string
		give string
		want []string
	}{
		{"empty", "", nil},
		{"blanks only", " , ,", nil},
		{"one", "a", []string{"a"}},
		{"trimmed, empty items dropped", " a, b,,c ", []string{"a", "b", "c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SplitList(tt.give); !slices.Equal(got, tt.want) {
				t.Errorf("SplitList(%q) = %q, want %q", tt.give, got, tt.want)
			}
		})
	}
}
