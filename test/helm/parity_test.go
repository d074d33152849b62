package helm

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// The chart's defaults must render what the kustomize base renders. The
// differences allowed, and only these:
//
//  1. kustomize generates the ConfigMap as rds-csi-config-<content hash>
//     (a new address rolls the controller); the chart names it
//     rds-csi-config and rolls the controller through the Pod template
//     annotation checksum/config. Names are compared without the hash, and
//     that annotation is ignored.
//  2. Labels: the chart adds app.kubernetes.io/instance, managed-by and
//     helm.sh/chart to objects and instance to Pod templates; every label
//     the base sets must be there with the same value.
//  3. The Namespace object: the base renders it; the chart only with
//     namespace.create (then compared with the base's: same Pod Security
//     labels).
//  4. The metrics Services: the base always renders them; the chart with
//     metrics.service.enabled (then compared with the base's).
//  5. kustomize's "namespace:" also sets metadata.namespace on the
//     VolumeSnapshotClass: it does not know that this CRD kind is
//     cluster-scoped. The API server drops the field for cluster-scoped
//     objects (TestServerDryRun applies the base), so it is ignored there.
//
// Lists are compared without their order where it carries no meaning: named
// items (containers, env, ports, volumes, mounts) by name, container args as
// a multiset. Everything else, down to probes, resources and security
// contexts, must be equal.

// kustomizeConfigMap is the generated name's prefix.
const kustomizeConfigMap = "rds-csi-config-"

// canonical returns a copy of an object reduced to what is compared.
func canonical(t *testing.T, o *unstructured.Unstructured) any {
	t.Helper()
	c := o.DeepCopy().Object
	md := map[string]any{"name": unhash(o.GetName())}
	if ns := o.GetNamespace(); ns != "" && o.GetKind() != "VolumeSnapshotClass" {
		md["namespace"] = ns
	}
	if a := o.GetAnnotations(); len(a) > 0 {
		md["annotations"] = a
	}
	c["metadata"] = md
	if tmd, ok, _ := unstructured.NestedMap(c, "spec", "template", "metadata"); ok {
		delete(tmd, "labels") // compared by labelsSubset
		if a, ok := tmd["annotations"].(map[string]any); ok {
			delete(a, "checksum/config")
		}
		_ = unstructured.SetNestedMap(c, tmd, "spec", "template", "metadata")
	}
	return sortLists("", normalizeAny(c))
}

// unhash strips kustomize's content hash from the generated ConfigMap name.
func unhash(name string) string {
	if strings.HasPrefix(name, kustomizeConfigMap) {
		return strings.TrimSuffix(kustomizeConfigMap, "-")
	}
	return name
}

func normalizeAny(v any) any {
	b, _ := json.Marshal(v)
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

// sortLists orders named list items by name (then mountPath) and container
// args; it also strips the hash from configMapKeyRef names.
func sortLists(key string, v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, sub := range x {
			if k == "configMapKeyRef" {
				if m, ok := sub.(map[string]any); ok {
					if n, ok := m["name"].(string); ok {
						m["name"] = unhash(n)
					}
				}
			}
			x[k] = sortLists(k, sub)
		}
		return x
	case []any:
		for i := range x {
			x[i] = sortLists("", x[i])
		}
		if key == "args" {
			sort.SliceStable(x, func(i, j int) bool { return fmt.Sprint(x[i]) < fmt.Sprint(x[j]) })
			return x
		}
		named := len(x) > 0
		for _, e := range x {
			if m, ok := e.(map[string]any); !ok || m["name"] == nil {
				named = false
			}
		}
		if named {
			sort.SliceStable(x, func(i, j int) bool {
				a, b := x[i].(map[string]any), x[j].(map[string]any)
				return fmt.Sprint(a["name"], "\x00", a["mountPath"]) < fmt.Sprint(b["name"], "\x00", b["mountPath"])
			})
		}
		return x
	}
	return v
}

// diff lists the paths where a and b differ (at most a screenful).
func diff(path string, a, b any, out *[]string) {
	if len(*out) > 40 || reflect.DeepEqual(a, b) {
		return
	}
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		keys := map[string]bool{}
		for k := range am {
			keys[k] = true
		}
		for k := range bm {
			keys[k] = true
		}
		var ks []string
		for k := range keys {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		for _, k := range ks {
			diff(path+"."+k, am[k], bm[k], out)
		}
		return
	}
	al, aok := a.([]any)
	bl, bok := b.([]any)
	if aok && bok && len(al) == len(bl) {
		for i := range al {
			label := fmt.Sprint(i)
			if m, ok := al[i].(map[string]any); ok && m["name"] != nil {
				label = fmt.Sprint(m["name"])
			}
			diff(path+"["+label+"]", al[i], bl[i], out)
		}
		return
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	*out = append(*out, fmt.Sprintf("%s:\n\t\tkustomize: %s\n\t\thelm:      %s", path, ja, jb))
}

// labelsSubset: every label of want is in got with the same value.
func labelsSubset(t *testing.T, what string, want, got map[string]string) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: label %s=%q in kustomize, %q in helm", what, k, v, got[k])
		}
	}
}

func templateLabels(o *unstructured.Unstructured) map[string]string {
	m, _, _ := unstructured.NestedStringMap(o.Object, "spec", "template", "metadata", "labels")
	return m
}

// objectKey identifies an object across both renders.
func objectKey(o *unstructured.Unstructured) string {
	return o.GetKind() + "/" + unhash(o.GetName())
}

// TestParity compares the kustomize base with the chart's defaults.
func TestParity(t *testing.T) {
	kust := kustomize(t, baseDir)
	helm := helmTemplate(t, "rds-csi")
	// The chart's optional objects, rendered where they exist (differences 3 and 4).
	optional := helmTemplate(t, "default", "--set", "namespace.create=true", "--set", "namespace.name=rds-csi",
		"--set", "metrics.service.enabled=true")
	onlyKustomize := map[string][]*unstructured.Unstructured{
		"Namespace/rds-csi":                  optional,
		"Service/rds-csi-controller-metrics": optional,
		"Service/rds-csi-node-metrics":       optional,
	}

	byKey := func(objs []*unstructured.Unstructured) map[string]*unstructured.Unstructured {
		m := map[string]*unstructured.Unstructured{}
		for _, o := range objs {
			m[objectKey(o)] = o
		}
		return m
	}
	h := byKey(helm)
	var keys []string
	for _, o := range kust {
		keys = append(keys, objectKey(o))
	}
	for _, o := range helm {
		if !slices.Contains(keys, objectKey(o)) {
			t.Errorf("the chart renders %s, the kustomize base does not", objectKey(o))
		}
	}
	compared := 0
	for _, k := range kust {
		key := objectKey(k)
		t.Run(strings.ReplaceAll(key, "/", "_"), func(t *testing.T) {
			ho := h[key]
			if alt, ok := onlyKustomize[key]; ok {
				if ho != nil {
					t.Fatalf("the chart renders %s by default", key)
				}
				ho = byKey(alt)[key]
			}
			if ho == nil {
				t.Fatalf("the kustomize base renders %s, the chart does not", key)
			}
			compared++
			labelsSubset(t, key, k.GetLabels(), ho.GetLabels())
			labelsSubset(t, key+" Pod template", templateLabels(k), templateLabels(ho))
			var out []string
			diff(key, canonical(t, k), canonical(t, ho), &out)
			for _, d := range out {
				t.Errorf("%s", d)
			}
		})
	}
	// The comparison above must have covered the workloads; a render that
	// lost them would otherwise compare nothing.
	for _, want := range []string{"Deployment/rds-csi-controller", "DaemonSet/rds-csi-node", "CSIDriver/rds.csi.srvlab.io", "ClusterRole/rds-csi-driver"} {
		if !slices.Contains(keys, want) {
			t.Errorf("the kustomize base does not render %s", want)
		}
	}
	t.Logf("%d objects compared", compared)
}
