//go:build deploy

package deploycheck

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runWithEnv starts bin with args and exactly env (plus PATH and HOME) and
// decides as TestServicesAcceptRenderedEnv describes.
func runWithEnv(t *testing.T, bin string, args, env []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	cmd.Dir = t.TempDir()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	admin := ""
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "SENSORNODE_ADMIN_ADDR="); ok {
			admin = v
		}
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			if strings.Contains(out.String(), ": config:") {
				t.Fatalf("refused its rendered configuration (%v):\n%s", err, out.String())
			}
			t.Logf("configuration accepted; exited without a config error (%v): %s", err, firstLines(out.String(), 3))
			return
		case <-ctx.Done():
			<-done
			t.Fatalf("neither answered /livez nor exited within the deadline:\n%s", firstLines(out.String(), 20))
		case <-tick.C:
			if admin == "" {
				continue
			}
			resp, err := http.Get("http://" + admin + "/livez")
			if err != nil {
				continue
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				cancel() // SIGTERM
				<-done
				if strings.Contains(out.String(), ": config:") {
					t.Fatalf("config error after /livez:\n%s", out.String())
				}
				t.Logf("configuration accepted: /livez answered")
				return
			}
		}
	}
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, " | ")
}
