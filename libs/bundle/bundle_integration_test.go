//go:build integration

package bundle

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2"

	"github.com/sensornode/sensornode/libs/hdfsretry"

	"github.com/sensornode/sensornode/tools/devstack/devstacktest"
)

func TestMain(m *testing.M) { devstacktest.Main(m) }

// TestIntegrationEcosystemReadsBundles has the ecosystem's own tools read
// a bundle this package wrote: Apache Avro's avro-tools (getschema, count,
// tojson) on the local file, and Hadoop's `hdfs dfs -text` on it in the
// devstack's HDFS. The pictures the tools print are hashed and held
// against the SHA-256 of the JPEGs that went in (not the record's sha256
// field).
func TestIntegrationEcosystemReadsBundles(t *testing.T) {
	st := devstacktest.Stack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	recs := records(t, 6)
	file, x := write(t, recs)
	want := map[string]string{} // key -> SHA-256 of the JPEG that went in
	for _, r := range recs {
		sum := sha256.Sum256(r.JPEG)
		want[r.Key] = hex.EncodeToString(sum[:])
	}
	local := filepath.Join(t.TempDir(), Name("cameraData", 3, x.Entries[0].Offset, x.Entries[len(x.Entries)-1].Offset))
	if err := os.WriteFile(local, file, 0o644); err != nil {
		t.Fatal(err)
	}

	jar := devstacktest.AvroToolsJar(t, ctx)
	run := func(t *testing.T, args ...string) string { return devstacktest.Java(t, ctx, st, args...) }

	t.Run("avro-tools getschema", func(t *testing.T) {
		s, err := avro.Parse(run(t, "-jar", jar, "getschema", local))
		if err != nil {
			t.Fatal(err)
		}
		if s.String() != Schema().String() {
			t.Errorf("getschema:\n%s\nwant\n%s", s.String(), Schema().String())
		}
	})
	t.Run("avro-tools count", func(t *testing.T) {
		if got := strings.TrimSpace(run(t, "-jar", jar, "count", local)); got != fmt.Sprint(len(recs)) {
			t.Errorf("count = %q, want %d", got, len(recs))
		}
	})
	t.Run("avro-tools tojson", func(t *testing.T) {
		checkJSONLines(t, run(t, "-jar", jar, "tojson", local), want)
	})
	t.Run("hdfs dfs -text", func(t *testing.T) {
		c := devstacktest.HDFSClient(t, st)
		dir := devstacktest.UniquePath(t, "/sensornode-test/bundle")
		if err := c.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.RemoveAll(dir) })
		p := path.Join(dir, filepath.Base(local))
		w, err := c.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(file); err != nil {
			t.Fatal(err)
		}
		// Closed as ingest closes: again while the NameNode answers that
		// replication is in progress (CopyToRemote gives up at once).
		if err := hdfsretry.Close(w, time.Second, hdfsretry.UntilDone(ctx)); err != nil {
			t.Fatal(err)
		}
		checkJSONLines(t, run(t, st.FsShellArgs("-text", p)...), want)
	})
}

// checkJSONLines reads Avro's JSON encoding of the records, one per line
// (bytes as a string of code points 0-255), and checks that every picture
// is there once with the bytes that went in.
func checkJSONLines(t *testing.T, out string, want map[string]string) {
	t.Helper()
	seen := map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "{") {
			continue // a tool's log line
		}
		var rec struct {
			Key  string `json:"key"`
			JPEG string `json:"jpeg"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("%v: %.200s", err, line)
		}
		b := make([]byte, 0, len(rec.JPEG))
		for _, r := range rec.JPEG {
			if r > 0xff {
				t.Fatalf("%s: jpeg holds code point %U, not a byte", rec.Key, r)
			}
			b = append(b, byte(r))
		}
		sum := sha256.Sum256(b)
		if got := hex.EncodeToString(sum[:]); got != want[rec.Key] {
			t.Errorf("%s: the printed picture hashes to %s, want %s", rec.Key, got, want[rec.Key])
		}
		seen[rec.Key]++
	}
	for k := range want {
		if seen[k] != 1 {
			t.Errorf("%s printed %d times, want once", k, seen[k])
		}
	}
	if len(seen) != len(want) {
		t.Errorf("%d pictures printed, want %d", len(seen), len(want))
	}
}
