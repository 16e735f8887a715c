use std::path::{Path, PathBuf};

use bevy::prelude::*;

use super::state::{
    JobResult, Jobs, Library, LoadedClips, OpenDataset, Problems, SelectClip, Slot, StartupDataset,
};
use crate::app::playback::Playback;
use crate::motion::import::file::{ImportOptions, import_motion, motion_id};
use crate::motion::{Clip, Dataset};

/// The dataset opened when none is named: the last one the user opened, else the embedded
/// sample of the demo corpus (`assets/demo`, beside the working directory or the source tree),
/// else `../shared/data/humanml3d`.
pub fn default_dataset() -> Option<PathBuf> {
    if let Some(last) = crate::app::settings::last_dataset() {
        return Some(last);
    }
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let candidates = [
        PathBuf::from("assets/demo"),
        here.join("assets/demo"),
        PathBuf::from("../shared/data/humanml3d"),
        here.join("../shared/data/humanml3d"),
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

/// A folder dropped on the window opens as a dataset; a motion file is imported and shown.
pub(super) fn open_dropped_folders(
    mut drops: MessageReader<FileDragAndDrop>,
    mut open: MessageWriter<OpenDataset>,
    jobs: Res<Jobs>,
) {
    for ev in drops.read() {
        if let FileDragAndDrop::DroppedFile { path_buf, .. } = ev {
            if path_buf.is_dir() {
                open.write(OpenDataset(path_buf.clone()));
            } else {
                import_in_background(vec![path_buf.clone()], &jobs);
            }
        }
    }
}

/// Starts a native file picker for motion files on a thread.
pub(super) fn pick_motion_files(jobs: &Jobs) {
    let tx = jobs.tx.clone();
    std::thread::spawn(move || {
        if let Some(files) = rfd::FileDialog::new()
            .set_title("Open motion (BVH, AMC)")
            .add_filter("motion", &["bvh", "amc", "gz"])
            .pick_files()
        {
            tx.send(JobResult::ImportRequest(files)).ok();
        }
    });
}

/// Converts motion files to HumanML3D clips on a thread (the same library call as
/// `geomotion import`); each result comes back through the job channel.
pub(super) fn import_in_background(files: Vec<PathBuf>, jobs: &Jobs) {
    let tx = jobs.tx.clone();
    std::thread::spawn(move || {
        for file in files {
            let result = import_motion(&file, &ImportOptions::default())
                .and_then(|m| m.features(0..m.frames()))
                .map(|features| Clip {
                    id: motion_id(&file),
                    split: None,
                    joints: features.joints(),
                    features,
                    captions: Vec::new(),
                })
                .map_err(|e| e.to_string());
            if tx.send(JobResult::Imported(result)).is_err() {
                return;
            }
        }
    });
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
    mut clips: ResMut<LoadedClips>,
    mut playback: ResMut<Playback>,
    mut open: MessageWriter<OpenDataset>,
) {
    for job in jobs.rx.try_iter() {
        match job {
            JobResult::PickedFolder(Some(path)) => {
                open.write(OpenDataset(path));
            }
            JobResult::PickedFolder(None) => {}
            JobResult::ImportRequest(files) => import_in_background(files, &jobs),
            JobResult::Imported(Ok(clip)) => {
                info!("imported {} ({} frames)", clip.id, clip.joints.frames());
                playback.reset_at(clip.joints.frames(), clip.joints.skeleton().fps());
                clips.primary = Some(clip);
            }
            JobResult::Imported(Err(e)) => problems.push(e),
            JobResult::CaptionIndex {
                generation,
                done,
                total,
                entries,
                sub_clips,
                errors,
            } => {
                if generation != library.generation {
                    continue;
                }
                library.caption_index.extend(entries);
                library.sub_clips.extend(sub_clips);
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
    crate::app::settings::remember_dataset(&path);
    if let Err(e) = ds.normalizer() {
        problems.push(e.to_string());
    }
    library.generation += 1;
    library.caption_index.clear();
    library.sub_clips.clear();
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
            let mut sub_clips = Vec::new();
            let mut errors = Vec::new();
            let joined = |c: &mut dyn Iterator<Item = &crate::motion::Caption>| {
                c.map(|c| c.text.to_lowercase())
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            for id in chunk {
                match ds.captions(id) {
                    Ok(c) if c.is_empty() => {}
                    Ok(c) => {
                        entries.push((id.clone(), joined(&mut c.iter())));
                        let subs = crate::motion::subclip::sub_clip_ids(id, &c);
                        for sub in &subs {
                            let mut of_sub = crate::motion::subclip::captions_of(id, sub, &c);
                            entries.push((sub.clone(), joined(&mut of_sub)));
                        }
                        if !subs.is_empty() {
                            sub_clips.push((id.clone(), subs));
                        }
                    }
                    Err(e) => errors.push(e.to_string()),
                }
            }
            let done = (b * 512 + chunk.len()).min(total);
            let msg = JobResult::CaptionIndex {
                generation,
                done,
                total,
                entries,
                sub_clips,
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
                    playback.reset_at(clip.joints.frames(), clip.joints.skeleton().fps());
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
