module github.com/sensornode/sensornode/services/edge-forwarder

go 1.26
