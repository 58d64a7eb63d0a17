module github.com/sensornode/sensornode/services/camera-producer

go 1.26
