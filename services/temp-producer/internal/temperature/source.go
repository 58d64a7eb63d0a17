package temperature

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Errors a source reports. Each maps to a reason label.
var (
	// ErrUnparsable: the sensor answered something that is not a reading.
	ErrUnparsable = errors.New("unparsable reading")
	// ErrSource: the sensor could not be read at all.
	ErrSource = errors.New("source error")
	// ErrUnchanged: the file source holds no new reading since the last one.
	ErrUnchanged = errors.New("no new reading")
)

// Reading is what a source returns.
type Reading struct {
	Celsius float64
	At      time.Time // when it was measured
	Raw     string    // the sensor's text, for logs
}

// Source reads the temperature once.
type Source interface {
	Read(ctx context.Context) (Reading, error)
	Name() string // label: sysfs, vcgencmd, file, synthetic
}

// Sysfs reads a thermal zone: an integer in millidegrees Celsius.
type Sysfs struct {
	Path string // may contain a glob; the first match (sorted) is read
	Now  func() time.Time
}

func (s *Sysfs) Name() string { return "sysfs" }

func (s *Sysfs) Read(context.Context) (Reading, error) {
	path := s.Path
	if strings.ContainsAny(path, "*?[") {
		m, err := filepath.Glob(path)
		if err != nil || len(m) == 0 {
			return Reading{}, fmt.Errorf("%w: no file matches %s", ErrSource, path)
		}
		sort.Strings(m)
		path = m[0]
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return Reading{}, fmt.Errorf("%w: %v", ErrSource, err)
	}
	raw := strings.TrimSpace(string(b))
	c, err := ParseMillidegrees(raw)
	return Reading{Celsius: c, At: s.Now(), Raw: raw}, err
}

// Vcgencmd runs `vcgencmd measure_temp` (prints temp=48.3'C).
type Vcgencmd struct {
	Path    string
	Timeout time.Duration
	Now     func() time.Time
}

func (v *Vcgencmd) Name() string { return "vcgencmd" }

func (v *Vcgencmd) Read(ctx context.Context) (Reading, error) {
	ctx, cancel := context.WithTimeout(ctx, v.Timeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, v.Path, "measure_temp")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = time.Second
	if err := cmd.Run(); err != nil {
		return Reading{}, fmt.Errorf("%w: %s measure_temp: %v: %s", ErrSource, v.Path, err, clip(strings.TrimSpace(stderr.String()), 200))
	}
	raw := strings.TrimSpace(stdout.String())
	c, err := ParseVcgencmd(raw)
	return Reading{Celsius: c, At: v.Now(), Raw: raw}, err
}

// File reads the original design's files: the script on the host wrote
// `vcgencmd measure_temp` output into /mnt/tempN, mounted as /tempN. Path is
// a file, or a directory whose newest regular, non-hidden file is read.
// The last non-empty line counts (see ParseFileReading); the reading time
// is the file's mtime, and a file not modified since the last reading
// gives ErrUnchanged instead of sending the same reading again.
type File struct {
	Path string
	last time.Time
}

func (f *File) Name() string { return "file" }

func (f *File) Read(context.Context) (Reading, error) {
	path, fi, err := newestFile(f.Path)
	if err != nil {
		return Reading{}, fmt.Errorf("%w: %v", ErrSource, err)
	}
	if fi.ModTime().Equal(f.last) {
		return Reading{}, fmt.Errorf("%w: %s unchanged since %s", ErrUnchanged, path, f.last.UTC().Format(time.RFC3339))
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return Reading{}, fmt.Errorf("%w: %v", ErrSource, err)
	}
	f.last = fi.ModTime()
	raw := lastLine(string(b))
	c, err := ParseFileReading(raw)
	return Reading{Celsius: c, At: fi.ModTime(), Raw: raw}, err
}

func newestFile(path string) (string, fs.FileInfo, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", nil, err
	}
	if !fi.IsDir() {
		return path, fi, nil
	}
	des, err := os.ReadDir(path)
	if err != nil {
		return "", nil, err
	}
	var best string
	var bestFI fs.FileInfo
	for _, de := range des {
		if strings.HasPrefix(de.Name(), ".") || !de.Type().IsRegular() {
			continue
		}
		i, err := de.Info()
		if err != nil {
			continue
		}
		if bestFI == nil || i.ModTime().After(bestFI.ModTime()) {
			best, bestFI = filepath.Join(path, de.Name()), i
		}
	}
	if bestFI == nil {
		return "", nil, fmt.Errorf("no reading file in %s", path)
	}
	return best, bestFI, nil
}

func lastLine(s string) string {
	lines := strings.Split(s, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			return l
		}
	}
	return ""
}

// Synthetic is a deterministic fake sensor for local runs and load tests:
// Base plus a slow sine (Amplitude over Period) plus small noise.
type Synthetic struct {
	Base, Amplitude float64
	Period          time.Duration
	Now             func() time.Time
	n               uint64
}

func (s *Synthetic) Name() string { return "synthetic" }

func (s *Synthetic) Read(context.Context) (Reading, error) {
	now := s.Now()
	s.n++
	phase := 2 * math.Pi * float64(now.UnixNano()%int64(s.Period)) / float64(s.Period)
	noise := float64(int64(splitmix(s.n)%61)-30) / 100 // +-0.3
	c := math.Round((s.Base+s.Amplitude*math.Sin(phase)+noise)*10) / 10
	return Reading{Celsius: c, At: now, Raw: strconv.FormatFloat(c, 'f', 1, 64)}, nil
}

func splitmix(x uint64) uint64 {
	z := x*0x9e3779b97f4a7c15 + 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// ParseMillidegrees parses a sysfs thermal zone value: an integer in
// millidegrees Celsius ("48312" is 48.312 °C).
func ParseMillidegrees(s string) (float64, error) {
	v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %q is not an integer of millidegrees", ErrUnparsable, clip(s, 40))
	}
	return float64(v) / 1000, nil
}

// ParseVcgencmd parses `vcgencmd measure_temp` output: temp=48.3'C.
func ParseVcgencmd(s string) (float64, error) {
	s = strings.TrimSpace(s)
	rest, ok := strings.CutPrefix(s, "temp=")
	if !ok {
		return 0, fmt.Errorf("%w: %q lacks temp=", ErrUnparsable, clip(s, 40))
	}
	return parseCelsiusUnit(rest, s)
}

// ParseFileReading parses one line of a reading file. Accepted:
//
//	temp=48.3'C   vcgencmd output, as the original host script wrote it
//	48.3          degrees Celsius, optionally followed by C, 'C or °C
//	48312         an integer of 1000 or more (in magnitude): millidegrees,
//	              as copied from a sysfs thermal zone
func ParseFileReading(s string) (float64, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "temp=") {
		return ParseVcgencmd(s)
	}
	if v, err := strconv.ParseInt(s, 10, 64); err == nil && (v >= 1000 || v <= -1000) {
		return float64(v) / 1000, nil
	}
	return parseCelsiusUnit(s, s)
}

func parseCelsiusUnit(v, whole string) (float64, error) {
	for _, unit := range []string{"'C", "°C", "C"} {
		if t, ok := strings.CutSuffix(v, unit); ok {
			v = strings.TrimSpace(t)
			break
		}
	}
	c, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(c) || math.IsInf(c, 0) {
		return 0, fmt.Errorf("%w: %q", ErrUnparsable, clip(whole, 40))
	}
	return c, nil
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
