package bundlestore

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"iter"
	"path"
	"slices"

	"github.com/sensornode/sensornode/libs/bundle"
)

// Read reads a bundled picture with one ranged read of its block and
// checks that the record is the picture asked for (Check).
func (r *Reader) Read(p Picture) (bundle.Record, error) {
	data, err := r.fs.ReadRange(p.Bundle, p.Entry.Start, p.Entry.Length)
	if err != nil {
		return bundle.Record{}, fmt.Errorf("read %s [%d, +%d): %w", p.Bundle, p.Entry.Start, p.Entry.Length, err)
	}
	rec, err := bundle.ReadBlock(data, p.Sync)
	if err == nil {
		err = Check(rec, p.Key)
	}
	if err != nil {
		return bundle.Record{}, fmt.Errorf("picture %s in %s: %w", p.Key, p.Bundle, err)
	}
	return rec, nil
}

// Check verifies that rec is the picture of key and that its JPEG bytes
// hash to the SHA-256 it carries.
func Check(rec bundle.Record, key string) error {
	if rec.Key != key {
		return fmt.Errorf("%w: the block holds %s", ErrBadPicture, rec.Key)
	}
	if sha256.Sum256(rec.JPEG) != rec.SHA256 {
		return fmt.Errorf("%w: %s: the JPEG's SHA-256 is not the record's", ErrBadPicture, key)
	}
	return nil
}

// Records iterates every picture of bundle p in offset order, reading the
// bundle once from start to end (never whole in memory) along its index;
// each record is checked (Check). A bundle without a readable index, or a
// block that is not its entry's picture, ends the iteration with an error.
func (r *Reader) Records(p string) iter.Seq2[bundle.Record, error] {
	return func(yield func(bundle.Record, error) bool) {
		if _, ok := bundle.ParseName(path.Base(p)); !ok {
			yield(bundle.Record{}, fmt.Errorf("%s: not a committed bundle name (<topic>+<partition>+<first offset>+<last offset>.avro)", p))
			return
		}
		c, err := r.index(p)
		if err == nil && c.bad != nil {
			err = fmt.Errorf("its index does not parse: %w", c.bad)
		}
		if err != nil {
			yield(bundle.Record{}, fmt.Errorf("bundle %s: %w", p, err))
			return
		}
		x := c.x
		rd, err := r.fs.OpenReader(p)
		if err != nil {
			yield(bundle.Record{}, fmt.Errorf("bundle %s: %w", p, err))
			return
		}
		defer rd.Close()
		if _, err := io.CopyN(io.Discard, rd, x.HeaderBytes); err != nil {
			yield(bundle.Record{}, fmt.Errorf("bundle %s: header: %w", p, err))
			return
		}
		var buf []byte
		for _, e := range x.Entries {
			if e.Length > maxBlock {
				yield(bundle.Record{}, fmt.Errorf("bundle %s: block of %s: %d bytes", p, e.Key, e.Length))
				return
			}
			buf = slices.Grow(buf[:0], int(e.Length))[:e.Length]
			if _, err := io.ReadFull(rd, buf); err != nil {
				yield(bundle.Record{}, fmt.Errorf("bundle %s: block of %s at %d: %w", p, e.Key, e.Start, err))
				return
			}
			rec, err := bundle.ReadBlock(buf, x.Sync)
			if err == nil {
				err = Check(rec, e.Key)
			}
			if err != nil {
				yield(bundle.Record{}, fmt.Errorf("bundle %s: block at %d: %w", p, e.Start, err))
				return
			}
			rec.JPEG = bytes.Clone(rec.JPEG)
			if !yield(rec, nil) {
				return
			}
		}
	}
}
