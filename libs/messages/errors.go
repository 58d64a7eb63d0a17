package messages

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every decode or validation failure wraps exactly one of
// them, so callers can classify with errors.Is and Reason.
var (
	ErrEmpty          = errors.New("empty payload")
	ErrTooLarge       = errors.New("payload too large")
	ErrNotJPEG        = errors.New("not a jpeg")
	ErrTruncatedJPEG  = errors.New("truncated jpeg")
	ErrBadTime        = errors.New("bad date or time")
	ErrBadBase64      = errors.New("bad base64")
	ErrBadJSON        = errors.New("malformed json")
	ErrUnknownSchema  = errors.New("unknown schema version")
	ErrUnknownForm    = errors.New("unknown message form")
	ErrWrongKind      = errors.New("wrong message kind")
	ErrMissingField   = errors.New("missing field")
	ErrBadField       = errors.New("bad field")
	ErrChecksum       = errors.New("checksum mismatch")
	ErrBadTemperature = errors.New("bad temperature")
	// ErrBadID is an id (camera, node, source) that is not path-safe: see
	// CheckID. Such a message must be dead-lettered, never stored.
	ErrBadID = errors.New("bad id")
)

// reasons maps each sentinel to a short, bounded code, used as a metric label
// and as the dead-letter reason header.
var reasons = []struct {
	err  error
	code string
}{
	{ErrEmpty, "empty"},
	{ErrTooLarge, "too-large"},
	{ErrNotJPEG, "not-jpeg"},
	{ErrTruncatedJPEG, "truncated-jpeg"},
	{ErrBadTime, "bad-time"},
	{ErrBadBase64, "bad-base64"},
	{ErrBadJSON, "bad-json"},
	{ErrUnknownSchema, "unknown-schema"},
	{ErrUnknownForm, "unknown-form"},
	{ErrWrongKind, "wrong-kind"},
	{ErrMissingField, "missing-field"},
	{ErrBadField, "bad-field"},
	{ErrChecksum, "checksum"},
	{ErrBadTemperature, "bad-temperature"},
	{ErrBadID, "bad-id"},
}

// Reason returns a short stable code for err ("not-jpeg", "bad-base64", ...),
// or "other" when err wraps none of this package's sentinels. The set of codes
// is closed, so it is safe as a Prometheus label value.
func Reason(err error) string {
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			return r.code
		}
	}
	return "other"
}

// Reasons lists every code Reason can return, for pre-initialising metrics.
func Reasons() []string {
	out := make([]string, 0, len(reasons)+1)
	for _, r := range reasons {
		out = append(out, r.code)
	}
	return append(out, "other")
}

// FieldError says which field of a message was wrong. It wraps a sentinel.
type FieldError struct {
	Field  string // e.g. "value", "date", "sn-captured-at"
	Detail string // human detail, may be empty
	Err    error  // one of the sentinels above
}

func (e *FieldError) Error() string {
	if e.Detail == "" {
		return fmt.Sprintf("%s: %v", e.Field, e.Err)
	}
	return fmt.Sprintf("%s: %v: %s", e.Field, e.Err, e.Detail)
}

func (e *FieldError) Unwrap() error { return e.Err }

func fieldErr(field string, err error, format string, args ...any) error {
	return &FieldError{Field: field, Err: err, Detail: fmt.Sprintf(format, args...)}
}
