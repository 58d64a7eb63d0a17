// Package e2e holds the end-to-end tests of the edge-to-HDFS path: simulated
// nodes produce pictures and readings to the edge cluster, the real
// edge-forwarder and cloud-ingest-hdfs binaries (built by the tests, run as
// subprocesses so they can be killed with SIGKILL) carry them to HDFS, and
// the tests check that HDFS holds every picture byte-identical and every
// reading exactly once, through outages and crashes. Run with
// `go test -tags integration` against devstack.
package e2e
