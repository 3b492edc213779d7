// Signs an in-toto statement about IMAGE@DIGEST with a fresh local P-256 key as a Sigstore
// bundle (sigstore-js DSSEBundleBuilder, custom signer, no witnesses) and attaches it to
// the image with @sigstore/oci, as a producer outside custody would.
//
//   node attach_bundle.js REGISTRY_HOST/REPO DIGEST OUT_PUB.pem
//
// Prints the attached referrer descriptor as JSON. Fails loudly (exit 3) when the npm
// packages are missing: run `npm ci` in this folder (scripts/setup does).
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');

let sign, bundle, oci;
try {
  sign = require('@sigstore/sign');
  bundle = require('@sigstore/bundle');
  oci = require('@sigstore/oci');
} catch (err) {
  console.error(`@sigstore/sign, @sigstore/bundle and @sigstore/oci are required: run "npm ci" in ${__dirname} (${err.message})`);
  process.exit(3);
}

async function main([imageName, digest, pubOut]) {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const publicPem = publicKey.export({ type: 'spki', format: 'pem' });
  fs.writeFileSync(pubOut, publicPem);
  const signer = {
    sign: async (data) => ({
      signature: crypto.sign('sha256', data, privateKey),
      key: { $case: 'publicKey', publicKey: publicPem },
    }),
  };
  const [alg, hex] = digest.split(':');
  const statement = {
    _type: 'https://in-toto.io/Statement/v1',
    subject: [{ name: imageName, digest: { [alg]: hex } }],
    predicateType: 'https://example.com/sigstore-oci-interop/v1',
    predicate: { producer: '@sigstore/oci' },
  };
  const builder = new sign.DSSEBundleBuilder({ signer, witnesses: [] });
  const made = await builder.create({
    data: Buffer.from(JSON.stringify(statement)),
    type: 'application/vnd.in-toto+json',
  });
  const json = bundle.bundleToJSON(made);
  const descriptor = await oci.attachArtifactToImage({
    imageName,
    imageDigest: digest,
    artifact: Buffer.from(JSON.stringify(json)),
    mediaType: json.mediaType,
    annotations: { 'dev.sigstore.bundle.predicateType': statement.predicateType },
    // The test registries allow anonymous pushes; @sigstore/oci signs in only when given
    // credentials (its sign-in expects an auth challenge).
    credentials: undefined,
  });
  console.log(JSON.stringify(descriptor));
}

main(process.argv.slice(2)).catch((err) => {
  for (let e = err; e; e = e.cause) console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
