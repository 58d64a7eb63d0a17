package temperature

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParsers(t *testing.T) {
	tests := []struct {
		name    string
		parse   func(string) (float64, error)
		give    string
		want    float64
		wantErr bool
	}{
		{"sysfs", ParseMillidegrees, "48312\n", 48.312, false},
		{"sysfs negative", ParseMillidegrees, "-5250", -5.25, false},
		{"sysfs decimal is junk", ParseMillidegrees, "48.3", 0, true},
		{"sysfs empty", ParseMillidegrees, "", 0, true},
		{"vcgencmd", ParseVcgencmd, "temp=48.3'C\n", 48.3, false},
		{"vcgencmd degree sign", ParseVcgencmd, "temp=51.0°C", 51, false},
		{"vcgencmd garbage", ParseVcgencmd, "temp=abc'C", 0, true},
		{"vcgencmd no prefix", ParseVcgencmd, "48.3'C", 0, true},
		{"vcgencmd error text", ParseVcgencmd, "VCHI initialization failed", 0, true},
		{"vcgencmd nan", ParseVcgencmd, "temp=NaN'C", 0, true},
		{"file vcgencmd line", ParseFileReading, "temp=47.8'C", 47.8, false},
		{"file celsius", ParseFileReading, "47.8", 47.8, false},
		{"file celsius unit", ParseFileReading, "47.8 C", 47.8, false},
		{"file small integer is celsius", ParseFileReading, "47", 47, false},
		{"file millidegrees", ParseFileReading, "47812", 47.812, false},
		{"file junk", ParseFileReading, "hot", 0, true},
		{"file empty", ParseFileReading, "", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.parse(tt.give)
			if tt.wantErr {
				if !errors.Is(err, ErrUnparsable) {
					t.Errorf("parse(%q) = %v, %v; want ErrUnparsable", tt.give, got, err)
				}
				return
			}
			if err != nil || math.Abs(got-tt.want) > 1e-9 {
				t.Errorf("parse(%q) = %v, %v; want %v", tt.give, got, err, tt.want)
			}
		})
	}
}

func TestSysfsSource(t *testing.T) {
	dir := t.TempDir()
	zone := filepath.Join(dir, "thermal_zone0", "temp")
	if err := os.MkdirAll(filepath.Dir(zone), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(zone, []byte("51234\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := &Sysfs{Path: filepath.Join(dir, "thermal_zone*", "temp"), Now: time.Now}
	r, err := s.Read(context.Background())
	if err != nil || r.Celsius != 51.234 {
		t.Errorf("Read() = %+v, %v; want 51.234", r, err)
	}
	s.Path = filepath.Join(dir, "missing")
	if _, err := s.Read(context.Background()); !errors.Is(err, ErrSource) {
		t.Errorf("Read(missing) = %v, want ErrSource", err)
	}
}

// fakeVcgencmd writes a script printing the given answers in turn (one per
// run); an answer starting with "!" is printed to stderr with exit 1.
func fakeVcgencmd(t *testing.T, answers ...string) string {
	t.Helper()
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("#!/bin/sh\nn=$(cat \"$0.n\" 2>/dev/null || echo 0)\necho $((n+1)) > \"$0.n\"\n")
	b.WriteString("[ \"$1\" = measure_temp ] || { echo 'usage' >&2; exit 2; }\ncase $n in\n")
	for i, a := range answers {
		if msg, ok := strings.CutPrefix(a, "!"); ok {
			b.WriteString("  " + itoa(i) + ") echo '" + msg + "' >&2; exit 1;;\n")
		} else {
			b.WriteString("  " + itoa(i) + ") echo '" + strings.ReplaceAll(a, "'", `'"'"'`) + "';;\n")
		}
	}
	b.WriteString("  *) echo \"temp=40.0'C\";;\nesac\n")
	path := filepath.Join(dir, "vcgencmd")
	if err := os.WriteFile(path, []byte(b.String()), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestVcgencmdSource(t *testing.T) {
	path := fakeVcgencmd(t, "temp=48.3'C", "temp=abc", "!VCHI initialization failed")
	v := &Vcgencmd{Path: path, Timeout: 5 * time.Second, Now: time.Now}
	ctx := context.Background()
	if r, err := v.Read(ctx); err != nil || r.Celsius != 48.3 {
		t.Errorf("Read() #1 = %+v, %v; want 48.3", r, err)
	}
	if _, err := v.Read(ctx); !errors.Is(err, ErrUnparsable) {
		t.Errorf("Read() #2 = %v, want ErrUnparsable", err)
	}
	if _, err := v.Read(ctx); !errors.Is(err, ErrSource) || !strings.Contains(err.Error(), "VCHI") {
		t.Errorf("Read() #3 = %v, want ErrSource with the command's stderr", err)
	}
	hang := filepath.Join(t.TempDir(), "hang")
	if err := os.WriteFile(hang, []byte("#!/bin/sh\nexec sleep 30\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	v = &Vcgencmd{Path: hang, Timeout: 200 * time.Millisecond, Now: time.Now}
	if _, err := v.Read(ctx); !errors.Is(err, ErrSource) {
		t.Errorf("Read(hanging command) = %v, want ErrSource", err)
	}
	v.Path = filepath.Join(t.TempDir(), "absent")
	if _, err := v.Read(ctx); !errors.Is(err, ErrSource) {
		t.Errorf("Read(absent command) = %v, want ErrSource", err)
	}
}

func TestFileSource(t *testing.T) {
	dir := t.TempDir()
	f := &File{Path: dir}
	ctx := context.Background()
	if _, err := f.Read(ctx); !errors.Is(err, ErrSource) {
		t.Errorf("Read(empty dir) = %v, want ErrSource", err)
	}
	old := filepath.Join(dir, "old")
	cur := filepath.Join(dir, "temp")
	if err := os.WriteFile(old, []byte("temp=30.0'C\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cur, []byte("temp=44.0'C\ntemp=45.5'C\n\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-time.Minute).Truncate(time.Second)
	if err := os.Chtimes(old, at.Add(-time.Hour), at.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(cur, at, at); err != nil {
		t.Fatal(err)
	}
	r, err := f.Read(ctx)
	if err != nil || r.Celsius != 45.5 || !r.At.Equal(at) {
		t.Errorf("Read() = %+v, %v; want 45.5 at %v (newest file, last line, mtime)", r, err, at)
	}
	if _, err := f.Read(ctx); !errors.Is(err, ErrUnchanged) {
		t.Errorf("Read() again = %v, want ErrUnchanged", err)
	}
	if err := os.WriteFile(cur, []byte("garbage\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Read(ctx); !errors.Is(err, ErrUnparsable) {
		t.Errorf("Read(garbage) = %v, want ErrUnparsable", err)
	}
}

func TestSyntheticSource(t *testing.T) {
	s := &Synthetic{Base: 45, Amplitude: 5, Period: time.Minute, Now: time.Now}
	for i := 0; i < 100; i++ {
		r, err := s.Read(context.Background())
		if err != nil || r.Celsius < 39.6 || r.Celsius > 50.4 {
			t.Fatalf("Read() = %+v, %v; want within 45 +- 5.3", r, err)
		}
	}
}
