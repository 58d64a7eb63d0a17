package store

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/image/draw"
	"golang.org/x/sync/singleflight"
)

// thumbQuality is the JPEG quality of thumbnails.
const thumbQuality = 80

// thumbs keeps thumbnails in a directory named by key, at most max bytes:
// the least recently used are removed first. Each is made once: concurrent
// requests of one key share the work.
type thumbs struct {
	dir   string // "" keeps none
	max   int64
	m     *metrics
	group singleflight.Group

	mu    sync.Mutex
	files map[string]*thumbFile // by key
	total int64
	clock uint64
}

type thumbFile struct {
	size int64
	used uint64
}

// newThumbs takes over the thumbnails already in dir (an emptyDir survives
// container restarts), creating dir if needed.
func newThumbs(dir string, max int64, m *metrics) (*thumbs, error) {
	t := &thumbs{dir: dir, max: max, m: m, files: map[string]*thumbFile{}}
	if dir == "" {
		return t, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("thumbnail directory: %w", err)
	}
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("thumbnail directory: %w", err)
	}
	type old struct {
		key  string
		size int64
		mod  time.Time
	}
	var olds []old
	for _, de := range des {
		key, ok := strings.CutSuffix(de.Name(), ".jpg")
		fi, err := de.Info()
		if !ok || err != nil || !fi.Mode().IsRegular() {
			continue
		}
		olds = append(olds, old{key, fi.Size(), fi.ModTime()})
	}
	// Oldest modification first, so they are the first evicted.
	for i := range olds {
		for j := i; j > 0 && olds[j].mod.Before(olds[j-1].mod); j-- {
			olds[j], olds[j-1] = olds[j-1], olds[j]
		}
	}
	for _, o := range olds {
		t.clock++
		t.files[o.key] = &thumbFile{size: o.size, used: t.clock}
		t.total += o.size
	}
	t.mu.Lock()
	t.evict()
	t.mu.Unlock()
	return t, nil
}

// Thumbnail is a picture scaled to Config.ThumbWidth, JPEG-encoded, made once.
func (s *Store) Thumbnail(ctx context.Context, camera, key string) ([]byte, error) {
	p, err := s.find(ctx, camera, key)
	if err != nil {
		return nil, err
	}
	// The key is a checked picture key (path-safe) of this camera.
	v, err, _ := s.thumbs.group.Do(p.Key, func() (any, error) {
		if b, ok := s.thumbs.get(p.Key); ok {
			s.m.thumbs.WithLabelValues("hit").Inc()
			return b, nil
		}
		b, err := s.makeThumb(p)
		if err != nil {
			return nil, err
		}
		s.m.thumbs.WithLabelValues("made").Inc()
		s.thumbs.put(p.Key, b)
		return b, nil
	})
	if err != nil {
		return nil, err
	}
	return v.([]byte), nil
}

func (s *Store) makeThumb(p found) ([]byte, error) {
	if p.bundle != nil {
		data, err := s.readBundled(p)
		if err != nil {
			return nil, err
		}
		return scaleJPEG(data, s.cfg.ThumbWidth)
	}
	r, err := s.open(p.path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, s.cfg.MaxPictureBytes+1))
	if err != nil {
		s.m.hdfsErrors.WithLabelValues("read").Inc()
		return nil, fmt.Errorf("read %s: %w", p.path, err)
	}
	if int64(len(data)) > s.cfg.MaxPictureBytes {
		return nil, fmt.Errorf("picture %s: over %d bytes: %w", p.Key, s.cfg.MaxPictureBytes, ErrTooLarge)
	}
	return scaleJPEG(data, s.cfg.ThumbWidth)
}

// scaleJPEG scales a JPEG down to width (keeping the aspect ratio); one
// that is not wider is returned as it is.
func scaleJPEG(data []byte, width int) ([]byte, error) {
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("decode picture: %w", err)
	}
	if cfg.Width <= width {
		return data, nil
	}
	src, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("decode picture: %w", err)
	}
	b := src.Bounds()
	height := max(1, b.Dy()*width/b.Dx())
	dst := image.NewRGBA(image.Rect(0, 0, width, height))
	draw.BiLinear.Scale(dst, dst.Bounds(), src, b, draw.Src, nil)
	var out bytes.Buffer
	if err := jpeg.Encode(&out, dst, &jpeg.Options{Quality: thumbQuality}); err != nil {
		return nil, fmt.Errorf("encode thumbnail: %w", err)
	}
	return out.Bytes(), nil
}

func (t *thumbs) path(key string) string { return filepath.Join(t.dir, key+".jpg") }

// get reads a kept thumbnail and marks it used.
func (t *thumbs) get(key string) ([]byte, bool) {
	if t.dir == "" {
		return nil, false
	}
	t.mu.Lock()
	f, ok := t.files[key]
	if ok {
		t.clock++
		f.used = t.clock
	}
	t.mu.Unlock()
	if !ok {
		return nil, false
	}
	b, err := os.ReadFile(t.path(key))
	if err != nil {
		t.mu.Lock()
		if f := t.files[key]; f != nil {
			t.total -= f.size
			delete(t.files, key)
		}
		t.mu.Unlock()
		return nil, false
	}
	return b, true
}

// put keeps a thumbnail (written aside, then renamed into place) and
// evicts the least recently used ones over the bound. Failing to keep it is
// no error: it is made again next time.
func (t *thumbs) put(key string, b []byte) {
	if t.dir == "" || int64(len(b)) > t.max {
		return
	}
	tmp, err := os.CreateTemp(t.dir, ".tmp-*")
	if err != nil {
		return
	}
	_, werr := tmp.Write(b)
	cerr := tmp.Close()
	if werr != nil || cerr != nil || os.Rename(tmp.Name(), t.path(key)) != nil {
		_ = os.Remove(tmp.Name())
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if f := t.files[key]; f != nil {
		t.total -= f.size
	}
	t.clock++
	t.files[key] = &thumbFile{size: int64(len(b)), used: t.clock}
	t.total += int64(len(b))
	t.evict()
}

// evict removes least recently used thumbnails while over the bound;
// t.mu is held.
func (t *thumbs) evict() {
	for t.total > t.max && len(t.files) > 0 {
		var oldest string
		var min uint64 = ^uint64(0)
		for k, f := range t.files {
			if f.used < min {
				oldest, min = k, f.used
			}
		}
		_ = os.Remove(t.path(oldest))
		t.total -= t.files[oldest].size
		delete(t.files, oldest)
		t.m.evicted.Inc()
	}
}
