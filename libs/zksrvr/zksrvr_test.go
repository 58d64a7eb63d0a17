package zksrvr

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

const srvrFollower = "Zookeeper version: 3.8.4-9316c2a7a97e1666d8f4593f34dd6fc36ecc436c, built on 2024-02-12 22:16 UTC\n" +
	"Latency min/avg/max: 0/0.5/3\nReceived: 10\nSent: 9\nConnections: 1\nOutstanding: 0\nZxid: 0x100000002\nMode: follower\nNode count: 5\n"

func TestParseMode(t *testing.T) {
	tests := []struct {
		name, give, want, wantErr string
	}{
		{name: "follower", give: srvrFollower, want: "follower"},
		{name: "leader", give: strings.Replace(srvrFollower, "Mode: follower", "Mode: leader", 1), want: "leader"},
		{name: "standalone", give: "Mode: standalone\n", want: "standalone"},
		{name: "not serving", give: "This ZooKeeper instance is not currently serving requests\n", wantErr: "not serving"},
		{name: "not allowed", give: "srvr is not executed because it is not in the whitelist.\n", wantErr: "4lw.commands.whitelist"},
		{name: "empty", give: "", wantErr: "empty answer"},
		{name: "garbage", give: "garbage", wantErr: `no mode in answer "garbage"`},
		{name: "long garbage cut", give: strings.Repeat("x", 100), wantErr: strings.Repeat("x", 80) + `..."`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseMode(tt.give)
			if got != tt.want || (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("ParseMode(%.30q) = %q, %v; want %q, error containing %q", tt.give, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// Mode sends srvr and parses the answer; a closed port is the bare cause.
func TestMode(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			served <- err.Error()
			return
		}
		defer c.Close()
		buf := make([]byte, 4)
		_, _ = io.ReadFull(c, buf)
		served <- string(buf)
		_, _ = io.WriteString(c, srvrFollower)
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if got, err := Mode(ctx, ln.Addr().String()); got != "follower" || err != nil {
		t.Errorf("Mode() = %q, %v; want follower", got, err)
	}
	if got := <-served; got != "srvr" {
		t.Errorf("server read %q, want srvr", got)
	}
	addr := ln.Addr().String()
	ln.Close()
	if _, err := Mode(ctx, addr); err == nil || strings.Contains(err.Error(), addr) {
		t.Errorf("Mode() on a closed port = %v, want an error without the address", err)
	}
}
