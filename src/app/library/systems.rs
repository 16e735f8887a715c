use std::path::{Path, PathBuf};

use bevy::prelude::*;

use super::state::{
    JobResult, Jobs, Library, LoadedClips, OpenDataset, Problems, SelectClip, Slot, StartupDataset,
};
use crate::app::playback::Playback;
use crate::motion::Dataset;

/// The dataset opened when none is named: `../shared/data/humanml3d` beside the working
/// directory or beside the source tree, if present.
pub fn default_dataset() -> Option<PathBuf> {
    let candidates = [
        PathBuf::from("../shared/data/humanml3d"),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/humanml3d"),
    ];
    candidates
        .into_iter()
        .find(|p| p.join("new_joint_vecs").is_dir())
}

pub(super) fn open_startup_dataset(
    startup: Res<StartupDataset>,
    mut open: MessageWriter<OpenDataset>,
) {
    if let Some(path) = startup.0.clone().or_else(default_dataset) {
        open.write(OpenDataset(path));
    }
}

/// A folder dropped on the window opens as a dataset.
pub(super) fn open_dropped_folders(
    mut drops: MessageReader<FileDragAndDrop>,
    mut open: MessageWriter<OpenDataset>,
    mut problems: ResMut<Problems>,
) {
    for ev in drops.read() {
        if let FileDragAndDrop::DroppedFile { path_buf, .. } = ev {
            if path_buf.is_dir() {
                open.write(OpenDataset(path_buf.clone()));
            } else {
                problems.push(format!(
                    "{}: drop a HumanML3D-layout folder (with new_joint_vecs/) to open it",
                    path_buf.display()
                ));
            }
        }
    }
}

/// Starts a native folder picker on a thread (it never blocks a frame).
pub(super) fn pick_dataset_folder(jobs: &Jobs) {
    let tx = jobs.tx.clone();
    std::thread::spawn(move || {
        let picked = rfd::FileDialog::new()
            .set_title("Open a HumanML3D-layout dataset")
            .pick_folder();
        tx.send(JobResult::PickedFolder(picked)).ok();
    });
}

pub(super) fn drain_jobs(
    jobs: Res<Jobs>,
    mut library: ResMut<Library>,
    mut problems: ResMut<Problems>,
    mut open: MessageWriter<OpenDataset>,
) {
    for job in jobs.rx.try_iter() {
        match job {
            JobResult::PickedFolder(Some(path)) => {
                open.write(OpenDataset(path));
            }
            JobResult::PickedFolder(None) => {}
            JobResult::CaptionIndex {
                generation,
                done,
                total,
                entries,
                errors,
            } => {
                if generation != library.generation {
                    continue;
                }
                library.caption_index.extend(entries);
                library.index_progress = (done < total).then_some((done, total));
                for e in errors {
                    problems.push(e);
                }
            }
        }
    }
}

pub(super) fn open_dataset(
    mut requests: MessageReader<OpenDataset>,
    mut library: ResMut<Library>,
    mut problems: ResMut<Problems>,
    jobs: Res<Jobs>,
    mut select: MessageWriter<SelectClip>,
) {
    let Some(OpenDataset(path)) = requests.read().last().cloned() else {
        return;
    };
    let ds = match Dataset::open(&path) {
        Ok(ds) => ds,
        Err(e) => {
            problems.push(e.to_string());
            return;
        }
    };
    info!("opened {} ({} clips)", path.display(), ds.ids().len());
    if let Err(e) = ds.normalizer() {
        problems.push(e.to_string());
    }
    library.generation += 1;
    library.caption_index.clear();
    library.index_progress = Some((0, ds.ids().len()));
    spawn_caption_index(&ds, library.generation, &jobs);
    if let Some(first) = ds.ids().first() {
        select.write(SelectClip {
            id: first.clone(),
            slot: Slot::Primary,
        });
    }
    library.dataset = Some(ds);
}

/// Reads every clip's captions on a thread, in batches, for the browser's search.
fn spawn_caption_index(ds: &Dataset, generation: u64, jobs: &Jobs) {
    let ds = ds.clone();
    let tx = jobs.tx.clone();
    std::thread::spawn(move || {
        let total = ds.ids().len();
        for (b, chunk) in ds.ids().chunks(512).enumerate() {
            let mut entries = Vec::with_capacity(chunk.len());
            let mut errors = Vec::new();
            for id in chunk {
                match ds.captions(id) {
                    Ok(c) if c.is_empty() => {}
                    Ok(c) => entries.push((
                        id.clone(),
                        c.iter()
                            .map(|c| c.text.to_lowercase())
                            .collect::<Vec<_>>()
                            .join("\n"),
                    )),
                    Err(e) => errors.push(e.to_string()),
                }
            }
            let done = (b * 512 + chunk.len()).min(total);
            let msg = JobResult::CaptionIndex {
                generation,
                done,
                total,
                entries,
                errors,
            };
            if tx.send(msg).is_err() {
                return;
            }
        }
    });
}

pub(super) fn select_clip(
    mut requests: MessageReader<SelectClip>,
    library: Res<Library>,
    mut clips: ResMut<LoadedClips>,
    mut problems: ResMut<Problems>,
    mut playback: ResMut<Playback>,
) {
    for req in requests.read() {
        let Some(ds) = &library.dataset else { continue };
        match ds.load_clip(&req.id) {
            Ok(clip) => match req.slot {
                Slot::Primary => {
                    playback.reset(clip.joints.frames());
                    clips.primary = Some(clip);
                }
                Slot::Compare => {
                    clips.compare = Some(clip);
                    clips.compare_mode = true;
                }
            },
            Err(e) => problems.push(e.to_string()),
        }
    }
}
