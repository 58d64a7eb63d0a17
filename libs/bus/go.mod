module github.com/sensornode/sensornode/libs/bus

go 1.26.0

require (
	github.com/confluentinc/confluent-kafka-go/v2 v2.11.1 // indirect
	github.com/prometheus/client_golang v1.25.0 // indirect
)
