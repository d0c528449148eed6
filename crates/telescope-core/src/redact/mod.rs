//! One redaction policy for every signal that leaves the process: which field, attribute,
//! label and query-parameter names are secret, so that their values are replaced before they
//! are stored anywhere (a log line, a span, the in-process ring, an export batch, a metric
//! label).

/// The names redacted by default. Matching is case-insensitive, treats `-`, `.` and `_` as the
/// same character, and takes whole names or `_`/`-`/`.`-separated suffixes (see
/// [`Redaction`]). `session_id` is on it: a session identifier is a bearer credential in most
/// web applications. `token_count`, `secretary` and `keyboard` are not matched.
pub const DEFAULT_REDACTED: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "passphrase",
    "secret",
    "secret_key",
    "secret_access_key",
    "client_secret",
    "private_key",
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "x-auth-token",
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "session",
    "session_id",
    "sessionid",
    "api_key",
    "apikey",
    "credential",
    "credentials",
    "ssn",
    "card_number",
    "cvv",
    "cvc",
];

mod scan;

/// What a redacted value is replaced with.
pub const REDACTED: &str = "[REDACTED]";

/// A set of secret names.
///
/// A name is secret when, compared without regard to ASCII case and treating `-`, `.` and `_`
/// as the same character, it equals a listed name or ends with a separator followed by one.
/// So with `token` listed, `token`, `Token`, `access_token` and `http.request.header.x-token`
/// are secret, and `token_count` is not. A match costs one backward walk over the name (a
/// trie of the reversed names), whatever the length of the list.
///
/// ```
/// use telescope_core::Redaction;
/// let redaction = Redaction::default().with_name("iban");
/// assert!(redaction.matches("user.password"));
/// assert!(redaction.matches("IBAN"));
/// assert!(redaction.matches("x-api-key"));
/// assert!(redaction.matches("refresh_token"));
/// assert!(!redaction.matches("token_count"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redaction {
    /// Normalized names (lowercase, separators as `_`), in the order they were added.
    names: Vec<Box<[u8]>>,
    /// The names reversed, as a trie: node 0 is the root.
    trie: Vec<Node>,
    /// Whether [`scrub`](Self::scrub) looks inside values.
    scan_values: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Node {
    /// (byte, child node), few per node.
    children: Vec<(u8, u32)>,
    /// A listed name ends here (read backwards: starts here).
    terminal: bool,
}

impl Default for Redaction {
    /// The [`DEFAULT_REDACTED`] names.
    fn default() -> Self {
        DEFAULT_REDACTED
            .iter()
            .fold(Self::none(), |list, name| list.with_name(name))
    }
}

fn normalize(byte: u8) -> u8 {
    match byte {
        b'-' | b'.' => b'_',
        other => other.to_ascii_lowercase(),
    }
}

impl Redaction {
    /// An empty set of names (the value scanner still finds credentials, tokens, keys and card
    /// numbers; add [`without_value_scan`](Self::without_value_scan) for nothing at all).
    pub fn none() -> Self {
        Self {
            names: Vec::new(),
            trie: vec![Node::default()],
            scan_values: true,
        }
    }

    /// This policy without the value scanner: only names decide, [`scrub`](Self::scrub)
    /// returns text as it is (for services that log large texts and name their secrets, or
    /// wrap them in [`Secret`](crate::Secret)).
    #[must_use]
    pub fn without_value_scan(mut self) -> Self {
        self.scan_values = false;
        self
    }

    /// Whether [`scrub`](Self::scrub) looks inside values (the default).
    pub fn scans_values(&self) -> bool {
        self.scan_values
    }

    /// This set plus `name`.
    #[must_use]
    pub fn with_name(mut self, name: &str) -> Self {
        let normalized: Box<[u8]> = name.bytes().map(normalize).collect();
        if normalized.is_empty() || self.names.contains(&normalized) {
            return self;
        }
        let mut node = 0;
        for &byte in normalized.iter().rev() {
            node = match self.trie[node].children.iter().find(|(b, _)| *b == byte) {
                Some(&(_, child)) => child as usize,
                None => {
                    let child = self.trie.len();
                    self.trie.push(Node::default());
                    self.trie[node]
                        .children
                        .push((byte, u32::try_from(child).unwrap_or(u32::MAX)));
                    child
                }
            };
        }
        self.trie[node].terminal = true;
        self.names.push(normalized);
        self
    }

    /// Whether nothing is redacted.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The names in the set, normalized (lowercase, `_` for every separator).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names
            .iter()
            .map(|name| std::str::from_utf8(name).unwrap_or_default())
    }

    /// Whether [`scrub`](Self::scrub) could find anything in `text`: false when the value
    /// scan is off or no byte of `text` can start or announce a secret (a digit, `=`, `:`,
    /// `-`, and the first letters of the token shapes). Escaping text as a JSON string never
    /// removes such a byte, so a sink that escapes first may ask this of the escaped bytes
    /// and scrub only when it says yes.
    ///
    /// ```
    /// use telescope_core::Redaction;
    /// let policy = Redaction::default();
    /// assert!(!policy.may_find_secrets(b"order placed"));
    /// assert!(policy.may_find_secrets(b"password=hunter2"));
    /// assert!(!policy.clone().without_value_scan().may_find_secrets(b"password=hunter2"));
    /// ```
    #[inline]
    pub fn may_find_secrets(&self, text: &[u8]) -> bool {
        self.scan_values && scan::next_trigger(text, 0).is_some()
    }

    /// `text` with the secrets found inside it replaced by `[REDACTED]`: values assigned to a
    /// secret name (`password=…`, `"token":"…"`, `Creds { password: "…" }`), `Bearer`/`Basic`
    /// credentials, JSON Web Tokens, PEM private keys, AWS access key ids and card numbers
    /// that pass the Luhn check. Borrowed when nothing was found. A secret with none of these
    /// shapes, under a harmless name, is not found.
    ///
    /// ```
    /// use telescope_core::Redaction;
    /// let policy = Redaction::default();
    /// assert_eq!(policy.scrub("login password=hunter2 ok"), "login password=[REDACTED] ok");
    /// assert_eq!(policy.scrub("paid with 4242 4242 4242 4242"), "paid with [REDACTED]");
    /// assert_eq!(policy.scrub("order loaded"), "order loaded");
    /// ```
    pub fn scrub<'t>(&self, text: &'t str) -> std::borrow::Cow<'t, str> {
        if self.scan_values {
            scan::scrub(self, text)
        } else {
            std::borrow::Cow::Borrowed(text)
        }
    }

    /// [`scrub`](Self::scrub) for text already owned: `text` itself when nothing was found,
    /// so the common case allocates nothing.
    ///
    /// ```
    /// use telescope_core::Redaction;
    /// let policy = Redaction::default();
    /// assert_eq!(policy.scrub_owned("token=abc".to_owned()), "token=[REDACTED]");
    /// ```
    pub fn scrub_owned(&self, text: String) -> String {
        match self.scrub(&text) {
            std::borrow::Cow::Owned(clean) => clean,
            std::borrow::Cow::Borrowed(_) => text,
        }
    }

    /// Whether an integer of this magnitude is a card number the value scanner would hide (it
    /// is on, the number has 13 to 16 digits, a card network's prefix and a valid Luhn check).
    /// Longer integers are never hidden: 64-bit ids and hashes have 19 or 20 digits, and one in
    /// ten would pass the Luhn check.
    ///
    /// ```
    /// use telescope_core::Redaction;
    /// let policy = Redaction::default();
    /// assert!(policy.hides_number(4_111_111_111_111_111));
    /// assert!(!policy.hides_number(1_732_945_678_123)); // a timestamp in ms
    /// assert!(!policy.without_value_scan().hides_number(4_111_111_111_111_111));
    /// ```
    #[inline]
    pub fn hides_number(&self, magnitude: u128) -> bool {
        self.scan_values
            && (1_000_000_000_000..10_000_000_000_000_000).contains(&magnitude)
            && matches!(
                scan::scrub(self, &magnitude.to_string()),
                std::borrow::Cow::Owned(_)
            )
    }

    /// Whether a field, attribute, label or parameter called `name` is secret.
    pub fn matches(&self, name: &str) -> bool {
        self.matches_bytes(name.as_bytes())
    }

    /// [`matches`](Self::matches) on a name given as bytes (the scanner's names are slices
    /// of the text it scans, ASCII by construction).
    fn matches_bytes(&self, bytes: &[u8]) -> bool {
        let mut node = &self.trie[0];
        for (index, &byte) in bytes.iter().enumerate().rev() {
            let byte = normalize(byte);
            match node.children.iter().find(|(b, _)| *b == byte) {
                Some(&(_, child)) => node = &self.trie[child as usize],
                None => return false,
            }
            // A listed name matched bytes[index..]: secret if that is the whole name or
            // follows a separator.
            if node.terminal && (index == 0 || normalize(bytes[index - 1]) == b'_') {
                return true;
            }
        }
        false
    }
}

static GLOBAL: std::sync::OnceLock<Redaction> = std::sync::OnceLock::new();

/// Makes `redaction` the process's policy, for the pieces that are not built with one (the HTTP
/// middleware redacting `url.query`); `telescope::try_init` does this with the builder's.
/// Returns it back if a policy was set already: the first one stays.
///
/// # Errors
/// The policy given, when one is in force already.
pub fn set_global(redaction: Redaction) -> Result<(), Redaction> {
    GLOBAL.set(redaction)
}

/// The process's policy: the one given to [`set_global`], else the default list.
pub fn global() -> &'static Redaction {
    GLOBAL.get_or_init(Redaction::default)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_list_matches_common_secret_names() {
        let redaction = Redaction::default();
        for name in [
            "password",
            "PASSWORD",
            "db.password",
            "access_token",
            "Authorization",
            "set-cookie",
            "Set-Cookie",
            "proxy-authorization",
            "api_key",
            "API-KEY",
            "x-api-key",
            "apikey",
            "client_secret",
            "passwd",
            "secret_key",
            "aws_secret_access_key",
            "private_key",
            "tls.private-key",
            "passphrase",
            "pwd",
            "credentials",
            "db_credential",
            "session",
            "session_id",
            "user.session-id",
            "x-auth-token",
            "refresh_token",
            "id_token",
            "ssn",
            "card_number",
            "cvv",
        ] {
            assert!(redaction.matches(name), "{name}");
        }
        for name in [
            "user",
            "token_count",
            "secretary",
            "passwords",
            "tokenizer",
            "",
            "key",
            "session_count",
            "sessions",
            "pwdx",
            "card",
            "user_id",
            "_",
            "ß",
        ] {
            assert!(!redaction.matches(name), "{name}");
        }
    }

    #[test]
    fn added_names_match_like_listed_ones_and_none_matches_nothing() {
        let redaction = Redaction::none().with_name("IBAN").with_name("x.y");
        assert!(redaction.matches("iban") && redaction.matches("customer-iban"));
        assert!(redaction.matches("a_x-y") && redaction.matches("X.Y"));
        assert!(!redaction.matches("xiban") && !redaction.matches("y"));
        assert!(!Redaction::none().matches("password"));
        assert!(Redaction::none().is_empty());
        assert_eq!(redaction.names().collect::<Vec<_>>(), ["iban", "x_y"]);
        assert_eq!(Redaction::none().with_name(""), Redaction::none());
    }

    #[test]
    fn a_name_inside_another_still_matches_at_a_boundary() {
        // `token` and `x-auth-token` share a suffix; `id_token` and `token` too.
        let redaction = Redaction::none()
            .with_name("x-auth-token")
            .with_name("token");
        assert!(redaction.matches("auth_token"));
        assert!(redaction.matches("my.x-auth-token"));
        let only_long = Redaction::none().with_name("x-auth-token");
        assert!(!only_long.matches("auth_token"));
        assert!(!only_long.matches("token"));
    }

    proptest::proptest! {
        #[test]
        fn the_trie_agrees_with_the_plain_rule(name in "[a-zA-Z_.-]{0,24}") {
            let redaction = Redaction::default();
            let plain = DEFAULT_REDACTED.iter().any(|listed| {
                let listed: Vec<u8> = listed.bytes().map(normalize).collect();
                let field: Vec<u8> = name.bytes().map(normalize).collect();
                field.len() >= listed.len()
                    && field.ends_with(&listed)
                    && (field.len() == listed.len() || field[field.len() - listed.len() - 1] == b'_')
            });
            proptest::prop_assert_eq!(redaction.matches(&name), plain);
        }
    }
}
