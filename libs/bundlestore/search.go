package bundlestore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/sensornode/sensornode/libs/bundle"
	"github.com/sensornode/sensornode/libs/messages"
)

// entryPicture is the picture of an index entry, if it is one of camera
// ("": any) that is listed: its bundle's hour directory is within its
// capture hour .. +lookahead, where Find looks for it (so every listing
// agrees with Pictures and Find).
func (r *Reader) entryPicture(camera string, b Bundle, e bundle.Entry) (Picture, bool) {
	cam, taken, err := messages.ParsePictureKey(e.Key)
	if err != nil || camera != "" && cam != camera {
		return Picture{}, false
	}
	if h := taken.Truncate(time.Hour); b.Hour.Before(h) || !b.Hour.Before(h.Add(r.cfg.Lookahead+time.Hour)) {
		return Picture{}, false
	}
	return Picture{Camera: cam, Key: e.Key, Taken: taken, Bundle: b.Path, Entry: e, Sync: b.Index.Sync}, true
}

// Pictures lists camera's pictures in bundles with from <= Taken < to,
// oldest first, searching the hour directories from .. to+lookahead of
// every partition through their indexes. camera "" lists every camera's.
// A picture in two bundles is listed twice.
func (r *Reader) Pictures(ctx context.Context, camera string, from, to time.Time) ([]Picture, error) {
	last := to.Add(-time.Nanosecond).Truncate(time.Hour).Add(time.Hour + r.cfg.Lookahead)
	bs, err := r.Bundles(ctx, from, last)
	if err != nil {
		return nil, err
	}
	var out []Picture
	for _, b := range bs {
		for _, e := range b.Index.Entries {
			if p, ok := r.entryPicture(camera, b, e); ok && !p.Taken.Before(from) && p.Taken.Before(to) {
				out = append(out, p)
			}
		}
	}
	slices.SortStableFunc(out, func(a, b Picture) int {
		return cmp.Or(a.Taken.Compare(b.Taken), cmp.Compare(a.Key, b.Key))
	})
	return out, nil
}

// Find finds a picture by key in the bundles of its capture hour ..
// +lookahead; a key that does not parse is ErrNotFound too.
func (r *Reader) Find(ctx context.Context, key string) (Picture, error) {
	cam, taken, err := messages.ParsePictureKey(key)
	if err != nil {
		return Picture{}, fmt.Errorf("picture key %q: %w", key, ErrNotFound)
	}
	sec := taken.Truncate(time.Second)
	ps, err := r.Pictures(ctx, cam, sec, sec.Add(time.Second))
	if err != nil {
		return Picture{}, err
	}
	i := slices.IndexFunc(ps, func(p Picture) bool { return p.Key == key })
	if i < 0 {
		return Picture{}, fmt.Errorf("picture %s: %w", key, ErrNotFound)
	}
	return ps[i], nil
}

// Cameras adds the cameras of the newest hours hour directories of every
// partition.
func (r *Reader) Cameras(ctx context.Context, hours int, cams map[string]bool) error {
	parts, err := r.Partitions()
	if err != nil {
		return err
	}
	for _, part := range parts {
		n := 0
		err := r.HourDirs(ctx, part, true, func(dir string, h time.Time) (bool, error) {
			n++
			bs, err := r.BundlesIn(dir, h)
			for _, b := range bs {
				for _, e := range b.Index.Entries {
					if cam, _, err := messages.ParsePictureKey(e.Key); err == nil {
						cams[cam] = true
					}
				}
			}
			return n >= hours, err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Latest finds camera's newest picture in bundles newer than the picture
// (taken, key) found elsewhere (zero taken: none); ok is false when no
// bundle holds a newer one. In every partition it reads the newest hour
// directories first, up to LatestHours of them, and once one holds a
// picture of camera, lookahead more (a newer capture ingested earlier is
// in an older directory); none older than the newest picture found (a
// bundle holds pictures ingested, so captured, before its hour and the
// lookahead, as margin for its roll, have passed).
func (r *Reader) Latest(ctx context.Context, camera string, taken time.Time, key string) (p Picture, ok bool, err error) {
	parts, err := r.Partitions()
	if err != nil {
		return Picture{}, false, err
	}
	best := Picture{Key: key, Taken: taken}
	newer := func(p Picture) bool {
		return best.Key == "" || p.Taken.After(best.Taken) || p.Taken.Equal(best.Taken) && p.Key > best.Key
	}
	for _, part := range parts {
		n := 0
		var hit time.Time
		err := r.HourDirs(ctx, part, true, func(dir string, h time.Time) (bool, error) {
			if n++; n > LatestHours || !hit.IsZero() && h.Before(hit.Add(-r.cfg.Lookahead)) ||
				best.Key != "" && !h.Add(time.Hour+r.cfg.Lookahead).After(best.Taken) {
				return true, nil
			}
			bs, err := r.BundlesIn(dir, h)
			for _, b := range bs {
				for _, e := range b.Index.Entries {
					if p, ok := r.entryPicture(camera, b, e); ok {
						if hit.IsZero() {
							hit = h
						}
						if newer(p) {
							best = p
						}
					}
				}
			}
			return false, err
		})
		if err != nil {
			return Picture{}, false, err
		}
	}
	return best, best.Bundle != "", nil
}

// Days adds the capture days (UTC midnight) of camera's pictures in all
// bundles. An hour directory whose pictures can only be of days already
// in days (captured lookahead before it at the earliest) is not read, so a
// camera with pictures on most days costs about one index read per day.
func (r *Reader) Days(ctx context.Context, camera string, days map[time.Time]bool) error {
	parts, err := r.Partitions()
	if err != nil {
		return err
	}
	known := func(from, to time.Time) bool {
		for d := from.Truncate(24 * time.Hour); !d.After(to); d = d.Add(24 * time.Hour) {
			if !days[d] {
				return false
			}
		}
		return true
	}
	for _, part := range parts {
		err := r.HourDirs(ctx, part, false, func(dir string, h time.Time) (bool, error) {
			if known(h.Add(-r.cfg.Lookahead), h) {
				return false, nil
			}
			bs, err := r.BundlesIn(dir, h)
			for _, b := range bs {
				for _, e := range b.Index.Entries {
					if p, ok := r.entryPicture(camera, b, e); ok {
						days[p.Taken.Truncate(24*time.Hour)] = true
					}
				}
			}
			return false, err
		})
		if err != nil {
			return err
		}
	}
	return nil
}
