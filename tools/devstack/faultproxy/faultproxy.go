// Package faultproxy is a TCP proxy on 127.0.0.1 whose link can be cut and
// restored, to make a server unreachable while it keeps running.
//
// Kafka clients connect to the addresses brokers advertise, not to the
// bootstrap address, so a proxy only carries a Kafka client's traffic if the
// broker advertises the proxy's address: devstack's cloud broker has such a
// listener (devstack.Stack.CloudProxiedBootstrap).
package faultproxy

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// ErrClosed is returned by Restore after Close.
var ErrClosed = errors.New("faultproxy: closed")

// Proxy forwards every connection accepted on its address to a target.
type Proxy struct {
	addr   string
	target string

	mu     sync.Mutex
	ln     net.Listener // nil while cut
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup // accept loops and copy goroutines
}

// New listens on listenAddr (host:port; port 0 picks one) and forwards to
// target.
func New(listenAddr, target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", listenAddr)
	if err != nil {
		return nil, fmt.Errorf("faultproxy: %w", err)
	}
	p := &Proxy{addr: ln.Addr().String(), target: target, conns: make(map[net.Conn]struct{})}
	p.serve(ln)
	return p, nil
}

// Addr is the address the proxy listens on, also while cut.
func (p *Proxy) Addr() string { return p.addr }

// Target is where the proxy forwards to.
func (p *Proxy) Target() string { return p.target }

func (p *Proxy) serve(ln net.Listener) {
	p.ln = ln
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return // listener closed by Cut or Close
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.handle(c)
			}()
		}
	}()
}

// handle dials the target and starts copying both ways.
func (p *Proxy) handle(client net.Conn) {
	server, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		reset(client)
		return
	}
	p.mu.Lock()
	if p.ln == nil || p.closed {
		p.mu.Unlock()
		reset(client)
		reset(server)
		return
	}
	p.conns[client] = struct{}{}
	p.conns[server] = struct{}{}
	p.wg.Add(2)
	p.mu.Unlock()
	var once sync.Once
	done := func() {
		once.Do(func() {
			p.mu.Lock()
			delete(p.conns, client)
			delete(p.conns, server)
			p.mu.Unlock()
			client.Close()
			server.Close()
		})
	}
	pipe := func(dst, src net.Conn) {
		defer p.wg.Done()
		defer done()
		_, _ = io.Copy(dst, src)
	}
	go pipe(server, client)
	go pipe(client, server)
}

// Cut drops every connection (with a TCP reset) and closes the listener, so
// new connections are refused until Restore.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cutLocked()
}

func (p *Proxy) cutLocked() {
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		reset(c)
		delete(p.conns, c)
	}
}

// Restore listens again on the same address after Cut; it is a no-op if the
// link is up.
func (p *Proxy) Restore() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	if p.ln != nil {
		return nil
	}
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		return fmt.Errorf("faultproxy: restore: %w", err)
	}
	p.serve(ln)
	return nil
}

// IsCut reports whether the link is cut.
func (p *Proxy) IsCut() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ln == nil
}

// Close cuts the link for good and waits for every goroutine of the proxy.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	p.cutLocked()
	p.mu.Unlock()
	p.wg.Wait()
	return nil
}

// reset closes a connection with RST rather than FIN, like a dropped link.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	c.Close()
}
