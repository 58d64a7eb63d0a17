//go:build integration

package ingest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2"

	"github.com/sensornode/sensornode/libs/archive"
	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/messages"
	"github.com/sensornode/sensornode/tools/devstack/devstacktest"
)

// TestIntegrationAvroReadingsReadByEcosystem stores readings with
// SENSORNODE_TEMPERATURE_FORMAT=avro in the devstack's HDFS, some
// forwarded twice, and has the ecosystem's own tools read the committed
// files: Apache Avro's avro-tools (getschema, count, tojson) on a local
// copy, and Hadoop's `hdfs dfs -text` on them in HDFS. Every reading the
// tools print must be one that was produced, with its values (node, read
// time to the microsecond, temperature, source) and the topic and offset
// it was first read at, each exactly once.
func TestIntegrationAvroReadingsReadByEcosystem(t *testing.T) {
	fx := newIFixture(t, 1)
	cfg := fx.config()
	cfg.TemperatureFormat = FormatAvro
	cfg.TemperatureRotateInterval = 3 * time.Second // all in one flush: one file per node

	// Readings of two nodes within one hour, with nanoseconds (Avro keeps
	// microseconds) and distinct values; every fourth forwarded twice.
	at := time.Date(2026, 5, 1, 14, 10, 0, 123456789, time.UTC)
	var msgs []*bus.Message
	want := map[string]int{} // printed form of a stored reading -> 1
	seen := map[string]bool{}
	add := func(r messages.TemperatureReading) {
		offset := int64(len(msgs))
		msgs = append(msgs, readingMessage(t, fx.tempTopic, r))
		if !seen[r.Identity()] { // a copy forwarded again is dropped; the first is stored
			seen[r.Identity()] = true
			want[printed(r.NodeID, archive.AvroReadAt(r.ReadAt).UnixMicro(), r.TemperatureCelsius, r.Source, fx.tempTopic, 0, offset)] = 1
		}
	}
	for i := range 30 {
		r := messages.TemperatureReading{NodeID: fmt.Sprintf("node%d", i%2+1), ReadAt: at.Add(time.Duration(i) * 1500 * time.Millisecond),
			TemperatureCelsius: 40 + float64(i)*0.3, Source: "vcgencmd"}
		add(r)
		if i%4 == 0 {
			add(r)
		}
	}
	publishAll(t, fx.producer(t), msgs)
	run := fx.start(t, cfg)
	waitUntil(t, "readings committed", time.Minute, func() bool { return fx.committed(t)[fx.tempTopic] == int64(len(msgs)) })
	run.stop()

	// What HDFS holds: the schema file at the layout's root and one Avro
	// file per node-hour, which our own reader reads too.
	var files []string
	ours := map[string]int{}
	fx.walkFiles(t, fx.root+"/temperature", func(p string, b []byte) error {
		if p == fx.root+"/temperature/"+archive.ReadingSchemaFile {
			if string(b) != archive.ReadingSchemaJSON {
				t.Errorf("%s does not hold the schema", p)
			}
			return nil
		}
		if !strings.HasSuffix(p, ".avro") || !strings.HasPrefix(path.Base(p), fx.tempTopic+"+0+") {
			t.Errorf("unexpected temperature file %s", p)
			return nil
		}
		files = append(files, p)
		rs, err := archive.DecodeReadings(b, FormatAvro)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		for _, r := range rs {
			ours[printed(r.Node, r.ReadAt.UnixMicro(), r.Celsius, r.Source, r.Topic, r.Partition, r.Offset)]++
		}
		return nil
	})
	if len(files) < 2 {
		t.Fatalf("%d Avro readings files, want one per node at least: %v", len(files), files)
	}
	if _, err := fx.fs.Stat(fx.root + "/temperature/" + archive.ReadingSchemaFile); err != nil {
		t.Errorf("schema file: %v", err)
	}
	checkPrinted(t, "archive.DecodeReadings", ours, want)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	jar := devstacktest.AvroToolsJar(t, ctx)
	java := func(t *testing.T, args ...string) string { return devstacktest.Java(t, ctx, fx.st, args...) }
	locals := make([]string, len(files))
	for i, p := range files {
		locals[i] = filepath.Join(t.TempDir(), path.Base(p))
		if err := fx.fs.CopyToLocal(p, locals[i]); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("avro-tools getschema", func(t *testing.T) {
		s, err := avro.Parse(java(t, "-jar", jar, "getschema", locals[0]))
		if err != nil {
			t.Fatal(err)
		}
		if s.String() != archive.ReadingSchema().String() {
			t.Errorf("getschema:\n%s\nwant\n%s", s.String(), archive.ReadingSchema().String())
		}
	})
	t.Run("avro-tools count", func(t *testing.T) {
		total := 0
		for _, l := range locals {
			n, err := strconv.Atoi(strings.TrimSpace(java(t, "-jar", jar, "count", l)))
			if err != nil {
				t.Fatal(err)
			}
			total += n
		}
		if total != len(want) {
			t.Errorf("avro-tools count over %d files = %d, want %d", len(locals), total, len(want))
		}
	})
	t.Run("avro-tools tojson", func(t *testing.T) {
		got := map[string]int{}
		for _, l := range locals {
			parsePrinted(t, java(t, "-jar", jar, "tojson", l), got)
		}
		checkPrinted(t, "avro-tools tojson", got, want)
	})
	t.Run("hdfs dfs -text", func(t *testing.T) {
		got := map[string]int{}
		parsePrinted(t, java(t, fx.st.FsShellArgs(append([]string{"-text"}, files...)...)...), got)
		checkPrinted(t, "hdfs dfs -text", got, want)
	})
}

// printed is a stored reading as the tests compare it: every field, the
// read time in microseconds since the epoch (Avro's timestamp-micros).
func printed(node string, readAtMicros int64, celsius float64, source, topic string, partition int32, offset int64) string {
	return fmt.Sprintf("%s|%d|%s|%s|%s|%d|%d", node, readAtMicros, strconv.FormatFloat(celsius, 'g', -1, 64), source, topic, partition, offset)
}

// parsePrinted reads Avro's JSON encoding of reading records, one per
// line (other lines are a tool's log), into got.
func parsePrinted(t *testing.T, out string, got map[string]int) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var r struct {
			NodeID    string  `json:"node_id"`
			ReadAt    int64   `json:"read_at"`
			Celsius   float64 `json:"temperature_celsius"`
			Source    string  `json:"source"`
			Topic     string  `json:"topic"`
			Partition int32   `json:"partition"`
			Offset    int64   `json:"offset"`
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("%v: %.200s", err, line)
		}
		got[printed(r.NodeID, r.ReadAt, r.Celsius, r.Source, r.Topic, r.Partition, r.Offset)]++
	}
}

func checkPrinted(t *testing.T, tool string, got, want map[string]int) {
	t.Helper()
	for k := range want {
		if got[k] != 1 {
			t.Errorf("%s: reading %s printed %d times, want once", tool, k, got[k])
		}
	}
	for k, n := range got {
		if want[k] == 0 {
			t.Errorf("%s: printed %s (%d times), not a reading that was produced", tool, k, n)
		}
	}
}
