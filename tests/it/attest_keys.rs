//! Loading keys: what is accepted, what is refused, and the key ids.

use crate::support;
use custody::attest::{KeyAlgorithm, KeyError, PublicKey, SigningKey};
use support::fixtures::data_text as text;

/// A 1024-bit RSA key made with `openssl genrsa 1024` for this test.
const RSA_1024: &str = "-----BEGIN PUBLIC KEY-----
MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDAXa4VOaFg46MUMgy0ovR+UoQ0
PZbguepzeR9lYlPGwtCH6MU9xjd8iifobNatc8dWXaJzqUtC8x5wB8atf7DKVtU7
gAB83viy3Td+R0vGml+XYTbFQUs1YTAfR8C2GUZxOa4tuGI/SZXB+nPnftS40Kgv
W+X3y8ykbtjDf+jtRQIDAQAB
-----END PUBLIC KEY-----
";

#[test]
fn algorithms_come_from_the_spki() {
    let cases = [
        ("dsse/p256.pub", KeyAlgorithm::EcdsaP256),
        ("intoto-golang/grace.pub", KeyAlgorithm::EcdsaP384),
        ("intoto-golang/frank.pub", KeyAlgorithm::EcdsaP521),
        ("intoto-golang/carol.pub", KeyAlgorithm::Ed25519),
        ("intoto-golang/alice.pub", KeyAlgorithm::Rsa),
    ];
    for (file, alg) in cases {
        let k = PublicKey::from_pem(&text(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(k.algorithm(), alg, "{file}");
        assert_eq!(k.key_id().len(), 64);
        // Re-encoding gives back the file's PEM exactly (64-column OpenSSL layout).
        assert_eq!(k.to_pem().trim(), text(file).trim(), "{file}");
    }
    assert_eq!(
        PublicKey::from_pem(&text("intoto-golang/alice.pub"))
            .unwrap()
            .rsa_bits(),
        Some(2048)
    );
}

#[test]
fn unsupported_curves_are_refused() {
    // P-224 and secp256k1.
    for file in ["intoto-golang/heidi.pub", "intoto-golang/erin.pub"] {
        let err = PublicKey::from_pem(&text(file)).unwrap_err();
        assert!(matches!(err, KeyError::Unsupported(_)), "{file}: {err}");
    }
}

#[test]
fn rsa_below_2048_bits_is_refused() {
    assert_eq!(
        PublicKey::from_pem(RSA_1024).unwrap_err(),
        KeyError::RsaSize(1024)
    );
}

#[test]
fn pkcs1_rsa_public_keys_are_read() {
    let spki = PublicKey::from_pem(&text("intoto-golang/alice.pub")).unwrap();
    // SPKI = SEQ { SEQ { rsaEncryption, NULL }, BIT STRING { 0x00, RSAPublicKey } }.
    let der = spki.spki_der();
    let pkcs1 = &der[24..];
    assert_eq!(pkcs1[0], 0x30);
    let pem = format!(
        "-----BEGIN RSA PUBLIC KEY-----\n{}\n-----END RSA PUBLIC KEY-----\n",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, pkcs1)
    );
    assert_eq!(PublicKey::from_pem(&pem).unwrap(), spki);
}

#[test]
fn garbage_and_wrong_blocks_are_refused_with_reasons() {
    assert!(matches!(
        PublicKey::from_pem("hello"),
        Err(KeyError::Pem(_))
    ));
    let k = SigningKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    // A private key is not a public key.
    assert!(matches!(
        PublicKey::from_pem(&k.to_pkcs8_pem().unwrap()),
        Err(KeyError::NoKeyBlock { .. })
    ));
    // Two keys in one file.
    let two = format!("{}{}", k.public_key_pem(), text("dsse/p256.pub"));
    assert_eq!(
        PublicKey::from_pem(&two).unwrap_err(),
        KeyError::SeveralKeys(2)
    );
    // A point that is not on the curve.
    let mut der = k.public_key().spki_der().to_vec();
    let last = der.len() - 1;
    der[last] ^= 1;
    assert!(matches!(
        PublicKey::from_spki_der(&der),
        Err(KeyError::Invalid { .. })
    ));
    // Trailing bytes after the SPKI.
    let mut long = k.public_key().spki_der().to_vec();
    long.push(0);
    assert!(matches!(
        PublicKey::from_spki_der(&long),
        Err(KeyError::Der { .. })
    ));
}

/// A throwaway P-256 key made with `openssl ecparam -genkey -name prime256v1 -noout`
/// (SEC1 form) for this test, and its public half from `openssl ec -pubout`.
const SEC1_KEY: &str = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIFgk6e/1Hw6fgEFPen8D/u71tOyQImtp2C3r9FrL7rgRoAoGCCqGSM49\nAwEHoUQDQgAEHAjtvajRhHiI74MntqS45IHZNNT5zNjNEzJ4prJPuDqNB1VjlByz\ntZa3u+Begrpi6zwjeR0fs5BhG7odFMIAmQ==\n-----END EC PRIVATE KEY-----";
const SEC1_PUB: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEHAjtvajRhHiI74MntqS45IHZNNT5\nzNjNEzJ4prJPuDqNB1VjlByztZa3u+Begrpi6zwjeR0fs5BhG7odFMIAmQ==\n-----END PUBLIC KEY-----";

#[test]
fn signing_keys_load_from_pkcs8_and_sec1_pem() {
    let k = SigningKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let again = SigningKey::from_pem(&k.to_pkcs8_pem().unwrap()).unwrap();
    assert_eq!(again.public_key(), k.public_key());
    let sec1 = SigningKey::from_pem(SEC1_KEY).unwrap();
    assert_eq!(sec1.public_key(), &PublicKey::from_pem(SEC1_PUB).unwrap());
    assert!(SigningKey::from_pem(&k.public_key_pem()).is_err());
}

#[test]
fn algorithm_names_parse() {
    for (name, alg) in [
        ("p256", KeyAlgorithm::EcdsaP256),
        ("P384", KeyAlgorithm::EcdsaP384),
        ("p521", KeyAlgorithm::EcdsaP521),
        ("ed25519", KeyAlgorithm::Ed25519),
        ("rsa", KeyAlgorithm::Rsa),
    ] {
        assert_eq!(name.parse::<KeyAlgorithm>().unwrap(), alg);
    }
    assert!("dsa".parse::<KeyAlgorithm>().is_err());
}

#[test]
fn one_rsa_key_in_two_encodings_is_one_key() {
    use custody::attest::{
        INTOTO_PAYLOAD_TYPE, TrustedKey, VerifyError, sign_envelope, verify_envelope,
    };
    let signer = SigningKey::generate(KeyAlgorithm::Rsa).unwrap();
    let usual = signer.public_key().clone();
    let der = usual.spki_der();
    // SEQ { SEQ { OID rsaEncryption, NULL }, BIT STRING } -> drop the NULL (05 00).
    let alg_len = usize::from(der[5]);
    assert_eq!(&der[4..6], &[0x30, 0x0d]);
    assert_eq!(&der[17..19], &[0x05, 0x00]);
    let rest = &der[4 + 2 + alg_len..];
    let mut body = vec![0x30, 0x0b];
    body.extend_from_slice(&der[6..17]);
    body.extend_from_slice(rest);
    let mut without_null = vec![0x30, 0x82];
    without_null.extend_from_slice(&(body.len() as u16).to_be_bytes());
    without_null.extend_from_slice(&body);
    let other_form = PublicKey::from_spki_der(&without_null).unwrap();
    assert_eq!(other_form, usual);
    assert_eq!(other_form.key_id(), usual.key_id());
    // Signing twice and listing both encodings does not make two signers.
    let env = sign_envelope(INTOTO_PAYLOAD_TYPE, b"{}", &[&signer, &signer]).unwrap();
    let trusted = [
        TrustedKey::new(Some("a".into()), usual),
        TrustedKey::new(Some("b".into()), other_form),
    ];
    assert!(matches!(
        verify_envelope(&env, &trusted, 2),
        Err(VerifyError::InvalidThreshold { keys: 1, .. })
    ));
}

#[test]
fn non_canonical_ed25519_keys_are_refused() {
    let mut raw = [0xffu8; 32];
    raw[0] = 0xee; // y = 2^255 - 18 = p + 1, a second spelling of y = 1
    raw[31] = 0x7f;
    assert!(matches!(
        PublicKey::from_ed25519_bytes(&raw),
        Err(KeyError::Invalid { .. })
    ));
    assert!(PublicKey::from_ed25519_bytes(&[0u8; 31]).is_err());
}
