package watcher

import (
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// Health states of a fake API server.
const (
	healthy = "200"
	failing = "500"
	closed  = "closed"
)

// fakeAPI is a real HTTP server on loopback standing in for a Kubernetes
// API server: /readyz answers 200 or 500 as the test says, /whoami names the
// server, and "closed" shuts the listener and every connection (connection
// refused) until the server is opened again on the same port.
type fakeAPI struct {
	t    *testing.T
	name string
	addr string

	mu    sync.Mutex
	state string
	flap  bool          // alternate 200 and 500 on every /readyz, starting with 500
	delay time.Duration // /readyz answers after this long
	n     int
	srv   *http.Server
	done  chan struct{}
}

func newFakeAPI(t *testing.T, name string) *fakeAPI {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeAPI{t: t, name: name, addr: ln.Addr().String(), state: healthy}
	f.serve(ln)
	t.Cleanup(func() { f.set(closed) })
	return f
}

func (f *fakeAPI) url() string { return "http://" + f.addr }

func (f *fakeAPI) serve(ln net.Listener) {
	mux := http.NewServeMux()
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		code := http.StatusOK
		if f.state == failing {
			code = http.StatusInternalServerError
		}
		if f.flap {
			f.n++
			if f.n%2 == 1 {
				code = http.StatusInternalServerError
			} else {
				code = http.StatusOK
			}
		}
		delay := f.delay
		f.mu.Unlock()
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
			}
		}
		w.WriteHeader(code)
		fmt.Fprintln(w, http.StatusText(code))
	})
	mux.HandleFunc("/whoami", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, f.name)
	})
	f.srv = &http.Server{Handler: mux, ErrorLog: log.New(io.Discard, "", 0)}
	f.done = make(chan struct{})
	srv, done := f.srv, f.done
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
}

// set switches the health state; closed <-> open rebinds the same port.
func (f *fakeAPI) set(state string) {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	was := f.state
	f.state = state
	switch {
	case state == closed && was != closed:
		f.srv.Close() // listener and every connection
		<-f.done
	case state != closed && was == closed:
		ln, err := net.Listen("tcp", f.addr)
		if err != nil {
			f.t.Fatalf("reopen %s on %s: %v", f.name, f.addr, err)
		}
		f.serve(ln)
	}
}

func (f *fakeAPI) setFlapping(on bool) {
	f.mu.Lock()
	f.flap, f.n = on, 0
	f.mu.Unlock()
}
