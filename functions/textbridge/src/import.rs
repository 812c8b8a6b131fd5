//! `textbridge import FILE`: the user import on the local store, as the given
//! tenant and role. Prints the mapping and the preview's rejected rows to stderr,
//! applies the rows with a progress bar, and prints the outcome as one JSON object
//! on stdout (counts and the rows that were rejected or left something out).

use std::{path::Path, sync::Arc};

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use textbridge_app::{
    App,
    import::{self, ImportView, MappingInput, OutcomePage},
    items::RowAction,
};
use textbridge_domain::{
    Error, Identity,
    import::{Field, fold},
};

fn every_row() -> OutcomePage {
    OutcomePage { offset: None, limit: Some(1000), only: None }
}

/// The mapping after `--map HEADER=FIELD` changes (headers and fields compared
/// without case, spacing or punctuation).
fn remapped(view: &ImportView, maps: &[String]) -> Result<MappingInput, Error> {
    let mut mapping: Vec<Option<Field>> = view.columns.iter().map(|c| c.field).collect();
    for m in maps {
        let (header, field) =
            m.split_once('=').ok_or_else(|| Error::invalid("--map", format!("{m:?} is not HEADER=FIELD")))?;
        let column = view
            .columns
            .iter()
            .position(|c| fold(&c.header) == fold(header))
            .ok_or_else(|| Error::invalid("--map", format!("the file has no column {header:?}")))?;
        mapping[column] = if fold(field) == "unmapped" {
            None
        } else {
            Some(Field::ALL.into_iter().find(|f| fold(f.as_str()) == fold(field)).ok_or_else(|| {
                let names: Vec<&str> = Field::ALL.iter().map(|f| f.as_str()).collect();
                Error::invalid("--map", format!("{field:?} is not one of {} or unmapped", names.join(", ")))
            })?)
        };
    }
    Ok(MappingInput { mapping })
}

fn describe(view: &ImportView) {
    eprintln!("{} ({} rows)", view.file_name, view.rows);
    for c in &view.columns {
        eprintln!("  {:<20} ← {:?}", c.label, c.header);
    }
    if let Some(problem) = &view.mapping_error {
        eprintln!("cannot import yet: {problem} (use --map \"HEADER=FIELD\")");
    }
}

/// Uploads (or resumes) an import and applies it; see the module docs.
pub async fn run_cli(
    app: &Arc<App>,
    caller: &Identity,
    file: Option<&Path>,
    maps: &[String],
    preview_only: bool,
    resume: Option<&str>,
) -> Result<(), Error> {
    let mut view = match (resume, file) {
        (Some(id), _) => import::get(app, caller, id, every_row()).await?,
        (None, Some(path)) => {
            let bytes = std::fs::read(path)
                .map_err(|e| Error::invalid("FILE", format!("cannot read {}: {e}", path.display())))?;
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let table = textbridge_import::read(&bytes, &name)?;
            import::upload(app, caller, &name, table, every_row()).await?
        }
        (None, None) => return Err(Error::invalid("FILE", "give a file or --resume ID")),
    };
    if !maps.is_empty() {
        view = import::remap(app, caller, &view.id, remapped(&view, maps)?, every_row()).await?;
    }
    describe(&view);
    let s = view.summary;
    eprintln!(
        "import {}: {} to create, {} to update, {} unchanged, {} rejected",
        view.id, s.create, s.update, s.unchanged, s.error
    );
    if preview_only {
        println!("{}", serde_json::to_string(&view).map_err(Error::unexpected)?);
        return Ok(());
    }
    if let Some(problem) = view.mapping_error {
        return Err(Error::invalid("mapping", problem));
    }
    let bar = ProgressBar::new(u64::from(view.rows));
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} rows {elapsed_precise} (eta {eta})")
            .map_err(Error::unexpected)?,
    );
    let done = import::run_here(app, caller, &view.id, |p| bar.set_position(u64::from(p.applied))).await;
    bar.finish_and_clear();
    let done = done?;
    let mut notable = Vec::new();
    let mut offset = Some(0);
    while let Some(at) = offset {
        let page = OutcomePage { offset: Some(at), ..every_row() };
        let part = import::get(app, caller, &done.id, page).await?;
        notable.extend(part.outcomes.into_iter().filter(|o| o.action == RowAction::Error || !o.notes.is_empty()));
        offset = part.next_offset;
    }
    let s = done.summary;
    eprintln!("created {}, updated {}, unchanged {}, rejected {}", s.create, s.update, s.unchanged, s.error);
    let out = json!({"id": done.id, "state": done.state, "summary": s, "rows": notable});
    println!("{out}");
    Ok(())
}
