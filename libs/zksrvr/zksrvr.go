// Package zksrvr asks a ZooKeeper server for its mode (leader, follower,
// observer or standalone) with the srvr four-letter word, the one 4lw
// ZooKeeper allows by default. master-watcher's quorum wait (zkwait) and
// the devstack's health checks ask through this one client.
package zksrvr

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
)

// maxAnswer bounds the bytes read of an answer (a srvr answer is a few
// hundred).
const maxAnswer = 64 << 10

// Mode asks the server at addr for its mode; ctx bounds the dial and the
// answer. A server outside a quorum answers without a mode: an error (see
// ParseMode). Network errors are the bare cause ("connection refused",
// "i/o timeout"), without the dial's addresses.
func Mode(ctx context.Context, addr string) (string, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", shortNetErr(err)
	}
	defer c.Close()
	dl, _ := ctx.Deadline()
	c.SetDeadline(dl)
	if _, err := io.WriteString(c, "srvr"); err != nil {
		return "", shortNetErr(err)
	}
	b, err := io.ReadAll(io.LimitReader(c, maxAnswer))
	if err != nil && len(b) == 0 {
		return "", shortNetErr(err)
	}
	return ParseMode(string(b))
}

// ParseMode returns the Mode of a srvr answer. Without one the error says
// why where the answer tells: not serving (no quorum), srvr not allowed,
// empty.
func ParseMode(answer string) (string, error) {
	sc := bufio.NewScanner(strings.NewReader(answer))
	for sc.Scan() {
		if mode, ok := strings.CutPrefix(sc.Text(), "Mode: "); ok {
			return strings.TrimSpace(mode), nil
		}
	}
	answer = strings.TrimSpace(answer)
	switch {
	case answer == "":
		return "", errors.New("empty answer")
	case strings.Contains(answer, "not currently serving"):
		return "", errors.New("not serving (no quorum)")
	case strings.Contains(answer, "whitelist") || strings.Contains(answer, "allow list"):
		return "", errors.New("srvr not allowed (4lw.commands.whitelist); use the session method")
	}
	if len(answer) > 80 {
		answer = answer[:80] + "..."
	}
	return "", fmt.Errorf("no mode in answer %q", answer)
}

func shortNetErr(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}
