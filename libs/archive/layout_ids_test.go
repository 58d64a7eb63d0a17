package archive_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sensornode/sensornode/libs/archive"
	"github.com/sensornode/sensornode/libs/messages"
)

// TestLayoutRejectsUnsafeIDs: the path layout is the last line of defence
// against an id that escapes its directory; it must refuse, not render.
func TestLayoutRejectsUnsafeIDs(t *testing.T) {
	l, err := archive.ParseLayout("/sensornode/camera/{camera}/{node}/{yyyy}/{HH}{mm}{ss}-{key}.jpg", []string{"key"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2016, 5, 17, 14, 3, 9, 0, time.UTC)
	good := archive.Vars{Camera: "C1", Node: "node1", Key: "C1-20160517T140309Z-2d711642b726b044", T: at}
	if got, err := l.RenderPath(good); err != nil || got != "/sensornode/camera/C1/node1/2016/140309-C1-20160517T140309Z-2d711642b726b044.jpg" {
		t.Errorf("RenderPath(good) = %q, %v", got, err)
	}
	bad := []string{"../etc", "..", ".", "a/b", "/abs", `a\b`, "a\x00b", "a%2Fb", "nöde", "a\u2215b", strings.Repeat("a", 300)}
	for _, id := range bad {
		for _, field := range []string{"camera", "node", "key"} {
			v := good
			switch field {
			case "camera":
				v.Camera = id
			case "node":
				v.Node = id
			case "key":
				v.Key = id
			}
			got, err := l.RenderPath(v)
			if !errors.Is(err, messages.ErrBadID) {
				t.Errorf("RenderPath(%s=%q) = %q, %v; want ErrBadID", field, id, got, err)
			}
		}
	}
	// An absent node (JSON form) is "unknown", as before.
	v := good
	v.Node = ""
	if got, err := l.RenderPath(v); err != nil || !strings.Contains(got, "/unknown/") {
		t.Errorf("RenderPath(no node) = %q, %v; want .../unknown/...", got, err)
	}
}
