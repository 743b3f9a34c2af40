//! Who may sign in: `console.operators` (usually a file, through `APP_CONSOLE__OPERATORS_FILE`),
//! one operator per line as `name role password-hash`, read once at start-up. Hashes are Argon2id
//! PHC strings, made by [`hash_password`] (`console hash-password`); the password itself is never
//! stored. A hash of `-` marks an operator who signs in only through the trusted proxy
//! ([`crate::proxy_sign_in`]): no password of theirs is accepted.

use std::collections::HashMap;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

/// What an operator may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Reads everything and acts: fulfill now, redrive.
    Operator,
    /// Reads everything, changes nothing (support, auditors).
    Viewer,
}

impl Role {
    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "operator" => Some(Role::Operator),
            "viewer" => Some(Role::Viewer),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Viewer => "viewer",
        }
    }

    pub fn may_act(self) -> bool {
        self == Role::Operator
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OperatorsError {
    #[error("console.operators line {line}: {problem}")]
    Line { line: usize, problem: String },
    #[error("console.operators names no operator: nobody could sign in")]
    Empty,
}

/// The operators, by name.
pub struct Operators {
    by_name: HashMap<String, (Role, String)>,
    /// Verified against when the name is unknown, so that an unknown name costs the same time
    /// as a wrong password and the answer's timing does not tell which names exist.
    decoy: String,
}

impl std::fmt::Debug for Operators {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Operators")
            .field("count", &self.by_name.len())
            .finish_non_exhaustive()
    }
}

impl Operators {
    /// The operators `text` lists; refused when a line is malformed or nobody is listed.
    pub fn parse(text: &str) -> Result<Operators, OperatorsError> {
        let mut by_name = HashMap::new();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let content = raw.split('#').next().unwrap_or("").trim();
            // A PHC string holds no `#`, so cutting comments there never cuts a hash.
            if content.is_empty() {
                continue;
            }
            let problem = |problem: String| OperatorsError::Line { line, problem };
            let fields: Vec<&str> = content.split_whitespace().collect();
            let [name, role, hash] = fields[..] else {
                return Err(problem(format!(
                    "expected `name role password-hash`, found {} fields",
                    fields.len()
                )));
            };
            let role = Role::parse(role)
                .ok_or_else(|| problem(format!("role {role:?} is not operator or viewer")))?;
            if hash != PROXY_ONLY {
                PasswordHash::new(hash).map_err(|e| {
                    problem(format!(
                        "the password hash is not a PHC string ({e}); make one with \
                         `console hash-password`, or `-` for sign-in through the proxy only"
                    ))
                })?;
            }
            if by_name
                .insert(name.to_owned(), (role, hash.to_owned()))
                .is_some()
            {
                return Err(problem(format!("operator {name:?} is listed twice")));
            }
        }
        if by_name.is_empty() {
            return Err(OperatorsError::Empty);
        }
        Ok(Operators {
            by_name,
            decoy: hash_password("not anyone's password"),
        })
    }

    /// The role of `name` if `password` is theirs. Slow on purpose (Argon2): call it off the
    /// async threads.
    pub fn verify(&self, name: &str, password: &str) -> Option<Role> {
        let (role, hash) = match self.by_name.get(name) {
            Some((_, hash)) if hash == PROXY_ONLY => (None, self.decoy.as_str()),
            Some((role, hash)) => (Some(*role), hash.as_str()),
            None => (None, self.decoy.as_str()),
        };
        let parsed = PasswordHash::new(hash).ok()?;
        let matches = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        role.filter(|_| matches)
    }

    /// The role of `name` when someone else has authenticated them (the trusted proxy): this
    /// list still says whether they may come in, and as what.
    pub fn role_of(&self, name: &str) -> Option<Role> {
        self.by_name.get(name).map(|(role, _)| *role)
    }
}

/// The hash of an operator who has no password here.
const PROXY_ONLY: &str = "-";

/// An Argon2id PHC string for `password`, with a fresh random salt.
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
        .expect("16 bytes is a valid salt length");
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("Argon2 with its default parameters hashes any password")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_operator_signs_in_with_their_password_and_no_other() {
        let file = format!(
            "# who may sign in\nalice operator {}\n\nbob viewer {} # support\n",
            hash_password("correct horse"),
            hash_password("battery staple")
        );
        let operators = Operators::parse(&file).unwrap();
        assert_eq!(
            operators.verify("alice", "correct horse"),
            Some(Role::Operator)
        );
        assert_eq!(
            operators.verify("bob", "battery staple"),
            Some(Role::Viewer)
        );
        assert_eq!(operators.verify("alice", "battery staple"), None);
        assert_eq!(operators.verify("carol", "correct horse"), None);
    }

    #[test]
    fn an_operator_without_a_hash_has_a_role_but_no_password() {
        let file = format!("sso operator -\nalice viewer {}", hash_password("pw"));
        let operators = Operators::parse(&file).unwrap();
        assert_eq!(operators.role_of("sso"), Some(Role::Operator));
        assert_eq!(operators.role_of("alice"), Some(Role::Viewer));
        assert_eq!(operators.role_of("carol"), None);
        for guess in ["-", "", "pw"] {
            assert_eq!(operators.verify("sso", guess), None, "{guess:?}");
        }
    }

    #[test]
    fn a_bad_line_is_refused_naming_its_number() {
        let hash = hash_password("x");
        for (file, expected) in [
            (format!("alice admin {hash}"), "line 1: role \"admin\""),
            (
                "\nalice operator plaintext".to_owned(),
                "line 2: the password hash",
            ),
            (format!("alice operator {hash} extra"), "line 1: expected"),
            (
                format!("alice operator {hash}\nalice viewer {hash}"),
                "line 2: operator \"alice\" is listed twice",
            ),
        ] {
            let error = Operators::parse(&file).unwrap_err().to_string();
            assert!(error.contains(expected), "{error}");
        }
    }

    #[test]
    fn a_list_without_operators_is_refused() {
        let error = Operators::parse("# nobody yet\n").unwrap_err();
        assert!(matches!(error, OperatorsError::Empty), "{error}");
    }
}
