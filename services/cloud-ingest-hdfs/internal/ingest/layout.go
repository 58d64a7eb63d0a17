package ingest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sensornode/sensornode/libs/messages"
)

// layout is a path template with {placeholder}s.
type layout struct {
	parts []layoutPart
}

type layoutPart struct {
	lit string // literal text, or
	ph  string // a placeholder name
}

// layoutVars are the values a layout is rendered with. Ids are validated
// by the messages package: [A-Za-z0-9_.-], so they are safe in paths.
type layoutVars struct {
	Camera, Node, Key string
	T                 time.Time
}

var placeholders = []string{"camera", "node", "yyyy", "MM", "dd", "HH", "mm", "ss", "key"}

// parseLayout parses an absolute path template that holds every name in
// required and none in forbidden.
func parseLayout(s string, required, forbidden []string) (layout, error) {
	var l layout
	if !strings.HasPrefix(s, "/") {
		return l, fmt.Errorf("%q is not an absolute path", s)
	}
	if slices.Contains(strings.Split(s, "/"), "..") {
		return l, fmt.Errorf("%q holds a .. element", s)
	}
	seen := map[string]bool{}
	rest := s
	for rest != "" {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			l.parts = append(l.parts, layoutPart{lit: rest})
			break
		}
		if i > 0 {
			l.parts = append(l.parts, layoutPart{lit: rest[:i]})
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return l, fmt.Errorf("%q: unclosed {", s)
		}
		name := rest[i+1 : i+j]
		if !slices.Contains(placeholders, name) {
			return l, fmt.Errorf("%q: unknown placeholder {%s} (known: {%s})", s, name, strings.Join(placeholders, "}, {"))
		}
		seen[name] = true
		l.parts = append(l.parts, layoutPart{ph: name})
		rest = rest[i+j+1:]
	}
	var errs []error
	for _, r := range required {
		if !seen[r] {
			errs = append(errs, fmt.Errorf("%q lacks {%s}", s, r))
		}
	}
	for _, f := range forbidden {
		if seen[f] {
			errs = append(errs, fmt.Errorf("%q may not hold {%s}", s, f))
		}
	}
	return l, errors.Join(errs...)
}

// maxKeyLen bounds the {key} segment: a camera id of messages.MaxIDLen and
// the time and hash parts of a picture key, well below HDFS's 255-byte
// component limit.
const maxKeyLen = 128

// renderPath fills the template in after checking, again, that every id is
// one path-safe component (messages.CheckID; a key the same charset, at
// most maxKeyLen bytes). The decoders already refuse unsafe ids; this is the
// defence in depth that keeps any id from escaping its directory. The error
// wraps messages.ErrBadID, so the message is dead-lettered as "bad-id".
func (l layout) renderPath(v layoutVars) (string, error) {
	if v.Camera != "" {
		if err := messages.CheckID("camera", v.Camera); err != nil {
			return "", err
		}
	}
	if v.Node != "" {
		if err := messages.CheckID("node", v.Node); err != nil {
			return "", err
		}
	}
	if v.Key != "" {
		if len(v.Key) > maxKeyLen {
			return "", fmt.Errorf("key: %d bytes, limit %d: %w", len(v.Key), maxKeyLen, messages.ErrBadID)
		}
		// A key is ids joined by '-': each MaxIDLen-sized chunk obeys the
		// id rule (charset, no leading dot on the first).
		for i := 0; i < len(v.Key); i += messages.MaxIDLen {
			chunk := v.Key[i:min(len(v.Key), i+messages.MaxIDLen)]
			if i > 0 {
				chunk = "x" + chunk[1:] // only the key's first byte may not be a dot
			}
			if err := messages.CheckID("key", chunk); err != nil {
				return "", err
			}
		}
	}
	return l.render(v), nil
}

// render fills the template in. Callers with ids from messages use
// renderPath.
func (l layout) render(v layoutVars) string {
	var b strings.Builder
	t := v.T.UTC()
	for _, p := range l.parts {
		switch p.ph {
		case "":
			b.WriteString(p.lit)
		case "camera":
			b.WriteString(orUnknown(v.Camera))
		case "node":
			b.WriteString(orUnknown(v.Node))
		case "key":
			b.WriteString(v.Key)
		case "yyyy":
			fmt.Fprintf(&b, "%04d", t.Year())
		case "MM":
			fmt.Fprintf(&b, "%02d", int(t.Month()))
		case "dd":
			fmt.Fprintf(&b, "%02d", t.Day())
		case "HH":
			fmt.Fprintf(&b, "%02d", t.Hour())
		case "mm":
			fmt.Fprintf(&b, "%02d", t.Minute())
		case "ss":
			fmt.Fprintf(&b, "%02d", t.Second())
		}
	}
	return b.String()
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
