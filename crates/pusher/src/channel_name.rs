//! Channel names: what Pusher accepts (`[A-Za-z0-9_\-=@,.;]`, at most 164 characters) and
//! which kind of channel a name denotes, decided by its prefix.

/// Longest channel name Pusher accepts.
pub const MAX_CHANNEL_NAME_BYTES: usize = 164;

/// The kind of a channel, which decides what a subscription needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChannelKind {
    /// No prefix: anyone connected may subscribe, no signature needed.
    Public,
    /// `private-`: the subscription must carry a signature from `/broadcasting/auth`.
    Private,
    /// `private-encrypted-`: end-to-end encrypted; not supported by this server.
    EncryptedPrivate,
    /// `presence-`: member lists; not supported by this server.
    Presence,
}

impl ChannelKind {
    /// The kind a name's prefix denotes; the name itself is not validated.
    #[must_use]
    pub fn of(name: &str) -> Self {
        if name.starts_with("private-encrypted-") {
            Self::EncryptedPrivate
        } else if name.starts_with("private-") {
            Self::Private
        } else if name.starts_with("presence-") {
            Self::Presence
        } else {
            Self::Public
        }
    }
}

/// Why a channel name is not one Pusher accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChannelNameError {
    /// The name is empty.
    #[error("the channel name is empty")]
    Empty,
    /// The name is longer than [`MAX_CHANNEL_NAME_BYTES`].
    #[error("the channel name is {length_bytes} characters long, more than the {MAX_CHANNEL_NAME_BYTES} allowed")]
    TooLong {
        /// The name's length.
        length_bytes: usize,
    },
    /// The name contains a character outside `[A-Za-z0-9_\-=@,.;]`.
    #[error("the channel name contains {character:?}; only letters, digits and _ - = @ , . ; are allowed")]
    InvalidCharacter {
        /// The first offending character.
        character: char,
    },
}

/// Checks a channel name and tells its kind.
///
/// # Errors
/// The first rule the name breaks: empty, too long, or a character Pusher refuses.
pub fn validate_channel_name(name: &str) -> Result<ChannelKind, ChannelNameError> {
    if name.is_empty() {
        return Err(ChannelNameError::Empty);
    }
    if name.len() > MAX_CHANNEL_NAME_BYTES {
        return Err(ChannelNameError::TooLong { length_bytes: name.len() });
    }
    if let Some(character) = name.chars().find(|character| !is_allowed(*character)) {
        return Err(ChannelNameError::InvalidCharacter { character });
    }
    Ok(ChannelKind::of(name))
}

/// Whether Pusher accepts `name` as a channel name.
#[must_use]
pub fn is_valid_channel_name(name: &str) -> bool {
    validate_channel_name(name).is_ok()
}

fn is_allowed(character: char) -> bool {
    character.is_ascii_alphanumeric() || matches!(character, '_' | '-' | '=' | '@' | ',' | '.' | ';')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_follow_the_prefix() {
        assert_eq!(validate_channel_name("news"), Ok(ChannelKind::Public));
        assert_eq!(validate_channel_name("private-moderator.42"), Ok(ChannelKind::Private));
        assert_eq!(validate_channel_name("private-encrypted-x"), Ok(ChannelKind::EncryptedPrivate));
        assert_eq!(validate_channel_name("presence-room"), Ok(ChannelKind::Presence));
        assert_eq!(validate_channel_name("privatex"), Ok(ChannelKind::Public));
    }

    #[test]
    fn every_allowed_punctuation_mark_is_accepted() {
        assert!(is_valid_channel_name("a_b-c=d@e,f.g;h"));
    }

    #[test]
    fn length_limit_is_164() {
        assert!(is_valid_channel_name(&"a".repeat(164)));
        assert_eq!(validate_channel_name(&"a".repeat(165)), Err(ChannelNameError::TooLong { length_bytes: 165 }));
    }

    #[test]
    fn refuses_other_characters() {
        assert_eq!(validate_channel_name(""), Err(ChannelNameError::Empty));
        for (name, character) in [("a b", ' '), ("a:b", ':'), ("a/b", '/'), ("a#b", '#'), ("é", 'é'), ("a\0", '\0')] {
            assert_eq!(validate_channel_name(name), Err(ChannelNameError::InvalidCharacter { character }));
        }
    }
}
