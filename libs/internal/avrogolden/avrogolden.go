// Package avrogolden holds the golden-file checks that libs/archive's
// readings files and libs/bundle's picture bundles share: both are Avro
// Object Container Files whose header metadata is a map, written in no
// fixed order, so a golden compares the sorted metadata and the bytes from
// the header's sync marker on.
package avrogolden

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/hamba/avro/v2/ocf"
)

// Sync is the sync marker the tests write with, so that files are
// byte-for-byte reproducible.
var Sync = [16]byte{'s', 'e', 'n', 's', 'o', 'r', 'n', 'o', 'd', 'e', '-', 's', 'y', 'n', 'c', '!'}

// Check compares each file of files (name -> bytes) with testdata/<name>,
// or with update (the test's -update flag) rewrites testdata/<name>. The
// files named in avro are Avro container files written with Sync,
// compared as Comparable.
func Check(t *testing.T, update bool, files map[string][]byte, avro ...string) {
	t.Helper()
	for name, got := range files {
		path := filepath.Join("testdata", name)
		if update {
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test -update once)", err)
		}
		if slices.Contains(avro, name) {
			got, want = Comparable(t, got), Comparable(t, want)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from testdata (a schema or format change needs a new version; then go test -update)", name)
		}
	}
}

// Comparable is an Avro container file written with Sync with its header
// replaced by its sorted metadata: the bytes from the header's sync marker
// on follow it.
func Comparable(t *testing.T, file []byte) []byte {
	t.Helper()
	dec, err := ocf.NewDecoder(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	meta := dec.Metadata()
	var b bytes.Buffer
	for _, k := range slices.Sorted(maps.Keys(meta)) {
		fmt.Fprintf(&b, "%s=%q\n", k, meta[k])
	}
	i := bytes.Index(file, Sync[:])
	if i < 0 {
		t.Fatal("no sync marker")
	}
	return append(b.Bytes(), file[i:]...)
}
