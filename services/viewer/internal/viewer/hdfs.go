package viewer

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"sync"
	"time"

	"github.com/colinmarc/hdfs/v2"

	"github.com/sensornode/sensornode/services/viewer/internal/store"
)

// hdfsFS is the store's read-only view of HDFS: it connects on first use
// and again after an error that is not about the file itself (a NameNode
// that went away), so the viewer starts and serves its pages while HDFS
// is down. It has read methods only.
type hdfsFS struct {
	cfg HDFSConfig

	mu sync.Mutex
	c  *hdfs.Client
}

var _ store.FS = (*hdfsFS)(nil)

func newHDFS(cfg HDFSConfig) *hdfsFS { return &hdfsFS{cfg: cfg} }

func (h *hdfsFS) client() (*hdfs.Client, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.c != nil {
		return h.c, nil
	}
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	c, err := hdfs.NewClient(hdfs.ClientOptions{
		Addresses: h.cfg.NameNodes, User: h.cfg.User,
		NamenodeDialFunc: d.DialContext, DatanodeDialFunc: d.DialContext,
	})
	if err != nil {
		return nil, fmt.Errorf("hdfs connect %v: %w", h.cfg.NameNodes, err)
	}
	// colinmarc/hdfs caches the server defaults on first use without a
	// lock, and every block read uses them: fetch them here, before the
	// client is shared, or parallel reads (thumbnails) race on the cache.
	if _, err := c.ServerDefaults(); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("hdfs server defaults %v: %w", h.cfg.NameNodes, err)
	}
	h.c = c
	return c, nil
}

// done drops the client after an error that is not about the file.
func (h *hdfsFS) done(c *hdfs.Client, err error) error {
	if err == nil || errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
		return err
	}
	h.mu.Lock()
	if h.c == c {
		_ = c.Close()
		h.c = nil
	}
	h.mu.Unlock()
	return err
}

func (h *hdfsFS) ReadDir(dir string) ([]fs.FileInfo, error) {
	c, err := h.client()
	if err != nil {
		return nil, err
	}
	infos, err := c.ReadDir(dir)
	return infos, h.done(c, err)
}

func (h *hdfsFS) Stat(name string) (fs.FileInfo, error) {
	c, err := h.client()
	if err != nil {
		return nil, err
	}
	info, err := c.Stat(name)
	return info, h.done(c, err)
}

func (h *hdfsFS) Open(name string) (*hdfs.FileReader, error) {
	c, err := h.client()
	if err != nil {
		return nil, err
	}
	f, err := c.Open(name)
	return f, h.done(c, err)
}

// Close closes the connection, if any.
func (h *hdfsFS) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.c == nil {
		return nil
	}
	err := h.c.Close()
	h.c = nil
	return err
}
