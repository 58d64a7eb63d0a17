package archive

import (
	"context"
	"fmt"
	"io/fs"
	"time"

	"github.com/sensornode/sensornode/libs/messages"
)

// ListFunc lists dir, whose path gave f (a caching reader keeps the
// listing of a past time longer). A missing directory is an empty listing.
type ListFunc func(dir string, f Fields) ([]fs.FileInfo, error)

// Walk visits the directories at component depth end below dir (at
// component depth, its path giving f) whose paths can hold times in
// [from, to).
func (l Layout) Walk(ctx context.Context, dir string, depth, end int, f Fields, from, to time.Time, list ListFunc, visit func(dir string, f Fields) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if depth == end {
		return visit(dir, f)
	}
	entries, err := list(dir, f)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		g, ok := l.Match(depth, e.Name())
		if !ok || !f.Consistent(g) {
			continue
		}
		m := f.Merge(g)
		if lo, hi, timed := m.Span(); timed && (!hi.After(from) || !lo.Before(to)) {
			continue
		}
		if err := l.Walk(ctx, dir+"/"+e.Name(), depth+1, end, m, from, to, list, visit); err != nil {
			return err
		}
	}
	return nil
}

// Consistent reports whether g agrees with f on the placeholders both hold.
func (f Fields) Consistent(g Fields) bool {
	for k, v := range g {
		if w, ok := f[k]; ok && w != v {
			return false
		}
	}
	return true
}

// File is a picture in the file store.
type File struct {
	Camera string
	Key    string
	Taken  time.Time // capture time, UTC, from the key
	Path   string
	Size   int64
}

// Files are the pictures of camera among the entries of dir (whose path
// gave f) of a picture layout, taken in [from, to) unless from is zero.
// skipped counts the other files (not pictures of the camera, names that
// disagree with their directory).
func (l Layout) Files(camera, dir string, f Fields, entries []fs.FileInfo, from, to time.Time) (out []File, skipped int) {
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		key, cam, taken, err := l.PictureOf(e.Name())
		if err != nil || cam != camera || !f.Agrees(taken) {
			skipped++
			continue
		}
		if c, ok := f["camera"]; ok && c != cam {
			skipped++
			continue
		}
		if !from.IsZero() && (taken.Before(from) || !taken.Before(to)) {
			continue
		}
		out = append(out, File{Camera: cam, Key: key, Taken: taken, Path: dir + "/" + e.Name(), Size: e.Size()})
	}
	return out, skipped
}

// CameraFiles lists camera's pictures of a picture layout with from <=
// Taken < to, which lie within one res (a day or an hour), in listing
// order; skipped counts the files of the directories read that are not
// its pictures (see Files). It walks only the directories that can hold
// them.
func (l Layout) CameraFiles(ctx context.Context, camera string, from, to time.Time, res Resolution, list ListFunc) (out []File, skipped int, err error) {
	if err := messages.CheckID("camera", camera); err != nil {
		return nil, 0, err
	}
	v := Vars{Camera: camera, T: from}
	dir, depth, err := l.DirOf(v, res)
	if err != nil {
		return nil, 0, err
	}
	if l.Depth() == 0 || !l.Holds(l.Depth()-1, "key") {
		return nil, 0, fmt.Errorf("layout %q: {key} is not in the file name", l.raw)
	}
	err = l.Walk(ctx, dir, depth, l.Depth()-1, l.FieldsOf(depth, v), from, to, list, func(dir string, f Fields) error {
		entries, err := list(dir, f)
		if err != nil {
			return err
		}
		files, n := l.Files(camera, dir, f, entries, from, to)
		out = append(out, files...)
		skipped += n
		return nil
	})
	return out, skipped, err
}
