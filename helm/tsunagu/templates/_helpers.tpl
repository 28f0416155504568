{{/*
Names and labels.
*/}}
{{- define "tsunagu.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "tsunagu.fullname" -}}
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

{{- define "tsunagu.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "tsunagu.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tsunagu.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "tsunagu.labels" -}}
helm.sh/chart: {{ include "tsunagu.chart" . }}
{{ include "tsunagu.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: tsunagu
{{- end -}}

{{/* Selector labels of one component: (dict "ctx" $ "component" "web") */}}
{{- define "tsunagu.componentSelectorLabels" -}}
{{ include "tsunagu.selectorLabels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "tsunagu.componentLabels" -}}
{{ include "tsunagu.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "tsunagu.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "tsunagu.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "tsunagu.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/*
Non-secret TSUNAGU_* settings as a flat map, shared by the ConfigMap and the migration Job (a pre-install
hook runs before the ConfigMap exists, so it gets the same values inline). Anything that looks like a URL
with credentials is refused: secrets belong in `secrets`, never in a ConfigMap.
*/}}
{{- define "tsunagu.configData" -}}
{{- $c := .Values.config -}}
{{- $ref := $c.masterKeyRef -}}
{{- if and (not $ref) .Values.masterKey.existingSecret -}}
{{- $ref = printf "file:%s/%s" (trimSuffix "/" .Values.masterKey.mountPath) .Values.masterKey.key -}}
{{- end -}}
{{- $secretsDir := "" -}}
{{- if include "tsunagu.tenantSecretsEnabled" . -}}
{{- $secretsDir = trimSuffix "/" .Values.tenantSecrets.mountPath -}}
{{- end -}}
{{- $data := dict
  "TSUNAGU_ENV" $c.env
  "TSUNAGU_BASE_DOMAIN" $c.baseDomain
  "TSUNAGU_LOG_LEVEL" $c.logLevel
  "TSUNAGU_SESSION_IDLE_MINUTES" (toString $c.sessionIdleMinutes)
  "TSUNAGU_SESSION_ABSOLUTE_HOURS" (toString $c.sessionAbsoluteHours)
  "TSUNAGU_BEAT_INTERVAL_SECONDS" (toString $c.beatIntervalSeconds)
  "TSUNAGU_OUTBOX_REDELIVER_SECONDS" (toString $c.outboxRedeliverSeconds)
  "TSUNAGU_OUTBOX_MAX_ATTEMPTS" (toString $c.outboxMaxAttempts)
  "TSUNAGU_DB_CONNECT_TIMEOUT_SECONDS" (toString $c.database.connectTimeoutSeconds)
  "TSUNAGU_DB_STATEMENT_TIMEOUT_SECONDS" (toString $c.database.statementTimeoutSeconds)
  "TSUNAGU_DB_LOCK_TIMEOUT_SECONDS" (toString $c.database.lockTimeoutSeconds)
  "TSUNAGU_DB_IDLE_IN_TRANSACTION_TIMEOUT_SECONDS" (toString $c.database.idleInTransactionTimeoutSeconds)
  "TSUNAGU_MAX_UPLOAD_BYTES" (toString (int64 $c.maxUploadBytes))
  "TSUNAGU_CELERY_QUEUE" .Values.worker.queue
  "TSUNAGU_MASTER_KEY_REF" $ref
  "TSUNAGU_SECRETS_DIR" $secretsDir
  "TSUNAGU_TENANTS_DIR" "/app/tenants"
  "TSUNAGU_WORKFLOWS_DIR" "/app/workflows"
-}}
{{- range $k, $v := $c.extra -}}
{{- $_ := set $data $k (toString $v) -}}
{{- end -}}
{{- range $k, $v := $data -}}
{{- if regexMatch "(?i)(DATABASE_URL|REDIS_URL|SECRET_KEY|HMAC_KEY|PASSWORD|TOKEN)$" $k -}}
{{- fail (printf "config: %s is a secret; reference an existing Secret under `secrets` instead" $k) -}}
{{- end -}}
{{- if regexMatch "[a-zA-Z][a-zA-Z0-9+.-]*://[^/@\\s]*:[^/@\\s]*@" (toString $v) -}}
{{- fail (printf "config: %s looks like a URL with credentials; secrets never go into the ConfigMap" $k) -}}
{{- end -}}
{{- end -}}
{{- toYaml $data -}}
{{- end -}}

{{/* Environment variable read from an existing Secret: (dict "name" "TSUNAGU_X" "ref" .Values.secrets.x) */}}
{{- define "tsunagu.secretEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ .ref.name | quote }}
      key: {{ .ref.key | quote }}
{{- end -}}

{{/* Secrets of the long-running processes (web, worker, beat): the application role, never the owner. */}}
{{- define "tsunagu.appSecretEnv" -}}
{{ include "tsunagu.secretEnv" (dict "name" "TSUNAGU_DATABASE_URL" "ref" .Values.secrets.database) }}
{{ include "tsunagu.secretEnv" (dict "name" "TSUNAGU_REDIS_URL" "ref" .Values.secrets.redis) }}
{{ include "tsunagu.secretEnv" (dict "name" "TSUNAGU_SECRET_KEY" "ref" .Values.secrets.secretKey) }}
{{ include "tsunagu.secretEnv" (dict "name" "TSUNAGU_AUDIT_HMAC_KEY" "ref" .Values.secrets.auditHmacKey) }}
{{- end -}}

{{- define "tsunagu.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "tsunagu.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
privileged: false
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "tsunagu.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpSizeLimit }}
{{- if .Values.masterKey.existingSecret }}
- name: master-key
  secret:
    secretName: {{ .Values.masterKey.existingSecret | quote }}
    defaultMode: 0400
    items:
      - key: {{ .Values.masterKey.key | quote }}
        path: {{ .Values.masterKey.key | quote }}
{{- end }}
{{- end -}}

{{/* Tenants' client secrets (web only): <mountPath>/<slug>/oidc_client_secret from one existing Secret. */}}
{{- define "tsunagu.tenantSecretsEnabled" -}}
{{- if and .Values.tenantSecrets.existingSecret .Values.tenantSecrets.tenants -}}true{{- end -}}
{{- end -}}

{{- define "tsunagu.tenantSecretsVolume" -}}
{{- if include "tsunagu.tenantSecretsEnabled" . }}
- name: tenant-secrets
  secret:
    secretName: {{ .Values.tenantSecrets.existingSecret | quote }}
    defaultMode: 0400
    items:
      {{- range .Values.tenantSecrets.tenants }}
      - key: {{ .key | quote }}
        path: {{ printf "%s/oidc_client_secret" .slug | quote }}
      {{- end }}
{{- end }}
{{- end -}}

{{- define "tsunagu.tenantSecretsMount" -}}
{{- if include "tsunagu.tenantSecretsEnabled" . }}
- name: tenant-secrets
  mountPath: {{ .Values.tenantSecrets.mountPath }}
  readOnly: true
{{- end }}
{{- end -}}

{{- define "tsunagu.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if .Values.masterKey.existingSecret }}
- name: master-key
  mountPath: {{ .Values.masterKey.mountPath }}
  readOnly: true
{{- end }}
{{- end -}}

{{/* Pod annotations: roll the pods when the configuration changes. */}}
{{- define "tsunagu.podAnnotations" -}}
checksum/config: {{ include "tsunagu.configData" . | sha256sum }}
{{- with .Values.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Soft spreading of a component's pods: (dict "ctx" $ "component" "web" "spread" .Values.web.topologySpread) */}}
{{- define "tsunagu.topologySpread" -}}
{{- if .spread.enabled -}}
topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: {{ .spread.topologyKey }}
    whenUnsatisfiable: {{ .spread.whenUnsatisfiable }}
    labelSelector:
      matchLabels:
        {{- include "tsunagu.componentSelectorLabels" (dict "ctx" .ctx "component" .component) | nindent 8 }}
{{- end }}
{{- end -}}

{{/* autoscaling/v2 metrics from {targetCPUUtilizationPercentage, targetMemoryUtilizationPercentage} */}}
{{- define "tsunagu.hpaMetrics" -}}
metrics:
  - type: Resource
    resource:
      name: cpu
      target:
        type: Utilization
        averageUtilization: {{ .targetCPUUtilizationPercentage }}
{{- with .targetMemoryUtilizationPercentage }}
  - type: Resource
    resource:
      name: memory
      target:
        type: Utilization
        averageUtilization: {{ . }}
{{- end }}
{{- end -}}

{{/*
A container of the migration Job: (dict "ctx" $ "name" "migrate" "args" (list "db" "upgrade")).
The only place the owner role's URL (TSUNAGU_MIGRATION_DATABASE_URL) is handed out. The application URL is
passed too: settings validation needs it in production, and the migration grants that URL's user its
privileges. Configuration is inline because a pre-install hook runs before the ConfigMap exists.
*/}}
{{- define "tsunagu.migrateContainer" -}}
{{- $ := .ctx -}}
- name: {{ .name }}
  image: {{ include "tsunagu.image" $ }}
  imagePullPolicy: {{ $.Values.image.pullPolicy }}
  command:
    - tsunagu
  args:
    {{- toYaml .args | nindent 4 }}
  env:
    {{- range $k, $v := (include "tsunagu.configData" $ | fromYaml) }}
    - name: {{ $k }}
      value: {{ $v | quote }}
    {{- end }}
    {{- include "tsunagu.secretEnv" (dict "name" "TSUNAGU_MIGRATION_DATABASE_URL" "ref" $.Values.secrets.migrationDatabase) | nindent 4 }}
    {{- include "tsunagu.secretEnv" (dict "name" "TSUNAGU_DATABASE_URL" "ref" $.Values.secrets.database) | nindent 4 }}
    {{- include "tsunagu.secretEnv" (dict "name" "TSUNAGU_SECRET_KEY" "ref" $.Values.secrets.secretKey) | nindent 4 }}
    {{- include "tsunagu.secretEnv" (dict "name" "TSUNAGU_AUDIT_HMAC_KEY" "ref" $.Values.secrets.auditHmacKey) | nindent 4 }}
  resources:
    {{- toYaml $.Values.migrations.resources | nindent 4 }}
  securityContext:
    {{- include "tsunagu.containerSecurityContext" $ | nindent 4 }}
  volumeMounts:
    {{- include "tsunagu.volumeMounts" $ | nindent 4 }}
{{- end -}}
