#!/bin/bash
# poll-loop.sh round backend size pictures pictures_per_s: the poll loop's (Ingester.Run) CPU and blocking in one
# BenchmarkIntegrationBundleDrainKafka run, from $PROF/p<round>-<backend>-<size>.{prof,block} and $PROF/ingest-base.test (README.md).
r=$1 b=$2 s=$3 n=$4 rate=$5
P=${PROF:-/tmp/ip2}/p$r-$b-$s
drain=$(echo "$n / $rate * 1000" | bc -l)
cpu() { go tool pprof -unit=ms -top -cum -focus "$1" -nodecount=400 ${PROF:-/tmp/ip2}/ingest-base.test $P.prof 2>/dev/null | awk -v pat="$2" '$0 ~ pat {gsub("ms","",$4); print $4; exit}'; }
blk() { go tool pprof -unit=ms -top -cum -focus "$1" -nodecount=400 ${PROF:-/tmp/ip2}/ingest-base.test $P.block 2>/dev/null | awk -v pat="$2" '$0 ~ pat {gsub("ms","",$4); print $4; exit}'; }
run=$(cpu 'Ingester..Run' 'Ingester\\).Run$'); sha=$(cpu 'Ingester..Run' 'crypto/sha256.Sum256'); app=$(cpu 'Ingester..Run' 'bundle.\\(\\*Writer\\).Append$'); mm=$(cpu 'Ingester..Run' 'runtime.memmove$')
q=$(blk 'Ingester..Run' 'asyncWriter\\).Write$'); w=$(blk 'Ingester..Run' 'asyncWriter\\).wait'); pl=$(blk 'Ingester..Run' 'Poll$')
wcpu=$(cpu 'asyncWriter..run' 'asyncWriter\\).run$'); wack=$(blk 'asyncWriter..run' 'blockWriteStream\\).flush$'); wcl=$(blk 'asyncWriter..run' 'timingWriter\\).Close$')
printf "%s %-9s %-8s drain %6.0f ms | loop cpu %4s (sha %s, memmove %s, append %s) | loop blocked: queue %s, close-wait %s, poll %s | writer cpu %s, acks %s, close %s\n" $r $b $s $drain "${run:-0}" "${sha:-0}" "${mm:-0}" "${app:-0}" "${q:-0}" "${w:-0}" "${pl:-0}" "${wcpu:-0}" "${wack:-0}" "${wcl:-0}"
