package localrun

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"testing"
	"testing/fstest"
	"time"
)

// dirs is a DirReader over an in-memory tree; a directory named in fail
// answers with that error instead.
type dirs struct {
	fsys fstest.MapFS
	fail map[string]error
}

func (d dirs) ReadDir(name string) ([]os.FileInfo, error) {
	if err, ok := d.fail[name]; ok {
		return nil, err
	}
	entries, err := fs.ReadDir(d.fsys, name[1:])
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: os.ErrNotExist}
	}
	out := make([]os.FileInfo, 0, len(entries))
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			return nil, err
		}
		out = append(out, fi)
	}
	return out, nil
}

func TestStoredPictures(t *testing.T) {
	const key = "C1-20261207T231200Z-a8458188442b8cf1"
	tree := fstest.MapFS{
		"p/C1/2026/12/07/231200-" + key + ".jpg": {Data: make([]byte, 42), ModTime: time.Unix(0, 0)},
		"p/C1/2026/12/07/notes.txt":              {Data: []byte("x")},
	}
	down := errors.New("no available namenodes")
	tests := []struct {
		name    string
		fail    map[string]error
		days    []string
		want    map[string]int64
		wantErr error
	}{
		{name: "found by its SHA-256 prefix", days: []string{"2026/12/07"}, want: map[string]int64{"a8458188442b8cf1": 42}},
		{name: "a day without a directory has none", days: []string{"2026/12/06", "2026/12/07"}, want: map[string]int64{"a8458188442b8cf1": 42}},
		{name: "an unreachable NameNode is an error, not missing pictures", days: []string{"2026/12/07"},
			fail: map[string]error{"/p/C1/2026/12/07": down}, wantErr: down},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := storedPictures(dirs{fsys: tree, fail: tt.fail}, path.Join("/p", "C1"), tt.days)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("storedPictures() error = %v, want %v", err, tt.wantErr)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("storedPictures() = %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("storedPictures()[%s] = %d, want %d", k, got[k], v)
				}
			}
		})
	}
}
