package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"time"

	"github.com/colinmarc/hdfs/v2"
	"github.com/sensornode/sensornode/libs/hdfsretry"
	"github.com/sensornode/sensornode/libs/svc"
)

// FS is what ingest needs of HDFS. Implementations need not be safe for
// concurrent use.
type FS interface {
	// Stat returns the size of a file and whether it exists.
	Stat(name string) (size int64, exists bool, err error)
	// WriteAtomic writes data to tmp, makes it durable (closed: every
	// DataNode acknowledged and the NameNode completed the file), then
	// renames it to final, creating final's directory. final appears
	// complete or not at all; an existing final is replaced.
	//
	// deadline fences the write: writing and closing are bounded by it,
	// and if it has passed when the rename is due (checked right before
	// the rename), final is left alone, tmp is removed (best effort) and
	// the error wraps ErrFenced.
	WriteAtomic(tmp, final string, data []byte, deadline time.Time) error
	// Create starts writing tmp (an existing tmp is replaced): a file
	// written piece by piece, never whole in memory. tmp's directory must
	// exist: Create does not make it (a missing one is an error wrapping
	// os.ErrNotExist), so that a directory another member removed stays
	// removed (the takeover fence, takeover.go).
	Create(tmp string) (FileWriter, error)
	// Rename moves a closed file to final, creating final's directory.
	// It is fenced as WriteAtomic's rename is: if deadline has passed
	// (checked right before the rename) nothing moves and the error wraps
	// ErrFenced. An existing final is replaced: callers check names first.
	Rename(tmp, final string, deadline time.Time) error
	// ReadDir lists a directory; a missing one is empty.
	ReadDir(dir string) ([]os.FileInfo, error)
	// ReadFile reads a whole file.
	ReadFile(name string) ([]byte, error)
	// Remove removes a file; a missing one is no error.
	Remove(name string) error
	// MkdirAll makes a directory and its parents.
	MkdirAll(dir string) error
	// RemoveAll removes a file or a directory with everything below it,
	// in one NameNode call (files still open for write by other clients
	// included); a missing one is no error.
	RemoveAll(name string) error
	// Ping asks the NameNode a question.
	Ping() error
	Close() error
}

// FileWriter is a file being written (FS.Create).
type FileWriter interface {
	io.Writer
	// Close makes the file durable (every DataNode acknowledged, the
	// NameNode completed it), retrying while the last block is still
	// replicating, up to deadline.
	Close(deadline time.Time) error
}

// ErrFenced is returned by FS.WriteAtomic when its deadline passed before
// the rename: the writer may no longer own what it writes.
var ErrFenced = errors.New("write outlasted its deadline; not renamed into place (fenced)")

// fenced returns an ErrFenced error if deadline has passed.
func fenced(deadline time.Time, what string) error {
	if late := time.Since(deadline); late >= 0 {
		return fmt.Errorf("%s: %w (%v past the deadline)", what, ErrFenced, late.Round(time.Millisecond))
	}
	return nil
}

// hdfsFS is FS over github.com/colinmarc/hdfs/v2. Every NameNode call is
// bounded by RPCTimeout (the library has no timeout of its own: a hung
// NameNode would block forever), and after any I/O failure the client is
// dropped and made again on next use, so a restarted NameNode is found
// again.
type hdfsFS struct {
	cfg   HDFSConfig
	c     *hdfs.Client
	sleep func(ctx context.Context, d time.Duration) error
	// beforeRename, if set, runs after a rename passed its time fence,
	// right before the NameNode call (Options.BeforeRename, tests only).
	beforeRename func(tmp, final string)
	// made holds directories renames went into (made or found by
	// MkdirAll, at most maxMadeDirs): a rename into one of them skips
	// the MkdirAll, a NameNode call. Forgotten with the client, and a
	// directory is forgotten when a rename into it finds it missing
	// (removed meanwhile): see rename.
	made map[string]bool
}

// maxMadeDirs bounds hdfsFS.made (it is cleared when full): the files
// store renames into a directory per camera and hour.
const maxMadeDirs = 4096

// NewHDFS returns an FS that connects lazily.
func NewHDFS(cfg HDFSConfig) FS {
	return newHDFS(cfg)
}

func newHDFS(cfg HDFSConfig) *hdfsFS {
	return &hdfsFS{cfg: cfg, sleep: svc.SleepCtx}
}

func (h *hdfsFS) client() (*hdfs.Client, error) {
	if h.c != nil {
		return h.c, nil
	}
	c, err := hdfs.NewClient(hdfs.ClientOptions{
		Addresses:        h.cfg.NameNodes,
		User:             h.cfg.User,
		NamenodeDialFunc: h.dialNameNode,
	})
	if err != nil {
		return nil, fmt.Errorf("hdfs connect %v: %w", h.cfg.NameNodes, err)
	}
	h.c = c
	return c, nil
}

// fail drops the client after an error that is not about the file itself.
func (h *hdfsFS) fail(err error) error {
	if err == nil || errors.Is(err, os.ErrNotExist) || errors.Is(err, os.ErrExist) || errors.Is(err, ErrFenced) {
		return err
	}
	if h.c != nil {
		_ = h.c.Close()
		h.c = nil
	}
	clear(h.made)
	return err
}

func (h *hdfsFS) dialNameNode(ctx context.Context, network, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: min(h.cfg.RPCTimeout, 10*time.Second)}
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &deadlineConn{Conn: c, timeout: h.cfg.RPCTimeout}, nil
}

// deadlineConn bounds every read and write of a NameNode connection and
// closes it on the first error, so that a late answer can never be taken
// for the answer to a later call.
type deadlineConn struct {
	net.Conn
	timeout time.Duration
}

func (c *deadlineConn) Read(b []byte) (int, error) {
	_ = c.SetReadDeadline(time.Now().Add(c.timeout))
	return c.closeOnError(c.Conn.Read(b))
}

func (c *deadlineConn) Write(b []byte) (int, error) {
	_ = c.SetWriteDeadline(time.Now().Add(c.timeout))
	return c.closeOnError(c.Conn.Write(b))
}

// closeOnError passes a read's or write's result on, closing the
// connection if it failed.
func (c *deadlineConn) closeOnError(n int, err error) (int, error) {
	if err != nil {
		_ = c.Conn.Close()
	}
	return n, err
}

func (h *hdfsFS) Stat(name string) (int64, bool, error) {
	c, err := h.client()
	if err != nil {
		return 0, false, err
	}
	fi, err := c.Stat(name)
	if errors.Is(err, os.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, h.fail(err)
	}
	return fi.Size(), true, nil
}

func (h *hdfsFS) WriteAtomic(tmp, final string, data []byte, deadline time.Time) (err error) {
	if err := fenced(deadline, "before create "+tmp); err != nil {
		return err
	}
	c, err := h.client()
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = c.Remove(tmp) // best effort; leftovers are removed on assignment
			err = h.fail(err)
		}
	}()
	w, err := create(c, tmp, true)
	if err != nil {
		return err
	}
	if err := w.SetDeadline(earliest(time.Now().Add(h.cfg.WriteTimeout), deadline)); err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		if ferr := fenced(deadline, "write "+tmp); ferr != nil {
			return fmt.Errorf("%w: %v", ferr, err)
		}
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := h.closeRetrying(w, deadline, hdfsretry.FirstDelay, 2*time.Second); err != nil {
		if ferr := fenced(deadline, "close "+tmp); ferr != nil {
			return fmt.Errorf("%w: %v", ferr, err)
		}
		return err
	}
	return h.rename(c, tmp, final, deadline)
}

// create creates tmp (and, mkdir, its directory), replacing an earlier
// tmp.
func create(c *hdfs.Client, tmp string, mkdir bool) (*hdfs.FileWriter, error) {
	if mkdir {
		if err := c.MkdirAll(path.Dir(tmp), 0o755); err != nil {
			return nil, err
		}
	}
	w, err := c.Create(tmp)
	if errors.Is(err, os.ErrExist) {
		if err := c.Remove(tmp); err != nil {
			return nil, err
		}
		w, err = c.Create(tmp)
	}
	return w, err
}

// rename moves tmp to final, creating final's directory, unless deadline
// has passed. The directory is made (MkdirAll) only if no rename went
// into it before; if the rename then finds something missing (the
// directory removed meanwhile, or tmp gone), the directory is made and
// the rename tried once more.
func (h *hdfsFS) rename(c *hdfs.Client, tmp, final string, deadline time.Time) error {
	dir := path.Dir(final)
	known := h.made[dir]
	if !known {
		if err := h.mkdirFor(c, dir); err != nil {
			return err
		}
	}
	err := h.renameFenced(c, tmp, final, deadline)
	if known && errors.Is(err, os.ErrNotExist) {
		delete(h.made, dir)
		if err := h.mkdirFor(c, dir); err != nil {
			return err
		}
		err = h.renameFenced(c, tmp, final, deadline)
	}
	return err
}

// mkdirFor makes dir for renames into it and remembers it.
func (h *hdfsFS) mkdirFor(c *hdfs.Client, dir string) error {
	if err := c.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if h.made == nil || len(h.made) >= maxMadeDirs {
		h.made = map[string]bool{}
	}
	h.made[dir] = true
	return nil
}

// renameFenced renames tmp to final unless deadline has passed.
func (h *hdfsFS) renameFenced(c *hdfs.Client, tmp, final string, deadline time.Time) error {
	// The fence: checked right before the rename. What remains is the
	// time between this check and the NameNode executing the rename
	// (the takeover fence closes it with its temporary directories:
	// takeover.go).
	if err := fenced(deadline, "rename "+tmp+" to "+final); err != nil {
		return err
	}
	if h.beforeRename != nil {
		h.beforeRename(tmp, final)
	}
	return c.Rename(tmp, final)
}

func (h *hdfsFS) Create(tmp string) (FileWriter, error) {
	c, err := h.client()
	if err != nil {
		return nil, err
	}
	w, err := create(c, tmp, false)
	if err != nil {
		return nil, h.fail(err)
	}
	return &hdfsWriter{h: h, w: w}, nil
}

func (h *hdfsFS) Rename(tmp, final string, deadline time.Time) error {
	c, err := h.client()
	if err != nil {
		return err
	}
	return h.fail(h.rename(c, tmp, final, deadline))
}

// hdfsWriter is a file of Create: every Write is bounded by WriteTimeout.
//
// Write and Close may run on another goroutine than the FS's other calls
// (the bundle store writes and closes a bundle on a goroutine of its own:
// bundlewriter.go), so they leave hdfsFS alone: they do not drop the
// client on an error (the library's NameNode calls are safe for
// concurrent use). A failed write or close abandons the file, whose
// removal (Remove, on the FS's goroutine) drops the client if the
// NameNode does not answer.
type hdfsWriter struct {
	h    *hdfsFS
	w    *hdfs.FileWriter
	werr error // the first write error, for Close
}

func (w *hdfsWriter) Write(p []byte) (int, error) {
	if err := w.w.SetDeadline(time.Now().Add(w.h.cfg.WriteTimeout)); err != nil {
		w.keep(err)
		return 0, err
	}
	n, err := w.w.Write(p)
	w.keep(err)
	return n, err
}

func (w *hdfsWriter) keep(err error) {
	if w.werr == nil {
		w.werr = err
	}
}

// Close closes a Create'd file (the bundle store's bundles and indexes)
// on the bundle schedule: see closeRetrying.
func (w *hdfsWriter) Close(deadline time.Time) error {
	if w.werr != nil {
		_ = w.w.Close() // releases what it can; the file is abandoned
		return w.werr
	}
	if err := w.w.SetDeadline(earliest(time.Now().Add(w.h.cfg.WriteTimeout), deadline)); err != nil {
		return err
	}
	return w.h.closeRetrying(w.w, deadline, bundleCloseFirst, bundleCloseMax)
}

// The close-retry schedule of the bundle store's files: a roll closes the
// bundle and then its index while the partition waits, so the first
// retry comes sooner than hdfsretry.FirstDelay, and the cap is lower, so
// that a late block report (a busy DataNode) is noticed within a quarter
// of a second. BenchmarkIntegrationBundleRoll measures a roll.
const (
	bundleCloseFirst = time.Millisecond
	bundleCloseMax   = 250 * time.Millisecond
)

// closeRetrying closes w, calling Close again while the NameNode answers
// that the last block is not yet minimally replicated (ErrReplicating): the
// data is on the DataNodes but the file is not complete yet. This is what
// the Java client does (with exponential backoff); hdfsretry has the
// loop: first retry after first, doubling up to maxDelay (the files
// store: 5 ms up to 2 s; the bundle store: 1 ms up to 250 ms). A Close
// that still fails after the deadline ends the retries.
func (h *hdfsFS) closeRetrying(w io.Closer, fence time.Time, first, maxDelay time.Duration) error {
	deadline := earliest(time.Now().Add(h.cfg.CloseTimeout), fence)
	return hdfsretry.CloseFrom(w, first, maxDelay, func(err error, delay time.Duration) error {
		if time.Now().After(deadline) {
			return fmt.Errorf("close: still replicating at its deadline (at most %v): %w", h.cfg.CloseTimeout, err)
		}
		_ = h.sleep(context.Background(), delay)
		return nil
	})
}

func (h *hdfsFS) ReadDir(dir string) ([]os.FileInfo, error) {
	c, err := h.client()
	if err != nil {
		return nil, err
	}
	fis, err := c.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return fis, h.fail(err)
}

func (h *hdfsFS) ReadFile(name string) ([]byte, error) {
	c, err := h.client()
	if err != nil {
		return nil, err
	}
	r, err := c.Open(name)
	if err != nil {
		return nil, h.fail(err)
	}
	defer r.Close()
	if err := r.SetDeadline(time.Now().Add(h.cfg.WriteTimeout)); err != nil {
		return nil, h.fail(err)
	}
	b, err := io.ReadAll(r)
	return b, h.fail(err)
}

func (h *hdfsFS) Remove(name string) error {
	c, err := h.client()
	if err != nil {
		return err
	}
	err = c.Remove(name)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return h.fail(err)
}

func (h *hdfsFS) MkdirAll(dir string) error {
	c, err := h.client()
	if err != nil {
		return err
	}
	return h.fail(c.MkdirAll(dir, 0o755))
}

func (h *hdfsFS) RemoveAll(name string) error {
	c, err := h.client()
	if err != nil {
		return err
	}
	return h.fail(c.RemoveAll(name))
}

func (h *hdfsFS) Ping() error {
	c, err := h.client()
	if err != nil {
		return err
	}
	_, err = c.Stat("/")
	return h.fail(err)
}

func (h *hdfsFS) Close() error {
	if h.c == nil {
		return nil
	}
	err := h.c.Close()
	h.c = nil
	return err
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
