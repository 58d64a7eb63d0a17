package messages

import (
	"bytes"
	"encoding/json"
)

// parseFlatObject parses a JSON object whose values are strings, numbers,
// booleans or null into a map of their text (strings unquoted, others as
// written). It is a fast path for the thesis form, whose "value" is a
// several-hundred-kilobyte base64 string without escapes: that string is
// sliced, not scanned byte by byte through a general decoder. Objects with
// nested values fall back to encoding/json. Duplicate keys: the last wins.
func parseFlatObject(b []byte) (map[string]string, error) {
	obj, ok, err := parseFlatFast(b)
	if err != nil {
		return nil, err
	}
	if ok {
		return obj, nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fieldErr("value", ErrBadJSON, "%v", err)
	}
	obj = make(map[string]string, len(raw))
	for k, v := range raw {
		var s string
		if len(v) > 0 && v[0] == '"' {
			if err := json.Unmarshal(v, &s); err != nil {
				return nil, fieldErr(k, ErrBadJSON, "%v", err)
			}
		} else {
			s = string(v)
		}
		obj[k] = s
	}
	return obj, nil
}

// parseFlatFast returns ok=false when the object is valid-looking but not
// flat, so the caller falls back; err only for definitely malformed input.
func parseFlatFast(b []byte) (obj map[string]string, ok bool, err error) {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, false, fieldErr("value", ErrBadJSON, "not a JSON object")
	}
	obj = make(map[string]string, 6)
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return obj, skipWS(b, i+1) == len(b), trailing(b, i+1)
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return nil, false, fieldErr("value", ErrBadJSON, "expected a key at byte %d", i)
		}
		key, next, err := readString(b, i)
		if err != nil {
			return nil, false, err
		}
		i = skipWS(b, next)
		if i >= len(b) || b[i] != ':' {
			return nil, false, fieldErr("value", ErrBadJSON, "expected ':' at byte %d", i)
		}
		i = skipWS(b, i+1)
		if i >= len(b) {
			return nil, false, fieldErr("value", ErrBadJSON, "unexpected end")
		}
		switch c := b[i]; {
		case c == '"':
			val, next, err := readString(b, i)
			if err != nil {
				return nil, false, err
			}
			obj[key] = val
			i = next
		case c == '{' || c == '[':
			return nil, false, nil // nested: let encoding/json handle it
		default:
			j := i
			for j < len(b) && b[j] != ',' && b[j] != '}' && !isWS(b[j]) {
				j++
			}
			lit := b[i:j]
			if !json.Valid(lit) {
				return nil, false, fieldErr(key, ErrBadJSON, "bad literal %q", truncate(string(lit), 32))
			}
			obj[key] = string(lit)
			i = j
		}
		i = skipWS(b, i)
		if i >= len(b) {
			return nil, false, fieldErr("value", ErrBadJSON, "unexpected end")
		}
		if b[i] == '}' {
			return obj, true, trailing(b, i+1)
		}
		if b[i] != ',' {
			return nil, false, fieldErr("value", ErrBadJSON, "expected ',' or '}' at byte %d", i)
		}
		i = skipWS(b, i+1)
	}
}

func trailing(b []byte, i int) error {
	if j := skipWS(b, i); j != len(b) {
		return fieldErr("value", ErrBadJSON, "trailing data at byte %d", j)
	}
	return nil
}

// readString reads the JSON string starting at b[i] == '"'. Strings without
// escapes are sliced directly; others go through encoding/json.
func readString(b []byte, i int) (string, int, error) {
	rest := b[i+1:]
	end := bytes.IndexByte(rest, '"')
	if end < 0 {
		return "", 0, fieldErr("value", ErrBadJSON, "unterminated string at byte %d", i)
	}
	if bytes.IndexByte(rest[:end], '\\') < 0 {
		for _, c := range rest[:end] {
			if c < 0x20 {
				return "", 0, fieldErr("value", ErrBadJSON, "control character in string at byte %d", i)
			}
		}
		return string(rest[:end]), i + 1 + end + 1, nil
	}
	// Escapes present: find the real closing quote, then unquote.
	j := i + 1
	for j < len(b) {
		switch b[j] {
		case '\\':
			j += 2
			continue
		case '"':
			var s string
			if err := json.Unmarshal(b[i:j+1], &s); err != nil {
				return "", 0, fieldErr("value", ErrBadJSON, "%v", err)
			}
			return s, j + 1, nil
		}
		j++
	}
	return "", 0, fieldErr("value", ErrBadJSON, "unterminated string at byte %d", i)
}

func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func skipWS(b []byte, i int) int {
	for i < len(b) && isWS(b[i]) {
		i++
	}
	return i
}
