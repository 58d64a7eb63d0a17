// Package kube installs the Helm chart into a real Kubernetes control plane
// with simulated nodes (tools/kubestack) and checks what the API server,
// the controllers and the scheduler made of it. Run by `make e2e-kube`
// (build tag integration, test names TestKube*, so `make test`'s
// `-run '^TestIntegration'` leaves them out).
package kube
