//go:build integration

package e2e

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"maps"
	"os"
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/colinmarc/hdfs/v2"

	"github.com/sensornode/sensornode/e2e/chaos"
	"github.com/sensornode/sensornode/libs/bundle"
	"github.com/sensornode/sensornode/libs/messages"
)

// The picture store cloud-ingest-hdfs runs with in these suites:
// SENSORNODE_TEST_PICTURE_STORE=files (the default: one HDFS file per
// picture) or avro (bundles, read back through their index).
const (
	storeFiles = "files"
	storeAvro  = "avro"
)

// bundleMaxAge rolls the test's bundles after 2 s, not the default 60 s:
// pictures become visible soon after ingest read them (the suites wait for
// them and time recovery by them), and a run commits many bundles, each
// roll a chance to get exactly-once wrong.
const bundleMaxAge = "2s"

// testPictureStore is the store of SENSORNODE_TEST_PICTURE_STORE.
func testPictureStore(t *testing.T) string {
	t.Helper()
	switch s := os.Getenv("SENSORNODE_TEST_PICTURE_STORE"); s {
	case "", storeFiles:
		return storeFiles
	case storeAvro:
		return storeAvro
	default:
		t.Fatalf("SENSORNODE_TEST_PICTURE_STORE=%q: want %s or %s", s, storeFiles, storeAvro)
		return ""
	}
}

// bundleDir is the root of the bundle store under the test's HDFS root.
func (e *env) bundleDir() string { return e.root + "/bundles" }

// readBundles reads the committed bundles found by the walk (bundles:
// path -> span from its name) through their index: every picture's key
// and, withData, the SHA-256 of its JPEG, read with one ranged read of its
// block (bundle.ReadBlock) and checked against the index and the record's
// own key and hash. A committed bundle's index is immutable, so parsed
// indexes are cached across calls. What cannot be read, or disagrees,
// goes to out.problems; the count of pictures then falls short, so the
// suites wait and the check fails rather than passing on a partial read.
func (e *env) readBundles(c *hdfs.Client, bundles map[string]bundle.Span, out *hdfsContent, withData bool) {
	for _, p := range slices.Sorted(maps.Keys(bundles)) {
		span := bundles[p]
		x, err := e.bundleIndex(c, p)
		if err != nil {
			out.problems = append(out.problems, fmt.Sprintf("%s: %v", p, err))
			continue
		}
		if s, ok := x.Span(); !ok || s != span {
			out.problems = append(out.problems, fmt.Sprintf("%s: its index spans %+v (ok %t), its name %+v", p, s, ok, span))
			continue
		}
		out.bundles = append(out.bundles, chaos.Bundle{Path: p, Span: span, Keys: x.Keys()})
		if !withData {
			for _, en := range x.Entries {
				out.pictures[p+"#"+en.Key] = [32]byte{}
			}
			continue
		}
		if err := readBundlePictures(c, p, x, out); err != nil {
			out.problems = append(out.problems, fmt.Sprintf("%s: %v", p, err))
		}
	}
}

// readBundlePictures reads each picture of bundle p with one ranged read.
func readBundlePictures(c *hdfs.Client, p string, x bundle.Index, out *hdfsContent) error {
	f, err := c.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, en := range x.Entries {
		b := make([]byte, en.Length)
		if _, err := f.ReadAt(b, en.Start); err != nil {
			return fmt.Errorf("read %s at %d+%d: %w", en.Key, en.Start, en.Length, err)
		}
		r, err := bundle.ReadBlock(b, x.Sync)
		if err != nil {
			out.problems = append(out.problems, fmt.Sprintf("%s: %s: %v", p, en.Key, err))
			continue
		}
		sum := sha256.Sum256(r.JPEG)
		switch {
		case r.Key != en.Key || r.Offset != en.Offset || r.Topic != x.Topic || r.Partition != x.Partition:
			out.problems = append(out.problems, fmt.Sprintf("%s: index entry %s offset %d holds record %s of %s/%d offset %d",
				p, en.Key, en.Offset, r.Key, r.Topic, r.Partition, r.Offset))
		case sum != r.SHA256:
			out.problems = append(out.problems, fmt.Sprintf("%s: %s: the JPEG's SHA-256 differs from the record's", p, en.Key))
		case messages.PictureKey(r.CameraID, r.CapturedAt, sum) != r.Key:
			out.problems = append(out.problems, fmt.Sprintf("%s: %s: not the key of its camera %s, capture time and JPEG", p, en.Key, r.CameraID))
		}
		out.pictures[p+"#"+en.Key] = sum
	}
	return nil
}

// bundleIndex is bundle p's parsed index (cached).
func (e *env) bundleIndex(c *hdfs.Client, p string) (bundle.Index, error) {
	e.idxMu.Lock()
	x, ok := e.indexes[p]
	e.idxMu.Unlock()
	if ok {
		return x, nil
	}
	b, err := c.ReadFile(bundle.IndexName(p))
	if err != nil {
		return x, fmt.Errorf("committed bundle without its index: %w", err)
	}
	if x, err = bundle.ParseIndex(bytes.NewReader(b)); err != nil {
		return x, err
	}
	e.idxMu.Lock()
	e.indexes[p] = x
	e.idxMu.Unlock()
	return x, nil
}

// walkBundle sorts a file under the bundle store's root: the schema file
// (expected), a committed bundle (into bundles), an index (checked with
// its bundle; one whose bundle is missing is what a crash between the two
// renames leaves, which readers ignore), anything else unexpected.
func (e *env) walkBundle(p string, bundles map[string]bundle.Span, out *hdfsContent) {
	base := path.Base(p)
	switch {
	case p == e.bundleDir()+"/"+bundle.SchemaFile:
	case strings.HasSuffix(base, ".avro.idx"):
		if _, ok := bundle.ParseName(strings.TrimSuffix(base, ".idx")); !ok {
			out.other = append(out.other, p)
		}
	default:
		s, ok := bundle.ParseName(base)
		if !ok {
			out.other = append(out.other, p)
			return
		}
		bundles[p] = s
	}
}

// pictureCamera is the camera of a picture path read back: its directory
// under <root>/camera/ (files) or the camera of the key after '#'
// (bundles).
func (e *env) pictureCamera(p string) (string, bool) {
	if _, key, ok := strings.Cut(p, "#"); ok {
		cam, _, err := messages.ParsePictureKey(key)
		return cam, err == nil
	}
	cam, _, ok := strings.Cut(strings.TrimPrefix(p, e.root+"/camera/"), "/")
	return cam, ok
}
