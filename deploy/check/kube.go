package check

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// Object is one rendered manifest, decoded into its typed Go object.
type Object struct {
	GVK  schema.GroupVersionKind
	Obj  runtime.Object
	Raw  []byte
	Name string // kind/namespace/name, for messages
}

// Render renders a kustomization directory in-process with the kustomize API (the same engine, at
// the version kubectl 1.32 embeds, as `kubectl kustomize`).
func Render(dir string) ([]byte, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize %s: %w", dir, err)
	}
	out, err := m.AsYaml()
	if err != nil {
		return nil, fmt.Errorf("kustomize %s: yaml: %w", dir, err)
	}
	return out, nil
}

// RenderKubectl renders dir with `kubectl kustomize`. It returns exec.ErrNotFound (wrapped) when
// kubectl is not on PATH.
func RenderKubectl(ctx context.Context, dir string) ([]byte, error) {
	path, err := exec.LookPath("kubectl")
	if err != nil {
		return nil, fmt.Errorf("kubectl kustomize: %w", err)
	}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, path, "kustomize", dir)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("kubectl kustomize %s: %w: %s", dir, err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// SplitYAML splits a multi-document YAML stream, dropping empty documents.
func SplitYAML(b []byte) ([][]byte, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
	var docs [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("split yaml: %w", err)
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		var probe map[string]any
		if err := yaml.Unmarshal(doc, &probe); err != nil {
			return nil, fmt.Errorf("split yaml: %w", err)
		}
		if len(probe) == 0 {
			continue
		}
		docs = append(docs, doc)
	}
}

// Scheme returns a scheme with client-go's built-in types, Gateway API v1 and Managed Prometheus's
// PodMonitoring.
func Scheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, fmt.Errorf("scheme: client-go: %w", err)
	}
	if err := gatewayv1.Install(s); err != nil {
		return nil, fmt.Errorf("scheme: gateway-api: %w", err)
	}
	if err := addMonitoring(s); err != nil {
		return nil, fmt.Errorf("scheme: monitoring: %w", err)
	}
	return s, nil
}

// StrictDecoder decodes manifests into typed objects and fails on unknown or duplicate fields and
// on kinds the scheme does not know.
type StrictDecoder struct {
	dec runtime.Decoder
}

// NewStrictDecoder returns a decoder over Scheme().
func NewStrictDecoder() (*StrictDecoder, error) {
	s, err := Scheme()
	if err != nil {
		return nil, err
	}
	return &StrictDecoder{dec: serializer.NewCodecFactory(s, serializer.EnableStrict).UniversalDeserializer()}, nil
}

// Decode decodes one YAML or JSON document.
func (d *StrictDecoder) Decode(doc []byte) (Object, error) {
	obj, gvk, err := d.dec.Decode(doc, nil, nil)
	if err != nil {
		var meta struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		_ = yaml.Unmarshal(doc, &meta)
		return Object{}, fmt.Errorf("%s %s/%s: %w", meta.APIVersion, meta.Kind, meta.Metadata.Name, err)
	}
	name := gvk.Kind
	if m, ok := obj.(interface {
		GetNamespace() string
		GetName() string
	}); ok {
		name = gvk.Kind + "/" + m.GetNamespace() + "/" + m.GetName()
	}
	return Object{GVK: *gvk, Obj: obj, Raw: doc, Name: name}, nil
}

// DecodeAll decodes every document of a rendered stream; it returns every error, not just the first.
func (d *StrictDecoder) DecodeAll(stream []byte) ([]Object, []error) {
	docs, err := SplitYAML(stream)
	if err != nil {
		return nil, []error{err}
	}
	var objs []Object
	var errs []error
	for _, doc := range docs {
		o, err := d.Decode(doc)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		objs = append(objs, o)
	}
	return objs, errs
}
