package forwarder

import (
	"fmt"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/messages"
)

// transform maps an edge message to what the cloud gets: the same bytes on
// the mapped topic, a re-encoded form, or a dead letter when transcoding
// is asked for and the message cannot be decoded, when the result is larger
// than the cloud's limit, or when cause is not nil (an earlier delivery
// failed permanently). dead says the result is a dead letter; err is set
// only when not even a dead letter fits (permanent).
//
// Every result is built by bus.Republished or bus.DeadLetter: the record
// timestamp is left to the cloud client and the edge timestamp travels in
// the sn-orig-time header. An edge timestamp would make a backlog that
// waited out a long outage look old to the cloud topic's time-based
// retention, and the franz client counts its delivery timeout from the
// record timestamp, so re-sent old records would time out at once.
func (f *Forwarder) transform(msg *bus.Message, cause error) (out *bus.Message, dead bool, err error) {
	r, err := route(f.routes, msg.Topic)
	if err != nil {
		return f.deadLetter(msg, f.cfg.CloudPictureTopic, err)
	}
	if cause != nil {
		return f.deadLetter(msg, r.Cloud, cause)
	}
	if f.form == 0 {
		out = bus.Republished(msg, r.Cloud)
	} else {
		var enc messages.Encoded
		switch r.Kind {
		case messages.KindPicture:
			var p messages.Picture
			if p, err = messages.DecodePicture(msg.Value, msg.Headers, f.cfg.MaxPictureBytes); err == nil {
				enc, err = messages.EncodePicture(p, f.form)
			}
		default:
			var t messages.TemperatureReading
			if t, err = messages.DecodeTemperature(msg.Value, msg.Headers); err == nil {
				enc, err = messages.EncodeTemperature(t, f.form)
			}
		}
		if err != nil {
			return f.deadLetter(msg, r.Cloud, err)
		}
		// The original time travels like that of a passed-through message.
		out = bus.Republished(&bus.Message{Key: enc.Key, Value: enc.Value, Headers: enc.Headers, Timestamp: msg.Timestamp}, r.Cloud)
	}
	if size := out.Size(); size > f.cfg.Cloud.MaxMessageBytes {
		// Transcoding can grow a message (base64 in JSON): the cloud
		// would refuse it, now and on every retry.
		return f.deadLetter(msg, r.Cloud, fmt.Errorf("%s on %s: %d bytes > SENSORNODE_CLOUD_KAFKA_MAX_MESSAGE_BYTES %d: %w",
			f.cfg.Form, r.Cloud, size, f.cfg.Cloud.MaxMessageBytes, messages.ErrTooLarge))
	}
	return out, false, nil
}

// cloudTopicOf returns the cloud topic of an edge topic (the picture topic
// when it has no route).
func (f *Forwarder) cloudTopicOf(edgeTopic string) string {
	if r, err := route(f.routes, edgeTopic); err == nil {
		return r.Cloud
	}
	return f.cfg.CloudPictureTopic
}

// deadLetter builds (bus.DeadLetter: cut to the cloud limit if needed) the
// dead letter of msg for the dead-letter topic of cloudTopic.
func (f *Forwarder) deadLetter(msg *bus.Message, cloudTopic string, cause error) (*bus.Message, bool, error) {
	reason := messages.Reason(cause)
	f.m.deadLettered.WithLabelValues(reason).Inc()
	f.log.Warn("message cannot be forwarded; sending it to the dead-letter topic",
		"topic", msg.Topic, "partition", msg.Partition, "offset", msg.Offset, "reason", reason, "err", cause)
	out, err := bus.DeadLetter(msg, messages.DeadLetterTopic(cloudTopic), cause, f.cfg.Cloud.MaxMessageBytes)
	if err != nil {
		return nil, true, fmt.Errorf("%w: %w", bus.ErrTooLarge, err)
	}
	return out, true, nil
}
