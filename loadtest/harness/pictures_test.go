package harness

import (
	"bytes"
	"image/jpeg"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sensornode/sensornode/libs/messages"
)

func TestFactoryPicturesAreDistinctValidJPEGs(t *testing.T) {
	f, err := NewFactory("r1", []string{"320x188", "640x480"}, 2)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, size := range []string{"320x188", "640x480"} {
		for cam := 1; cam <= 2; cam++ {
			for seq := uint64(0); seq < 3; seq++ {
				p := f.Picture(size, cam, seq)
				if err := messages.CheckJPEG(p, 0); err != nil {
					t.Fatalf("Picture(%s, %d, %d): %v", size, cam, seq, err)
				}
				img, err := jpeg.Decode(bytes.NewReader(p))
				if err != nil {
					t.Fatalf("Picture(%s, %d, %d) does not decode: %v", size, cam, seq, err)
				}
				if got := img.Bounds().Dx(); got != Sizes[size].X {
					t.Errorf("Picture(%s) width = %d", size, got)
				}
				k := Key(messages.CameraID(cam), time.Unix(0, 0), p, messages.FormBinary)
				if seen[k] {
					t.Errorf("duplicate key %s", k)
				}
				seen[k] = true
				if len(p) < f.BaseSize(size, cam) {
					t.Errorf("picture smaller than its base")
				}
			}
			t.Logf("%s camera %d: %d bytes", size, cam, f.BaseSize(size, cam))
		}
	}
}

func TestWithComment(t *testing.T) {
	tests := []struct {
		name string
		give []byte
		text string
		want []byte
	}{
		{"inserted after SOI", []byte{0xFF, 0xD8, 0xFF, 0xD9}, "ab", []byte{0xFF, 0xD8, 0xFF, 0xFE, 0x00, 0x04, 'a', 'b', 0xFF, 0xD9}},
		{"not a jpeg", []byte{0x00, 0x01}, "ab", []byte{0x00, 0x01}},
		{"empty", nil, "ab", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := WithComment(tt.give, tt.text); !bytes.Equal(got, tt.want) {
				t.Errorf("WithComment() = % x, want % x", got, tt.want)
			}
		})
	}
}

func TestFileNameAndKey(t *testing.T) {
	at := time.Date(2026, 1, 27, 11, 33, 15, 123456789, time.UTC)
	if got, want := FileName("C1", at, 1000042), "C1-20260127113315-123-000042.jpg"; got != want {
		t.Errorf("FileName() = %q, want %q", got, want)
	}
	data := []byte{0xFF, 0xD8, 0xFF, 0xD9}
	bin := Key("C1", at, data, messages.FormBinary)
	js := Key("C1", at, data, messages.FormJSON)
	p := messages.NewPicture("C1", "node1", at.Truncate(time.Millisecond), data)
	if bin != p.Key() {
		t.Errorf("binary Key() = %q, want %q", bin, p.Key())
	}
	enc, err := messages.EncodePicture(p, messages.FormJSON)
	if err != nil {
		t.Fatal(err)
	}
	if js != string(enc.Key) {
		t.Errorf("json Key() = %q, want %q", js, enc.Key)
	}
}

func TestDrop(t *testing.T) {
	dir := t.TempDir()
	at := time.Date(2026, 1, 27, 11, 33, 15, 5e6, time.UTC)
	var registered time.Time
	var presentAtRegister bool
	ready, name, err := Drop(dir, "C2", 7, []byte("x"), func() time.Time { return at }, func(r time.Time) {
		registered = r
		_, err := os.Stat(filepath.Join(dir, "C2-20260127113315-005-000007.jpg"))
		presentAtRegister = err == nil
	})
	if err != nil || !ready.Equal(at) || name != "C2-20260127113315-005-000007.jpg" {
		t.Fatalf("Drop() = %v, %q, %v", ready, name, err)
	}
	if !registered.Equal(at) || presentAtRegister {
		t.Errorf("register got %v (file already visible: %v), want %v before the rename", registered, presentAtRegister, at)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != name {
		t.Errorf("dir holds %v, want only %s", entries, name)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, name)); string(b) != "x" {
		t.Errorf("content = %q", b)
	}
}

func TestParseSize(t *testing.T) {
	for give, wantErr := range map[string]bool{"640x480": false, "800x600": false, "x": true, "10x10": true, "640": true} {
		if _, err := ParseSize(give); (err != nil) != wantErr {
			t.Errorf("ParseSize(%q) error = %v, want error %v", give, err, wantErr)
		}
	}
}
