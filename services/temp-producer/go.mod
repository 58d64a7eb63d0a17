module github.com/sensornode/sensornode/services/temp-producer

go 1.26
