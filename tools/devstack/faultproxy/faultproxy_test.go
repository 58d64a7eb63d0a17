package faultproxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"
)

// echoServer echoes lines until closed.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return ln.Addr().String()
}

func roundTrip(c net.Conn, msg string) (string, error) {
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return "", err
	}
	if _, err := io.WriteString(c, msg+"\n"); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return line, err
}

func TestProxyCutRestore(t *testing.T) {
	p, err := New("127.0.0.1:0", echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got, err := roundTrip(c, "hello"); err != nil || got != "hello\n" {
		t.Fatalf("roundTrip(hello) = %q, %v, want hello", got, err)
	}

	p.Cut()
	if !p.IsCut() {
		t.Errorf("IsCut() = false after Cut")
	}
	if _, err := roundTrip(c, "after cut"); err == nil {
		t.Errorf("roundTrip on a cut connection = nil error, want one")
	}
	if c2, err := net.Dial("tcp", p.Addr()); err == nil {
		c2.Close()
		t.Errorf("Dial(%s) while cut succeeded, want connection refused", p.Addr())
	} else if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("Dial while cut = %v, want ECONNREFUSED", err)
	}

	if err := p.Restore(); err != nil {
		t.Fatalf("Restore() = %v", err)
	}
	c3, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatalf("Dial after Restore: %v", err)
	}
	defer c3.Close()
	if got, err := roundTrip(c3, "again"); err != nil || got != "again\n" {
		t.Fatalf("roundTrip(again) = %q, %v, want again", got, err)
	}
}

func TestProxyTargetDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target := ln.Addr().String()
	ln.Close() // nothing listens there now
	p, err := New("127.0.0.1:0", target)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	// The proxy accepts, fails to dial the target and resets the client:
	// the client sees an error on dial or on its first round trip.
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		return
	}
	defer c.Close()
	if _, err := roundTrip(c, "x"); err == nil {
		t.Errorf("roundTrip through a proxy to a dead target = nil error, want one")
	}
}

func TestProxyRestoreAfterClose(t *testing.T) {
	p, err := New("127.0.0.1:0", echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Restore(); !errors.Is(err, ErrClosed) {
		t.Errorf("Restore() after Close = %v, want ErrClosed", err)
	}
}
