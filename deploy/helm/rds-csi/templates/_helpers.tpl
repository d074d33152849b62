{{/*
The namespace of every namespaced object: namespace.name, or the release
namespace when it is empty.
*/}}
{{- define "rds-csi.namespace" -}}
{{- default .Release.Namespace .Values.namespace.name -}}
{{- end -}}

{{/*
Labels of every object. The first two are what the kustomize base sets too
(selectors use app.kubernetes.io/name and app.kubernetes.io/component only,
so that objects installed with kustomize and with this chart select the
same Pods).
*/}}
{{- define "rds-csi.labels" -}}
app.kubernetes.io/name: rds-csi
app.kubernetes.io/part-of: rds-csi
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* Pod template labels: selector labels plus part-of and instance. */}}
{{- define "rds-csi.podLabels" -}}
app.kubernetes.io/name: rds-csi
app.kubernetes.io/part-of: rds-csi
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* An image reference from {registry, repository, tag}. */}}
{{- define "rds-csi.image" -}}
{{- if .registry -}}
{{ .registry }}/{{ .repository }}:{{ .tag }}
{{- else -}}
{{ .repository }}:{{ .tag }}
{{- end -}}
{{- end -}}

{{/*
RDS_ADDRESS: host:port; an IPv6 literal gets its brackets.
*/}}
{{- define "rds-csi.rdsAddress" -}}
{{- $host := .Values.rds.address | trimPrefix "[" | trimSuffix "]" -}}
{{- if contains ":" $host -}}
[{{ $host }}]:{{ .Values.rds.port }}
{{- else -}}
{{ $host }}:{{ .Values.rds.port }}
{{- end -}}
{{- end -}}

{{/*
Leader-election flags, the same for the driver and every sidecar: the
switch, and the timings only when set (each binary keeps its own default).
*/}}
{{- define "rds-csi.leaderElectionArgs" -}}
{{- with .Values.controller.leaderElection -}}
{{- if .enabled }}
- --leader-election
{{- with .leaseDuration }}
- --leader-election-lease-duration={{ . }}
{{- end }}
{{- with .renewDeadline }}
- --leader-election-renew-deadline={{ . }}
{{- end }}
{{- with .retryPeriod }}
- --leader-election-retry-period={{ . }}
{{- end }}
{{- end }}
{{- end -}}
{{- end -}}

{{/* The POD_NAMESPACE variable of the sidecars (their Lease namespace). */}}
{{- define "rds-csi.podNamespaceEnv" -}}
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
{{- end -}}

{{/* securityContext of the unprivileged controller containers. */}}
{{- define "rds-csi.restrictedContainer" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
{{- end -}}

{{/*
"true" when the controller reads an --rds-config file (several RDS units,
docs/configure.md §4): rendered from rds.config.content, or an existing
ConfigMap rds.config.configMapName; empty for the single RDS of
rds.address. Fails on a half-set rds.config.
*/}}
{{- define "rds-csi.units" -}}
{{- $c := .Values.rds.config -}}
{{- if or $c.content $c.configMapName -}}
{{- if not $c.keysSecretName -}}
{{- fail "rds.config needs rds.config.keysSecretName: the Secret with every unit's privateKey and hostKey files (mounted at /etc/rds-csi/unit-keys)" -}}
{{- end -}}
true
{{- else if $c.keysSecretName -}}
{{- fail "rds.config.keysSecretName without rds.config.content or rds.config.configMapName: no units file names the keys" -}}
{{- end -}}
{{- end -}}

{{/* The ConfigMap holding the --rds-config file (key rds.yaml). */}}
{{- define "rds-csi.unitsConfigMap" -}}
{{- .Values.rds.config.configMapName | default "rds-csi-units" -}}
{{- end -}}
