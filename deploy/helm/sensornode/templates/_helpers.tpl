{{/* vim: set filetype=mustache: */}}

{{/* Chart name, truncated to a DNS label. */}}
{{- define "sensornode.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Object-name prefix: fullnameOverride, else the release name when it
contains the chart name, else <release>-<chart>; truncated to 63 characters
(Kubernetes names of Services are DNS labels).
*/}}
{{- define "sensornode.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Name of a component's object: <fullname>-<component>[-<suffix>]. */}}
{{- define "sensornode.objname" -}}
{{- $base := printf "%s-%s" (include "sensornode.fullname" .ctx) .component -}}
{{- if .suffix -}}{{- $base = printf "%s-%s" $base .suffix -}}{{- end -}}
{{- $base | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "sensornode.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Selector labels of a component (dict: ctx, component, node = optional
node id). They never change after install.
*/}}
{{- define "sensornode.selectorLabels" -}}
app.kubernetes.io/name: {{ .component }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- if .node }}
sensornode.io/node: {{ .node | quote }}
{{- end }}
{{- end -}}

{{/* Full labels (dict: ctx, component, node). */}}
{{- define "sensornode.labels" -}}
helm.sh/chart: {{ include "sensornode.chart" .ctx }}
{{ include "sensornode.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/component: {{ .tier | default "sensor" }}
app.kubernetes.io/part-of: {{ include "sensornode.name" .ctx }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Image of a sensornode service (dict: ctx, service). */}}
{{- define "sensornode.image" -}}
{{- $tag := .ctx.Values.image.tag | default .ctx.Chart.AppVersion -}}
{{- printf "%s/%s:%s" (.ctx.Values.image.registry | trimSuffix "/") .service $tag -}}
{{- end -}}

{{/*
The nodes, normalised: a list of dicts with hostname, number, id, cameraId,
cameraDir, tempDir, videoDevice. Returned as YAML: use fromYaml.
*/}}
{{- define "sensornode.nodes" -}}
{{- $out := list -}}
{{- range .Values.nodes -}}
{{- $n := int .number -}}
{{- $node := dict
  "hostname" .hostname
  "number" $n
  "id" (.id | default (printf "node%d" $n))
  "cameraId" (.cameraId | default (printf "C%d" $n))
  "cameraDir" (.cameraDir | default (printf "/mnt/camera%d" $n))
  "tempDir" (.tempDir | default (printf "/mnt/temp%d" $n))
  "videoDevice" (.videoDevice | default $.Values.cameraProducer.camera.device)
-}}
{{- $out = append $out $node -}}
{{- end -}}
{{- dict "nodes" $out | toYaml -}}
{{- end -}}

{{/* Edge broker list (host:port), in-chart or external. */}}
{{- define "sensornode.edgeBrokers" -}}
{{- if .Values.edgeKafka.brokers -}}
{{- join "," .Values.edgeKafka.brokers -}}
{{- else -}}
{{- $out := list -}}
{{- range (include "sensornode.nodes" . | fromYaml).nodes -}}
{{- $out = append $out (printf "%s:9092" (include "sensornode.objname" (dict "ctx" $ "component" "kafka" "suffix" .id))) -}}
{{- end -}}
{{- join "," $out -}}
{{- end -}}
{{- end -}}

{{/* ZooKeeper connect string of the in-chart ensemble. */}}
{{- define "sensornode.zkConnect" -}}
{{- $out := list -}}
{{- range (include "sensornode.nodes" . | fromYaml).nodes -}}
{{- $out = append $out (printf "%s:2181" (include "sensornode.objname" (dict "ctx" $ "component" "zookeeper" "suffix" .id))) -}}
{{- end -}}
{{- join "," $out -}}
{{- end -}}

{{/* Pod annotations (dict: ctx, port = admin port or 0). */}}
{{- define "sensornode.podAnnotations" -}}
{{- if and .port .ctx.Values.metrics.scrapeAnnotations }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .port | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- with .ctx.Values.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
Pod-level settings shared by every pod (dict: ctx, groups = extra
supplemental group ids, nodeSelector = dict to merge, psc = pod security
context fields overriding podSecurityContext, tolerations = list added after
the global ones).
*/}}
{{- define "sensornode.podCommon" -}}
{{- $psc := deepCopy .ctx.Values.podSecurityContext -}}
{{- if .psc -}}{{- $psc = merge (deepCopy .psc) $psc -}}{{- end -}}
{{- if .groups -}}
{{- $_ := set $psc "supplementalGroups" (concat ($psc.supplementalGroups | default list) .groups | uniq) -}}
{{- end -}}
{{- if not $psc.supplementalGroups -}}{{- $_ := unset $psc "supplementalGroups" -}}{{- end -}}
enableServiceLinks: false
automountServiceAccountToken: false
terminationGracePeriodSeconds: {{ .ctx.Values.terminationGracePeriodSeconds }}
securityContext:
  {{- toYaml $psc | nindent 2 }}
{{- with .ctx.Values.imagePullSecrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- $sel := merge (dict) (.nodeSelector | default dict) .ctx.Values.nodeSelector -}}
{{- with $sel }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with concat (.ctx.Values.tolerations | default list) (.tolerations | default list) }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Container securityContext. */}}
{{- define "sensornode.containerSecurityContext" -}}
securityContext:
  {{- toYaml .Values.containerSecurityContext | nindent 2 }}
{{- end -}}

{{/* Admin port, probes (dict: port, extraPorts = optional list of name/port). */}}
{{- define "sensornode.adminContainer" -}}
ports:
  - name: admin
    containerPort: {{ .port }}
    protocol: TCP
{{- range .extraPorts }}
  - name: {{ .name }}
    containerPort: {{ .port }}
    protocol: TCP
{{- end }}
livenessProbe:
  httpGet:
    path: /livez
    port: admin
  initialDelaySeconds: 5
  periodSeconds: 10
  timeoutSeconds: 3
  failureThreshold: 6
readinessProbe:
  httpGet:
    path: /readyz
    port: admin
  periodSeconds: 10
  timeoutSeconds: 3
  failureThreshold: 3
{{- end -}}

{{/*
Environment shared by every sensornode service (dict: ctx, port, container =
name of the container whose memory limit is SENSORNODE_MEMORY_LIMIT_BYTES; the
service sets its Go memory limit to 90% of it, unless GOMEMLIMIT is set).
*/}}
{{- define "sensornode.commonEnv" -}}
- name: SENSORNODE_LOG_LEVEL
  value: {{ .ctx.Values.logLevel | quote }}
- name: SENSORNODE_ADMIN_ADDR
  value: {{ printf ":%d" (int .port) | quote }}
- name: SENSORNODE_SHUTDOWN_TIMEOUT
  value: {{ printf "%ds" (sub (int .ctx.Values.terminationGracePeriodSeconds) 5 | int) | quote }}
- name: SENSORNODE_MEMORY_LIMIT_BYTES
  valueFrom:
    resourceFieldRef:
      containerName: {{ .container }}
      resource: limits.memory
{{- end -}}

{{/*
Kafka client environment (dict: ctx, prefix = e.g. SENSORNODE_EDGE_KAFKA,
brokers = comma list, cloud = true for the cloud cluster's TLS/SASL).
*/}}
{{- define "sensornode.kafkaEnv" -}}
- name: {{ .prefix }}_BROKERS
  value: {{ .brokers | quote }}
{{- with .ctx.Values.kafkaBackend }}
- name: {{ $.prefix }}_BACKEND
  value: {{ . | quote }}
{{- end }}
{{- if .cloud }}
{{- $c := .ctx.Values.cloudKafka }}
{{- if $c.tls.enabled }}
- name: {{ .prefix }}_TLS_ENABLED
  value: "true"
- name: {{ .prefix }}_TLS_CA_FILE
  value: {{ printf "/etc/sensornode/cloud-kafka/tls/%s" $c.tls.caKey | quote }}
{{- if $c.tls.certKey }}
- name: {{ .prefix }}_TLS_CERT_FILE
  value: {{ printf "/etc/sensornode/cloud-kafka/tls/%s" $c.tls.certKey | quote }}
- name: {{ .prefix }}_TLS_KEY_FILE
  value: {{ printf "/etc/sensornode/cloud-kafka/tls/%s" $c.tls.keyKey | quote }}
{{- end }}
{{- with $c.tls.serverName }}
- name: {{ $.prefix }}_TLS_SERVER_NAME
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- if $c.sasl.mechanism }}
- name: {{ .prefix }}_SASL_MECHANISM
  value: {{ $c.sasl.mechanism | quote }}
- name: {{ .prefix }}_SASL_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ $c.sasl.existingSecret }}
      key: {{ $c.sasl.usernameKey }}
- name: {{ .prefix }}_SASL_PASSWORD_FILE
  value: {{ printf "/etc/sensornode/cloud-kafka/sasl/%s" $c.sasl.passwordKey | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Volume mounts for the cloud Kafka Secrets. */}}
{{- define "sensornode.cloudKafkaMounts" -}}
{{- $c := .Values.cloudKafka -}}
{{- if $c.tls.enabled }}
- name: cloud-kafka-tls
  mountPath: /etc/sensornode/cloud-kafka/tls
  readOnly: true
{{- end }}
{{- if $c.sasl.mechanism }}
- name: cloud-kafka-sasl
  mountPath: /etc/sensornode/cloud-kafka/sasl
  readOnly: true
{{- end }}
{{- end -}}

{{/* Volumes for the cloud Kafka Secrets. */}}
{{- define "sensornode.cloudKafkaVolumes" -}}
{{- $c := .Values.cloudKafka -}}
{{- if $c.tls.enabled }}
- name: cloud-kafka-tls
  secret:
    secretName: {{ $c.tls.existingSecret }}
    defaultMode: 0440
{{- end }}
{{- if $c.sasl.mechanism }}
- name: cloud-kafka-sasl
  secret:
    secretName: {{ $c.sasl.existingSecret }}
    defaultMode: 0440
    items:
      - key: {{ $c.sasl.passwordKey }}
        path: {{ $c.sasl.passwordKey }}
{{- end }}
{{- end -}}

{{/*
Topic creation on the cloud cluster (edge-forwarder, cloud-ingest-hdfs):
SENSORNODE_CREATE_TOPICS and its settings, nothing unless
cloudTopics.create. The variable names are camera-producer's too.
*/}}
{{- define "sensornode.cloudTopicsEnv" -}}
{{- $t := .Values.cloudTopics -}}
{{- if $t.create }}
- name: SENSORNODE_CREATE_TOPICS
  value: "true"
- name: SENSORNODE_TOPIC_PARTITIONS
  value: {{ int $t.partitions | quote }}
- name: SENSORNODE_TOPIC_REPLICATION_FACTOR
  value: {{ int $t.replicationFactor | quote }}
- name: SENSORNODE_TOPIC_MIN_INSYNC_REPLICAS
  value: {{ int $t.minInsyncReplicas | quote }}
{{- end }}
{{- end -}}

{{/* extraEnv of a service (list of name/value). */}}
{{- define "sensornode.extraEnv" -}}
{{- range . }}
- name: {{ .name }}
  value: {{ .value | toString | quote }}
{{- end }}
{{- end -}}

{{/*
A per-node or shared workload (dict: ctx, kind, name, component, node,
tier, replicas, strategy = Recreate|RollingUpdate, port = admin port or 0,
pod = pod spec YAML).
*/}}
{{- define "sensornode.workload" -}}
{{- $sel := include "sensornode.selectorLabels" . -}}
apiVersion: {{ if eq .kind "Deployment" }}apps/v1{{ else }}v1{{ end }}
kind: {{ .kind }}
metadata:
  name: {{ .name }}
  labels:
    {{- include "sensornode.labels" . | nindent 4 }}
spec:
  replicas: {{ .replicas }}
  {{- if eq .kind "Deployment" }}
  revisionHistoryLimit: 3
  strategy:
    type: {{ .strategy }}
  selector:
    matchLabels:
      {{- $sel | nindent 6 }}
  {{- else }}
  selector:
    {{- $sel | nindent 4 }}
  {{- end }}
  template:
    metadata:
      labels:
        {{- include "sensornode.labels" . | nindent 8 }}
      {{- with include "sensornode.podAnnotations" (dict "ctx" .ctx "port" .port) | trim }}
      annotations:
        {{- . | nindent 8 }}
      {{- end }}
    spec:
      {{- .pod | nindent 6 }}
{{- end -}}

{{/* A ClusterIP Service for a component's admin port (dict: ctx, component, tier, port). */}}
{{- define "sensornode.adminService" -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "sensornode.objname" . }}
  labels:
    {{- include "sensornode.labels" . | nindent 4 }}
spec:
  type: ClusterIP
  selector:
    {{- include "sensornode.selectorLabels" (dict "ctx" .ctx "component" .component) | nindent 4 }}
  ports:
    - name: admin
      port: {{ .port }}
      targetPort: admin
      protocol: TCP
{{- end -}}
