package bus

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/sensornode/sensornode/libs/messages"
)

// ErrPermanent marks a failure that retrying the same message cannot fix
// (the message is too large for its topic, a topic is missing, access is
// denied). Services dead-letter the message, or, when even that is
// impossible, stop only its partition, loudly; they never retry it in a
// tight loop and never skip it silently.
var ErrPermanent = errors.New("permanent failure")

// Permanent marks err as permanent (see ErrPermanent). Nil stays nil.
func Permanent(err error) error {
	if err == nil || errors.Is(err, ErrPermanent) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrPermanent, err)
}

// IsPermanent reports whether retrying the message that caused err cannot
// help: err is marked ErrPermanent, or is ErrTooLarge (the client's or the
// broker's limit), ErrNotAuthorized or ErrInvalidRecord. A missing topic
// is permanent only once the backend confirmed its absence (see
// confirmMissing). Everything else (brokers down, timeouts, a topic not
// known yet) is transient. See the README's classification table.
func IsPermanent(err error) bool {
	return errors.Is(err, ErrPermanent) || errors.Is(err, ErrTooLarge) ||
		errors.Is(err, ErrNotAuthorized) || errors.Is(err, ErrInvalidRecord)
}

// notAuthorized marks a client's authorization error (kept in the chain)
// as ErrNotAuthorized and permanent.
func notAuthorized(err error) error {
	return fmt.Errorf("%w: %w: %w", ErrPermanent, ErrNotAuthorized, err)
}

// confirmMissing turns a delivery error that says the topic is unknown into
// a permanent one when a fresh metadata request (exists) confirms that the
// topic does not exist. Kafka calls UNKNOWN_TOPIC_OR_PARTITION retriable
// because a new topic takes a moment to reach every broker, and both
// clients already retried it (franz-go a few metadata rounds, librdkafka
// topic.metadata.propagation.max.ms); asking once more, after that, tells
// a topic still propagating (or a broker that cannot answer: transient)
// from one that is absent. ErrUnknownTopic stays in the chain.
func confirmMissing(err error, topic string, exists func(topic string) (bool, error)) error {
	if err == nil || !errors.Is(err, ErrUnknownTopic) || errors.Is(err, ErrPermanent) {
		return err
	}
	ok, merr := exists(topic)
	if merr != nil || ok {
		return err
	}
	return Permanent(fmt.Errorf("topic %s does not exist (confirmed by metadata): %w", topic, err))
}

// dlqOverhead is what a record costs on top of Message.Size (record and
// batch headers, varints): kept free when fitting a dead letter into its
// topic's limit.
const dlqOverhead = 4096

// maxDLQErrorBytes bounds the error text a dead letter carries.
const maxDLQErrorBytes = 1024

// Republished returns a copy of msg for topic with the key, value and
// headers of msg and a zero Timestamp, so the client stamps it now: franz-go
// counts the delivery timeout from a record's timestamp and brokers expire
// records by it, so an old timestamp would make a re-published backlog fail
// or vanish early. The original timestamp, when msg has one, travels in
// messages.HeaderOrigTime (an existing one is kept: the first hop's time
// wins).
func Republished(msg *Message, topic string) *Message {
	hs := append(make([]messages.Header, 0, len(msg.Headers)+1), msg.Headers...)
	if !msg.Timestamp.IsZero() && !hasHeader(hs, messages.HeaderOrigTime) {
		hs = append(hs, messages.Header{Key: messages.HeaderOrigTime, Value: []byte(msg.Timestamp.UTC().Format(time.RFC3339Nano))})
	}
	return &Message{Topic: topic, Key: msg.Key, Value: msg.Value, Headers: hs}
}

// DeadLetter builds the dead-letter record of msg, which failed with
// cause, for the dead-letter topic dlq whose records may weigh at most
// maxBytes (its max.message.bytes): msg re-published (see Republished) with
// the reason (messages.Reason), the error text, the original topic and
// partition:offset in headers. When that is too large, the value is cut
// (messages.HeaderDLQTruncated holds its original size); when the key and
// headers alone are too large, the original headers are dropped and the key
// cut (messages.HeaderDLQHeadersDropped counts the dropped headers;
// the original time is kept). Only when even the bare dead-letter
// headers do not fit does it fail, with an error marked ErrPermanent.
func DeadLetter(msg *Message, dlq string, cause error, maxBytes int) (*Message, error) {
	orig := Republished(msg, dlq)
	meta := []messages.Header{
		{Key: messages.HeaderDLQReason, Value: []byte(messages.Reason(cause))},
		{Key: messages.HeaderDLQError, Value: []byte(truncateText(cause.Error(), maxDLQErrorBytes))},
		{Key: messages.HeaderDLQTopic, Value: []byte(msg.Topic)},
		{Key: messages.HeaderDLQOffset, Value: []byte(strconv.Itoa(int(msg.Partition)) + ":" + strconv.FormatInt(msg.Offset, 10))},
	}
	out := &Message{Topic: dlq, Key: orig.Key, Value: orig.Value, Headers: append(orig.Headers, meta...)}
	limit := maxBytes - dlqOverhead
	if out.Size() <= limit {
		return out, nil
	}
	truncated := messages.Header{Key: messages.HeaderDLQTruncated, Value: []byte(strconv.Itoa(len(msg.Value)))}
	out.Headers = append(out.Headers, truncated)
	if rest := out.Size() - len(out.Value); rest <= limit {
		out.Value = out.Value[:limit-rest]
		return out, nil
	}
	// Key and headers alone are too large: keep only what identifies the
	// message and why it failed.
	out.Value = nil
	out.Headers = append(append([]messages.Header(nil), meta...), truncated)
	dropped := len(orig.Headers)
	for _, h := range orig.Headers {
		if h.Key == messages.HeaderOrigTime {
			out.Headers = append(out.Headers, h)
			dropped--
		}
	}
	out.Headers = append(out.Headers, messages.Header{Key: messages.HeaderDLQHeadersDropped, Value: []byte(strconv.Itoa(dropped))})
	if rest := out.Size() - len(out.Key); rest <= limit {
		out.Key = out.Key[:min(len(out.Key), limit-rest)]
		return out, nil
	}
	return nil, Permanent(fmt.Errorf("dead letter for %s: %d bytes of dead-letter headers exceed the limit of %d",
		dlq, out.Size()-len(out.Key), maxBytes))
}

func hasHeader(hs []messages.Header, key string) bool {
	for _, h := range hs {
		if h.Key == key {
			return true
		}
	}
	return false
}

func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
