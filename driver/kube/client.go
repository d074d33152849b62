// Package kube is the driver's access to the Kubernetes API: a clientset when
// there is a cluster, and event recording (events.k8s.io/v1) with a log-only
// fallback, so the driver runs with Kubernetes features off when there is none.
package kube

import (
	"errors"
	"fmt"
	"os"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// UserAgent identifies the driver in API server logs and audit records.
const UserAgent = "rds-csi"

// ErrNoCluster means there is no cluster to talk to: no --kubeconfig and not
// running in a pod. The caller runs without Kubernetes features (events,
// attachment reconciliation, leader election) and says so once in the log.
var ErrNoCluster = errors.New("no Kubernetes cluster: no kubeconfig given and not running in a pod")

// NewClientset builds a clientset from the kubeconfig file, or from the
// in-cluster service account when kubeconfig is empty and the process runs
// in a pod (KUBERNETES_SERVICE_HOST set). Otherwise it returns ErrNoCluster.
// The KUBECONFIG variable is deliberately ignored: a driver started on a
// workstation must not quietly act on whatever cluster the shell points at.
func NewClientset(kubeconfig string) (kubernetes.Interface, *rest.Config, error) {
	return newClientset(kubeconfig, os.Getenv)
}

func newClientset(kubeconfig string, getenv func(string) string) (kubernetes.Interface, *rest.Config, error) {
	var (
		cfg *rest.Config
		err error
	)
	switch {
	case kubeconfig != "":
		cfg, err = clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			return nil, nil, fmt.Errorf("loading kubeconfig %s: %w", kubeconfig, err)
		}
	case getenv("KUBERNETES_SERVICE_HOST") != "":
		cfg, err = rest.InClusterConfig()
		if err != nil {
			return nil, nil, fmt.Errorf("in-cluster configuration: %w", err)
		}
	default:
		return nil, nil, ErrNoCluster
	}
	cfg = rest.AddUserAgent(cfg, UserAgent)
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("creating the Kubernetes client: %w", err)
	}
	return cs, cfg, nil
}
