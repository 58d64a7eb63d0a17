package archive

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sensornode/sensornode/libs/messages"
)

// Depth is the number of path components of the layout, the last one (the
// file name of a picture layout) included.
func (l Layout) Depth() int { return len(l.comps) }

// Holds reports whether component i holds placeholder name.
func (l Layout) Holds(i int, name string) bool {
	return slices.ContainsFunc(l.comps[i], func(p part) bool { return p.ph == name })
}

// Index is the index of the first component holding placeholder name, or -1.
func (l Layout) Index(name string) int {
	for i := range l.comps {
		if l.Holds(i, name) {
			return i
		}
	}
	return -1
}

// Literal reports whether component i holds no placeholder.
func (l Layout) Literal(i int) bool {
	return !slices.ContainsFunc(l.comps[i], func(p part) bool { return p.ph != "" })
}

// Prefix renders the directory of the first n components, checking the ids
// as RenderPath does.
func (l Layout) Prefix(n int, v Vars) (string, error) {
	if err := checkVars(v); err != nil {
		return "", err
	}
	var b strings.Builder
	for _, c := range l.comps[:n] {
		b.WriteByte('/')
		renderParts(&b, c, v)
	}
	if b.Len() == 0 {
		return "/", nil
	}
	return b.String(), nil
}

// Resolution is how much of a time a directory pins down.
type Resolution int

// Resolutions of DirOf.
const (
	Day  Resolution = iota // {yyyy}, {MM}, {dd}
	Hour                   // and {HH}
)

// DirOf is the deepest directory of the layout that the ids in v and the
// time of v to res determine: the directory of a camera's (or node's) day
// or hour, or a directory above it when the layout puts finer parts of the
// time, an id not in v or the {key} higher up. depth is its number of
// components: the components from depth on are left to list.
func (l Layout) DirOf(v Vars, res Resolution) (dir string, depth int, err error) {
	known := []string{"yyyy", "MM", "dd"}
	if res == Hour {
		known = append(known, "HH")
	}
	if v.Camera != "" {
		known = append(known, "camera")
	}
	if v.Node != "" {
		known = append(known, "node")
	}
	for depth < len(l.comps) && !slices.ContainsFunc(l.comps[depth], func(p part) bool {
		return p.ph != "" && !slices.Contains(known, p.ph)
	}) {
		depth++
	}
	dir, err = l.Prefix(depth, v)
	return dir, depth, err
}

// FieldsOf are the placeholder values Prefix(n, v) renders.
func (l Layout) FieldsOf(n int, v Vars) Fields {
	f := Fields{}
	for _, c := range l.comps[:n] {
		for _, p := range c {
			if p.ph != "" {
				var b strings.Builder
				renderParts(&b, []part{p}, v)
				f[p.ph] = b.String()
			}
		}
	}
	return f
}

// Fields are the placeholder values read back from stored names.
type Fields map[string]string

// Match reads name as component i of the layout: the values of the
// placeholders it holds, or false when name cannot be such a component
// (ids are non-empty [A-Za-z0-9_.-], time parts digits of their width and
// range).
func (l Layout) Match(i int, name string) (Fields, bool) {
	f := Fields{}
	if !match(l.comps[i], name, f) {
		return nil, false
	}
	return f, true
}

func match(parts []part, s string, f Fields) bool {
	if len(parts) == 0 {
		return s == ""
	}
	p := parts[0]
	if p.ph == "" {
		return strings.HasPrefix(s, p.lit) && match(parts[1:], s[len(p.lit):], f)
	}
	for _, tf := range timeFields {
		if tf.name != p.ph {
			continue
		}
		if len(s) < tf.width {
			return false
		}
		n, err := strconv.Atoi(s[:tf.width])
		if err != nil || n < tf.min || n > tf.max || strings.ContainsAny(s[:tf.width], "+-") {
			return false
		}
		if prev, ok := f[p.ph]; ok && prev != s[:tf.width] {
			return false
		}
		f[p.ph] = s[:tf.width]
		if match(parts[1:], s[tf.width:], f) {
			return true
		}
		delete(f, p.ph)
		return false
	}
	// An id: the longest value that lets the rest match.
	for n := len(s); n > 0; n-- {
		v := s[:n]
		if !idChars(v) {
			continue
		}
		if prev, ok := f[p.ph]; ok && prev != v {
			continue
		}
		_, had := f[p.ph]
		f[p.ph] = v
		if match(parts[1:], s[n:], f) {
			return true
		}
		if !had {
			delete(f, p.ph)
		}
	}
	return false
}

func idChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// Span is the time interval [from, to) that the time fields in f pin down:
// {yyyy}, then {MM}, {dd}, {HH}, {mm}, {ss} as far as they are present in
// that order. ok is false without {yyyy} (any time).
func (f Fields) Span() (from, to time.Time, ok bool) {
	var v [6]int
	v[1], v[2] = 1, 1
	n := 0
	for i, tf := range timeFields {
		s, has := f[tf.name]
		if !has {
			break
		}
		v[i], _ = strconv.Atoi(s)
		n++
	}
	if n == 0 {
		return time.Time{}, time.Time{}, false
	}
	from = time.Date(v[0], time.Month(v[1]), v[2], v[3], v[4], v[5], 0, time.UTC)
	switch n {
	case 1:
		to = from.AddDate(1, 0, 0)
	case 2:
		to = from.AddDate(0, 1, 0)
	case 3:
		to = from.AddDate(0, 0, 1)
	case 4:
		to = from.Add(time.Hour)
	case 5:
		to = from.Add(time.Minute)
	default:
		to = from.Add(time.Second)
	}
	return from, to, true
}

// Merge is f with the values of g added (g wins; they agree on what
// matched one path).
func (f Fields) Merge(g Fields) Fields {
	out := make(Fields, len(f)+len(g))
	for k, v := range f {
		out[k] = v
	}
	for k, v := range g {
		out[k] = v
	}
	return out
}

// PictureOf reads a stored picture's file name (the last component of a
// picture layout) back to its key, and the camera and capture time the key
// names (messages.ParsePictureKey). A name that is not such a file (a
// foreign file, a key that does not parse, a {camera} or a time part in the
// name that disagrees with the key's) is an error.
func (l Layout) PictureOf(name string) (key, camera string, taken time.Time, err error) {
	last := len(l.comps) - 1
	if last < 0 || !l.Holds(last, "key") {
		return "", "", time.Time{}, fmt.Errorf("layout %q: {key} is not in the file name", l.raw)
	}
	f, ok := l.Match(last, name)
	if !ok {
		return "", "", time.Time{}, fmt.Errorf("%q does not match %q", name, l.raw)
	}
	key = f["key"]
	camera, taken, err = messages.ParsePictureKey(key)
	if err != nil {
		return "", "", time.Time{}, err
	}
	if c, ok := f["camera"]; ok && c != camera {
		return "", "", time.Time{}, fmt.Errorf("%q: camera %q, key of camera %q", name, c, camera)
	}
	if !f.Agrees(taken) {
		return "", "", time.Time{}, fmt.Errorf("%q: time parts disagree with the key's time %s", name, taken.Format(time.RFC3339))
	}
	return key, camera, taken, nil
}

// Agrees reports whether every time field in f is the one t renders to.
func (f Fields) Agrees(t time.Time) bool {
	t = t.UTC()
	want := map[string]int{"yyyy": t.Year(), "MM": int(t.Month()), "dd": t.Day(), "HH": t.Hour(), "mm": t.Minute(), "ss": t.Second()}
	for name, w := range want {
		if s, ok := f[name]; ok {
			if n, _ := strconv.Atoi(s); n != w {
				return false
			}
		}
	}
	return true
}
