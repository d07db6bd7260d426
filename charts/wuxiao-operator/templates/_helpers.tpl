{{/*
Name of the chart, overridable with .Values.nameOverride.
*/}}
{{- define "wuxiao-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name of the release's resources: <release>-<chart>, or just <release>
when the release name already contains the chart name. Truncated to 63
characters because some Kubernetes name fields are limited to that (DNS-1123).
*/}}
{{- define "wuxiao-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Chart name and version, for the helm.sh/chart label.
*/}}
{{- define "wuxiao-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels of every resource of the release.
*/}}
{{- define "wuxiao-operator.labels" -}}
helm.sh/chart: {{ include "wuxiao-operator.chart" . }}
{{ include "wuxiao-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: wuxiao
{{- end }}

{{/*
Selector labels: stable for the life of the release (a Deployment's selector
is immutable).
*/}}
{{- define "wuxiao-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "wuxiao-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{/*
Name of the ServiceAccount the operator runs as.
*/}}
{{- define "wuxiao-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "wuxiao-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The operator image: repository@digest when a digest is given, else
repository:tag with the tag defaulting to the chart's appVersion.
*/}}
{{- define "wuxiao-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
Namespace where the operator archives the records of deleted villages.
*/}}
{{- define "wuxiao-operator.archiveNamespace" -}}
{{- default .Release.Namespace .Values.archiveNamespace }}
{{- end }}
