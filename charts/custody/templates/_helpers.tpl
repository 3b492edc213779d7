{{/* Chart name, overridable. */}}
{{- define "custody.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name: the release name, or "<release>-custody" unless it already says custody. */}}
{{- define "custody.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "custody.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "custody.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels that select the webhook pods; never change them across upgrades. */}}
{{- define "custody.selectorLabels" -}}
app.kubernetes.io/name: {{ include "custody.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Labels on every object. */}}
{{- define "custody.labels" -}}
{{ include "custody.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: custody
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | quote }}
{{- end -}}

{{/* The ServiceAccount the pods run as. */}}
{{- define "custody.serviceAccountName" -}}
{{- default (include "custody.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{/* Name of the Secret holding the serving certificate. */}}
{{- define "custody.tlsSecretName" -}}
{{- printf "%s-tls" (include "custody.fullname" .) -}}
{{- end -}}

{{/* The repository, behind image.registry when one is set (a mirror). */}}
{{- define "custody.imageRepository" -}}
{{- if .Values.image.registry -}}
{{- printf "%s/%s" (trimSuffix "/" .Values.image.registry) .Values.image.repository -}}
{{- else -}}
{{- .Values.image.repository -}}
{{- end -}}
{{- end -}}

{{/* The image reference: repository:tag, or repository@digest when a digest is set. */}}
{{- define "custody.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" (include "custody.imageRepository" .) .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" (include "custody.imageRepository" .) (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/*
Shared by both webhooks. kube-system and the release namespace are always excluded so
that custody can never block its own recovery or the cluster's system pods, and so is
cert-manager's namespace when cert-manager issues custody's certificate.
*/}}
{{- define "custody.webhookCommon" -}}
admissionReviewVersions: ["v1"]
sideEffects: None
matchPolicy: Equivalent
timeoutSeconds: {{ .Values.webhook.timeoutSeconds }}
namespaceSelector:
  matchExpressions:
    - key: kubernetes.io/metadata.name
      operator: NotIn
      values:
        - kube-system
        - {{ .Release.Namespace }}
        {{- if and .Values.certManager.enabled (ne .Values.certManager.namespace .Release.Namespace) }}
        - {{ .Values.certManager.namespace }}
        {{- end }}
        {{- range .Values.webhook.excludeNamespaces }}
        - {{ . }}
        {{- end }}
    - key: {{ .Values.webhook.ignoreLabel }}
      operator: NotIn
      values: ["true"]
    {{- with .Values.webhook.namespaceMatchExpressions }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- with .Values.webhook.objectMatchExpressions }}
objectSelector:
  matchExpressions:
    {{- toYaml . | nindent 4 }}
{{- end }}
{{- with .Values.webhook.matchConditions }}
matchConditions:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Rules for the checked kinds, limited to the names in the list passed as context. */}}
{{- define "custody.webhookRules" -}}
{{- $core := list -}}
{{- $apps := list -}}
{{- $batch := list -}}
{{- range . -}}
{{- if has . (list "pods" "pods/ephemeralcontainers" "replicationcontrollers") -}}
{{- $core = append $core . -}}
{{- else if has . (list "deployments" "replicasets" "statefulsets" "daemonsets") -}}
{{- $apps = append $apps . -}}
{{- else if has . (list "jobs" "cronjobs") -}}
{{- $batch = append $batch . -}}
{{- end -}}
{{- end -}}
rules:
{{- range $group := list (list "" $core) (list "apps" $apps) (list "batch" $batch) }}
{{- if index $group 1 }}
  - apiGroups: [{{ index $group 0 | quote }}]
    apiVersions: ["v1"]
    operations: ["CREATE", "UPDATE"]
    resources:
      {{- range index $group 1 }}
      - {{ . }}
      {{- end }}
    scope: Namespaced
{{- end }}
{{- end }}
{{- end -}}

{{/* The server's names for the kinds the mutating webhook sends (CUSTODY_MUTATE_KINDS). */}}
{{- define "custody.mutateKinds" -}}
{{- $names := dict "pods" "Pod" "deployments" "Deployment" "replicasets" "ReplicaSet" "statefulsets" "StatefulSet" "daemonsets" "DaemonSet" "jobs" "Job" "cronjobs" "CronJob" "replicationcontrollers" "ReplicationController" -}}
{{- $kinds := list -}}
{{- range .Values.webhook.mutating.resources -}}
{{- $kinds = append $kinds (index $names .) -}}
{{- end -}}
{{- join "," $kinds -}}
{{- end -}}

{{/*
Fails the install when the server's decision deadline is not below the webhook timeout:
then the apiserver would give up first and apply the failure policy instead of custody's
explicit answer.
*/}}
{{- define "custody.checkDeadline" -}}
{{- $deadline := .Values.server.deadline -}}
{{- $ms := 0 -}}
{{- if hasSuffix "ms" $deadline -}}
{{- $ms = trimSuffix "ms" $deadline | int -}}
{{- else -}}
{{- $ms = mul (trimSuffix "s" $deadline | int) 1000 -}}
{{- end -}}
{{- if ge $ms (mul .Values.webhook.timeoutSeconds 1000) -}}
{{- fail (printf "server.deadline (%s) must be below webhook.timeoutSeconds (%ds)" $deadline (int .Values.webhook.timeoutSeconds)) -}}
{{- end -}}
{{- end -}}
