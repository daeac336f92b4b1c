//! The protocol's signatures, all hex HMAC-SHA256 with the app secret: private channels
//! (`"<app_key>:<hex of "<socket_id>:<channel>">"`), presence channels (the same over
//! `"<socket_id>:<channel>:<channel_data>"`), HTTP-API requests and webhook bodies. Every
//! check compares the digest in constant time.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Length of a SHA-256 digest.
const SIGNATURE_BYTES: usize = 32;

/// The `auth` value a client must present to subscribe `socket_id` to the private
/// `channel`: what `/broadcasting/auth` answers as `{"auth": ...}`.
#[must_use]
pub fn sign_private_channel(app_key: &str, app_secret: &str, socket_id: &str, channel: &str) -> String {
    let digest = mac_for(app_secret, socket_id, channel, None).finalize().into_bytes();
    format!("{app_key}:{}", hex::encode(digest))
}

/// The `auth` value for a presence subscription carrying `channel_data` (the exact JSON
/// text the client will send).
#[must_use]
pub fn sign_presence_channel(
    app_key: &str,
    app_secret: &str,
    socket_id: &str,
    channel: &str,
    channel_data: &str,
) -> String {
    let digest = mac_for(app_secret, socket_id, channel, Some(channel_data)).finalize().into_bytes();
    format!("{app_key}:{}", hex::encode(digest))
}

/// Lowercase hex HMAC-SHA256 of `message`: HTTP-API signatures and `X-Pusher-Signature`.
#[must_use]
pub fn hex_hmac(app_secret: &str, message: &[u8]) -> String {
    let mut mac = new_mac(app_secret);
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
}

/// Whether `presented_hex` is the hex HMAC-SHA256 of `message`, compared in constant time.
pub(crate) fn verify_hex_hmac(app_secret: &str, message: &[u8], presented_hex: &str) -> bool {
    let mut presented = [0_u8; SIGNATURE_BYTES];
    if hex::decode_to_slice(presented_hex, &mut presented).is_err() {
        return false;
    }
    let mut mac = new_mac(app_secret);
    mac.update(message);
    mac.verify_slice(&presented).is_ok()
}

/// Whether `auth` is the signature for `socket_id` on `channel`. The key part is compared
/// plainly (it is public); the digest in constant time.
pub(crate) fn verify_private_channel(
    app_key: &str,
    app_secret: &str,
    socket_id: &str,
    channel: &str,
    channel_data: Option<&str>,
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
    mac_for(app_secret, socket_id, channel, channel_data).verify_slice(&presented).is_ok()
}

fn new_mac(app_secret: &str) -> HmacSha256 {
    // HMAC takes keys of any length; `new_from_slice` only fails for fixed-key MACs.
    HmacSha256::new_from_slice(app_secret.as_bytes()).expect("HMAC-SHA256 accepts keys of any length")
}

fn mac_for(app_secret: &str, socket_id: &str, channel: &str, channel_data: Option<&str>) -> HmacSha256 {
    let mut mac = new_mac(app_secret);
    mac.update(socket_id.as_bytes());
    mac.update(b":");
    mac.update(channel.as_bytes());
    if let Some(channel_data) = channel_data {
        mac.update(b":");
        mac.update(channel_data.as_bytes());
    }
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
        assert!(verify_private_channel(KEY, SECRET, "1234.1234", "private-foobar", None, &auth));
        assert!(verify_private_channel(
            KEY,
            SECRET,
            "1234.1234",
            "private-foobar",
            None,
            &auth.to_uppercase().replace(&KEY.to_uppercase(), KEY)
        ));
    }

    #[test]
    fn refuses_signatures_for_anything_else() {
        let auth = format!("{KEY}:{EXPECTED}");
        assert!(!verify_private_channel(KEY, SECRET, "1234.1235", "private-foobar", None, &auth));
        assert!(!verify_private_channel(KEY, SECRET, "1234.1234", "private-foobaz", None, &auth));
        assert!(!verify_private_channel(KEY, "other", "1234.1234", "private-foobar", None, &auth));
        assert!(!verify_private_channel("other-key", SECRET, "1234.1234", "private-foobar", None, &auth));
    }

    #[test]
    fn presence_signatures_cover_the_channel_data() {
        // Expected digest computed independently with Python's hmac module.
        let channel_data = r#"{"user_id":10,"user_info":{"name":"Mr. Channels"}}"#;
        let auth = sign_presence_channel(KEY, SECRET, "1234.1234", "presence-foobar", channel_data);
        assert_eq!(auth, format!("{KEY}:31935e7d86dba64c2a90aed31fdc61869f9b22ba9d8863bba239c03ca481bc80"));
        assert!(verify_private_channel(KEY, SECRET, "1234.1234", "presence-foobar", Some(channel_data), &auth));
        let altered = r#"{"user_id":11,"user_info":{"name":"Mr. Channels"}}"#;
        assert!(!verify_private_channel(KEY, SECRET, "1234.1234", "presence-foobar", Some(altered), &auth));
        assert!(!verify_private_channel(KEY, SECRET, "1234.1234", "presence-foobar", None, &auth));
    }

    #[test]
    fn hex_hmac_round_trips_and_refuses_other_text() {
        let signature = hex_hmac(SECRET, b"POST\n/apps/3/events\nauth_key=k");
        assert!(verify_hex_hmac(SECRET, b"POST\n/apps/3/events\nauth_key=k", &signature));
        assert!(!verify_hex_hmac(SECRET, b"POST\n/apps/3/events\nauth_key=j", &signature));
        assert!(!verify_hex_hmac(SECRET, b"x", "not hex"));
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
            assert!(!verify_private_channel(KEY, SECRET, "1234.1234", "private-foobar", None, auth), "{auth:?}");
        }
    }
}
