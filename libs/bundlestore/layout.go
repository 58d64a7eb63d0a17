package bundlestore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"time"

	"github.com/sensornode/sensornode/libs/bundle"
	"github.com/sensornode/sensornode/libs/messages"
)

func (r *Reader) list(dir string, current bool) ([]fs.FileInfo, error) {
	entries, err := r.fs.ReadDir(dir, current)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return entries, err
}

// Partitions lists <Dir>/<topic>/<partition>; none when the bundle store
// is off or its directory does not exist.
func (r *Reader) Partitions() ([]string, error) {
	if r.cfg.Dir == "" {
		return nil, nil
	}
	root := path.Clean(r.cfg.Dir)
	topics, err := r.list(root, true)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, t := range topics {
		if !t.IsDir() || messages.CheckID("topic", t.Name()) != nil {
			continue
		}
		dir := path.Join(root, t.Name())
		parts, err := r.list(dir, true)
		if err != nil {
			return nil, err
		}
		for _, p := range parts {
			if n, err := strconv.Atoi(p.Name()); p.IsDir() && err == nil && n >= 0 && strconv.Itoa(n) == p.Name() {
				out = append(out, dir+"/"+p.Name())
			}
		}
	}
	return out, nil
}

// HourDir is a partition's directory of hour h.
func HourDir(part string, h time.Time) string {
	h = h.UTC()
	return fmt.Sprintf("%s/%04d/%02d/%02d/%02d", part, h.Year(), int(h.Month()), h.Day(), h.Hour())
}

// HourDirs visits the hour directories of a partition, newest first when
// newest, until visit says stop.
func (r *Reader) HourDirs(ctx context.Context, part string, newest bool, visit func(dir string, hour time.Time) (stop bool, err error)) error {
	widths := []int{4, 2, 2, 2}
	var walk func(dir string, depth int, vals []int) (bool, error)
	walk = func(dir string, depth int, vals []int) (bool, error) {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		if depth == len(widths) {
			h := time.Date(vals[0], time.Month(vals[1]), vals[2], vals[3], 0, 0, 0, time.UTC)
			if h.Year() != vals[0] || int(h.Month()) != vals[1] || h.Day() != vals[2] || h.Hour() != vals[3] {
				return false, nil
			}
			return visit(dir, h)
		}
		// Past directories do not change: a caching FS keeps them longer.
		entries, err := r.list(dir, depth == 0 || r.isCurrent(vals))
		if err != nil {
			return false, err
		}
		type sub struct {
			name string
			v    int
		}
		var subs []sub
		for _, e := range entries {
			v, err := strconv.Atoi(e.Name())
			if e.IsDir() && err == nil && len(e.Name()) == widths[depth] && v >= 0 {
				subs = append(subs, sub{e.Name(), v})
			}
		}
		slices.SortFunc(subs, func(a, b sub) int {
			if newest {
				return cmp.Compare(b.v, a.v)
			}
			return cmp.Compare(a.v, b.v)
		})
		for _, c := range subs {
			if stop, err := walk(dir+"/"+c.name, depth+1, append(slices.Clip(vals), c.v)); err != nil || stop {
				return stop, err
			}
		}
		return false, nil
	}
	_, err := walk(part, 0, nil)
	return err
}

// isCurrent reports whether the directory of the year/month/day prefix
// vals may still change: it reaches now less the lookahead (a bundle is
// committed, and its hour directory made, up to its roll time after its
// hour).
func (r *Reader) isCurrent(vals []int) bool {
	n := r.cfg.Now().Add(-r.cfg.Lookahead).UTC()
	now := []int{n.Year(), int(n.Month()), n.Day()}
	return slices.Compare(vals, now[:len(vals)]) >= 0
}

// BundlesIn lists the committed bundles of one hour directory with their
// parsed indexes (those without an index, or whose index does not parse,
// are left out).
func (r *Reader) BundlesIn(dir string, hour time.Time) ([]Bundle, error) {
	// A bundle is committed into the hour its first picture was read in,
	// up to its roll time later: an hour directory is current until the
	// lookahead after it has passed too.
	entries, err := r.list(dir, hour.Add(time.Hour+r.cfg.Lookahead).After(r.cfg.Now()))
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for _, e := range entries {
		if !e.IsDir() {
			names[e.Name()] = true
		}
	}
	var out []Bundle
	for _, e := range entries {
		if _, ok := bundle.ParseName(e.Name()); !ok || e.IsDir() || !names[bundle.IndexName(e.Name())] {
			continue
		}
		p := dir + "/" + e.Name()
		x, ok, err := r.Index(p)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, Bundle{p, hour, x})
		}
	}
	return out, nil
}

// Bundles lists the committed bundles of every partition whose hour
// directory is in [from, to), oldest hour first.
func (r *Reader) Bundles(ctx context.Context, from, to time.Time) ([]Bundle, error) {
	parts, err := r.Partitions()
	if err != nil {
		return nil, err
	}
	var out []Bundle
	for _, part := range parts {
		for h := from.UTC().Truncate(time.Hour); h.Before(to); h = h.Add(time.Hour) {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			bs, err := r.BundlesIn(HourDir(part, h), h)
			if err != nil {
				return nil, err
			}
			out = append(out, bs...)
		}
	}
	slices.SortStableFunc(out, func(a, b Bundle) int { return a.Hour.Compare(b.Hour) })
	return out, nil
}
