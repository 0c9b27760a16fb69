{{/* Names, labels and the parts every esrflow pod shares. */}}

{{- define "esrflow.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "esrflow.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "esrflow.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "esrflow.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: esrflow
{{- end -}}

{{/* Selector labels of one component: (dict "root" $ "component" "ingest") */}}
{{- define "esrflow.selectorLabels" -}}
app.kubernetes.io/name: {{ include "esrflow.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "esrflow.componentLabels" -}}
{{ include "esrflow.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "esrflow.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "esrflow.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "esrflow.image" -}}
{{- $img := .root.Values.image -}}
{{- printf "%s/%s%s:%s" $img.registry $img.repositoryPrefix .component (default .root.Chart.AppVersion $img.tag) -}}
{{- end -}}

{{- define "esrflow.tenantsConfigMap" -}}
{{- default (printf "%s-tenants" (include "esrflow.fullname" .)) .Values.tenantsConfigMap -}}
{{- end -}}

{{- define "esrflow.filesClaim" -}}
{{- default (printf "%s-files" (include "esrflow.fullname" .)) .Values.files.persistence.existingClaim -}}
{{- end -}}

{{/* ESRFLOW_<SERVICE>_ prefix of a component's variables. */}}
{{- define "esrflow.envPrefix" -}}
{{- printf "ESRFLOW_%s_" (upper .) -}}
{{- end -}}

{{/*
The variables every service takes: Kafka, the registry, the tenants file and
logging. The instance id is left to its default, the host name: a
StatefulSet pod's name (esrflow-publish-0) is stable, so a restarted pod keeps
its transactional id and fences its previous incarnation at once.
*/}}
{{- define "esrflow.commonEnv" -}}
{{- $p := include "esrflow.envPrefix" .component -}}
{{- $v := .root.Values -}}
- name: {{ $p }}KAFKA_BROKERS
  value: {{ required "kafka.brokers is required: the Kafka bootstrap servers" $v.kafka.brokers | quote }}
- name: {{ $p }}REGISTRY_URL
  value: {{ required "schemaRegistry.url is required" $v.schemaRegistry.url | quote }}
- name: {{ $p }}TENANTS_FILE
  value: /etc/esrflow/tenants/tenants.yaml
- name: {{ $p }}LOG_LEVEL
  value: {{ $v.log.level | quote }}
- name: {{ $p }}LOG_FORMAT
  value: {{ $v.log.format | quote }}
{{- end -}}

{{/* A component's own extra variables (<component>.env), by flag variable name. */}}
{{- define "esrflow.extraEnv" -}}
{{- range $k, $val := .env }}
- name: {{ $k }}
  value: {{ $val | quote }}
{{- end }}
{{- end -}}

{{/* Probes on the service's own port: /healthz is alive, /readyz has its partitions and state. */}}
{{- define "esrflow.probes" -}}
startupProbe:
  httpGet: {path: /healthz, port: http}
  periodSeconds: 5
  failureThreshold: 60
livenessProbe:
  httpGet: {path: /healthz, port: http}
  periodSeconds: 10
  timeoutSeconds: 5
  failureThreshold: 6
readinessProbe:
  httpGet: {path: /readyz, port: http}
  periodSeconds: 5
  timeoutSeconds: 5
  failureThreshold: 3
{{- end -}}

{{/* Pod-level settings every esrflow pod shares: (dict "root" $ "component" "ingest") */}}
{{- define "esrflow.podCommon" -}}
{{- $v := .root.Values -}}
serviceAccountName: {{ include "esrflow.serviceAccountName" .root }}
automountServiceAccountToken: false
securityContext:
  {{- toYaml $v.podSecurityContext | nindent 2 }}
{{- with $v.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
terminationGracePeriodSeconds: 60
{{- end -}}

{{/* Container settings every esrflow container shares. */}}
{{- define "esrflow.containerCommon" -}}
{{- $v := .root.Values -}}
image: {{ include "esrflow.image" . | quote }}
imagePullPolicy: {{ $v.image.pullPolicy }}
securityContext:
  {{- toYaml $v.securityContext | nindent 2 }}
resources:
  {{- toYaml (index $v .component).resources | nindent 2 }}
{{ include "esrflow.probes" . }}
{{- end -}}

{{/* The volumes every pod mounts: the tenants file and a writable /tmp. */}}
{{- define "esrflow.commonVolumes" -}}
- name: tenants
  configMap:
    name: {{ include "esrflow.tenantsConfigMap" . }}
- name: tmp
  emptyDir: {}
{{- end -}}

{{- define "esrflow.commonMounts" -}}
- name: tenants
  mountPath: /etc/esrflow/tenants
  readOnly: true
- name: tmp
  mountPath: /tmp
{{- end -}}

{{/* Pod annotations: restart the pods when the tenants file changes. */}}
{{- define "esrflow.podAnnotations" -}}
checksum/tenants: {{ .Values.tenants | sha256sum }}
{{- end -}}
