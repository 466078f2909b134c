//! One short message per target for a chat channel, in the custom notification format of Amazon
//! Q Developer in chat applications (formerly AWS Chatbot), published to an SNS topic the
//! channel is configured with. Schema ("Custom notifications using Amazon Q Developer in chat
//! applications", https://docs.aws.amazon.com/chatbot/latest/adminguide/custom-notifs.html):
//! `version` must be `1.0`, `source` must be `custom`, `id` optional; `content.textType`
//! `client-markdown` (the only one supported), `content.title`, `content.description`,
//! `content.nextSteps`, `content.keywords`; `metadata.threadId` (notifications with the same id
//! are threaded together), `metadata.summary`, `metadata.eventType`, `metadata.relatedResources`,
//! `metadata.additionalContext` (string values).

use super::{asff::clip, FindingRecord};
use serde_json::{json, Value};

/// Lines of findings a message lists before it says how many more there are
const LINES: usize = 10;

fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn target_words(r: &FindingRecord) -> String {
    match (r.target, &r.repository) {
        ("repository", Some(name)) => format!("repository `{name}`"),
        ("template", Some(prefix)) => format!("creation template `{prefix}`"),
        _ => "the registry policy".to_owned(),
    }
}

/// The SNS `Subject`: ASCII, under 100 characters, no line breaks (SNS `Publish`)
pub fn subject(records: &[&FindingRecord]) -> String {
    let text = match records.first() {
        Some(r) => format!("ecr-policy-guard: {} in {} {}", target_words(r), r.account, r.region),
        None => "ecr-policy-guard".to_owned(),
    };
    let ascii: String = text
        .chars()
        .map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '?' })
        .collect();
    ascii.chars().take(99).collect()
}

/// The message for one target's records (`None` when none is worth telling: only kept or
/// excepted findings)
pub fn message(records: &[&FindingRecord]) -> Option<Value> {
    let notable: Vec<&&FindingRecord> = records.iter().filter(|r| r.notable()).collect();
    let first = notable.first()?;
    let n = |d: &[&str]| notable.iter().filter(|r| d.contains(&r.disposition)).count();
    let (removed, added, reported) = (n(&["removed", "pinned"]), n(&["added"]), n(&["reported"]));
    let mut done = vec![];
    if removed > 0 {
        done.push(format!("removed or pinned {}", count(removed, "grant", "grants")));
    }
    if added > 0 {
        done.push(format!("restored {}", count(added, "statement", "statements")));
    }
    if reported > 0 {
        done.push(format!(
            "found {} it would change (report mode: nothing changed)",
            count(reported, "finding", "findings")
        ));
    }
    let worst = notable.iter().map(|r| severity_rank(r.severity)).max().unwrap_or(0);
    let icon = match worst {
        4 => ":rotating_light:",
        3 => ":warning:",
        _ => ":information_source:",
    };
    let title = format!("{icon} ecr-policy-guard {} on {}", done.join(", "), target_words(first));
    let mut lines: Vec<String> = notable
        .iter()
        .take(LINES)
        .map(|r| {
            let who = r
                .principal
                .as_deref()
                .map_or(r.statement_label.clone(), |p| format!("`{p}`"));
            clip(
                &format!(
                    "• *{}* ({}) {}: {} — {}",
                    r.rule, r.severity, r.disposition, who, r.reason
                ),
                400,
            )
        })
        .collect();
    if notable.len() > LINES {
        lines.push(format!("… and {} more", notable.len() - LINES));
    }
    lines.push(format!("Account `{}`, Region `{}`.", first.account, first.region));
    let mut next_steps = vec![
        "Every removed statement is in the audit log verbatim (CloudWatch Logs, `\"audit\":\"grant_removed\"`), with the policy before and after, to restore one that was legitimate.".to_owned(),
        "A grant that must stay needs an approved exception in the guard's config (`exceptions`, with an end date).".to_owned(),
    ];
    if reported > 0 {
        next_steps.push("Set the rule's `mode` to `enforce` to let the guard fix findings like these.".to_owned());
    }
    let mut keywords: Vec<String> = vec!["ecr-policy-guard".into()];
    for r in &notable {
        for k in [r.rule, r.severity] {
            if !keywords.iter().any(|x| x == k) {
                keywords.push(k.to_owned());
            }
        }
    }
    Some(json!({
        "version": "1.0",
        "source": "custom",
        "id": first.id,
        "content": {
            "textType": "client-markdown",
            "title": clip(&title, 250),
            "description": clip(&lines.join("\n"), 3500),
            "nextSteps": next_steps,
            "keywords": keywords,
        },
        "metadata": {
            "threadId": first.resource,
            "summary": clip(&format!("ecr-policy-guard {} on {}", done.join(", "), target_words(first)), 250),
            "eventType": "ecr-policy-guard finding",
            "relatedResources": [first.resource],
            "additionalContext": {
                "account": first.account,
                "region": first.region,
                "trigger": first.trigger,
                "findingIds": notable.iter().map(|r| r.id.as_str()).collect::<Vec<_>>().join(" "),
            },
        },
    }))
}

fn severity_rank(s: &str) -> u8 {
    match s {
        "CRITICAL" => 4,
        "HIGH" => 3,
        "MEDIUM" => 2,
        _ => 1,
    }
}
