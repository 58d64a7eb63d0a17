#!/bin/sh
# usage: bench.sh round ; runs before/after x partitions 1,4 x backend, 640x480, 1200 pictures
cd /work/wt/bundlepar/services/cloud-ingest-hdfs/internal/ingest
export SENSORNODE_DEVSTACK_DIR=/work/main/.devstack
r=$1
for b in confluent franz; do
 for p in 4 1; do
  for v in before after; do
   echo "=== round $r backend $b partitions $p code $v start $(date -u +%T) load $(cut -d' ' -f1 /proc/loadavg)"
   SENSORNODE_TEST_KAFKA_BACKEND=$b BENCH_PARTITIONS=$p /tmp/bp/$v.test -test.run '^$' -test.bench 'BenchmarkIntegrationBundleDrainKafka$' -test.benchtime 1200x 2>&1 | grep -E "^Benchmark|FAIL|panic"
  done
 done
done
