{{/* Names and labels shared by every object of the chart. */}}

{{- define "kuberun.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "kuberun.operatorName" -}}
{{- printf "%s-operator" (include "kuberun.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kuberun.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kuberun
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "kuberun.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{/* Namespaces where Executions run: runner.namespaces, else watchNamespaces, else the release's. */}}
{{- define "kuberun.runnerNamespaces" -}}
{{- $namespaces := .Values.runner.namespaces | default .Values.watchNamespaces | default (list .Release.Namespace) -}}
{{- toJson (uniq $namespaces) -}}
{{- end -}}

{{/* The Secret holding the Redis URL, and its key. */}}
{{- define "kuberun.redisSecretName" -}}
{{- .Values.redis.existingSecret | default .Values.redis.secretName -}}
{{- end -}}

{{/* The Secret runner pods read their Redis URL from: the operator's per-namespace
one with tenant users, else the shared one. */}}
{{- define "kuberun.runnerRedisSecretName" -}}
{{- if .Values.redis.tenantUsers.enabled -}}
{{- .Values.redis.tenantUsers.secretName -}}
{{- else -}}
{{- include "kuberun.redisSecretName" . -}}
{{- end -}}
{{- end -}}

{{- define "kuberun.hasRedis" -}}
{{- if or .Values.redis.url .Values.redis.existingSecret -}}true{{- end -}}
{{- end -}}

{{- define "kuberun.validate" -}}
{{- if and (gt (int .Values.operator.replicas) 1) (not .Values.peering.enabled) -}}
{{- fail "operator.replicas > 1 needs peering.enabled=true (two standalone operators would both act on every Execution)" -}}
{{- end -}}
{{- end -}}

{{- define "kuberun.apiName" -}}
{{- printf "%s-api" (include "kuberun.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kuberun.apiSelectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: api
{{- end -}}
