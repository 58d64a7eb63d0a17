package chaos

import (
	"crypto/sha256"
	"fmt"
	"strconv"
	"strings"

	"github.com/sensornode/sensornode/libs/messages"
)

// MaxUncovered is how many uncovered records Cover names; the rest are
// counted in one last line.
const MaxUncovered = 20

// Position is where a record is in Kafka.
type Position struct {
	Topic     string
	Partition int32
	Offset    int64
}

func (p Position) String() string {
	return fmt.Sprintf("%s/%d offset %d", p.Topic, p.Partition, p.Offset)
}

// Record is one committed record of a cloud topic, as the coverage check
// needs it: what it decodes to, or why it does not, and a digest of its
// value to match a dead letter with.
type Record struct {
	Position
	Key     string
	Kind    messages.Kind // KindPicture, KindTemperature or "" (does not decode)
	Picture [32]byte      // SHA-256 of the JPEG (pictures)
	Reading string        // messages.ReadingIdentity of the reading (readings)
	Err     string        // why it does not decode
	Value   Digest
}

// Digest stands for a value without keeping it.
type Digest struct {
	SHA256 [32]byte
	Len    int
}

func digest(b []byte) Digest { return Digest{sha256.Sum256(b), len(b)} }

// RecordOf decodes a cloud topic's record in either form, as
// cloud-ingest-hdfs does.
func RecordOf(pos Position, key, value []byte, headers []messages.Header) Record {
	r := Record{Position: pos, Key: string(key), Value: digest(value)}
	kind, _, err := messages.KindOf(value, headers)
	if err == nil {
		switch kind {
		case messages.KindPicture:
			var p messages.Picture
			if p, err = messages.DecodePicture(value, headers, messages.DefaultMaxPictureBytes); err == nil {
				r.Kind, r.Picture = kind, p.SHA256
			}
		default:
			var t messages.TemperatureReading
			if t, err = messages.DecodeTemperature(value, headers); err == nil {
				r.Kind, r.Reading = kind, t.Identity()
			}
		}
	}
	if err != nil {
		r.Err = err.Error()
	}
	return r
}

// DeadLetter is one record of a dead-letter topic: the original record's
// position (when its headers name it) and value.
type DeadLetter struct {
	From      Position // zero when the headers do not name it
	Value     Digest   // of the value as dead-lettered
	Truncated bool     // the value was cut; Value.Len is the original size
}

// DeadLetterOf reads a dead letter's headers (see bus.DeadLetter).
func DeadLetterOf(value []byte, headers []messages.Header) DeadLetter {
	d := DeadLetter{Value: digest(value)}
	if topic, ok := messages.HeaderValue(headers, messages.HeaderDLQTopic); ok {
		off, _ := messages.HeaderValue(headers, messages.HeaderDLQOffset)
		p, o, ok := strings.Cut(string(off), ":")
		part, perr := strconv.ParseInt(p, 10, 32)
		offset, oerr := strconv.ParseInt(o, 10, 64)
		if ok && perr == nil && oerr == nil {
			d.From = Position{Topic: string(topic), Partition: int32(part), Offset: offset}
		}
	}
	if size, ok := messages.HeaderValue(headers, messages.HeaderDLQTruncated); ok {
		if n, err := strconv.Atoi(string(size)); err == nil {
			d.Truncated, d.Value.Len = true, n
		}
	}
	return d
}

// holds reports whether d is the dead letter of r: the same value (by
// size only when it was cut), from r's position when d names one.
func (d DeadLetter) holds(r Record) bool {
	if d.From != (Position{}) && d.From != r.Position {
		return false
	}
	if d.Truncated {
		return d.Value.Len == r.Value.Len
	}
	return d.Value == r.Value
}

// Cover checks that every committed cloud record is covered: a picture
// whose JPEG (SHA-256) HDFS holds, a reading HDFS holds (by messages.ReadingIdentity), or
// a record in a dead-letter topic. pictures and readings are what HDFS
// holds (path -> SHA-256, reading identity -> times stored). It names the
// uncovered records, at most MaxUncovered, and counts the rest.
func Cover(recs []Record, pictures map[string][32]byte, readings map[string]int, dead []DeadLetter) []string {
	stored := map[[32]byte]bool{}
	for _, sum := range pictures {
		stored[sum] = true
	}
	byPos := map[Position][]DeadLetter{}
	var unplaced []DeadLetter
	for _, d := range dead {
		if d.From == (Position{}) {
			unplaced = append(unplaced, d)
		} else {
			byPos[d.From] = append(byPos[d.From], d)
		}
	}
	deadLettered := func(r Record) bool {
		for _, ds := range [][]DeadLetter{byPos[r.Position], unplaced} {
			for _, d := range ds {
				if d.holds(r) {
					return true
				}
			}
		}
		return false
	}
	var out []string
	n := 0
	for _, r := range recs {
		var missing string
		switch {
		case r.Kind == messages.KindPicture && stored[r.Picture]:
		case r.Kind == messages.KindTemperature && readings[r.Reading] > 0:
		case deadLettered(r):
		case r.Kind == messages.KindPicture:
			missing = fmt.Sprintf("picture %x (key %s) neither in HDFS nor dead-lettered", r.Picture[:8], r.Key)
		case r.Kind == messages.KindTemperature:
			missing = fmt.Sprintf("reading %s neither in HDFS nor dead-lettered", r.Reading)
		default:
			missing = fmt.Sprintf("undecodable record (key %q, %d bytes: %s) not dead-lettered", r.Key, r.Value.Len, r.Err)
		}
		if missing == "" {
			continue
		}
		if n++; n <= MaxUncovered {
			out = append(out, fmt.Sprintf("committed %s: %s", r.Position, missing))
		}
	}
	if n > MaxUncovered {
		out = append(out, fmt.Sprintf("... and %d more committed cloud records not covered", n-MaxUncovered))
	}
	return out
}
