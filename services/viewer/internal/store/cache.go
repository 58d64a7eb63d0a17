package store

import (
	"container/list"
	"errors"
	"io/fs"
	"os"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// listCache keeps directory listings: at most max entries (least recently
// used evicted), each until its expiry; concurrent misses of one directory
// share one ReadDir (singleflight).
type listCache struct {
	max   int
	now   func() time.Time
	group singleflight.Group

	mu    sync.Mutex
	lru   *list.List // of *listing, most recently used in front
	byDir map[string]*list.Element
}

type listing struct {
	dir     string
	entries []fs.FileInfo
	expires time.Time
}

func newListCache(max int, now func() time.Time) *listCache {
	return &listCache{max: max, now: now, lru: list.New(), byDir: map[string]*list.Element{}}
}

// get returns dir's listing: cached, or read by readDir and kept for ttl. A
// missing directory is an empty listing (and cached as one).
func (c *listCache) get(dir string, ttl time.Duration, readDir func(string) ([]fs.FileInfo, error)) (entries []fs.FileInfo, hit bool, err error) {
	if e, ok := c.lookup(dir); ok {
		return e, true, nil
	}
	v, err, _ := c.group.Do(dir, func() (any, error) {
		if e, ok := c.lookup(dir); ok { // filled while this call waited its turn
			return e, nil
		}
		e, err := readDir(dir)
		if errors.Is(err, os.ErrNotExist) {
			e, err = nil, nil
		}
		if err != nil {
			return nil, err
		}
		c.put(dir, e, ttl)
		return e, nil
	})
	if err != nil {
		return nil, false, err
	}
	return v.([]fs.FileInfo), false, nil
}

func (c *listCache) lookup(dir string) ([]fs.FileInfo, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byDir[dir]
	if !ok {
		return nil, false
	}
	l := el.Value.(*listing)
	if !c.now().Before(l.expires) {
		c.lru.Remove(el)
		delete(c.byDir, dir)
		return nil, false
	}
	c.lru.MoveToFront(el)
	return l.entries, true
}

func (c *listCache) put(dir string, entries []fs.FileInfo, ttl time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byDir[dir]; ok {
		c.lru.Remove(el)
	}
	c.byDir[dir] = c.lru.PushFront(&listing{dir: dir, entries: entries, expires: c.now().Add(ttl)})
	for c.lru.Len() > c.max {
		old := c.lru.Back()
		c.lru.Remove(old)
		delete(c.byDir, old.Value.(*listing).dir)
	}
}
