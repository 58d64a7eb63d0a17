package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sensornode/sensornode/libs/svc"
	"github.com/sensornode/sensornode/libs/svc/svctest"
)

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := errors.AsType[*svc.ExitError](err); ok {
		return ee.Code
	}
	if errors.Is(err, svc.ErrUsage) {
		return 2
	}
	return 1
}

func TestUsage(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		wantCode int
		wantOut  string
		wantErr  string
	}{
		{name: "help", args: []string{"help"}, wantOut: "wait-zookeeper"},
		{name: "run --help", args: []string{"--help"}, wantOut: "usage: master-watcher"},
		{name: "unknown command", args: []string{"frobnicate"}, wantCode: 2, wantErr: `unknown command "frobnicate"`},
		{name: "run with arguments", args: []string{"run", "x"}, wantCode: 2, wantErr: "run takes no arguments"},
		{name: "daemon without masters", args: nil, env: map[string]string{"SENSORNODE_FORWARD_LISTEN_ADDR": "127.0.0.1:0"}, wantCode: 1, wantErr: "SENSORNODE_MASTERS"},
		{name: "status without servers", args: []string{"status"}, wantCode: 2, wantErr: "no ZooKeeper servers"},
		{name: "status bad flag", args: []string{"status", "--nope"}, wantCode: 2, wantErr: "flag provided but not defined"},
		{name: "status chroot", args: []string{"status", "--servers", "127.0.0.1:1/x"}, wantCode: 2, wantErr: "no chroot"},
		{name: "wait without servers", args: []string{"wait-zookeeper"}, wantCode: 1, wantErr: "no zookeeper servers"},
		{name: "wait bad method", args: []string{"wait-zookeeper", "--servers", "127.0.0.1:1", "--method", "ping"}, wantCode: 1, wantErr: `wait method "ping"`},
		{name: "status -h", args: []string{"status", "-h"}, wantOut: "-servers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("SENSORNODE_ZOOKEEPER_SERVERS", "")
			t.Setenv("SENSORNODE_MASTERS", "")
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var out bytes.Buffer
			err := Run(context.Background(), tt.args, &out)
			if got := exitCode(err); got != tt.wantCode {
				t.Errorf("Run(%q) exit code %d (%v), want %d", tt.args, got, err, tt.wantCode)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("Run(%q) error %v, want it to contain %q", tt.args, err, tt.wantErr)
			}
			if !strings.Contains(out.String(), tt.wantOut) {
				t.Errorf("Run(%q) output %q, want it to contain %q", tt.args, out.String(), tt.wantOut)
			}
		})
	}
}

// TestStatusUnreachable: no ZooKeeper answering is exit code 2, not a
// disagreement.
func TestStatusUnreachable(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	var out bytes.Buffer
	err := Run(context.Background(), []string{"status", "--servers", addr, "--timeout", "300ms"}, &out)
	if got := exitCode(err); got != 2 {
		t.Errorf("status against nothing: exit %d (%v), want 2", got, err)
	}
}

// TestWaitTimesOut: the tool gives up after its timeout with exit code 1
// and the reason.
func TestWaitTimesOut(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	var out bytes.Buffer
	start := time.Now()
	err := Run(context.Background(), []string{"wait-zookeeper", "--servers", addr, "--timeout", "300ms", "--interval", "50ms"}, &out)
	if got := exitCode(err); got != 1 || !strings.Contains(err.Error(), "no zookeeper quorum after") {
		t.Errorf("wait against nothing: exit %d (%v), want 1 and no quorum", got, err)
	}
	if time.Since(start) > 30*time.Second {
		t.Errorf("took %v", time.Since(start))
	}
	if !strings.Contains(out.String(), "zookeeper quorum not reached yet") || !strings.Contains(out.String(), "connection refused") {
		t.Errorf("progress messages missing:\n%s", out.String())
	}
}

// TestDaemon runs the daemon as main does, from the environment: it serves
// /readyz and /metrics, forwards to the live master and stops cleanly.
func TestDaemon(t *testing.T) {
	master := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "master:"+r.URL.Path) }))
	defer master.Close()
	for k, v := range map[string]string{
		"SENSORNODE_MASTERS": master.URL, "SENSORNODE_PROBE_MODE": "http", "SENSORNODE_PROBE_INTERVAL": "50ms",
		"SENSORNODE_ADMIN_ADDR": "127.0.0.1:0", "SENSORNODE_FORWARD_LISTEN_ADDR": "127.0.0.1:0",
		"SENSORNODE_NODE_NAME": "n1", "SENSORNODE_ZOOKEEPER_SERVERS": "",
	} {
		t.Setenv(k, v)
	}
	var out svctest.SyncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, nil, &out) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run after cancel = %v", err)
		}
		if !strings.Contains(out.String(), `"msg":"stopped"`) {
			t.Errorf("no stop message in the log")
		}
	}()
	addrOf := func(msg string) string {
		re := regexp.MustCompile(`"msg":"` + msg + `".*?"addr":"([^"]+)"`)
		var addr string
		svctest.EventuallyNoError(t, 10*time.Second, fmt.Sprintf("no %q in the log", msg), func() error {
			m := re.FindStringSubmatch(out.String())
			if m == nil {
				return errors.New("\n" + out.String())
			}
			addr = m[1]
			return nil
		})
		return addr
	}
	admin, fwd := addrOf("admin server listening"), addrOf("forwarder listening")
	get := func(url string) (int, string) {
		resp, err := http.Get(url)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	svctest.EventuallyNoError(t, 10*time.Second, "/readyz", func() error {
		if code, body := get("http://" + admin + "/readyz"); code != http.StatusOK {
			return fmt.Errorf("%d %q", code, body)
		}
		return nil
	})
	if _, body := get("http://" + admin + "/metrics"); !strings.Contains(body, "sensornode_master_watcher_active_master_index 0") {
		t.Errorf("/metrics lacks the active master index")
	}
	if code, body := get("http://" + fwd + "/via-forwarder"); code != 200 || body != "master:/via-forwarder" {
		t.Errorf("through the forwarder: %d %q", code, body)
	}
}
