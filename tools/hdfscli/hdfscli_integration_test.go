//go:build integration

package hdfscli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"image"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sensornode/sensornode/libs/archive"
	"github.com/sensornode/sensornode/libs/bundle"
	"github.com/sensornode/sensornode/libs/bundlestore/bundlestoretest"
	"github.com/sensornode/sensornode/libs/messages"
	"github.com/sensornode/sensornode/libs/messages/jpegsynth"
	"github.com/sensornode/sensornode/libs/svc"
	"github.com/sensornode/sensornode/tools/devstack/devstacktest"
)

// TestIntegrationHdfscliBothStores writes pictures into the devstack's
// HDFS as both stores do (files through the layout; a real bundle and its
// index written with libs/bundle into the bundle layout), then runs hdfsls
// and hdfsget against them: the merged listing, fetching by key from
// either store, exporting a bundle, and refusing junk.
func TestIntegrationHdfscliBothStores(t *testing.T) {
	st := devstacktest.Stack(t)
	c := devstacktest.HDFSClient(t, st)
	root := devstacktest.UniquePath(t, "hdfscli")
	t.Cleanup(func() { _ = c.RemoveAll(root) })
	layout := root + "/camera/{camera}/{yyyy}/{MM}/{dd}/{HH}{mm}{ss}-{key}.jpg"
	bundles := root + "/bundles"
	common := []string{"-namenode", st.NameNodeAddr(), "-layout", layout, "-bundles", bundles}

	h := time.Date(2026, 5, 1, 3, 0, 0, 0, time.UTC)
	pic := func(seed uint64) []byte { return jpegsynth.Picture(image.Pt(320, 240), seed) }
	l, err := archive.ParseLayout(layout, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	putFile := func(camera string, at time.Time, data []byte) (string, string) {
		key := messages.PictureKey(camera, at, sha256.Sum256(data))
		p, err := l.RenderPath(archive.Vars{Camera: camera, Key: key, T: at})
		if err != nil {
			t.Fatal(err)
		}
		devstacktest.WriteHDFS(t, c, p, data)
		return key, p
	}
	data := map[string][]byte{}
	fileKey, filePath := putFile("C1", h.Add(time.Second), pic(1))
	data[fileKey] = pic(1)
	bothKey, _ := putFile("C1", h.Add(2*time.Second), pic(2))
	data[bothKey] = pic(2)
	shots := []bundlestoretest.Shot{
		{Camera: "C1", At: h.Add(2 * time.Second), Data: pic(2)},
		{Camera: "C1", At: h.Add(3 * time.Second), Data: pic(3)},
		{Camera: "C2", At: h.Add(3 * time.Second), Data: pic(4)},
		{Camera: "C1", At: h.Add(4 * time.Second), Data: pic(5)},
	}
	name, file, idx, recs := bundlestoretest.Make(t, "cameraData", 3, 100, shots)
	bundlePath := bundlestoretest.Path(bundles, "cameraData", 3, h.Add(time.Hour), name)
	devstacktest.WriteHDFS(t, c, bundlePath, file)
	devstacktest.WriteHDFS(t, c, bundle.IndexName(bundlePath), idx)
	for i, r := range recs {
		data[r.Key] = shots[i].Data
	}
	if recs[0].Key != bothKey {
		t.Fatalf("one picture, two keys: %s, %s", recs[0].Key, bothKey)
	}
	// An uncommitted bundle beside it is not read.
	devstacktest.WriteHDFS(t, c, path.Dir(bundlePath)+"/cameraData+3+200+201.avro.tmp", []byte("partial"))

	run := func(t *testing.T, cmd func(context.Context, []string, *bytes.Buffer) error, args ...string) (string, error) {
		t.Helper()
		var out bytes.Buffer
		err := cmd(context.Background(), append(slices.Clone(common), args...), &out)
		return out.String(), err
	}
	ls := func(ctx context.Context, args []string, out *bytes.Buffer) error { return Ls(ctx, args, out) }
	get := func(ctx context.Context, args []string, out *bytes.Buffer) error { return Get(ctx, args, out) }

	t.Run("hdfsls hour", func(t *testing.T) {
		out, err := run(t, ls, "-camera", "C1", "-hour", "2026-05-01T03")
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		want := []struct{ key, stores string }{{fileKey, "files "}, {bothKey, "files+bundle"}, {recs[1].Key, "bundle "}, {recs[3].Key, "bundle "}}
		if len(lines) != len(want) {
			t.Fatalf("hdfsls -camera C1 -hour: %d lines, want %d:\n%s", len(lines), len(want), out)
		}
		for i, w := range want {
			if !strings.Contains(lines[i], w.key+"  "+w.stores) {
				t.Errorf("line %d = %q; want %s in %s", i, lines[i], w.key, strings.TrimSpace(w.stores))
			}
		}
		if !strings.Contains(lines[0], filePath) || !strings.Contains(lines[2], bundlePath+" [") {
			t.Errorf("lines do not say where:\n%s", out)
		}
	})
	t.Run("hdfsls day", func(t *testing.T) {
		out, err := run(t, ls, "-camera", "C2", "-day", "2026-05-01")
		if err != nil || strings.Count(out, "\n") != 1 || !strings.Contains(out, recs[2].Key+"  bundle") {
			t.Errorf("hdfsls -camera C2 -day = %q, %v; want the one bundled picture", out, err)
		}
	})
	t.Run("hdfsls recursive", func(t *testing.T) {
		out, err := run(t, ls, root)
		if err != nil || !strings.Contains(out, bundlePath) || !strings.Contains(out, filePath) {
			t.Errorf("hdfsls %s = %q, %v", root, out, err)
		}
	})
	t.Run("hdfsget by key", func(t *testing.T) {
		dir := t.TempDir()
		keys := []string{fileKey, bothKey, recs[1].Key, recs[2].Key}
		out, err := run(t, get, append([]string{"-o", dir}, keys...)...)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if b, err := os.ReadFile(filepath.Join(dir, k+".jpg")); err != nil || !bytes.Equal(b, data[k]) {
				t.Errorf("%s.jpg: %d bytes, %v; want the %d that went in", k, len(b), err, len(data[k]))
			}
		}
		if !strings.Contains(out, "from "+filePath) || !strings.Contains(out, "from "+bundlePath+" [") {
			t.Errorf("hdfsget does not say where from:\n%s", out)
		}
	})
	t.Run("hdfsget -bundle", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "export")
		out, err := run(t, get, "-o", dir, "-bundle", bundlePath)
		if err != nil {
			t.Fatal(err)
		}
		entries, _ := os.ReadDir(dir)
		if len(entries) != len(recs) || !strings.Contains(out, "4 pictures of") {
			t.Errorf("exported %d files, want %d:\n%s", len(entries), len(recs), out)
		}
		for _, r := range recs {
			if b, err := os.ReadFile(filepath.Join(dir, r.Key+".jpg")); err != nil || !bytes.Equal(b, data[r.Key]) {
				t.Errorf("%s.jpg: %d bytes, %v; want the %d that went in", r.Key, len(b), err, len(data[r.Key]))
			}
		}
	})
	t.Run("hdfsget -bundle refuses a damaged bundle", func(t *testing.T) {
		bad := bytes.Clone(file)
		x, err := bundle.ParseIndex(bytes.NewReader(idx))
		if err != nil {
			t.Fatal(err)
		}
		e := x.Entries[2]
		at := bytes.Index(bad[e.Start:e.Start+e.Length], shots[2].Data[100:200])
		if at < 0 {
			t.Fatal("the picture's bytes are not in its block")
		}
		bad[e.Start+int64(at)] ^= 0xff
		p := path.Dir(bundlePath) + "/cameraData+3+300+303.avro"
		devstacktest.WriteHDFS(t, c, p, bad)
		devstacktest.WriteHDFS(t, c, bundle.IndexName(p), idx)
		dir := t.TempDir()
		_, err = run(t, get, "-o", dir, "-bundle", p)
		if err == nil || !strings.Contains(err.Error(), "SHA-256") || !strings.Contains(err.Error(), "2 pictures written") {
			t.Errorf("export of a bundle with a damaged picture = %v; want a SHA-256 error after 2 pictures", err)
		}
	})
	for _, tc := range []struct {
		name  string
		cmd   func(context.Context, []string, *bytes.Buffer) error
		args  []string
		want  string
		usage bool
	}{
		{"get unknown key", get, []string{"-o", t.TempDir(), strings.Replace(recs[1].Key, "C1-", "C9-", 1)}, "in neither store", false},
		{"get junk", get, []string{"-o", t.TempDir(), "junk"}, "neither an absolute HDFS path nor a picture key", true},
		{"get -bundle of a picture file", get, []string{"-o", t.TempDir(), "-bundle", filePath}, "not a committed bundle name", false},
		{"get -bundle missing", get, []string{"-o", t.TempDir(), "-bundle", path.Dir(bundlePath) + "/cameraData+3+1+2.avro"}, "file does not exist", false},
		{"get -bundle with a key", get, []string{"-bundle", bundlePath, fileKey}, "takes no other", true},
		{"get missing path", get, []string{"-o", t.TempDir(), root + "/nothing"}, "file does not exist", false},
		{"ls -camera without time", ls, []string{"-camera", "C1"}, "one of -hour or -day", true},
		{"ls bad hour", ls, []string{"-camera", "C1", "-hour", "2026-05-01 03"}, "want 2006-01-02T15", true},
		{"ls bad camera", ls, []string{"-camera", "../C1", "-day", "2026-05-01"}, "camera", false},
		{"ls missing path", ls, []string{root + "/nothing"}, "no such file or directory", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := run(t, tc.cmd, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) || errors.Is(err, svc.ErrUsage) != tc.usage {
				t.Errorf("%v = %v; want an error with %q (usage %v)", tc.args, err, tc.want, tc.usage)
			}
		})
	}
}
