package messages

import (
	"fmt"
	"regexp"
	"strconv"
)

// Topic names and defaults, in one place.
const (
	// TopicCamera is the cloud topic all pictures are forwarded to.
	TopicCamera = "cameraData"
	// TopicTemperature is the cloud topic all readings are forwarded to.
	TopicTemperature = "temperatureData"
	// TopicLocalTemperature is the edge topic temp-producer writes to, so
	// readings survive an Internet outage; edge-forwarder carries them to
	// TopicTemperature.
	TopicLocalTemperature = "temperatureLocal"
	// NodeTopicPattern matches the edge picture topics node1..nodeN.
	NodeTopicPattern = `^node[0-9]+$`
	// DefaultNodes is the number of nodes of the original design.
	DefaultNodes = 5
	// DeadLetterSuffix is appended to a topic name to name its dead-letter
	// topic: cameraData-dlq.
	DeadLetterSuffix = "-dlq"
	// DefaultReplicationFactor is the replication factor of every edge topic.
	DefaultReplicationFactor = 3
)

var (
	nodeTopicRE    = regexp.MustCompile(NodeTopicPattern)
	trailingNumber = regexp.MustCompile(`[0-9]+$`)
)

// NodeNumber is the number a node id ends in: 3 for "node3". ok is false
// when the id does not end in a digit.
func NodeNumber(nodeID string) (n int, ok bool) {
	m := trailingNumber.FindString(nodeID)
	if m == "" {
		return 0, false
	}
	n, _ = strconv.Atoi(m)
	return n, true
}

// NodeTopic is the edge picture topic of node n (1-based): "node3".
func NodeTopic(n int) string { return fmt.Sprintf("node%d", n) }

// NodeTopics lists node1..nodeN.
func NodeTopics(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = NodeTopic(i + 1)
	}
	return out
}

// IsNodeTopic reports whether topic matches NodeTopicPattern.
func IsNodeTopic(topic string) bool { return nodeTopicRE.MatchString(topic) }

// DeadLetterTopic names the dead-letter topic of topic.
func DeadLetterTopic(topic string) string { return topic + DeadLetterSuffix }

// CameraID is the camera of node n in the original design: "C3".
func CameraID(n int) string { return fmt.Sprintf("C%d", n) }
