#!/usr/bin/env bash
# Regenerates the signed examples with fresh throwaway keys. The private keys
# live only in a temporary folder and are deleted at the end: the repository
# holds only the public key and the CA certificate that verify the examples.
#
#   examples/model/      a tiny "model", signed with an EC P-256 key (key method)
#   examples/adapter/    a tiny LoRA adapter, signed with a certificate issued by
#                        a throwaway CA through an intermediate (certificate method)
#   examples/keys/       example-key.pub.pem (verifies model/), example-ca.pem (root
#                        CA that verifies adapter/)
#   examples/hf-cache/   a Hugging Face hub cache with example-org/tiny-model (signed
#                        with the example key, snapshot links into blobs/)
#   examples/policy.json a policy that uses every method kind
#
# Usage: examples/make-examples.sh   (from anywhere; needs go and openssl)
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

go build -o "$tmp/modelgate" ./cmd/modelgate

# Key method: a bare P-256 key.
openssl ecparam -genkey -name prime256v1 -noout | openssl pkcs8 -topk8 -nocrypt -out "$tmp/example-key.pem"
openssl ec -in "$tmp/example-key.pem" -pubout -out examples/keys/example-key.pub.pem 2>/dev/null

# Certificate method: root CA -> intermediate CA -> signing certificate.
cat >"$tmp/ext.cnf" <<'CNF'
[example_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[example_leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = codeSigning
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
CNF
openssl ecparam -genkey -name secp384r1 -noout -out "$tmp/ca.key"
openssl req -new -x509 -key "$tmp/ca.key" -subj "/CN=modelgate example root CA" -days 3650 \
  -extensions example_ca -config <(cat /etc/ssl/openssl.cnf "$tmp/ext.cnf") -out examples/keys/example-ca.pem
openssl ecparam -genkey -name secp384r1 -noout -out "$tmp/int.key"
openssl req -new -key "$tmp/int.key" -subj "/CN=modelgate example intermediate CA" -out "$tmp/int.csr"
openssl x509 -req -in "$tmp/int.csr" -CA examples/keys/example-ca.pem -CAkey "$tmp/ca.key" -CAserial "$tmp/ca.srl" -CAcreateserial \
  -days 3650 -extfile "$tmp/ext.cnf" -extensions example_ca -out "$tmp/int.pem" 2>/dev/null
openssl ecparam -genkey -name prime256v1 -noout | openssl pkcs8 -topk8 -nocrypt -out "$tmp/leaf.key"
openssl req -new -key "$tmp/leaf.key" -subj "/CN=adapter-publisher@example.com" -out "$tmp/leaf.csr"
openssl x509 -req -in "$tmp/leaf.csr" -CA "$tmp/int.pem" -CAkey "$tmp/int.key" -CAserial "$tmp/int.srl" -CAcreateserial \
  -days 3650 -extfile "$tmp/ext.cnf" -extensions example_leaf -out "$tmp/leaf.pem" 2>/dev/null

"$tmp/modelgate" sign key --private-key "$tmp/example-key.pem" examples/model
"$tmp/modelgate" sign certificate --private-key "$tmp/leaf.key" --signing-certificate "$tmp/leaf.pem" \
  --certificate-chain "$tmp/int.pem" examples/adapter

# A Hugging Face hub cache holding example-org/tiny-model as huggingface_hub
# lays it out: refs/main names the commit, snapshots/COMMIT/* are relative
# symlinks to ../../blobs/ETAG, and the snapshot carries its model.sig
# (signed with the example key, like examples/model). Use it with
#   HF_HUB_CACHE=examples/hf-cache modelgate verify --security-policy examples/policy.json --model example-org/tiny-model
hub=examples/hf-cache
repo="$hub/models--example-org--tiny-model"
commit=$(printf 'example-org/tiny-model' | sha1sum | cut -c1-40)
src="$tmp/tiny-model"
mkdir -p "$src"
printf '{"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 8}\n' >"$src/config.json"
printf 'tiny-model weights\n' >"$src/model.safetensors"
printf '{"version": "1.0", "model": {"type": "BPE", "vocab": {"a": 0, "b": 1}}}\n' >"$src/tokenizer.json"
"$tmp/modelgate" sign key --private-key "$tmp/example-key.pem" "$src"
rm -rf "$hub"
mkdir -p "$repo/blobs" "$repo/refs" "$repo/snapshots/$commit"
for f in "$src"/*; do
  etag=$(sha256sum "$f" | cut -c1-64)
  cp "$f" "$repo/blobs/$etag"
  ln -s "../../blobs/$etag" "$repo/snapshots/$commit/$(basename "$f")"
done
printf '%s' "$commit" >"$repo/refs/main"
