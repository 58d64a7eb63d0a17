package archive

import (
	"context"
	"crypto/sha256"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/sensornode/sensornode/libs/messages"
)

func TestCameraFiles(t *testing.T) {
	const layout = "/sensornode/camera/{camera}/{yyyy}/{MM}/{dd}/{HH}{mm}{ss}-{key}.jpg"
	l, err := ParseLayout(layout, []string{"key"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := time.Date(2026, 5, 1, 3, 0, 0, 0, time.UTC)
	files := fstest.MapFS{}
	put := func(camera string, at time.Time) string {
		key := messages.PictureKey(camera, at, sha256.Sum256([]byte(at.String())))
		files[strings.TrimPrefix(l.Render(Vars{Camera: camera, Key: key, T: at}), "/")] = &fstest.MapFile{Data: []byte("x")}
		return key
	}
	a := put("C1", h.Add(time.Second))
	b := put("C1", h.Add(59*time.Minute))
	c := put("C1", h.Add(time.Hour))
	put("C2", h.Add(time.Second))
	prev := put("C1", h.Truncate(24*time.Hour).Add(-time.Second)) // the day before
	files["sensornode/camera/C1/2026/05/01/README"] = &fstest.MapFile{Data: []byte("x")}
	files["sensornode/camera/C1/2026/05/01/030000-C2-20260501T030000Z-0000000000000000.jpg"] = &fstest.MapFile{Data: []byte("x")}
	list := func(dir string, _ Fields) ([]fs.FileInfo, error) {
		des, err := fs.ReadDir(files, strings.TrimPrefix(dir, "/"))
		if err != nil {
			return nil, nil // missing: empty
		}
		var out []fs.FileInfo
		for _, de := range des {
			fi, _ := de.Info()
			out = append(out, fi)
		}
		return out, nil
	}
	day := h.Truncate(24 * time.Hour)
	for _, tc := range []struct {
		name        string
		camera      string
		from, to    time.Time
		res         Resolution
		want        []string
		wantSkipped int
		wantErr     bool
	}{
		{"hour", "C1", h, h.Add(time.Hour), Hour, []string{a, b}, 2, false},
		{"day", "C1", day, day.Add(24 * time.Hour), Day, []string{a, b, c}, 2, false},
		{"day before", "C1", day.Add(-24 * time.Hour), day, Day, []string{prev}, 0, false},
		{"other camera", "C2", h, h.Add(time.Hour), Hour, []string{files2key(t, files, "C2")}, 0, false},
		{"no pictures", "C9", h, h.Add(time.Hour), Hour, nil, 0, false},
		{"bad camera id", "../etc", h, h.Add(time.Hour), Hour, nil, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, skipped, err := l.CameraFiles(context.Background(), tc.camera, tc.from, tc.to, tc.res, list)
			var keys []string
			for _, f := range got {
				keys = append(keys, f.Key)
				if !strings.HasSuffix(f.Path, f.Key+".jpg") || f.Size != 1 {
					t.Errorf("file %+v: path or size wrong", f)
				}
			}
			if (err != nil) != tc.wantErr || !slices.Equal(keys, tc.want) || skipped != tc.wantSkipped {
				t.Errorf("CameraFiles(%s, %v, %v) = %v, %d skipped, %v; want %v, %d skipped, error %v", tc.camera, tc.from, tc.to, keys, skipped, err, tc.want, tc.wantSkipped, tc.wantErr)
			}
		})
	}
}

// files2key is the key of camera's only picture in files.
func files2key(t *testing.T, files fstest.MapFS, camera string) string {
	t.Helper()
	for name := range files {
		if strings.HasPrefix(name, "sensornode/camera/"+camera+"/") {
			base := name[strings.LastIndex(name, "/")+1:]
			return strings.TrimSuffix(base[strings.Index(base, "-")+1:], ".jpg")
		}
	}
	t.Fatalf("no picture of %s", camera)
	return ""
}
