package check

import (
	"encoding/json"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// MonitoringGroupVersion is GKE Managed Prometheus's API (PodMonitoring).
var MonitoringGroupVersion = schema.GroupVersion{Group: "monitoring.googleapis.com", Version: "v1"}

// PodMonitoring is the part of GKE Managed Prometheus's PodMonitoring that the manifests use; any
// other field fails the strict decoding, like an unknown field of a built-in kind.
// Reference: https://github.com/GoogleCloudPlatform/prometheus-engine/blob/main/doc/api.md#podmonitoring
type PodMonitoring struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              PodMonitoringSpec `json:"spec"`
}

// PodMonitoringSpec selects pods and names the ports to scrape.
type PodMonitoringSpec struct {
	Selector     metav1.LabelSelector `json:"selector"`
	Endpoints    []ScrapeEndpoint     `json:"endpoints"`
	TargetLabels *TargetLabels        `json:"targetLabels,omitempty"`
}

// ScrapeEndpoint is one port to scrape. Port is a container port name (or number, as a string).
type ScrapeEndpoint struct {
	Port     string `json:"port"`
	Scheme   string `json:"scheme,omitempty"`
	Path     string `json:"path,omitempty"`
	Interval string `json:"interval,omitempty"`
	Timeout  string `json:"timeout,omitempty"`
}

// TargetLabels are the labels copied onto every series from the pod: metadata names (pod,
// container, ...) and pod labels (fromPod: the pod label From becomes the series label To).
type TargetLabels struct {
	Metadata []string       `json:"metadata,omitempty"`
	FromPod  []LabelMapping `json:"fromPod,omitempty"`
}

// LabelMapping copies the pod label From onto every series as To (To defaults to From).
type LabelMapping struct {
	From string `json:"from"`
	To   string `json:"to,omitempty"`
}

// DeepCopyObject implements runtime.Object.
func (p *PodMonitoring) DeepCopyObject() runtime.Object {
	b, err := json.Marshal(p)
	if err != nil {
		panic(err)
	}
	out := &PodMonitoring{}
	if err := json.Unmarshal(b, out); err != nil {
		panic(err)
	}
	return out
}

// addMonitoring registers PodMonitoring in s.
func addMonitoring(s *runtime.Scheme) error {
	s.AddKnownTypes(MonitoringGroupVersion, &PodMonitoring{})
	metav1.AddToGroupVersion(s, MonitoringGroupVersion)
	return nil
}
