package spool

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sensornode/sensornode/libs/atomicfile"

	"github.com/sensornode/sensornode/libs/messages"
)

// DefaultIgnore are the names never picked up: hidden files (our own
// .name.part temporaries, editors' swap files), partial-download and
// temporary suffixes.
var DefaultIgnore = []string{".*", "*.part", "*.tmp", "*~", "*.swp", "*.crdownload", "*.partial"}

// Ignored reports whether name matches one of patterns (path.Match
// syntax, matched against the base name).
func Ignored(name string, patterns []string) bool {
	for _, p := range patterns {
		if ok, _ := filepath.Match(p, name); ok {
			return true
		}
	}
	return false
}

// WriteAtomic writes data to dir/name so that a reader of dir never sees a
// partial file and a crash never leaves a truncated picture under name
// (atomicfile.WriteFile: the temporary name, .name.*.part, is one the
// default ignore patterns skip).
func WriteAtomic(dir, name string, data []byte) error {
	if err := atomicfile.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// tailBytes is how much of a file's end checkEnds reads: enough for the
// EOI marker and the zero padding some cameras append after it.
const tailBytes = 4096

// checkEnds looks at a file's first and last bytes only: nil when it
// starts like a JPEG (SOI) and ends with EOI, else ErrEmpty, ErrNotJPEG or
// ErrTruncatedJPEG (wrapped by messages). A file shorter than the SOI
// marker whose bytes so far agree with it is reported truncated: it may
// still be growing.
func checkEnds(path string, size int64) error {
	if size == 0 {
		return messages.CheckJPEG(nil, 0)
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if size <= 2*tailBytes {
		b := make([]byte, size)
		n, err := io.ReadFull(f, b)
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
			return err
		}
		return classifyEnds(b[:n])
	}
	head := make([]byte, 16)
	if _, err := io.ReadFull(f, head); err != nil {
		return err
	}
	tail := make([]byte, tailBytes)
	n, err := f.ReadAt(tail, size-tailBytes)
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return classifyEnds(append(head, tail[:n]...))
}

func classifyEnds(b []byte) error {
	soi := []byte{0xFF, 0xD8, 0xFF}
	if len(b) < len(soi) && len(b) > 0 && string(b) == string(soi[:len(b)]) {
		return fmt.Errorf("value: %w: only %d bytes", messages.ErrTruncatedJPEG, len(b))
	}
	return messages.CheckJPEG(b, len(b)+1)
}

// moveAside moves path into dir (created if needed), keeping its base name
// unless that is taken, then adding .1, .2, ... before the extension. It
// falls back to copy and remove across file systems. It returns the new
// path.
func moveAside(path, dir string) (string, error) {
	dst, err := freeName(path, dir)
	if err != nil {
		return "", err
	}
	return dst, moveTo(path, dst)
}

// freeName creates dir if needed and returns a name in it for path's base
// name that neither exists nor has a .reason file beside it.
func freeName(path, dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	base := filepath.Base(path)
	ext := filepath.Ext(base)
	stem := strings.TrimSuffix(base, ext)
	for i := 0; i < 10000; i++ {
		name := base
		if i > 0 {
			name = stem + "." + strconv.Itoa(i) + ext
		}
		dst := filepath.Join(dir, name)
		if _, err := os.Lstat(dst); err == nil {
			continue
		}
		if _, err := os.Lstat(dst + ".reason"); err == nil {
			continue
		}
		return dst, nil
	}
	return "", fmt.Errorf("move %s to %s: no free name", base, dir)
}

// moveTo renames path to dst (copying across file systems) and syncs
// dst's directory.
func moveTo(path, dst string) error {
	err := os.Rename(path, dst)
	if errors.Is(err, syscall.EXDEV) {
		err = copyRemove(path, dst)
	}
	if err != nil {
		return err
	}
	return atomicfile.SyncDir(filepath.Dir(dst))
}

func copyRemove(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(dst)
		return err
	}
	return os.Remove(src)
}

// writeFile is os.WriteFile; tests make it fail like a full disk.
var writeFile = os.WriteFile

// writeReason writes <quarantined file>.reason next to it, atomically
// (a temporary name, then a rename): it is there whole or not at all.
func writeReason(quarantined string, reason string, cause error, size int64, now time.Time) error {
	text := fmt.Sprintf("reason: %s\ndetail: %v\nsize: %d\nquarantined_at: %s\n",
		reason, cause, size, now.UTC().Format(time.RFC3339Nano))
	tmp := quarantined + ".reason.tmp"
	if err := writeFile(tmp, []byte(text), 0o644); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, quarantined+".reason"); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}
