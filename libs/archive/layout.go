// Package archive is the HDFS layout contract: where cloud-ingest-hdfs
// writes pictures and temperature readings, and the formats of a stored
// readings file (JSON Lines, CSV, Avro). Ingest writes through it; the viewer, the load test, the
// local runner and the end-to-end test read through it, so the writer and
// its readers cannot drift apart.
package archive

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sensornode/sensornode/libs/messages"
)

// Layout is a path template with {placeholder}s (see Placeholders).
type Layout struct {
	raw   string
	parts []part
	comps [][]part // parts split into path components, the leading "/" dropped
}

type part struct {
	lit string // literal text, or
	ph  string // a placeholder name
}

// Vars are the values a layout is rendered with. Ids are validated by the
// messages package: [A-Za-z0-9_.-], so they are safe in paths.
type Vars struct {
	Camera, Node, Key string
	T                 time.Time
}

// Placeholders are the names a layout may hold: ids ({camera}, {node},
// {key}) and the parts of a UTC time.
var Placeholders = []string{"camera", "node", "yyyy", "MM", "dd", "HH", "mm", "ss", "key"}

// timeFields are the time placeholders, coarsest first, with their widths.
var timeFields = []struct {
	name     string
	width    int
	min, max int
}{{"yyyy", 4, 0, 9999}, {"MM", 2, 1, 12}, {"dd", 2, 1, 31}, {"HH", 2, 0, 23}, {"mm", 2, 0, 59}, {"ss", 2, 0, 59}}

// ParseLayout parses an absolute path template that holds every name in
// required and none in forbidden.
func ParseLayout(s string, required, forbidden []string) (Layout, error) {
	l := Layout{raw: s}
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
			l.parts = append(l.parts, part{lit: rest})
			break
		}
		if i > 0 {
			l.parts = append(l.parts, part{lit: rest[:i]})
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return l, fmt.Errorf("%q: unclosed {", s)
		}
		name := rest[i+1 : i+j]
		if !slices.Contains(Placeholders, name) {
			return l, fmt.Errorf("%q: unknown placeholder {%s} (known: {%s})", s, name, strings.Join(Placeholders, "}, {"))
		}
		seen[name] = true
		l.parts = append(l.parts, part{ph: name})
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
	l.comps = splitComponents(l.parts)
	return l, errors.Join(errs...)
}

// splitComponents splits parts at every '/' of their literals; the empty
// component before the leading '/' is dropped.
func splitComponents(parts []part) [][]part {
	comps := [][]part{nil}
	for _, p := range parts {
		if p.ph != "" {
			comps[len(comps)-1] = append(comps[len(comps)-1], p)
			continue
		}
		for i, seg := range strings.Split(p.lit, "/") {
			if i > 0 {
				comps = append(comps, nil)
			}
			if seg != "" {
				comps[len(comps)-1] = append(comps[len(comps)-1], part{lit: seg})
			}
		}
	}
	return comps[1:]
}

// String is the template as parsed.
func (l Layout) String() string { return l.raw }

// MaxKeyLen bounds the {key} segment: a camera id of messages.MaxIDLen and
// the time and hash parts of a picture key, well below HDFS's 255-byte
// component limit.
const MaxKeyLen = 128

// RenderPath fills the template in after checking, again, that every id is
// one path-safe component (messages.CheckID; a key the same charset, at
// most MaxKeyLen bytes). The decoders already refuse unsafe ids; this is the
// defence in depth that keeps any id from escaping its directory. The error
// wraps messages.ErrBadID, so the message is dead-lettered as "bad-id".
func (l Layout) RenderPath(v Vars) (string, error) {
	if err := checkVars(v); err != nil {
		return "", err
	}
	return l.Render(v), nil
}

func checkVars(v Vars) error {
	if v.Camera != "" {
		if err := messages.CheckID("camera", v.Camera); err != nil {
			return err
		}
	}
	if v.Node != "" {
		if err := messages.CheckID("node", v.Node); err != nil {
			return err
		}
	}
	if v.Key != "" {
		if len(v.Key) > MaxKeyLen {
			return fmt.Errorf("key: %d bytes, limit %d: %w", len(v.Key), MaxKeyLen, messages.ErrBadID)
		}
		// A key is ids joined by '-': each MaxIDLen-sized chunk obeys the
		// id rule (charset, no leading dot on the first).
		for i := 0; i < len(v.Key); i += messages.MaxIDLen {
			chunk := v.Key[i:min(len(v.Key), i+messages.MaxIDLen)]
			if i > 0 {
				chunk = "x" + chunk[1:] // only the key's first byte may not be a dot
			}
			if err := messages.CheckID("key", chunk); err != nil {
				return err
			}
		}
	}
	return nil
}

// Render fills the template in. Callers with ids from messages use
// RenderPath.
func (l Layout) Render(v Vars) string {
	var b strings.Builder
	renderParts(&b, l.parts, v)
	return b.String()
}

func renderParts(b *strings.Builder, parts []part, v Vars) {
	t := v.T.UTC()
	for _, p := range parts {
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
			fmt.Fprintf(b, "%04d", t.Year())
		case "MM":
			fmt.Fprintf(b, "%02d", int(t.Month()))
		case "dd":
			fmt.Fprintf(b, "%02d", t.Day())
		case "HH":
			fmt.Fprintf(b, "%02d", t.Hour())
		case "mm":
			fmt.Fprintf(b, "%02d", t.Minute())
		case "ss":
			fmt.Fprintf(b, "%02d", t.Second())
		}
	}
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// Root is the directory of the layout's leading literal components ("/"
// when the first component holds a placeholder): the directory above
// every path the layout renders.
func (l Layout) Root() string {
	n := 0
	for n < len(l.comps) && l.Literal(n) {
		n++
	}
	var b strings.Builder
	for _, c := range l.comps[:n] {
		b.WriteByte('/')
		renderParts(&b, c, Vars{})
	}
	if b.Len() == 0 {
		return "/"
	}
	return b.String()
}
