package spool

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Default file name time patterns, tried in order. The first is what this
// service's own capture writer produces (WriterName), the second motion's
// default picture_filename, the third the original producer's
// YYYYMMDD-HHMMSS.jpg.
var DefaultNamePatterns = []string{
	"%C-%Y%m%d%H%M%S-%L-%q",
	"%v-%Y%m%d%H%M%S-%q",
	"%Y%m%d-%H%M%S",
}

// NamePattern extracts a capture time from a file name. The pattern is
// matched against the whole name without its last extension, in motion's
// strftime-like notation:
//
//	%Y year (4 digits)   %m month (2)   %d day (2)
//	%H hour (2)          %M minute (2)  %S second (2)
//	%L milliseconds (3)
//	%v event number, %q frame number, %t camera number (digits, ignored)
//	%C camera id ([A-Za-z0-9_.-]+, ignored)
//	%* anything (ignored)   %% a literal %
//
// Every other character stands for itself. A pattern must contain %Y, %m,
// %d, %H, %M and %S.
type NamePattern struct {
	src string
	re  *regexp.Regexp
}

// ParseNamePattern compiles a pattern.
func ParseNamePattern(p string) (*NamePattern, error) {
	var b strings.Builder
	b.WriteString("^")
	seen := map[byte]bool{}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c != '%' {
			b.WriteString(regexp.QuoteMeta(string(c)))
			continue
		}
		if i+1 >= len(p) {
			return nil, fmt.Errorf("name pattern %q: trailing %%", p)
		}
		i++
		v := p[i]
		switch v {
		case 'Y', 'm', 'd', 'H', 'M', 'S', 'L':
			if seen[v] {
				return nil, fmt.Errorf("name pattern %q: %%%c twice", p, v)
			}
			seen[v] = true
			n := 2
			switch v {
			case 'Y':
				n = 4
			case 'L':
				n = 3
			}
			fmt.Fprintf(&b, `(?P<%c>\d{%d})`, v, n)
		case 'v', 'q', 't':
			b.WriteString(`\d+`)
		case 'C':
			b.WriteString(`[A-Za-z0-9_.\-]+`)
		case '*':
			b.WriteString(`.*`)
		case '%':
			b.WriteString("%")
		default:
			return nil, fmt.Errorf("name pattern %q: unknown conversion %%%c", p, v)
		}
	}
	for _, need := range []byte("YmdHMS") {
		if !seen[need] {
			return nil, fmt.Errorf("name pattern %q: lacks %%%c", p, need)
		}
	}
	b.WriteString("$")
	re, err := regexp.Compile(b.String())
	if err != nil {
		return nil, fmt.Errorf("name pattern %q: %w", p, err)
	}
	return &NamePattern{src: p, re: re}, nil
}

// String returns the pattern source.
func (p *NamePattern) String() string { return p.src }

// Time returns the time encoded in name (a base name, extension included)
// in loc, and whether the pattern matched with a valid date and time.
func (p *NamePattern) Time(name string, loc *time.Location) (time.Time, bool) {
	stem := strings.TrimSuffix(name, filepath.Ext(name))
	m := p.re.FindStringSubmatch(stem)
	if m == nil {
		return time.Time{}, false
	}
	v := map[string]int{}
	for i, g := range p.re.SubexpNames() {
		if g == "" {
			continue
		}
		n, err := strconv.Atoi(m[i])
		if err != nil {
			return time.Time{}, false
		}
		v[g] = n
	}
	t := time.Date(v["Y"], time.Month(v["m"]), v["d"], v["H"], v["M"], v["S"], v["L"]*int(time.Millisecond), loc)
	// time.Date normalises 2026-02-30 into March: reject what did not
	// survive unchanged.
	if t.Year() != v["Y"] || int(t.Month()) != v["m"] || t.Day() != v["d"] ||
		t.Hour() != v["H"] || t.Minute() != v["M"] || t.Second() != v["S"] {
		return time.Time{}, false
	}
	return t, true
}

// NameTimes tries patterns in order.
type NameTimes struct {
	Patterns []*NamePattern
	Location *time.Location
}

// ParseNameTimes compiles patterns; loc names the time zone the names are
// written in ("Local", "UTC", "Europe/Berlin", ...).
func ParseNameTimes(patterns []string, loc string) (NameTimes, error) {
	var nt NameTimes
	l, err := time.LoadLocation(loc)
	if err != nil {
		return nt, fmt.Errorf("name time zone %q: %w", loc, err)
	}
	nt.Location = l
	for _, s := range patterns {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		p, err := ParseNamePattern(s)
		if err != nil {
			return nt, err
		}
		nt.Patterns = append(nt.Patterns, p)
	}
	return nt, nil
}

// CaptureTime is the time in name, else mtime. fromName tells which.
func (nt NameTimes) CaptureTime(name string, mtime time.Time) (t time.Time, fromName bool) {
	loc := nt.Location
	if loc == nil {
		loc = time.Local
	}
	for _, p := range nt.Patterns {
		if t, ok := p.Time(name, loc); ok {
			return t.UTC(), true
		}
	}
	return mtime.UTC(), false
}

// WriterName is the file name the capture writer gives a picture: camera
// id, capture time to the millisecond in loc, and a sequence number, as
// matched by DefaultNamePatterns[0]: C1-20260127113315-123-000042.jpg.
func WriterName(camera string, t time.Time, seq uint64, loc *time.Location) string {
	if loc == nil {
		loc = time.Local
	}
	t = t.In(loc)
	return fmt.Sprintf("%s-%s-%03d-%06d.jpg", camera, t.Format("20060102150405"), t.Nanosecond()/int(time.Millisecond), seq%1000000)
}
