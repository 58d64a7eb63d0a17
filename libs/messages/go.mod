module github.com/sensornode/sensornode/libs/messages

go 1.26
