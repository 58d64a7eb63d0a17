package kubestack

import (
	"context"
	"fmt"
	"net/http"
)

// kwokNodeAnnotation marks a node as kwok's (kwokctl's convention; each
// node's kwok manages it by name).
const kwokNodeAnnotation = "kwok.x-k8s.io/node"

// numNodes is len(Nodes).
const numNodes = 5

// Node is one simulated board.
type Node struct {
	Name   string
	Master bool // a Kubernetes master that also runs workloads (thesis ch. 3)
}

// Nodes are the thesis's five boards under the names the chart's default
// nodes[].hostname uses (deploy/helm/sensornode/values.yaml), which pins
// per-node pods with nodeSelector kubernetes.io/hostname=<name>.
var Nodes = []Node{
	{"rpi-master-1", true},
	{"rpi-master-2", true},
	{"rpi-master-3", true},
	{"rpi-node-1", false},
	{"rpi-node-2", false},
}

// nodeObject is the Node kwok then keeps Ready: labelled like a kubelet
// labels its node, with a Raspberry Pi 2's capacity (4 cores, 1 GiB), so
// the chart's requests must fit a board. Masters carry the control-plane
// role label but no taint: in the thesis they run workloads too.
func nodeObject(n Node) map[string]any {
	labels := map[string]string{
		"kubernetes.io/hostname": n.Name,
		"kubernetes.io/os":       "linux",
		"kubernetes.io/arch":     "arm",
		"type":                   "kwok",
	}
	if n.Master {
		labels["node-role.kubernetes.io/control-plane"] = ""
	}
	res := map[string]string{"cpu": "4", "memory": "1Gi", "pods": "110"}
	return map[string]any{
		"apiVersion": "v1",
		"kind":       "Node",
		"metadata": map[string]any{
			"name":        n.Name,
			"labels":      labels,
			"annotations": map[string]string{kwokNodeAnnotation: "fake"},
		},
		"status": map[string]any{
			"capacity":    res,
			"allocatable": res,
			"nodeInfo":    map[string]string{"architecture": "arm", "operatingSystem": "linux"},
		},
	}
}

func createNodes(ctx context.Context, c *Client) error {
	for _, n := range Nodes {
		if err := c.Do(ctx, http.MethodPost, "/api/v1/nodes", nodeObject(n), nil); err != nil {
			return fmt.Errorf("create node %s: %w", n.Name, err)
		}
	}
	return nil
}

type nodeList struct {
	Items []struct {
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
		Status struct {
			Conditions []struct {
				Type   string `json:"type"`
				Status string `json:"status"`
			} `json:"conditions"`
		} `json:"status"`
	} `json:"items"`
}

// nodesReady fails unless every node of Nodes is Ready.
func nodesReady(ctx context.Context, c *Client) error {
	var l nodeList
	if err := c.Get(ctx, "/api/v1/nodes", &l); err != nil {
		return err
	}
	ready := map[string]bool{}
	for _, it := range l.Items {
		for _, cond := range it.Status.Conditions {
			if cond.Type == "Ready" && cond.Status == "True" {
				ready[it.Metadata.Name] = true
			}
		}
	}
	for _, n := range Nodes {
		if !ready[n.Name] {
			return fmt.Errorf("node %s not Ready", n.Name)
		}
	}
	return nil
}
