//! Private channel signatures: `"<app_key>:<lowercase hex HMAC-SHA256(app_secret,
//! "<socket_id>:<channel>")>"`, produced for `/broadcasting/auth` and checked, in constant
//! time, when a socket subscribes.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Length of a SHA-256 digest.
const SIGNATURE_BYTES: usize = 32;

/// The `auth` value a client must present to subscribe `socket_id` to the private
/// `channel`: what `/broadcasting/auth` answers as `{"auth": ...}`.
#[must_use]
pub fn sign_private_channel(app_key: &str, app_secret: &str, socket_id: &str, channel: &str) -> String {
    let digest = mac_for(app_secret, socket_id, channel).finalize().into_bytes();
    format!("{app_key}:{}", hex::encode(digest))
}

/// Whether `auth` is the signature for `socket_id` on `channel`. The key part is compared
/// plainly (it is public); the digest in constant time.
pub(crate) fn verify_private_channel(
    app_key: &str,
    app_secret: &str,
    socket_id: &str,
    channel: &str,
    auth: &str,
) -> bool {
    let Some((key, hex_digest)) = auth.split_once(':') else {
        return false;
    };
    if key != app_key {
        return false;
    }
    let mut presented = [0_u8; SIGNATURE_BYTES];
    if hex::decode_to_slice(hex_digest, &mut presented).is_err() {
        return false;
    }
    mac_for(app_secret, socket_id, channel).verify_slice(&presented).is_ok()
}

fn mac_for(app_secret: &str, socket_id: &str, channel: &str) -> HmacSha256 {
    // HMAC takes keys of any length; `new_from_slice` only fails for fixed-key MACs.
    let mut mac = HmacSha256::new_from_slice(app_secret.as_bytes()).expect("HMAC-SHA256 accepts keys of any length");
    mac.update(socket_id.as_bytes());
    mac.update(b":");
    mac.update(channel.as_bytes());
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "278d425bdf160c739803";
    const SECRET: &str = "7ad3773142a6692b25b8";
    const EXPECTED: &str = "58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4";

    #[test]
    fn matches_the_pusher_test_vector() {
        assert_eq!(sign_private_channel(KEY, SECRET, "1234.1234", "private-foobar"), format!("{KEY}:{EXPECTED}"));
    }

    #[test]
    fn verifies_its_own_signatures() {
        let auth = format!("{KEY}:{EXPECTED}");
        assert!(verify_private_channel(KEY, SECRET, "1234.1234", "private-foobar", &auth));
        assert!(verify_private_channel(
            KEY,
            SECRET,
            "1234.1234",
            "private-foobar",
            &auth.to_uppercase().replace(&KEY.to_uppercase(), KEY)
        ));
    }

    #[test]
    fn refuses_signatures_for_anything_else() {
        let auth = format!("{KEY}:{EXPECTED}");
        assert!(!verify_private_channel(KEY, SECRET, "1234.1235", "private-foobar", &auth));
        assert!(!verify_private_channel(KEY, SECRET, "1234.1234", "private-foobaz", &auth));
        assert!(!verify_private_channel(KEY, "other", "1234.1234", "private-foobar", &auth));
        assert!(!verify_private_channel("other-key", SECRET, "1234.1234", "private-foobar", &auth));
    }

    #[test]
    fn refuses_malformed_auth_values() {
        for auth in [
            "",
            ":",
            KEY,
            &format!("{KEY}:"),
            &format!("{KEY}:{}", &EXPECTED[..63]),
            &format!("{KEY}:{EXPECTED}0"),
            &format!("{KEY}:{}", "z".repeat(64)),
            &format!("{KEY}:{EXPECTED}:extra"),
            &format!(":{EXPECTED}"),
        ] {
            assert!(!verify_private_channel(KEY, SECRET, "1234.1234", "private-foobar", auth), "{auth:?}");
        }
    }
}
