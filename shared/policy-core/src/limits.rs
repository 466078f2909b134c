//! ECR's size limit on repository and registry policy text.

/// ECR accepts `policyText` of at most this many characters (repository and registry policies)
pub const MAX_POLICY_CHARS: usize = 10_240;

/// A policy text over ECR's limit
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("policy is `{chars}` characters, over ecr's limit of {MAX_POLICY_CHARS}")]
pub struct SizeError {
    /// The length of the text in characters
    pub chars: usize,
}

/// Checks text against [`MAX_POLICY_CHARS`]; ECR counts characters, not bytes
pub fn check_size(text: &str) -> Result<(), SizeError> {
    // Bytes bound characters from above: only count when the fast bound is not enough.
    if text.len() <= MAX_POLICY_CHARS {
        return Ok(());
    }
    let chars = text.chars().count();
    if chars <= MAX_POLICY_CHARS {
        Ok(())
    } else {
        Err(SizeError { chars })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundary() {
        assert!(check_size(&"a".repeat(MAX_POLICY_CHARS)).is_ok());
        assert_eq!(
            check_size(&"a".repeat(MAX_POLICY_CHARS + 1)),
            Err(SizeError {
                chars: MAX_POLICY_CHARS + 1
            })
        );
    }

    #[test]
    fn counts_characters_not_bytes() {
        // Given 10,240 two-byte characters
        let text = "é".repeat(MAX_POLICY_CHARS);
        assert!(text.len() > MAX_POLICY_CHARS);
        assert!(check_size(&text).is_ok());
        assert!(check_size(&format!("{text}x")).is_err());
    }
}
