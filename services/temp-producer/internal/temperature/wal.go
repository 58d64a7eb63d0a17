package temperature

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sensornode/sensornode/libs/messages"
)

// wal is the optional disk spool: an append-only log of readings and of
// their acknowledgements, in numbered segment files. A reading is written
// (and fsynced) before it is sent; on start-up every reading without an
// acknowledgement is sent again, so readings survive a restart during a
// broker outage. Segments are deleted oldest first, once no longer written
// to and all their readings are acknowledged (or dropped): an ack line may
// refer to a reading in an older segment, so deleting in order keeps every
// ack that is still needed. Lines:
//
//	r {"id":7,"node":"node1","t":"2026-...Z","c":48.3,"src":"sysfs"}
//	a 7
type wal struct {
	dir      string
	maxBytes int64
	cur      *os.File
	curID    int
	curLines int
	segs     map[int]*segment // by segment number
	owner    map[uint64]int   // reading id -> segment number, while open
	bytes    int64
}

type segment struct {
	path   string
	size   int64
	unsent int
}

// segmentLines is how many lines a segment takes before the next one starts.
const segmentLines = 1000

type walRecord struct {
	ID      uint64    `json:"id"`
	Node    string    `json:"node"`
	At      time.Time `json:"t"`
	Celsius float64   `json:"c"`
	Source  string    `json:"src"`
}

func (r walRecord) reading() messages.TemperatureReading {
	return messages.TemperatureReading{NodeID: r.Node, ReadAt: r.At, TemperatureCelsius: r.Celsius, Source: r.Source}
}

// openWAL replays dir and returns the unacknowledged readings in order, the
// next free id, and the number of damaged lines skipped (a crash can cut
// the last line short).
func openWAL(dir string, maxBytes int64) (*wal, []walRecord, uint64, int, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, 0, 0, fmt.Errorf("spool: %w", err)
	}
	w := &wal{dir: dir, maxBytes: maxBytes, segs: map[int]*segment{}, owner: map[uint64]int{}}
	names, err := filepath.Glob(filepath.Join(dir, "*.wal"))
	if err != nil {
		return nil, nil, 0, 0, err
	}
	type numbered struct {
		n    int
		path string
	}
	var files []numbered
	for _, p := range names {
		n, err := strconv.Atoi(strings.TrimSuffix(filepath.Base(p), ".wal"))
		if err == nil {
			files = append(files, numbered{n, p})
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].n < files[j].n })
	recs := map[uint64]walRecord{}
	acked := map[uint64]bool{}
	var next uint64 = 1
	damaged := 0
	for _, f := range files {
		fi, err := os.Stat(f.path)
		if err != nil {
			return nil, nil, 0, 0, err
		}
		w.segs[f.n] = &segment{path: f.path, size: fi.Size()}
		w.bytes += fi.Size()
		w.curID = max(w.curID, f.n)
		fh, err := os.Open(f.path)
		if err != nil {
			return nil, nil, 0, 0, err
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "r "):
				var r walRecord
				if err := json.Unmarshal([]byte(line[2:]), &r); err != nil || r.ID == 0 {
					damaged++
					continue
				}
				recs[r.ID] = r
				w.owner[r.ID] = f.n
				next = max(next, r.ID+1)
			case strings.HasPrefix(line, "a "):
				id, err := strconv.ParseUint(line[2:], 10, 64)
				if err != nil {
					damaged++
					continue
				}
				acked[id] = true
			case line == "":
			default:
				damaged++
			}
		}
		fh.Close()
		if err := sc.Err(); err != nil {
			return nil, nil, 0, 0, fmt.Errorf("spool %s: %w", f.path, err)
		}
	}
	var pending []walRecord
	for id, r := range recs {
		if acked[id] {
			delete(w.owner, id)
			continue
		}
		w.segs[w.owner[id]].unsent++
		pending = append(pending, r)
	}
	sort.Slice(pending, func(i, j int) bool { return pending[i].ID < pending[j].ID })
	if err := w.roll(); err != nil {
		return nil, nil, 0, 0, err
	}
	return w, pending, next, damaged, nil
}

// roll starts a new segment.
func (w *wal) roll() error {
	if w.cur != nil {
		if err := w.cur.Close(); err != nil {
			return err
		}
	}
	w.curID++
	path := filepath.Join(w.dir, fmt.Sprintf("%010d.wal", w.curID))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	w.cur, w.curLines = f, 0
	w.segs[w.curID] = &segment{path: path}
	w.compact()
	return nil
}

// compact deletes the oldest segments while they are fully acknowledged.
func (w *wal) compact() {
	ns := make([]int, 0, len(w.segs))
	for n := range w.segs {
		ns = append(ns, n)
	}
	sort.Ints(ns)
	for _, n := range ns {
		if n == w.curID || w.segs[n].unsent > 0 || !w.removeSegment(n) {
			return
		}
	}
}

func (w *wal) write(line string, sync bool) error {
	if w.curLines >= segmentLines {
		if err := w.roll(); err != nil {
			return err
		}
	}
	n, err := w.cur.WriteString(line)
	w.segs[w.curID].size += int64(n)
	w.bytes += int64(n)
	w.curLines++
	if err == nil && sync {
		err = w.cur.Sync()
	}
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	return nil
}

// append logs a reading durably.
func (w *wal) append(r walRecord) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := w.write("r "+string(b)+"\n", true); err != nil {
		return err
	}
	w.owner[r.ID] = w.curID
	w.segs[w.curID].unsent++
	return nil
}

// ack logs that a reading is done with (sent or dropped). Not fsynced: a
// lost ack only means the reading is sent again after a crash.
func (w *wal) ack(id uint64) error {
	n, ok := w.owner[id]
	if !ok {
		return nil
	}
	delete(w.owner, id)
	if err := w.write("a "+strconv.FormatUint(id, 10)+"\n", false); err != nil {
		return err
	}
	if s := w.segs[n]; s != nil {
		s.unsent--
		if s.unsent == 0 {
			w.compact()
		}
	}
	return nil
}

// overLimit returns the ids of the oldest segment's unsent readings and
// deletes it, when the spool exceeds its byte limit (never the current
// segment).
func (w *wal) overLimit() []uint64 {
	if w.maxBytes <= 0 || w.bytes <= w.maxBytes {
		return nil
	}
	oldest := -1
	for n := range w.segs {
		if n != w.curID && (oldest < 0 || n < oldest) {
			oldest = n
		}
	}
	if oldest < 0 {
		return nil
	}
	var ids []uint64
	for id, n := range w.owner {
		if n == oldest {
			ids = append(ids, id)
			delete(w.owner, id)
		}
	}
	w.removeSegment(oldest)
	w.compact()
	return ids
}

func (w *wal) removeSegment(n int) bool {
	s, ok := w.segs[n]
	if !ok {
		return true
	}
	if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return false // kept; tried again at the next compaction
	}
	w.bytes -= s.size
	delete(w.segs, n)
	return true
}

func (w *wal) close() error {
	if w.cur == nil {
		return nil
	}
	err := w.cur.Close()
	w.cur = nil
	return err
}
