package hdfscli

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/sensornode/sensornode/libs/archive"
	"github.com/sensornode/sensornode/libs/bundlestore"
	"github.com/sensornode/sensornode/libs/messages"
)

// Defaults of the store flags: cloud-ingest-hdfs's.
const (
	DefaultPictureLayout = "/sensornode/camera/{camera}/{yyyy}/{MM}/{dd}/{HH}{mm}{ss}-{key}.jpg"
	DefaultBundleDir     = "/sensornode/bundles"
	// maxPicture bounds one picture file read (cloud-ingest-hdfs's
	// SENSORNODE_MAX_PICTURE_BYTES default).
	maxPicture = 16 << 20
)

// ErrNotFound is returned for a picture in neither store.
var ErrNotFound = errors.New("not found")

// StoreConfig says where both picture stores are.
type StoreConfig struct {
	PictureLayout string        // the files store: cloud-ingest-hdfs's SENSORNODE_PICTURE_LAYOUT
	BundleDir     string        // the bundle store: SENSORNODE_PICTURE_BUNDLE_DIR ("": not read)
	Lookahead     time.Duration // bundle hour directories searched after a capture hour
}

// Stores reads pictures from the files store and the bundle store.
type Stores struct {
	fs      bundlestore.FS
	pics    archive.Layout
	bundles *bundlestore.Reader
}

// NewStores reads both stores through fsys (bundlestore.HDFS over a
// client).
func NewStores(fsys bundlestore.FS, cfg StoreConfig) (*Stores, error) {
	l, err := archive.ParseLayout(cfg.PictureLayout, []string{"camera", "key"}, nil)
	if err != nil {
		return nil, fmt.Errorf("picture layout: %w", err)
	}
	if l.Index("key") != l.Depth()-1 {
		return nil, fmt.Errorf("picture layout %q: {key} must be in the file name", l)
	}
	if cfg.Lookahead < 0 {
		return nil, fmt.Errorf("lookahead %v: negative", cfg.Lookahead)
	}
	return &Stores{fs: fsys, pics: l, bundles: bundlestore.New(fsys, bundlestore.Config{Dir: cfg.BundleDir, Lookahead: cfg.Lookahead})}, nil
}

// Listed is a picture and where it is: in the files store, in a bundle, or
// both (while an installation moves from one to the other).
type Listed struct {
	Key    string
	Camera string
	Taken  time.Time
	File   *archive.File        // nil: not in the files store
	Bundle *bundlestore.Picture // nil: in no bundle
}

// Stores names the stores that hold it: "files", "bundle" or "files+bundle".
func (l Listed) Stores() string {
	switch {
	case l.File != nil && l.Bundle != nil:
		return "files+bundle"
	case l.File != nil:
		return "files"
	default:
		return "bundle"
	}
}

// List lists camera's pictures with from <= Taken < to, within one res (a
// day or an hour), from both stores merged, one per key, oldest first.
func (s *Stores) List(ctx context.Context, camera string, from, to time.Time, res archive.Resolution) ([]Listed, error) {
	if err := messages.CheckID("camera", camera); err != nil {
		return nil, err
	}
	files, _, err := s.pics.CameraFiles(ctx, camera, from, to, res, func(dir string, _ archive.Fields) ([]fs.FileInfo, error) {
		e, err := s.fs.ReadDir(dir, false)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("files store: %w", err)
	}
	bundled, err := s.bundles.Pictures(ctx, camera, from, to)
	if err != nil {
		return nil, fmt.Errorf("bundle store: %w", err)
	}
	byKey := map[string]*Listed{}
	var out []*Listed
	at := func(key, camera string, taken time.Time) *Listed {
		if l, ok := byKey[key]; ok {
			return l
		}
		l := &Listed{Key: key, Camera: camera, Taken: taken}
		byKey[key] = l
		out = append(out, l)
		return l
	}
	for _, f := range files {
		if l := at(f.Key, f.Camera, f.Taken); l.File == nil {
			l.File = &f
		}
	}
	for _, p := range bundled {
		if l := at(p.Key, p.Camera, p.Taken); l.Bundle == nil {
			l.Bundle = &p
		}
	}
	slices.SortFunc(out, func(a, b *Listed) int { return cmp.Or(a.Taken.Compare(b.Taken), cmp.Compare(a.Key, b.Key)) })
	res2 := make([]Listed, len(out))
	for i, l := range out {
		res2[i] = *l
	}
	return res2, nil
}

// Get fetches a picture by key: from the files store if it is there (its
// bytes checked against the hash in the key), else from a bundle with one
// ranged read (checked against the record's key and SHA-256).
func (s *Stores) Get(ctx context.Context, key string) ([]byte, Listed, error) {
	cam, taken, err := messages.ParsePictureKey(key)
	if err != nil {
		return nil, Listed{}, fmt.Errorf("%q is not a picture key: %w", key, err)
	}
	sec := taken.Truncate(time.Second)
	ls, err := s.List(ctx, cam, sec, sec.Add(time.Second), archive.Hour)
	if err != nil {
		return nil, Listed{}, err
	}
	i := slices.IndexFunc(ls, func(l Listed) bool { return l.Key == key })
	if i < 0 {
		return nil, Listed{}, fmt.Errorf("picture %s: in neither store: %w", key, ErrNotFound)
	}
	l := ls[i]
	if l.File != nil {
		b, err := s.readFile(l.File.Path)
		if h, _ := messages.PictureKeyHash(key); err == nil && !hashIs(b, h) {
			err = fmt.Errorf("%s: its bytes do not hash to the key %s", l.File.Path, key)
		}
		return b, l, err
	}
	rec, err := s.bundles.Read(*l.Bundle)
	return rec.JPEG, l, err
}

// hashIs reports whether b's SHA-256 starts with the hex of a key's hash.
func hashIs(b []byte, h string) bool {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:len(h)/2]) == h
}

func (s *Stores) readFile(name string) ([]byte, error) {
	r, err := s.fs.OpenReader(name)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, maxPicture+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(b) > maxPicture {
		return nil, fmt.Errorf("%s: over %d bytes", name, maxPicture)
	}
	return b, nil
}

// Exported is one picture written by Export.
type Exported struct {
	Key  string
	File string // local path
	Size int
}

// Export writes every picture of the committed bundle at path into dir as
// <key>.jpg, each checked against the record's key and SHA-256; done is
// told of each. It stops at the first picture that fails its check (those
// written before it stay).
func (s *Stores) Export(path, dir string, done func(Exported)) (int, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	n := 0
	for rec, err := range s.bundles.Records(path) {
		if err != nil {
			return n, err
		}
		// Keys are [A-Za-z0-9_.-] (messages.ParsePictureKey), so safe as a file name.
		if _, _, err := messages.ParsePictureKey(rec.Key); err != nil {
			return n, fmt.Errorf("bundle %s: key %q: %w", path, rec.Key, err)
		}
		dst := filepath.Join(dir, rec.Key+".jpg")
		if err := os.WriteFile(dst, rec.JPEG, 0o644); err != nil {
			return n, err
		}
		n++
		done(Exported{Key: rec.Key, File: dst, Size: len(rec.JPEG)})
	}
	return n, nil
}
