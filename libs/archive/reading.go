package archive

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"path"
	"strconv"
	"time"

	"github.com/sensornode/sensornode/libs/messages"
)

// Formats of a temperature file, also its file name extension.
const (
	FormatJSONL = "jsonl"
	FormatCSV   = "csv"
	FormatAvro  = "avro" // an Avro Object Container File (avro.go)
)

// Formats are the formats of a temperature file.
var Formats = []string{FormatJSONL, FormatCSV, FormatAvro}

// Reading is one line (one Avro record) of a temperature file. The Avro
// field names are the messages library's (reading.v1.avsc).
type Reading struct {
	Node      string    `json:"node" avro:"node_id"`
	ReadAt    time.Time `json:"read_at" avro:"read_at"`
	Celsius   float64   `json:"celsius" avro:"temperature_celsius"`
	Source    string    `json:"source" avro:"source"`
	Topic     string    `json:"topic" avro:"topic"`
	Partition int32     `json:"partition" avro:"partition"`
	Offset    int64     `json:"offset" avro:"offset"`
}

// Identity is what makes two readings the same reading:
// messages.ReadingIdentity (node, read second, source, value), the same in
// both forms.
func (r Reading) Identity() string {
	return messages.ReadingIdentity(r.Node, r.ReadAt, r.Celsius, r.Source)
}

// CSVHeader names the CSV columns (the files carry no header line, so that
// they concatenate).
var CSVHeader = []string{"node", "read_at", "celsius", "source", "topic", "partition", "offset"}

// EncodeReadings is the content of a temperature file of format holding
// rs, in this order.
func EncodeReadings(rs []Reading, format string) ([]byte, error) {
	if format == FormatAvro {
		return encodeAvro(rs, [16]byte{})
	}
	var b bytes.Buffer
	for _, r := range rs {
		AppendReading(&b, format, r)
	}
	return b.Bytes(), nil
}

// AppendReading appends r to b as one line of a text format (FormatCSV,
// else JSON Lines; an Avro file is written whole by EncodeReadings).
func AppendReading(b *bytes.Buffer, format string, r Reading) {
	if format == FormatCSV {
		w := csv.NewWriter(b)
		_ = w.Write([]string{r.Node, r.ReadAt.UTC().Format(time.RFC3339Nano),
			strconv.FormatFloat(r.Celsius, 'f', -1, 64), r.Source, r.Topic,
			strconv.Itoa(int(r.Partition)), strconv.FormatInt(r.Offset, 10)})
		w.Flush() // writes to a bytes.Buffer cannot fail
		return
	}
	line, _ := json.Marshal(r) // plain fields always marshal
	b.Write(line)
	b.WriteByte('\n')
}

// DecodeReadings parses a temperature file of format (FormatAvro,
// FormatCSV, else JSON Lines; blank JSON lines are skipped).
func DecodeReadings(data []byte, format string) ([]Reading, error) {
	var out []Reading
	if format == FormatAvro {
		return decodeAvro(data)
	}
	if format == FormatCSV {
		rd := csv.NewReader(bytes.NewReader(data))
		rd.FieldsPerRecord = len(CSVHeader)
		recs, err := rd.ReadAll()
		if err != nil {
			return nil, fmt.Errorf("csv: %w", err)
		}
		for _, rec := range recs {
			at, err := time.Parse(time.RFC3339Nano, rec[1])
			if err != nil {
				return nil, fmt.Errorf("csv read_at %q: %w", rec[1], err)
			}
			c, _ := strconv.ParseFloat(rec[2], 64)
			p, _ := strconv.Atoi(rec[5])
			o, _ := strconv.ParseInt(rec[6], 10, 64)
			out = append(out, Reading{Node: rec[0], ReadAt: at, Celsius: c, Source: rec[3], Topic: rec[4], Partition: int32(p), Offset: o})
		}
		return out, nil
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var r Reading
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("jsonl: %w", err)
		}
		out = append(out, r)
	}
	return out, sc.Err()
}

// FormatOf is the format of a temperature file by its name's extension;
// false for other files.
func FormatOf(name string) (string, bool) {
	switch path.Ext(name) {
	case "." + FormatJSONL:
		return FormatJSONL, true
	case "." + FormatCSV:
		return FormatCSV, true
	case "." + FormatAvro:
		return FormatAvro, true
	}
	return "", false
}

// TempFileName names a temperature file after the Kafka records it holds,
// as the Kafka Connect HDFS sink does:
// <topic>+<partition>+<first offset>+<last offset>.<format>.
func TempFileName(topic string, partition int32, first, last int64, format string) string {
	return fmt.Sprintf("%s+%d+%d+%d.%s", topic, partition, first, last, format)
}
