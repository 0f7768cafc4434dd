//! Writes the JSON Schemas of the wire contract to `schemas/contracts/` (run from anywhere
//! in the workspace: `cargo run -p custody-contracts --bin gen-schemas`). Files that no
//! longer correspond to a type are removed, so the directory is exactly what the code says.

use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(contracts::schema::SCHEMA_DIR);
    std::fs::create_dir_all(&dir)?;
    let schemas = contracts::schema::all()?;
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        if name.ends_with(".json") && !schemas.iter().any(|(n, _)| *n == name) {
            std::fs::remove_file(&path)?;
            println!("removed {}", path.display());
        }
    }
    for (name, text) in &schemas {
        let path = dir.join(name);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            std::fs::write(&path, text)?;
            println!("wrote {}", path.display());
        }
    }
    println!("{} schemas in {}", schemas.len(), dir.display());
    Ok(())
}
