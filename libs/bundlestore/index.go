package bundlestore

import (
	"bytes"
	"fmt"
	"io"

	"github.com/sensornode/sensornode/libs/bundle"
)

// Index is the parsed index of bundle p, cached; ok is false for one that
// does not parse (reported to OnBadIndex once).
func (r *Reader) Index(p string) (bundle.Index, bool, error) {
	c, err := r.index(p)
	return c.x, c.bad == nil, err
}

func (r *Reader) index(p string) (cachedIndex, error) {
	if c, hit := r.indexes.get(p); hit {
		return c, nil
	}
	v, err, _ := r.indexes.group.Do(p, func() (any, error) {
		if c, hit := r.indexes.get(p); hit {
			return c, nil
		}
		c, err := r.readIndex(p)
		if err != nil {
			return nil, err
		}
		r.indexes.put(p, c)
		return c, nil
	})
	if err != nil {
		return cachedIndex{}, err
	}
	return v.(cachedIndex), nil
}

func (r *Reader) readIndex(p string) (cachedIndex, error) {
	name := bundle.IndexName(p)
	rd, err := r.fs.OpenReader(name)
	if err != nil {
		return cachedIndex{}, err
	}
	defer rd.Close()
	data, err := io.ReadAll(io.LimitReader(rd, maxIndexFile+1))
	if err != nil {
		return cachedIndex{}, fmt.Errorf("read %s: %w", name, err)
	}
	var c cachedIndex
	if len(data) > maxIndexFile {
		c.bad = fmt.Errorf("over %d bytes", maxIndexFile)
	} else if c.x, err = bundle.ParseIndex(bytes.NewReader(data)); err != nil {
		c = cachedIndex{bad: err}
	}
	if c.bad != nil {
		r.cfg.OnBadIndex(name, c.bad)
	}
	return c, nil
}
