//go:build cgo && (amd64 || arm64) && !sensornode_noconfluent

package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

const confluentBuilt = true

// commonConfluent maps Config onto librdkafka properties.
func commonConfluent(c Config) (kafka.ConfigMap, error) {
	m := kafka.ConfigMap{
		"bootstrap.servers": strings.Join(c.Brokers, ","),
		"client.id":         c.ClientID,
		// Reconnect quickly when a broker comes back (cable plugged in).
		"reconnect.backoff.ms":     100,
		"reconnect.backoff.max.ms": 5000,
		"socket.keepalive.enable":  true,
		"log.connection.close":     false,
		// librdkafka (since 2.10) drops the threads of brokers it finds
		// unavailable; when every broker restarted at once a client can be
		// left with none it will dial again, and it bootstraps anew only
		// after this interval (librdkafka's default: 5 minutes, during
		// which nothing is sent). Seen in the chaos suite: a temp-producer
		// delivered nothing for 5 minutes after edge-brokers-all-down.
		"metadata.recovery.rebootstrap.trigger.ms": 10000,
	}
	proto := "PLAINTEXT"
	if c.TLS.Enabled {
		if c.TLS.ServerName != "" {
			// librdkafka verifies the broker's own host name and has no
			// override: fail clearly instead of ignoring the setting.
			return nil, fmt.Errorf("kafka client: TLS server name %q: not supported by the %s backend (use %s)", c.TLS.ServerName, BackendConfluent, BackendFranz)
		}
		proto = "SSL"
		if c.TLS.CAFile != "" {
			m["ssl.ca.location"] = c.TLS.CAFile
		}
		if c.TLS.CertFile != "" {
			m["ssl.certificate.location"] = c.TLS.CertFile
			m["ssl.key.location"] = c.TLS.KeyFile
		}
		if c.TLS.InsecureSkipVerify {
			m["enable.ssl.certificate.verification"] = false
			m["ssl.endpoint.identification.algorithm"] = "none"
		} else {
			m["ssl.endpoint.identification.algorithm"] = "https"
		}
	}
	if c.SASL.Mechanism != "" {
		if c.TLS.Enabled {
			proto = "SASL_SSL"
		} else {
			proto = "SASL_PLAINTEXT"
		}
		pw, err := c.SASL.password()
		if err != nil {
			return nil, err
		}
		m["sasl.mechanisms"] = c.SASL.Mechanism
		m["sasl.username"] = c.SASL.Username
		m["sasl.password"] = pw
	}
	m["security.protocol"] = proto
	return m, nil
}

func pingConfluent(ctx context.Context, md func(*string, bool, int) (*kafka.Metadata, error)) error {
	timeout := 5 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	if timeout < 100*time.Millisecond {
		timeout = 100 * time.Millisecond
	}
	meta, err := md(nil, false, int(timeout/time.Millisecond))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBrokersDown, err)
	}
	if len(meta.Brokers) == 0 {
		return ErrBrokersDown
	}
	return nil
}

// logBridge sends librdkafka's own log lines through the service's slog
// logger (JSON, with the service name) instead of librdkafka's default
// stderr lines. It is created before the client, whose config gets its
// channel, and stopped after the client is closed.
type logBridge struct {
	ch      chan kafka.LogEvent
	done    chan struct{}
	stopped chan struct{}
	once    sync.Once
}

func newLogBridge(m kafka.ConfigMap, log *slog.Logger) *logBridge {
	b := &logBridge{ch: make(chan kafka.LogEvent, 1000), done: make(chan struct{}), stopped: make(chan struct{})}
	m["go.logs.channel.enable"] = true
	m["go.logs.channel"] = b.ch
	go b.run(log)
	return b
}

func (b *logBridge) run(log *slog.Logger) {
	defer close(b.stopped)
	for {
		select {
		case e := <-b.ch:
			logRdkafka(log, e)
		case <-b.done:
			for {
				select {
				case e := <-b.ch:
					logRdkafka(log, e)
				default:
					return
				}
			}
		}
	}
}

// stop ends the bridge once the client no longer logs (after its Close).
func (b *logBridge) stop() {
	b.once.Do(func() { close(b.done) })
	<-b.stopped
}

// logRdkafka maps syslog levels: librdkafka reports transient connection
// failures at level 3, so 0-4 become warnings, 5-6 info, 7 debug.
func logRdkafka(log *slog.Logger, e kafka.LogEvent) {
	lvl := slog.LevelDebug
	switch {
	case e.Level <= 4:
		lvl = slog.LevelWarn
	case e.Level <= 6:
		lvl = slog.LevelInfo
	}
	log.Log(context.Background(), lvl, "librdkafka: "+e.Message, "client", e.Name, "tag", e.Tag, "syslog_level", e.Level)
}

// isConfluentAuthz: the broker's ACLs deny the operation.
func isConfluentAuthz(err error) bool {
	var ke kafka.Error
	if !errors.As(err, &ke) {
		return false
	}
	switch ke.Code() {
	case kafka.ErrTopicAuthorizationFailed, kafka.ErrGroupAuthorizationFailed,
		kafka.ErrClusterAuthorizationFailed, kafka.ErrTransactionalIDAuthorizationFailed:
		return true
	}
	return false
}

func classify(err error) error {
	var ke kafka.Error
	if !errors.As(err, &ke) {
		return err
	}
	switch ke.Code() {
	case kafka.ErrMsgTimedOut:
		return fmt.Errorf("%w: %v", ErrDeliveryTimed, ke)
	case kafka.ErrMsgSizeTooLarge, kafka.ErrRecordListTooLarge:
		return fmt.Errorf("%w: %v", ErrTooLarge, ke)
	case kafka.ErrInvalidRecord, kafka.ErrInvalidTimestamp:
		return fmt.Errorf("%w: %v", ErrInvalidRecord, ke)
	case kafka.ErrUnknownTopicOrPart, kafka.ErrUnknownTopic, kafka.ErrUnknownPartition:
		return fmt.Errorf("%w: %v", ErrUnknownTopic, ke)
	case kafka.ErrAllBrokersDown:
		return fmt.Errorf("%w: %v", ErrBrokersDown, ke)
	case kafka.ErrPurgeQueue, kafka.ErrPurgeInflight:
		return fmt.Errorf("%w: %v", ErrClosed, ke) // failed by Close
	case kafka.ErrFatal: // a message failed by a fatal error (not always flagged fatal)
		return fmt.Errorf("%w: %v", ErrFatal, ke)
	}
	if isConfluentAuthz(ke) {
		return notAuthorized(ke)
	}
	if ke.IsFatal() {
		return fmt.Errorf("%w: %v", ErrFatal, ke)
	}
	return err
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// statsIntervalMs is librdkafka's statistics.interval.ms for o.
func statsIntervalMs(o options) int {
	return max(1, int(o.statsInterval/time.Millisecond))
}

// confluentStats sets m's buffered gauges from a librdkafka statistics
// event; one it cannot read is counted and logged, and the gauges keep
// their last values.
func confluentStats(m *Metrics, log *slog.Logger, e *kafka.Stats) {
	msgs, bytes, err := rdkafkaBuffered([]byte(e.String()))
	if err != nil {
		m.error("stats")
		log.Warn("kafka client: statistics unreadable", "err", err)
		return
	}
	m.buffered(msgs, bytes)
}
