package localrun

import (
	"math"
	"net"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func TestRender(t *testing.T) {
	at := time.Date(2026, 11, 27, 12, 0, 30, 0, time.UTC)
	s := Snapshot{
		At: at, Started: at.Add(-90 * time.Second), RefreshEvery: 3 * time.Second,
		Nodes: []NodeStatus{
			{Node: "node1", Camera: "C1", PicturesSent: 4, Backlog: 0, ReadingsSent: 12, LastCelsius: 48.25, Up: true,
				LatestPicture: "/sensornode/camera/C1/2026/11/27/120020-C1-x.jpg", LatestAt: at.Add(-10 * time.Second)},
			{Node: "node2", Camera: "C2", PicturesSent: math.NaN(), Backlog: math.NaN(), Quarantined: math.NaN(), ReadingsSent: math.NaN(), LastCelsius: math.NaN()},
		},
		ForwardedPictures: 4, ForwardedReadings: 12, ForwarderUp: true, StoredPictures: 3, StoredReadings: 10, IngestLag: 1, IngestUp: true,
		Memory: "camera-producer 40 MiB x5", Problems: []string{"temp-producer-2 exited: exit status 1"},
		StopHint: "Ctrl-C stops", ClearScreenPrefix: "\033[H\033[2J",
		ViewerURL: "http://127.0.0.1:8090/", ViewerUser: "admin", ViewerPassword: "PW23", ViewerUp: true,
	}
	var b strings.Builder
	if err := Render(&b, s); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, re := range []string{
		`produced \(edge acks\) +4 +12 *\n`,
		`forwarded \(cloud acks\) +4 +12 +0  edge-forwarder up`,
		`stored in HDFS +3 +10 +1  cloud-ingest-hdfs up`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("dashboard does not match %q:\n%s", re, out)
		}
	}
	for _, want := range []string{
		"\033[H\033[2J",
		"running 1m30s",
		"48.2",
		"120020-C1-x.jpg (10s ago)",
		"(none yet) DOWN",
		"memory (RSS, largest instance): camera-producer 40 MiB x5",
		"! temp-producer-2 exited: exit status 1",
		"Ctrl-C stops",
		"viewer http://127.0.0.1:8090/  (user admin, password PW23)  up",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dashboard lacks %q:\n%s", want, out)
		}
	}
}

func TestDaysBetween(t *testing.T) {
	a := time.Date(2026, 12, 31, 23, 59, 0, 0, time.UTC)
	got := daysBetween(a, a.Add(2*time.Minute))
	if len(got) != 2 || got[0] != "2026/12/31" || got[1] != "2027/01/01" {
		t.Errorf("daysBetween() = %v", got)
	}
	if got := daysBetween(a, a); len(got) != 1 {
		t.Errorf("daysBetween(same) = %v", got)
	}
}

func TestNewViewerLogin(t *testing.T) {
	dir := t.TempDir()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	v, err := newViewerLogin(dir, busy.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if v.Addr == busy.Addr().String() || !strings.HasPrefix(v.Addr, "127.0.0.1:") {
		t.Errorf("Addr = %q with %s taken, want another loopback port", v.Addr, busy.Addr())
	}
	b, err := os.ReadFile(v.UsersFile)
	if err != nil {
		t.Fatal(err)
	}
	user, hash, ok := strings.Cut(strings.TrimSpace(string(b)), ":")
	if !ok || user != "admin" || v.User != "admin" {
		t.Fatalf("users file %q, want admin:<bcrypt>", b)
	}
	if err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(v.Password)); err != nil {
		t.Errorf("the users file does not accept the printed password: %v", err)
	}
	if strings.Contains(string(b), v.Password) || len(v.Password) < 16 {
		t.Errorf("password %q: in the file or too short", v.Password)
	}
	if fi, err := os.Stat(v.UsersFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("users file mode %v (%v), want 0600", fi.Mode(), err)
	}
	again, err := newViewerLogin(dir, "127.0.0.1:0")
	if err != nil || again.Password == v.Password {
		t.Errorf("second run: %v, same password %v", err, again.Password == v.Password)
	}
}
