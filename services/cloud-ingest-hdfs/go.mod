module github.com/sensornode/sensornode/services/cloud-ingest-hdfs

go 1.26
