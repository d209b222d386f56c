{{/* Chart name, truncated to the 63 characters a DNS label allows. */}}
{{- define "jacolbert.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Fully qualified app name: release name, plus the chart name unless the release name already contains it. */}}
{{- define "jacolbert.fullname" -}}
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

{{- define "jacolbert.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "jacolbert.selectorLabels" -}}
app.kubernetes.io/name: {{ include "jacolbert.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "jacolbert.labels" -}}
helm.sh/chart: {{ include "jacolbert.chart" . }}
{{ include "jacolbert.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "jacolbert.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "jacolbert.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "jacolbert.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* Name of the Secret holding API_KEY / HF_TOKEN, or "" when there is none. */}}
{{- define "jacolbert.secretName" -}}
{{- if .Values.auth.existingSecret -}}
{{- .Values.auth.existingSecret -}}
{{- else if or .Values.auth.apiKey .Values.auth.hfToken -}}
{{- include "jacolbert.fullname" . -}}
{{- end -}}
{{- end -}}

{{/* Headless Service that gives StatefulSet pods stable DNS names. */}}
{{- define "jacolbert.headlessName" -}}
{{- printf "%s-headless" (include "jacolbert.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "jacolbert.ortProviders" -}}
{{- if .Values.config.ortProviders -}}
{{- .Values.config.ortProviders -}}
{{- else if .Values.gpu.enabled -}}
cuda,cpu
{{- else -}}
cpu
{{- end -}}
{{- end -}}

{{/* Environment shared by the model-pull init container and the server (names as in src/config.ts). */}}
{{- define "jacolbert.modelEnv" -}}
- name: MODEL
  value: {{ .Values.model.name | quote }}
- name: MODEL_REVISION
  value: {{ .Values.model.revision | quote }}
- name: MODEL_CACHE_DIR
  value: /models
{{- if .Values.model.hfEndpoint }}
- name: HF_ENDPOINT
  value: {{ .Values.model.hfEndpoint | quote }}
{{- end }}
{{- with .Values.model.unidicLite.url }}
- name: UNIDIC_LITE_URL
  value: {{ . | quote }}
{{- end }}
{{- with .Values.model.unidicLite.sha256 }}
- name: UNIDIC_LITE_SHA256
  value: {{ . | quote }}
{{- end }}
{{- $secret := include "jacolbert.secretName" . }}
{{- if and $secret (or .Values.auth.existingSecret .Values.auth.hfToken) }}
- name: HF_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ .Values.auth.hfTokenKey }}
      optional: true
{{- end }}
{{- end -}}

{{/* One optional env var: emitted only when the value is set (so the service's own default applies otherwise).
     Helm reads numbers in values files as float64, which print as 1.6777216e+07 from a million up: every setting
     here is an integer, so numbers go through int64 first. */}}
{{- define "jacolbert.optionalEnv" -}}
{{- $value := index . 1 -}}
{{- if kindIs "float64" $value }}{{ $value = int64 $value }}{{ end -}}
{{- if or $value (eq (toString $value) "0") }}
- name: {{ index . 0 }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end -}}

{{/* "true" when a database is configured (shared mode: PostgreSQL is the store of record, pods are interchangeable), else "". */}}
{{- define "jacolbert.shared" -}}
{{- if or .Values.database.url .Values.database.existingSecret }}true{{ end -}}
{{- end -}}

{{- define "jacolbert.databaseSecretName" -}}
{{- default (printf "%s-database" (include "jacolbert.fullname" .)) .Values.database.existingSecret -}}
{{- end -}}

{{- define "jacolbert.serverEnv" -}}
{{ include "jacolbert.modelEnv" . }}
{{- if .Values.model.mecabDicdir }}
- name: MECAB_DICDIR
  value: {{ .Values.model.mecabDicdir | quote }}
{{- end }}
- name: DATA_DIR
  value: /data
- name: HOST
  value: "0.0.0.0"
- name: PORT
  value: "8080"
- name: ORT_PROVIDERS
  value: {{ include "jacolbert.ortProviders" . | quote }}
{{- $c := .Values.config }}
{{- include "jacolbert.optionalEnv" (list "ORT_THREADS" $c.ortThreads) }}
{{- include "jacolbert.optionalEnv" (list "ENCODER_WORKERS" $c.encoderWorkers) }}
{{- include "jacolbert.optionalEnv" (list "ENCODER_MAX_BATCH_TOKENS" $c.encoderMaxBatchTokens) }}
{{- include "jacolbert.optionalEnv" (list "ENCODER_BATCH_WAIT_MS" $c.encoderBatchWaitMs) }}
{{- include "jacolbert.optionalEnv" (list "ENCODER_MAX_QUEUE" $c.encoderMaxQueue) }}
{{- include "jacolbert.optionalEnv" (list "MAX_BODY_BYTES" $c.maxBodyBytes) }}
{{- include "jacolbert.optionalEnv" (list "MAX_BATCH_TEXTS" $c.maxBatchTexts) }}
{{- include "jacolbert.optionalEnv" (list "MAX_INDEX_DOCUMENTS" $c.maxIndexDocuments) }}
{{- include "jacolbert.optionalEnv" (list "MAX_TEXT_CHARS" $c.maxTextChars) }}
{{- include "jacolbert.optionalEnv" (list "SNAPSHOT_INTERVAL_S" $c.snapshotIntervalS) }}
{{- include "jacolbert.optionalEnv" (list "INDEX_NBITS" $c.indexNbits) }}
{{- include "jacolbert.optionalEnv" (list "LOG_LEVEL" $c.logLevel) }}
{{- include "jacolbert.optionalEnv" (list "QUERY_LENGTH" $c.queryLength) }}
{{- include "jacolbert.optionalEnv" (list "DURABILITY" $c.durability) }}
{{- include "jacolbert.optionalEnv" (list "WAL_SEGMENT_BYTES" $c.walSegmentBytes) }}
{{- include "jacolbert.optionalEnv" (list "ENCODER_PRECISION" $c.encoderPrecision) }}
{{- include "jacolbert.optionalEnv" (list "SEARCH_WORKERS" $c.searchWorkers) }}
{{- include "jacolbert.optionalEnv" (list "SEARCH_SHARING" $c.searchSharing) }}
{{- include "jacolbert.optionalEnv" (list "ORT_SPINNING" $c.ortSpinning) }}
{{- if include "jacolbert.shared" . }}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "jacolbert.databaseSecretName" . }}
      key: {{ .Values.database.urlKey }}
      optional: false
{{- include "jacolbert.optionalEnv" (list "DATABASE_POLL_MS" .Values.database.pollMs) }}
{{- include "jacolbert.optionalEnv" (list "REPLICA_WAIT_MS" .Values.database.replicaWaitMs) }}
{{- include "jacolbert.optionalEnv" (list "TOMBSTONE_RETENTION_S" .Values.database.tombstoneRetentionS) }}
{{- include "jacolbert.optionalEnv" (list "TOMBSTONE_PURGE_INTERVAL_S" .Values.database.tombstonePurgeIntervalS) }}
{{- end }}
{{- $secret := include "jacolbert.secretName" . }}
{{- if and $secret (or .Values.auth.existingSecret .Values.auth.apiKey) }}
- name: API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ .Values.auth.apiKeyKey }}
      optional: {{ if .Values.auth.existingSecret }}true{{ else }}false{{ end }}
{{- end }}
{{- end -}}

{{/* Pod template shared by the Deployment and the StatefulSet. */}}
{{- define "jacolbert.podTemplate" -}}
metadata:
  labels:
    {{- include "jacolbert.labels" . | nindent 4 }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    checksum/secret: {{ include (print $.Template.BasePath "/secret.yaml") . | sha256sum }}
    {{- if include "jacolbert.shared" . }}
    checksum/database-secret: {{ include (print $.Template.BasePath "/secret-database.yaml") . | sha256sum }}
    {{- end }}
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "jacolbert.serviceAccountName" . }}
  automountServiceAccountToken: {{ .Values.serviceAccount.automount }}
  terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- if and .Values.gpu.enabled .Values.gpu.runtimeClassName }}
  runtimeClassName: {{ .Values.gpu.runtimeClassName }}
  {{- end }}
  {{- with .Values.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  securityContext:
    {{- toYaml .Values.podSecurityContext | nindent 4 }}
  {{- if and .Values.model.pull.enabled (not (hasPrefix "/" .Values.model.name)) }}
  initContainers:
    - name: pull-model
      image: {{ include "jacolbert.image" . }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      {{- /* With MECAB_DICDIR set the model's own dictionary is never read: skip its 47 MB download. */}}
      command: ["node", "dist/cli/main.js", "pull", "$(MODEL)"{{ if .Values.model.mecabDicdir }}, "--no-dictionary"{{ end }}]
      env:
        {{- include "jacolbert.modelEnv" . | nindent 8 }}
        {{- with .Values.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
      {{- with .Values.model.pull.resources }}
      resources:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      volumeMounts:
        - name: models
          mountPath: /models
        - name: tmp
          mountPath: /tmp
  {{- end }}
  containers:
    - name: server
      image: {{ include "jacolbert.image" . }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      ports:
        - name: http
          containerPort: 8080
          protocol: TCP
      env:
        {{- include "jacolbert.serverEnv" . | nindent 8 }}
        {{- with .Values.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- if .Values.probes.startup.enabled }}
      startupProbe:
        httpGet:
          path: /healthz
          port: http
        periodSeconds: {{ .Values.probes.startup.periodSeconds }}
        timeoutSeconds: {{ .Values.probes.startup.timeoutSeconds }}
        failureThreshold: {{ .Values.probes.startup.failureThreshold }}
      {{- end }}
      {{- if .Values.probes.liveness.enabled }}
      livenessProbe:
        httpGet:
          path: /healthz
          port: http
        periodSeconds: {{ .Values.probes.liveness.periodSeconds }}
        timeoutSeconds: {{ .Values.probes.liveness.timeoutSeconds }}
        failureThreshold: {{ .Values.probes.liveness.failureThreshold }}
      {{- end }}
      {{- if .Values.probes.readiness.enabled }}
      readinessProbe:
        httpGet:
          path: /readyz
          port: http
        periodSeconds: {{ .Values.probes.readiness.periodSeconds }}
        timeoutSeconds: {{ .Values.probes.readiness.timeoutSeconds }}
        failureThreshold: {{ .Values.probes.readiness.failureThreshold }}
      {{- end }}
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
      resources:
        {{- $res := deepCopy .Values.resources }}
        {{- if .Values.gpu.enabled }}
        {{- $limits := default (dict) $res.limits }}
        {{- $_ := set $limits .Values.gpu.resourceName .Values.gpu.count }}
        {{- $_ := set $res "limits" $limits }}
        {{- end }}
        {{- toYaml $res | nindent 8 }}
      volumeMounts:
        - name: data
          mountPath: /data
        - name: models
          mountPath: /models
        - name: tmp
          mountPath: /tmp
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  volumes:
    - name: tmp
      emptyDir: {}
    {{- /* shared mode: DATA_DIR only holds a start-up cache of snapshots; the database holds the data */}}
    {{- $ephemeral := or (not .Values.persistence.enabled) (include "jacolbert.shared" .) }}
    {{- if $ephemeral }}
    - name: data
      emptyDir: {}
    {{- end }}
    {{- if .Values.persistence.models.existingClaim }}
    - name: models
      persistentVolumeClaim:
        claimName: {{ .Values.persistence.models.existingClaim }}
    {{- else if $ephemeral }}
    - name: models
      emptyDir: {}
    {{- end }}
{{- end -}}
