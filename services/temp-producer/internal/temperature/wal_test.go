package temperature

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func rec(id uint64) walRecord {
	return walRecord{ID: id, Node: "node1", At: time.Unix(int64(1700000000+id), 0).UTC(), Celsius: 40 + float64(id)/10, Source: "sysfs"}
}

func ids(rs []walRecord) []uint64 {
	var out []uint64
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

func segments(t *testing.T, dir string) int {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "*.wal"))
	return len(m)
}

func TestWALReplay(t *testing.T) {
	dir := t.TempDir()
	w, left, next, _, err := openWAL(dir, 0)
	if err != nil || len(left) != 0 || next != 1 {
		t.Fatalf("openWAL(empty) = %v, %v, %v", left, next, err)
	}
	for id := uint64(1); id <= 5; id++ {
		if err := w.append(rec(id)); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []uint64{1, 3} {
		if err := w.ack(id); err != nil {
			t.Fatal(err)
		}
	}
	// Crash: no close; a torn last line.
	f, err := os.OpenFile(w.segs[w.curID].path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`r {"id":6,"node":"no`)
	f.Close()
	w2, left, next, damaged, err := openWAL(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(left); len(got) != 3 || got[0] != 2 || got[1] != 4 || got[2] != 5 {
		t.Errorf("replayed ids = %v, want [2 4 5]", got)
	}
	if left[0] != rec(2) {
		t.Errorf("replayed %+v, want %+v", left[0], rec(2))
	}
	if next != 6 || damaged != 1 {
		t.Errorf("next id %d damaged %d, want 6 and 1", next, damaged)
	}
	for _, r := range left {
		if err := w2.ack(r.ID); err != nil {
			t.Fatal(err)
		}
	}
	// Everything acknowledged: only the current segment is left.
	if n := segments(t, dir); n != 1 {
		t.Errorf("%d segment files after all acks, want 1", n)
	}
	w2.close()
	_, left, _, _, err = openWAL(dir, 0)
	if err != nil || len(left) != 0 {
		t.Errorf("after all acks, replay = %v, %v", ids(left), err)
	}
}

func TestWALSegmentsAndLimit(t *testing.T) {
	dir := t.TempDir()
	w, _, _, _, err := openWAL(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	// 2500 readings unacknowledged: three segments.
	for id := uint64(1); id <= 2500; id++ {
		if err := w.append(rec(id)); err != nil {
			t.Fatal(err)
		}
	}
	if n := segments(t, dir); n != 3 {
		t.Fatalf("%d segments, want 3", n)
	}
	// Acknowledging the second segment's readings deletes nothing: the
	// first still has unsent readings (segments go oldest first).
	for id := uint64(1001); id <= 2000; id++ {
		w.ack(id)
	}
	seg := func(n int) bool {
		_, err := os.Stat(filepath.Join(dir, fmt.Sprintf("%010d.wal", n)))
		return err == nil
	}
	if !seg(1) || !seg(2) {
		t.Errorf("segments 1 and 2 after acking the second: %v %v, want both kept", seg(1), seg(2))
	}
	for id := uint64(1); id <= 1000; id++ {
		w.ack(id)
	}
	if seg(1) || seg(2) || !seg(3) {
		t.Errorf("segments 1, 2, 3 after acking the first two: %v %v %v, want only 3", seg(1), seg(2), seg(3))
	}
	// Over the byte limit: the oldest segment is given up, its readings
	// reported.
	w.maxBytes = 1
	dropped := w.overLimit()
	if len(dropped) != 500 {
		t.Errorf("overLimit() dropped %d readings, want the 500 of the oldest segment", len(dropped))
	}
}
