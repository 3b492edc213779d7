#!/bin/sh
# Writes deploy/tls/{ca.crt,tls.crt,tls.key}: a CA and a serving certificate for the
# custody Service (custody.custody.svc), ECDSA P-256, valid 10 years. kustomization.yaml
# turns them into the custody-tls Secret and copies ca.crt into the webhook's caBundle.
# Re-run and re-apply to rotate. Needs openssl (1.1.1 or later).
set -eu
cd "$(dirname "$0")"
NAMESPACE="${NAMESPACE:-custody}"
SERVICE="${SERVICE:-custody}"
DAYS="${DAYS:-3650}"
DNS="${SERVICE}.${NAMESPACE}.svc"
mkdir -p tls
umask 077
openssl ecparam -name prime256v1 -genkey -noout -out tls/ca.key
openssl req -x509 -new -sha256 -key tls/ca.key -days "$DAYS" -subj "/CN=${SERVICE}-ca" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -out tls/ca.crt
openssl ecparam -name prime256v1 -genkey -noout -out tls/key.sec1
openssl pkcs8 -topk8 -nocrypt -in tls/key.sec1 -out tls/tls.key
rm -f tls/key.sec1
openssl req -new -sha256 -key tls/tls.key -subj "/CN=${DNS}" -out tls/tls.csr
printf 'subjectAltName=DNS:%s,DNS:%s.cluster.local\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n' \
  "$DNS" "$DNS" > tls/ext.cnf
openssl x509 -req -sha256 -in tls/tls.csr -CA tls/ca.crt -CAkey tls/ca.key -CAcreateserial \
  -days "$DAYS" -extfile tls/ext.cnf -out tls/tls.crt 2>/dev/null
rm -f tls/tls.csr tls/ext.cnf tls/ca.srl
echo "wrote $(pwd)/tls/ca.crt tls.crt tls.key (CA key in tls/ca.key: keep it offline or delete it)"
