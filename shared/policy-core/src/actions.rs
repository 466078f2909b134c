//! The ECR action catalogue (generated from data/ecr_actions.json by build.rs), action pattern
//! matching and the pull / push / admin classes the guard reasons with.

use crate::wildcard::{has_wildcard, wildcard_match};
use std::cmp::Ordering;

/// Access level from the Service Authorization Reference
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AccessLevel {
    /// Read
    Read,
    /// List
    List,
    /// Write
    Write,
    /// Permissions management
    PermissionsManagement,
    /// Tagging
    Tagging,
}

/// What granting an action lets the grantee do, in increasing order of power
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ActionClass {
    /// Read and list: pulling images and reading metadata
    Pull,
    /// Writing image content (and the repository creation replication needs)
    Push,
    /// Everything else: deleting, configuring, changing permissions, tagging
    Admin,
}

impl ActionClass {
    /// Lowercase name, as used in config and logs
    pub fn as_str(self) -> &'static str {
        match self {
            ActionClass::Pull => "pull",
            ActionClass::Push => "push",
            ActionClass::Admin => "admin",
        }
    }
}

/// One ECR action
#[derive(Debug, PartialEq, Eq)]
pub struct ActionInfo {
    /// `ecr:CamelCaseName`
    pub name: &'static str,
    /// The name in lowercase, the sort key
    pub lower: &'static str,
    /// Access level
    pub access_level: AccessLevel,
    /// Whether the action is scoped to a repository (else it takes `Resource: *`)
    pub repository_resource: bool,
}

include!(concat!(env!("OUT_DIR"), "/actions.rs"));

/// Actions that write image content; see [`ActionClass::Push`]
const PUSH: &[&str] = &[
    "ecr:batchimportupstreamimage",
    "ecr:completelayerupload",
    "ecr:createrepository",
    "ecr:initiatelayerupload",
    "ecr:putimage",
    "ecr:replicateimage",
    "ecr:uploadlayerpart",
];

impl ActionInfo {
    /// The class of the action
    pub fn class(&self) -> ActionClass {
        match self.access_level {
            AccessLevel::Read | AccessLevel::List => ActionClass::Pull,
            _ if PUSH.contains(&self.lower) => ActionClass::Push,
            _ => ActionClass::Admin,
        }
    }
}

/// Every ECR action, sorted by lowercase name
pub fn catalogue() -> &'static [ActionInfo] {
    ACTIONS
}

fn cmp_ignore_case(lower: &str, other: &str) -> Ordering {
    lower.bytes().cmp(other.bytes().map(|b| b.to_ascii_lowercase()))
}

/// Looks an action up by exact name, ignoring case
pub fn lookup(name: &str) -> Option<&'static ActionInfo> {
    ACTIONS
        .binary_search_by(|a| cmp_ignore_case(a.lower, name))
        .ok()
        .and_then(|i| ACTIONS.get(i))
}

/// Whether an `Action` pattern matches an action name: `*` and `?` over the whole
/// `service:action`, ignoring case
pub fn action_matches(pattern: &str, action: &str) -> bool {
    wildcard_match(pattern, action, true)
}

/// A set of ECR actions, one bit per catalogue entry
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ActionSet(u128);

impl ActionSet {
    /// Every ECR action
    pub fn all() -> Self {
        ActionSet(if ACTIONS.len() >= 128 {
            u128::MAX
        } else {
            (1u128 << ACTIONS.len()) - 1
        })
    }

    /// No action
    pub fn empty() -> Self {
        ActionSet(0)
    }

    /// The ECR actions a pattern covers
    pub fn from_pattern(pattern: &str) -> Self {
        if !has_wildcard(pattern) {
            return match ACTIONS.binary_search_by(|a| cmp_ignore_case(a.lower, pattern)) {
                Ok(i) => ActionSet(1u128 << i),
                Err(_) => ActionSet(0),
            };
        }
        // Patterns for other services cannot match: skip the scan when the literal prefix rules it out.
        let literal = pattern.split(['*', '?']).next().unwrap_or_default();
        let n = literal.len().min(4);
        let prefix_ok = match (literal.get(..n), "ecr:".get(..n)) {
            (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
            _ => true,
        };
        if !prefix_ok {
            return ActionSet(0);
        }
        let mut bits = 0u128;
        for (i, a) in ACTIONS.iter().enumerate() {
            if wildcard_match(pattern, a.name, true) {
                bits |= 1u128 << i;
            }
        }
        ActionSet(bits)
    }

    /// Union
    pub fn union(self, other: Self) -> Self {
        ActionSet(self.0 | other.0)
    }

    /// Every ECR action not in the set
    pub fn complement(self) -> Self {
        ActionSet(Self::all().0 & !self.0)
    }

    /// The actions of this set that are not in `other`
    pub fn difference(self, other: Self) -> Self {
        ActionSet(self.0 & !other.0)
    }

    /// True when every action of this set is in `other`
    pub fn is_subset(self, other: Self) -> bool {
        self.0 & !other.0 == 0
    }

    /// The actions of this set whose class is above `class`
    pub fn above(self, class: ActionClass) -> Self {
        let mut bits = 0u128;
        for (i, a) in ACTIONS.iter().enumerate() {
            if self.0 & (1u128 << i) != 0 && a.class() > class {
                bits |= 1u128 << i;
            }
        }
        ActionSet(bits)
    }

    /// True when no action is in the set
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// True when the action is in the set
    pub fn contains(self, action: &ActionInfo) -> bool {
        self.iter().any(|a| std::ptr::eq(a, action))
    }

    /// Number of actions
    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// The actions, in catalogue order
    pub fn iter(self) -> impl Iterator<Item = &'static ActionInfo> {
        ACTIONS
            .iter()
            .enumerate()
            .filter(move |(i, _)| self.0 & (1u128 << i) != 0)
            .map(|(_, a)| a)
    }

    /// The highest class among the actions, `None` when empty
    pub fn class(self) -> Option<ActionClass> {
        self.iter().map(ActionInfo::class).max()
    }
}

/// The ECR actions a pattern covers
pub fn expand(pattern: &str) -> Vec<&'static ActionInfo> {
    ActionSet::from_pattern(pattern).iter().collect()
}

/// True for an `ecr:` pattern that covers no action in the catalogue (a typo, or an action newer
/// than the catalogue: either way the guard cannot classify it)
pub fn is_unknown_ecr_action(pattern: &str) -> bool {
    let is_ecr = pattern.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("ecr:"));
    is_ecr && ActionSet::from_pattern(pattern).is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_is_sorted_and_complete() {
        assert_eq!(ACTIONS.len(), 60);
        assert!(ACTIONS.windows(2).all(|w| w[0].lower < w[1].lower));
        assert!(ACTIONS.iter().all(|a| a.name.to_lowercase() == a.lower));
    }

    #[test]
    fn levels_and_classes() {
        let get = |n| lookup(n).unwrap();
        assert_eq!(
            get("ecr:SetRepositoryPolicy").access_level,
            AccessLevel::PermissionsManagement
        );
        assert_eq!(get("ECR:tagresource").access_level, AccessLevel::Tagging);
        assert_eq!(get("ecr:BatchGetImage").class(), ActionClass::Pull);
        assert_eq!(get("ecr:PutImage").class(), ActionClass::Push);
        assert_eq!(get("ecr:BatchDeleteImage").class(), ActionClass::Admin);
        assert!(!get("ecr:GetAuthorizationToken").repository_resource);
    }

    #[test]
    fn sets() {
        assert_eq!(ActionSet::from_pattern("*").len(), 60);
        assert_eq!(ActionSet::from_pattern("e?r:*").len(), 60);
        assert!(ActionSet::from_pattern("s3:*").is_empty());
        assert_eq!(ActionSet::from_pattern("ecr:Get*").class(), Some(ActionClass::Pull));
        assert_eq!(ActionSet::from_pattern("ecr:DeleteRepository").complement().len(), 59);
        assert!(is_unknown_ecr_action("ecr:GetEverything"));
        assert!(is_unknown_ecr_action("ecr:Nope*"));
        assert!(!is_unknown_ecr_action("ecr:get*"));
        assert!(!is_unknown_ecr_action("s3:GetObject"));
    }
}
