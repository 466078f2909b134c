//! Turns the ECR action catalogue (data/ecr_actions.json, from the Service Authorization
//! Reference) into a static table, so the Lambda pays nothing at start-up to load it.

use std::{env, fmt::Write as _, fs, path::PathBuf};

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Action {
    name: String,
    access_level: String,
    #[serde(default)]
    resource_types: Vec<ResourceType>,
}

#[derive(serde::Deserialize)]
struct ResourceType {
    name: String,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let data = "data/ecr_actions.json";
    println!("cargo:rerun-if-changed={data}");
    let text = fs::read_to_string(data)?;
    let actions: std::collections::BTreeMap<String, Action> = serde_json::from_str(&text)?;
    let mut rows: Vec<(String, &Action)> = actions
        .values()
        .map(|a| (format!("ecr:{}", a.name).to_lowercase(), a))
        .collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out =
        String::from("/// The ECR actions, sorted by lowercase name.\npub static ACTIONS: &[ActionInfo] = &[\n");
    for (lower, a) in rows {
        // Newer snapshots list a second level ("Permissions management, Write"): the first is the
        // specific one.
        let first = a.access_level.split(',').next().unwrap_or_default().trim();
        let level = match first {
            "Read" => "Read",
            "List" => "List",
            "Write" => "Write",
            "Permissions management" => "PermissionsManagement",
            "Tagging" => "Tagging",
            other => return Err(format!("unknown access level `{other}` for `{}`", a.name).into()),
        };
        let repo = a.resource_types.iter().any(|r| r.name == "repository");
        writeln!(
            out,
            "    ActionInfo {{ name: \"ecr:{}\", lower: \"{lower}\", access_level: AccessLevel::{level}, repository_resource: {repo} }},",
            a.name
        )?;
    }
    out.push_str("];\n");
    if actions.len() > 128 {
        return Err("the action bit set holds 128 actions: widen `ActionSet`".into());
    }
    let path = PathBuf::from(env::var("OUT_DIR")?).join("actions.rs");
    fs::write(path, out)?;
    Ok(())
}
