#!/bin/bash
# Interleaved A/B of cloud-ingest-hdfs's bundle drain (BenchmarkIntegrationBundleDrainKafka)
# with the consumer's fetch bounds: old (16 MiB / 8 MiB), 1 MiB (the former default), 4 MiB (the new one).
export SENSORNODE_DEVSTACK_DIR=/work/main/.devstack
for round in 1 2 3 4 5 6; do
  for size in 1280x720:204 640x480:600; do
    for backend in confluent franz; do
      for v in old:16777216:8388608 fetch1m:4194304:1048576 fetch4m:4194304:4194304; do
        IFS=: read name q f <<<"$v"
        line=$(SENSORNODE_TEST_KAFKA_BACKEND=$backend BENCH_QUEUE_BYTES=$q BENCH_FETCH_BYTES=$f BENCH_SIZE=${size%%:*} \
          ./ingest.test -test.run '^$' -test.bench BenchmarkIntegrationBundleDrainKafka -test.benchtime ${size##*:}x 2>&1 | grep '^BenchmarkIntegrationBundleDrainKafka')
        echo "$round ${size%%:*} $backend $name $line"
      done
    done
  done
done
