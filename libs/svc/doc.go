// Package svc is the shared runtime of every sensornode service: the single
// exit point (Main), configuration from the environment with validation,
// JSON logging, a Prometheus registry with build info, the admin HTTP server
// with /metrics, /livez and /readyz, readiness conditions and backoff.
//
// Only Main and LoadConfig touch the process environment; everything else
// takes its inputs as arguments.
package svc
