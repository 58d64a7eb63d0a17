package bench

import (
	"strings"
	"testing"
	"time"

	"github.com/sensornode/sensornode/libs/messages"
	"github.com/sensornode/sensornode/libs/messages/jpegsynth"
)

func TestMarkdown(t *testing.T) {
	rows := map[string][]Stats{"x": {
		summarise(jpegsynth.Size320x188, []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 30 * time.Millisecond}, 300),
		summarise(jpegsynth.Size1280x720, []time.Duration{5 * time.Millisecond}, 7),
	}}
	got := Markdown(rows, []string{"x"})
	for _, want := range []string{
		"| per-picture time, file ready -> acknowledged (ms) | 320x188 | 640x480 | 1280x720 |",
		"| 18.8 | 76.6 | 344.8 |",
		"| x (mean of 1) | 20.0 | - | 5.0 |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("Markdown() =\n%s\nlacks %q", got, want)
		}
	}
	if s := rows["x"][0]; s.Median != 20*time.Millisecond || s.Min != 10*time.Millisecond || s.Max != 30*time.Millisecond || s.Bytes != 100 {
		t.Errorf("summarise() = %+v", s)
	}
}

func TestPictureUnique(t *testing.T) {
	a, b := picture(jpegsynth.Size320x188, 1), picture(jpegsynth.Size320x188, 2)
	if string(a) == string(b) {
		t.Error("pictures 1 and 2 are identical")
	}
	for _, p := range [][]byte{a, b} {
		if err := messages.CheckJPEG(p, 0); err != nil {
			t.Error(err)
		}
	}
}
