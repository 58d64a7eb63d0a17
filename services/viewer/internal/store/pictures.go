package store

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"time"

	"github.com/sensornode/sensornode/libs/archive"
	"github.com/sensornode/sensornode/libs/bundlestore"
	"github.com/sensornode/sensornode/libs/messages"
)

// Cameras lists the cameras that have pictures, sorted: those of the file
// store and those in the bundles of the newest hours.
func (s *Store) Cameras(ctx context.Context) ([]string, error) {
	files, err := s.ids(s.pics, s.camIndex, "camera")
	if err != nil {
		return nil, err
	}
	cams := map[string]bool{}
	if err := s.bundles.Cameras(ctx, bundleRecentHours, cams); err != nil {
		return nil, err
	}
	if len(cams) == 0 {
		return files, nil
	}
	out := files
	for c := range cams {
		out = append(out, c)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// Latest is a camera's newest picture.
func (s *Store) Latest(ctx context.Context, camera string) (Picture, error) {
	if err := messages.CheckID("camera", camera); err != nil {
		return Picture{}, fmt.Errorf("camera: %w", ErrNotFound)
	}
	v := archive.Vars{Camera: camera}
	dir, err := s.pics.Prefix(s.camIndex+1, v)
	if err != nil {
		return Picture{}, fmt.Errorf("camera: %w", ErrNotFound)
	}
	var best found
	if err := s.latest(ctx, camera, dir, s.camIndex+1, s.pics.FieldsOf(s.camIndex+1, v), &best); err != nil {
		return Picture{}, err
	}
	p, ok, err := s.bundles.Latest(ctx, camera, best.Taken, best.Key)
	if err != nil {
		return Picture{}, err
	}
	if ok {
		best = bundledFound(p)
	}
	if best.Key == "" {
		return Picture{}, fmt.Errorf("camera %s: no picture: %w", camera, ErrNotFound)
	}
	return best.Picture, nil
}

// latest descends into the newest directories first and skips those that
// cannot hold anything newer than best.
func (s *Store) latest(ctx context.Context, camera, dir string, depth int, f archive.Fields, best *found) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	entries, err := s.listFor(dir, f)
	if err != nil {
		return err
	}
	if depth == s.pics.Depth()-1 {
		for _, p := range s.filePictures(camera, dir, f, entries, time.Time{}, time.Time{}) {
			if newer(p, *best) {
				*best = p
			}
		}
		return nil
	}
	type child struct {
		dir      string
		f        archive.Fields
		from, to time.Time
		timed    bool
	}
	var children []child
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		g, ok := s.pics.Match(depth, e.Name())
		if !ok || !f.Consistent(g) {
			continue
		}
		m := f.Merge(g)
		from, to, timed := m.Span()
		children = append(children, child{dir + "/" + e.Name(), m, from, to, timed})
	}
	// Untimed directories first (anything may be in them), then the newest.
	slices.SortFunc(children, func(a, b child) int {
		if a.timed != b.timed {
			if a.timed {
				return 1
			}
			return -1
		}
		return b.from.Compare(a.from)
	})
	for _, c := range children {
		if c.timed && best.Key != "" && !c.to.After(best.Taken) {
			continue
		}
		if err := s.latest(ctx, camera, c.dir, depth+1, c.f, best); err != nil {
			return err
		}
	}
	return nil
}

// Days lists the days (UTC midnight) a camera has pictures on, newest first.
func (s *Store) Days(ctx context.Context, camera string) ([]time.Time, error) {
	if err := messages.CheckID("camera", camera); err != nil {
		return nil, fmt.Errorf("camera: %w", ErrNotFound)
	}
	v := archive.Vars{Camera: camera}
	dir, err := s.pics.Prefix(s.camIndex+1, v)
	if err != nil {
		return nil, fmt.Errorf("camera: %w", ErrNotFound)
	}
	days := map[time.Time]bool{}
	if err := s.days(ctx, camera, dir, s.camIndex+1, s.pics.FieldsOf(s.camIndex+1, v), days); err != nil {
		return nil, err
	}
	if err := s.bundles.Days(ctx, camera, days); err != nil {
		return nil, err
	}
	out := make([]time.Time, 0, len(days))
	for d := range days {
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b time.Time) int { return b.Compare(a) })
	return out, nil
}

// days walks down to the directories of one day each (one with a
// directory or a picture in it counts), or to the files when the day is in
// the file name.
func (s *Store) days(ctx context.Context, camera, dir string, depth int, f archive.Fields, days map[time.Time]bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	entries, err := s.listFor(dir, f)
	if err != nil {
		return err
	}
	files := depth == s.pics.Depth()-1
	if from, to, ok := f.Span(); ok && to.Sub(from) <= 24*time.Hour {
		for _, e := range entries {
			if !files && e.IsDir() || files && len(s.filePictures(camera, dir, f, []fs.FileInfo{e}, time.Time{}, time.Time{})) > 0 {
				days[from] = true
				break
			}
		}
		return nil
	}
	if files {
		for _, p := range s.filePictures(camera, dir, f, entries, time.Time{}, time.Time{}) {
			days[p.Taken.Truncate(24*time.Hour)] = true
		}
		return nil
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if g, ok := s.pics.Match(depth, e.Name()); ok && f.Consistent(g) {
			if err := s.days(ctx, camera, dir+"/"+e.Name(), depth+1, f.Merge(g), days); err != nil {
				return err
			}
		}
	}
	return nil
}

// Hours counts a camera's pictures per hour of one day (UTC), hours without pictures left out.
func (s *Store) Hours(ctx context.Context, camera string, day time.Time) ([]HourCount, error) {
	day = day.UTC().Truncate(24 * time.Hour)
	ps, err := s.pictures(ctx, camera, day, day.Add(24*time.Hour), archive.Day)
	if err != nil {
		return nil, err
	}
	var out []HourCount
	for _, p := range ps {
		h := p.Taken.Truncate(time.Hour)
		if n := len(out); n > 0 && out[n-1].Hour.Equal(h) {
			out[n-1].Count++
			continue
		}
		out = append(out, HourCount{Hour: h, Count: 1})
	}
	return out, nil
}

// Hour lists a camera's pictures taken in one hour (UTC), oldest first.
func (s *Store) Hour(ctx context.Context, camera string, hour time.Time) ([]Picture, error) {
	hour = hour.UTC().Truncate(time.Hour)
	ps, err := s.pictures(ctx, camera, hour, hour.Add(time.Hour), archive.Hour)
	if err != nil {
		return nil, err
	}
	out := make([]Picture, len(ps))
	for i, p := range ps {
		out[i] = p.Picture
	}
	return out, nil
}

// found is a picture and where it is: a file (path) or a block of a
// bundle.
type found struct {
	Picture
	path   string
	bundle *bundlestore.Picture
}

// pictures lists a camera's pictures with from <= Taken < to, which lie
// within one res (a day or an hour), oldest first: those of the file store
// and of the bundle store, one per key (a picture may be in both while an
// installation moves from one to the other; the file is kept).
func (s *Store) pictures(ctx context.Context, camera string, from, to time.Time, res archive.Resolution) ([]found, error) {
	if err := messages.CheckID("camera", camera); err != nil {
		return nil, fmt.Errorf("camera: %w", ErrNotFound)
	}
	v := archive.Vars{Camera: camera, T: from}
	dir, depth, err := s.pics.DirOf(v, res)
	if err != nil {
		return nil, fmt.Errorf("camera: %w", ErrNotFound)
	}
	var out []found
	err = s.pics.Walk(ctx, dir, depth, s.pics.Depth()-1, s.pics.FieldsOf(depth, v), from, to, s.listFor,
		func(dir string, f archive.Fields) error {
			entries, err := s.listFor(dir, f)
			if err != nil {
				return err
			}
			out = append(out, s.filePictures(camera, dir, f, entries, from, to)...)
			return nil
		})
	if err != nil {
		return nil, err
	}
	bundled, err := s.bundles.Pictures(ctx, camera, from, to)
	if err != nil {
		return nil, err
	}
	for _, p := range bundled {
		out = append(out, bundledFound(p))
	}
	// Files first among equal keys: SortStable keeps them ahead, Compact keeps the first.
	slices.SortStableFunc(out, func(a, b found) int {
		return cmp.Or(a.Taken.Compare(b.Taken), cmp.Compare(a.Key, b.Key))
	})
	return slices.CompactFunc(out, func(a, b found) bool { return a.Key == b.Key }), nil
}

// filePictures are the pictures of camera among the entries of dir (whose
// path gave f), taken in [from, to) unless from is zero. Other files are
// skipped and counted.
func (s *Store) filePictures(camera, dir string, f archive.Fields, entries []fs.FileInfo, from, to time.Time) []found {
	files, skipped := s.pics.Files(camera, dir, f, entries, from, to)
	if skipped > 0 {
		s.m.skipped.WithLabelValues("picture").Add(float64(skipped))
		s.log.Debug("files that are not pictures of the camera skipped", "dir", dir, "camera", camera, "files", skipped)
	}
	out := make([]found, len(files))
	for i, p := range files {
		out[i] = found{Picture: Picture{Camera: p.Camera, Key: p.Key, Taken: p.Taken, Size: p.Size}, path: p.Path}
	}
	return out
}

// Open opens one picture by camera and key; the key must be a picture key
// of that camera. The caller closes the reader.
// A picture in a bundle is read with one ranged read of its block.
func (s *Store) Open(ctx context.Context, camera, key string) (io.ReadCloser, Picture, error) {
	p, err := s.find(ctx, camera, key)
	if err != nil {
		return nil, Picture{}, err
	}
	if p.bundle != nil {
		data, err := s.readBundled(p)
		if err != nil {
			return nil, Picture{}, err
		}
		p.Size = int64(len(data))
		return io.NopCloser(bytes.NewReader(data)), p.Picture, nil
	}
	r, err := s.open(p.path)
	if err != nil {
		return nil, Picture{}, err
	}
	return r, p.Picture, nil
}

// find renders a picture's path from the layout (or, when the layout holds
// {node}, which a key does not give, finds it in the listing of its
// second) and stats it; a picture not in the file store is looked for in
// the bundles.
func (s *Store) find(ctx context.Context, camera, key string) (found, error) {
	if err := messages.CheckID("camera", camera); err != nil {
		return found{}, fmt.Errorf("camera: %w", ErrNotFound)
	}
	cam, taken, err := messages.ParsePictureKey(key)
	if err != nil || cam != camera {
		return found{}, fmt.Errorf("picture key %q of camera %s: %w", key, camera, ErrNotFound)
	}
	var p found
	if s.pics.Index("node") < 0 {
		name, err := s.pics.RenderPath(archive.Vars{Camera: camera, Key: key, T: taken})
		if err != nil {
			return found{}, fmt.Errorf("picture key %q: %w", key, ErrNotFound)
		}
		fi, err := s.stat(name)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			b, err := s.bundles.Find(ctx, key)
			if errors.Is(err, bundlestore.ErrNotFound) {
				return found{}, fmt.Errorf("picture %s: %w", key, ErrNotFound)
			}
			if err != nil {
				return found{}, err
			}
			p = bundledFound(b)
		case err != nil:
			return found{}, err
		default:
			p = found{Picture: Picture{Camera: camera, Key: key, Taken: taken, Size: fi.Size()}, path: name}
		}
	} else {
		sec := taken.Truncate(time.Second)
		ps, err := s.pictures(ctx, camera, sec, sec.Add(time.Second), archive.Hour)
		if err != nil {
			return found{}, err
		}
		i := slices.IndexFunc(ps, func(p found) bool { return p.Key == key })
		if i < 0 {
			return found{}, fmt.Errorf("picture %s: %w", key, ErrNotFound)
		}
		p = ps[i]
	}
	// A bundled picture's size is its block's, the JPEG's is checked once read.
	if p.bundle != nil && p.Size > s.cfg.MaxPictureBytes+bundlestore.MaxRecordOverhead || p.bundle == nil && p.Size > s.cfg.MaxPictureBytes {
		return found{}, fmt.Errorf("picture %s: %d bytes, limit %d: %w", key, p.Size, s.cfg.MaxPictureBytes, ErrTooLarge)
	}
	return p, nil
}
