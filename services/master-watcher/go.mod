module github.com/sensornode/sensornode/services/master-watcher

go 1.26
