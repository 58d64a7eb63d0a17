package spool

import (
	"errors"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// fsEvent is one inotify event on the watched directory.
type fsEvent struct {
	name     string
	closed   bool // IN_CLOSE_WRITE or IN_MOVED_TO: the writer is done
	gone     bool // IN_DELETE or IN_MOVED_FROM
	overflow bool // IN_Q_OVERFLOW: events were lost, rescan
	lost     bool // the watch itself is gone (directory deleted or moved)
}

const watchMask = unix.IN_CLOSE_WRITE | unix.IN_MOVED_TO | unix.IN_CREATE |
	unix.IN_DELETE | unix.IN_MOVED_FROM | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF | unix.IN_ONLYDIR

// inotify watches one directory. The descriptor is non-blocking and wrapped
// in an *os.File so reads park in Go's poller and Close wakes them.
type inotify struct {
	f *os.File
}

func newInotify(dir string) (*inotify, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("inotify init: %w", err)
	}
	if _, err := unix.InotifyAddWatch(fd, dir, watchMask); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("inotify watch %s: %w", dir, err)
	}
	return &inotify{f: os.NewFile(uintptr(fd), "inotify:"+dir)}, nil
}

// run reads events until the file is closed, sending them on out. It
// closes out when it returns.
func (in *inotify) run(out chan<- fsEvent) {
	defer close(out)
	buf := make([]byte, 64*(unix.SizeofInotifyEvent+unix.NAME_MAX+1))
	for {
		n, err := in.f.Read(buf)
		if err != nil {
			if errors.Is(err, os.ErrClosed) {
				return
			}
			out <- fsEvent{lost: true}
			return
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			raw := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			nameLen := int(raw.Len)
			var name string
			if nameLen > 0 {
				b := buf[off+unix.SizeofInotifyEvent : off+unix.SizeofInotifyEvent+nameLen]
				for i, c := range b {
					if c == 0 {
						b = b[:i]
						break
					}
				}
				name = string(b)
			}
			off += unix.SizeofInotifyEvent + nameLen
			m := raw.Mask
			ev := fsEvent{
				name:     name,
				closed:   m&(unix.IN_CLOSE_WRITE|unix.IN_MOVED_TO) != 0,
				gone:     m&(unix.IN_DELETE|unix.IN_MOVED_FROM) != 0,
				overflow: m&unix.IN_Q_OVERFLOW != 0,
				lost:     m&(unix.IN_DELETE_SELF|unix.IN_MOVE_SELF|unix.IN_IGNORED|unix.IN_UNMOUNT) != 0,
			}
			if m&unix.IN_ISDIR != 0 && !ev.overflow && !ev.lost {
				continue
			}
			out <- ev
		}
	}
}

func (in *inotify) close() error { return in.f.Close() }
