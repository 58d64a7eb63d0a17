module github.com/sensornode/sensornode/services/edge-forwarder

go 1.26.0

require (
	github.com/prometheus/client_golang v1.25.0
	go.uber.org/goleak v1.3.0
	golang.org/x/sync v0.25.0
)
