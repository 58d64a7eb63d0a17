package messages

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SchemaVersion is the version of the binary form this package writes.
// Decoders accept every version listed in supportedSchemas.
const SchemaVersion = 1

var supportedSchemas = map[string]bool{"1": true}

// Header keys of the binary form.
const (
	HeaderSchema      = "sn-schema"     // "1"
	HeaderKind        = "sn-kind"       // "picture" | "temperature"
	HeaderCamera      = "sn-camera"     // camera id, pictures only
	HeaderNode        = "sn-node"       // node id
	HeaderTime        = "sn-time"       // capture/read time, RFC 3339 with nanoseconds, UTC
	HeaderContentType = "content-type"  // "image/jpeg" | "text/plain"
	HeaderSHA256      = "sn-sha256"     // hex SHA-256 of the value
	HeaderSource      = "sn-source"     // temperature source: sysfs, vcgencmd, file, synthetic
	HeaderDLQReason   = "sn-dlq-reason" // dead-letter: Reason code
	HeaderDLQError    = "sn-dlq-error"  // dead-letter: full error text
	HeaderDLQTopic    = "sn-dlq-topic"  // dead-letter: original topic
	HeaderDLQOffset   = "sn-dlq-offset" // dead-letter: original partition/offset "p:o"
	// HeaderDLQTruncated marks a dead letter cut to fit its topic: the
	// original value's size in bytes.
	HeaderDLQTruncated = "sn-dlq-truncated"
	// HeaderDLQHeadersDropped marks a dead letter whose original headers
	// (and possibly part of its key) were dropped to fit its topic: how many
	// headers were dropped.
	HeaderDLQHeadersDropped = "sn-dlq-headers-dropped"
	// HeaderOrigTime is the original record's Kafka timestamp (RFC 3339
	// with nanoseconds, UTC), kept when a record is re-published (forwarded
	// or dead-lettered) with its own timestamp left to the client.
	HeaderOrigTime = "sn-orig-time"
)

// Content types.
const (
	ContentTypeJPEG = "image/jpeg"
	ContentTypeText = "text/plain"
)

// Kind is what a message carries.
type Kind string

const (
	KindPicture     Kind = "picture"
	KindTemperature Kind = "temperature"
)

// DefaultMaxPictureBytes is the largest JPEG a decoder accepts when the
// caller sets no smaller limit. Producers check the topic's own limit.
const DefaultMaxPictureBytes = 16 << 20

// Header is one Kafka record header.
type Header struct {
	Key   string
	Value []byte
}

// Encoded is a message ready for Kafka: key, value and headers.
type Encoded struct {
	Key     []byte
	Value   []byte
	Headers []Header
}

// Size is the number of bytes the record carries (key, value, headers); it
// is what a broker's message size limit is compared against, less a small
// fixed record overhead.
func (e Encoded) Size() int {
	n := len(e.Key) + len(e.Value)
	for _, h := range e.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return n
}

// HeaderValue returns the value of the last header named key, and whether
// it was present.
func HeaderValue(hs []Header, key string) ([]byte, bool) {
	for i := len(hs) - 1; i >= 0; i-- {
		if hs[i].Key == key {
			return hs[i].Value, true
		}
	}
	return nil, false
}

// Picture is one motion picture.
type Picture struct {
	CameraID    string    // "C1"
	NodeID      string    // "node1"; empty when decoded from the JSON form
	CapturedAt  time.Time // UTC; whole seconds when decoded from the JSON form
	ContentType string    // ContentTypeJPEG
	Data        []byte    // the JPEG
	SHA256      [32]byte  // of Data
}

// NewPicture builds a Picture and computes its checksum.
func NewPicture(cameraID, nodeID string, capturedAt time.Time, jpeg []byte) Picture {
	return Picture{
		CameraID:    cameraID,
		NodeID:      nodeID,
		CapturedAt:  capturedAt.UTC(),
		ContentType: ContentTypeJPEG,
		Data:        jpeg,
		SHA256:      sha256.Sum256(jpeg),
	}
}

// keyTimeLayout has whole seconds: the precision both forms carry (the
// thesis JSON form has date and time to the second only), so a picture's
// key does not depend on the form it arrived in.
const keyTimeLayout = "20060102T150405Z"

// legacyKeyTimeLayout is the time part of keys made before issue 11: the
// binary form kept milliseconds, the JSON form ".000". Kept only so that
// pictures stored under those keys are recognised (see LegacyPictureKey).
const legacyKeyTimeLayout = "20060102T150405.000Z"

// Key is the picture's identity, the same in both forms:
// <camera>-<UTC capture time to the second>-<first 16 hex digits of the
// SHA-256 of the JPEG>. The hash is computable from both forms (the binary
// form carries it, the JSON form carries the bytes), so the same picture
// always has one key, and two different pictures of one camera within one
// second have two. A redelivered or re-forwarded picture has the same key,
// so anything downstream can drop duplicates by it.
func (p Picture) Key() string {
	return PictureKey(p.CameraID, p.CapturedAt, p.SHA256)
}

// PictureKey computes the key of Picture.Key from its parts; capturedAt is
// truncated to the second.
func PictureKey(cameraID string, capturedAt time.Time, sum [32]byte) string {
	return pictureKey(cameraID, capturedAt.UTC().Truncate(time.Second), keyTimeLayout, sum)
}

// LegacyPictureKey is the key a picture had before issue 11:
// <camera>-<capture time to the millisecond>-<16 hex of SHA-256>. Pictures
// stored under it must not be stored again under PictureKey, so storage
// looks this key up too before writing a new picture (the migration rule,
// documented in the package doc).
func LegacyPictureKey(cameraID string, capturedAt time.Time, sum [32]byte) string {
	return pictureKey(cameraID, capturedAt.UTC(), legacyKeyTimeLayout, sum)
}

func pictureKey(cameraID string, at time.Time, layout string, sum [32]byte) string {
	var b strings.Builder
	b.Grow(len(cameraID) + 1 + len(layout) + 1 + 16)
	b.WriteString(cameraID)
	b.WriteByte('-')
	b.WriteString(at.Format(layout))
	b.WriteByte('-')
	b.WriteString(hex.EncodeToString(sum[:8]))
	return b.String()
}

// ParsePictureKey splits a key made by PictureKey or LegacyPictureKey (the
// time then keeps its milliseconds; IsLegacyPictureKey tells which). It is
// used to trust a record's Kafka key only when it is well formed.
func ParsePictureKey(key string) (cameraID string, capturedAt time.Time, err error) {
	cam, ts, _, err := splitPictureKey(key)
	if err != nil {
		return "", time.Time{}, err
	}
	layout := keyTimeLayout
	if len(ts) == len(legacyKeyTimeLayout) {
		layout = legacyKeyTimeLayout
	}
	t, err := time.Parse(layout, ts)
	if err != nil || len(ts) != len(layout) {
		return "", time.Time{}, fieldErr("key", ErrBadTime, "%q: %v", key, err)
	}
	return cam, t, nil
}

// IsLegacyPictureKey reports whether key is a well-formed key in the format
// of LegacyPictureKey.
func IsLegacyPictureKey(key string) bool {
	_, ts, _, err := splitPictureKey(key)
	if err != nil || len(ts) != len(legacyKeyTimeLayout) {
		return false
	}
	_, err = time.Parse(legacyKeyTimeLayout, ts)
	return err == nil
}

// PictureKeyHash returns the hash part of a well-formed picture key.
func PictureKeyHash(key string) (string, bool) {
	_, _, h, err := splitPictureKey(key)
	return h, err == nil
}

func splitPictureKey(key string) (cameraID, ts, hash string, err error) {
	// The camera id may itself contain '-', so split from the right.
	last := strings.LastIndexByte(key, '-')
	if last < 0 || len(key)-last-1 != 16 {
		return "", "", "", fieldErr("key", ErrBadField, "%q is not a picture key", key)
	}
	if _, err := hex.DecodeString(key[last+1:]); err != nil {
		return "", "", "", fieldErr("key", ErrBadField, "%q: bad hash part", key)
	}
	rest := key[:last]
	mid := strings.LastIndexByte(rest, '-')
	if mid <= 0 {
		return "", "", "", fieldErr("key", ErrBadField, "%q is not a picture key", key)
	}
	return rest[:mid], rest[mid+1:], key[last+1:], nil
}

// Validate checks the picture: camera id present, capture time set, data a
// complete JPEG no larger than maxBytes (0 means DefaultMaxPictureBytes), and
// the checksum matching the data.
func (p Picture) Validate(maxBytes int) error {
	if err := CheckID("camera id", p.CameraID); err != nil {
		return err
	}
	if err := checkOptionalID("node id", p.NodeID); err != nil {
		return err
	}
	if p.CapturedAt.IsZero() {
		return fieldErr("capture time", ErrMissingField, "zero time")
	}
	if err := CheckJPEG(p.Data, maxBytes); err != nil {
		return err
	}
	if sha256.Sum256(p.Data) != p.SHA256 {
		return fieldErr("sha256", ErrChecksum, "data does not match its checksum")
	}
	return nil
}

// CheckJPEG reports whether b looks like one complete JPEG: not empty, no
// larger than maxBytes (0 means DefaultMaxPictureBytes), starting with the
// SOI marker (FF D8 FF) and ending with the EOI marker (FF D9), ignoring
// zero padding some cameras append after EOI.
func CheckJPEG(b []byte, maxBytes int) error {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxPictureBytes
	}
	switch {
	case len(b) == 0:
		return fieldErr("value", ErrEmpty, "0 bytes")
	case len(b) > maxBytes:
		return fieldErr("value", ErrTooLarge, "%d bytes, limit %d", len(b), maxBytes)
	case len(b) < 4 || b[0] != 0xFF || b[1] != 0xD8 || b[2] != 0xFF:
		return fieldErr("value", ErrNotJPEG, "no SOI marker")
	}
	end := len(b)
	for end > 4 && b[end-1] == 0 {
		end--
	}
	if b[end-2] != 0xFF || b[end-1] != 0xD9 {
		return fieldErr("value", ErrTruncatedJPEG, "no EOI marker in %d bytes", len(b))
	}
	return nil
}

// TemperatureReading is one CPU temperature reading of a node.
type TemperatureReading struct {
	NodeID             string    // "node1"
	ReadAt             time.Time // UTC
	TemperatureCelsius float64
	Source             string // "sysfs", "vcgencmd", "file", "synthetic"
}

// Plausible physical range of a board's CPU temperature. Readings outside
// it are sensor faults, not weather.
const (
	MinPlausibleCelsius = -40.0
	MaxPlausibleCelsius = 125.0
)

// Key is the Kafka key of a reading: its node, so one node's readings stay
// ordered in one partition.
func (r TemperatureReading) Key() string { return r.NodeID }

// Identity is what makes two readings the same reading, in either form:
// node, read time to the second (all the thesis JSON form carries), source
// and value. The same reading arriving in both forms, or twice, has one
// identity; readings of one node and source within one second with
// different values have different ones. Two readings of one node and source
// within one second with the same value are one reading: no form can tell
// them apart. Format: <node>|<RFC 3339 UTC, seconds>|<source>|<value>.
func (r TemperatureReading) Identity() string {
	return ReadingIdentity(r.NodeID, r.ReadAt, r.TemperatureCelsius, r.Source)
}

// ReadingIdentity computes TemperatureReading.Identity from its parts. The
// value is formatted as the binary form writes it (shortest decimal), so
// "48.30" and "48.3" are one value.
func ReadingIdentity(node string, readAt time.Time, celsius float64, source string) string {
	return node + "|" + readAt.UTC().Truncate(time.Second).Format(time.RFC3339) + "|" + source + "|" +
		strconv.FormatFloat(celsius, 'f', -1, 64)
}

// Validate checks node id, time and a physically possible temperature.
func (r TemperatureReading) Validate() error {
	if err := CheckID("node id", r.NodeID); err != nil {
		return err
	}
	if err := checkOptionalID("source", r.Source); err != nil {
		return err
	}
	if r.ReadAt.IsZero() {
		return fieldErr("read time", ErrMissingField, "zero time")
	}
	c := r.TemperatureCelsius
	if c != c || c < MinPlausibleCelsius || c > MaxPlausibleCelsius { // c != c: NaN
		return fieldErr("value", ErrBadTemperature, "%v °C outside [%v, %v]", c, MinPlausibleCelsius, MaxPlausibleCelsius)
	}
	return nil
}

// MaxIDLen is the longest id (camera, node, source) a message may carry.
const MaxIDLen = 64

// CheckID reports whether id is safe in Kafka keys, HDFS paths and file
// names: 1 to MaxIDLen bytes of [A-Za-z0-9_.-], not starting with a dot (so
// never "", ".", ".." or a hidden name). Everything else, including '/',
// '\\', '%', NUL, control bytes and any non-ASCII rune, is refused. The
// error is a *FieldError wrapping ErrMissingField (empty) or ErrBadID.
func CheckID(field, id string) error {
	if id == "" {
		return fieldErr(field, ErrMissingField, "empty")
	}
	if len(id) > MaxIDLen {
		return fieldErr(field, ErrBadID, "%d bytes, limit %d", len(id), MaxIDLen)
	}
	if id[0] == '.' {
		return fieldErr(field, ErrBadID, "%q starts with a dot", id)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return fieldErr(field, ErrBadID, "%q has character %q", truncate(id, MaxIDLen), c)
		}
	}
	return nil
}

// PathSafeID reports whether CheckID accepts id.
func PathSafeID(id string) bool { return CheckID("id", id) == nil }

// checkOptionalID is CheckID for ids a form may leave out (a picture's node
// in the JSON form, a reading's source): empty is accepted.
func checkOptionalID(field, id string) error {
	if id == "" {
		return nil
	}
	return CheckID(field, id)
}

// Form is how a message is laid out on the wire.
type Form uint8

const (
	FormBinary Form = iota + 1 // raw payload as value, metadata in headers
	FormJSON                   // the thesis JSON object
)

func (f Form) String() string {
	switch f {
	case FormBinary:
		return "binary"
	case FormJSON:
		return "json"
	}
	return fmt.Sprintf("Form(%d)", uint8(f))
}

// ParseForm parses "binary" or "json" (case-sensitive, as configs are).
func ParseForm(s string) (Form, error) {
	switch s {
	case "binary":
		return FormBinary, nil
	case "json":
		return FormJSON, nil
	}
	return 0, fmt.Errorf("message form %q: %w (want binary or json)", s, ErrUnknownForm)
}

// Detect tells the form of a record by itself: binary when it carries the
// schema header, JSON when the value is a JSON object, else ErrUnknownForm.
func Detect(value []byte, headers []Header) (Form, error) {
	if _, ok := HeaderValue(headers, HeaderSchema); ok {
		return FormBinary, nil
	}
	for _, c := range value {
		if c == ' ' || c == '\t' || c == '\r' || c == '\n' {
			continue
		}
		if c == '{' {
			return FormJSON, nil
		}
		break
	}
	if len(value) == 0 {
		return 0, fieldErr("value", ErrEmpty, "no value and no %s header", HeaderSchema)
	}
	return 0, fieldErr("value", ErrUnknownForm, "no %s header and not a JSON object", HeaderSchema)
}

// KindOf tells what a record carries. For the binary form it reads the kind
// header; for JSON it looks at the value field: a number-like text is a
// temperature, anything else is taken as a picture (and validated as one).
func KindOf(value []byte, headers []Header) (Kind, Form, error) {
	form, err := Detect(value, headers)
	if err != nil {
		return "", 0, err
	}
	if form == FormBinary {
		k, _ := HeaderValue(headers, HeaderKind)
		switch Kind(k) {
		case KindPicture, KindTemperature:
			return Kind(k), form, nil
		}
		return "", form, fieldErr(HeaderKind, ErrWrongKind, "%q", k)
	}
	obj, err := parseFlatObject(value)
	if err != nil {
		return "", form, err
	}
	if _, err := parseCelsius(obj["value"]); err == nil && obj["value"] != "" {
		return KindTemperature, form, nil
	}
	return KindPicture, form, nil
}
