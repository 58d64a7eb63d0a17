module github.com/sensornode/sensornode/e2e

go 1.26.0

require (
	github.com/colinmarc/hdfs/v2 v2.4.0
	github.com/confluentinc/confluent-kafka-go/v2 v2.11.1
)
