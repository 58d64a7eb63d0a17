package forwarder

import (
	"errors"

	"github.com/sensornode/sensornode/libs/bus"
)

// action is what a failed delivery leads to.
type action int

const (
	// actRetry: transient (cloud down, timeout, topic not known yet);
	// the partition is rewound and sent again with a growing backoff.
	actRetry action = iota
	// actDeadLetter: retrying the message cannot help (too large for the
	// cloud, refused); it goes to the dead-letter topic when it comes again.
	actDeadLetter
	// actStop: the message can be neither delivered nor dead-lettered
	// (dead-letter topic missing, dead letter refused): only its partition
	// stops, loudly, and is retried slowly until the operator fixes it.
	actStop
)

// Stop reasons (label of sensornode_forwarder_partition_stops_total).
const (
	stopDLQMissing  = "dead-letter-topic-missing"
	stopDLQTooLarge = "dead-letter-too-large"
	stopDLQRefused  = "dead-letter-refused"
	stopTopicGone   = "topic-missing"
)

func stopReasons() []string {
	return []string{stopDLQMissing, stopDLQTooLarge, stopDLQRefused, stopTopicGone}
}

// classify says what the failed delivery of a message (deadLetter: of a
// dead letter) with err leads to, and, for actStop, why.
func classify(err error, deadLetter bool) (action, string) {
	missing := errors.Is(err, bus.ErrUnknownTopic)
	switch {
	case deadLetter && missing:
		// The client looked the topic up and the cluster does not have
		// it: retry slowly, the operator has to create it.
		return actStop, stopDLQMissing
	case deadLetter && errors.Is(err, bus.ErrTooLarge):
		return actStop, stopDLQTooLarge
	case deadLetter && bus.IsPermanent(err):
		return actStop, stopDLQRefused
	case missing && bus.IsPermanent(err):
		// A confirmed-missing cloud topic: dead-lettering good data would
		// be wrong; wait for the topic.
		return actStop, stopTopicGone
	case bus.IsPermanent(err):
		return actDeadLetter, ""
	}
	return actRetry, ""
}
