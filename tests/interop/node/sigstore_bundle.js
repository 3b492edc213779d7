// Sigstore bundles made and read by sigstore-js (@sigstore/sign, @sigstore/bundle), for
// custody's interop tests.
//
//   node sigstore_bundle.js sign OUTDIR      for p256 and ed25519: OUTDIR/<alg>.pub and
//                                            OUTDIR/<alg>.bundle.json (DSSEBundleBuilder,
//                                            local key signer, no witnesses)
//   node sigstore_bundle.js verify BUNDLE PUB  parse BUNDLE with @sigstore/bundle (its
//                                            schema checks) and verify its DSSE signature
//                                            with node's crypto; exit 0 valid, 1 invalid
//
// Fails loudly when the npm packages are missing (run `npm ci` in this folder).
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

let sign, bundle;
try {
  sign = require('@sigstore/sign');
  bundle = require('@sigstore/bundle');
} catch (err) {
  console.error(`@sigstore/sign and @sigstore/bundle are required: run "npm ci" in ${__dirname} (${err.message})`);
  process.exit(3);
}

const STATEMENT = JSON.stringify({
  _type: 'https://in-toto.io/Statement/v1',
  subject: [{ name: 'registry.example/app', digest: { sha256: 'b'.repeat(64) } }],
  predicateType: 'https://example.com/sigstore-js-interop/v1',
  predicate: { producer: 'sigstore-js' },
});

function pae(type, body) {
  const t = Buffer.from(type, 'utf8');
  return Buffer.concat([Buffer.from(`DSSEv1 ${t.length} `), t, Buffer.from(` ${body.length} `), body]);
}

function hashFor(key) {
  return key.asymmetricKeyType === 'ed25519' ? null : 'sha256';
}

async function signAll(outdir) {
  for (const [alg, opts] of [['p256', ['ec', { namedCurve: 'P-256' }]], ['ed25519', ['ed25519', {}]]]) {
    const { publicKey, privateKey } = crypto.generateKeyPairSync(...opts);
    const pem = publicKey.export({ type: 'spki', format: 'pem' });
    const signer = {
      sign: async (data) => ({
        signature: crypto.sign(hashFor(privateKey), data, privateKey),
        key: { $case: 'publicKey', publicKey: pem, hint: `${alg}-hint` },
      }),
    };
    const builder = new sign.DSSEBundleBuilder({ signer, witnesses: [] });
    const b = await builder.create({ data: Buffer.from(STATEMENT), type: 'application/vnd.in-toto+json' });
    fs.writeFileSync(path.join(outdir, `${alg}.pub`), pem);
    fs.writeFileSync(path.join(outdir, `${alg}.bundle.json`), JSON.stringify(bundle.bundleToJSON(b)));
  }
}

function verify(bundlePath, pubPath) {
  const parsed = bundle.bundleFromJSON(JSON.parse(fs.readFileSync(bundlePath, 'utf8')));
  if (parsed.content.$case !== 'dsseEnvelope') {
    console.log(`rejected: content is ${parsed.content.$case}`);
    return 1;
  }
  const env = parsed.content.dsseEnvelope;
  const key = crypto.createPublicKey(fs.readFileSync(pubPath));
  const message = pae(env.payloadType, env.payload);
  // custody signs RSA with PSS (salt = digest length), the in-toto default scheme.
  const verifier = key.asymmetricKeyType === 'rsa'
    ? { key, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }
    : key;
  const ok = env.signatures.some((s) => crypto.verify(hashFor(key), message, verifier, s.sig));
  console.log(ok ? `verified: ${parsed.mediaType}` : 'rejected: no signature verifies');
  return ok ? 0 : 1;
}

async function main() {
  const [cmd, ...args] = process.argv.slice(2);
  if (cmd === 'sign' && args.length === 1) return signAll(args[0]).then(() => 0);
  if (cmd === 'verify' && args.length === 2) return verify(args[0], args[1]);
  console.error('usage: sigstore_bundle.js sign OUTDIR | verify BUNDLE PUB');
  return 2;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.log(`rejected: ${err.message}`);
    process.exit(1);
  },
);
