package bundlestore

import (
	"container/list"
	"sync"

	"golang.org/x/sync/singleflight"

	"github.com/sensornode/sensornode/libs/bundle"
)

// cachedIndex is a parsed index, or why it did not parse (bad).
type cachedIndex struct {
	x   bundle.Index
	bad error
}

// indexCache keeps parsed indexes, at most max (least recently used
// evicted); they never change, so they do not expire. Concurrent misses of
// one index share one read (singleflight).
type indexCache struct {
	max   int
	group singleflight.Group

	mu     sync.Mutex
	lru    *list.List // of *indexEntry
	byPath map[string]*list.Element
}

type indexEntry struct {
	path string
	c    cachedIndex
}

func newIndexCache(max int) *indexCache {
	return &indexCache{max: max, lru: list.New(), byPath: map[string]*list.Element{}}
}

func (c *indexCache) get(path string) (cachedIndex, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byPath[path]
	if !ok {
		return cachedIndex{}, false
	}
	c.lru.MoveToFront(el)
	return el.Value.(*indexEntry).c, true
}

func (c *indexCache) put(path string, x cachedIndex) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byPath[path]; ok {
		c.lru.Remove(el)
	}
	c.byPath[path] = c.lru.PushFront(&indexEntry{path, x})
	for c.lru.Len() > c.max {
		old := c.lru.Back()
		c.lru.Remove(old)
		delete(c.byPath, old.Value.(*indexEntry).path)
	}
}
