//! `geomotion info`: a dataset's or a clip's summary.

use std::path::Path;

use anyhow::{Context, Result};

use super::terminal::{printable_line, printable_text};
use crate::motion::{Dataset, Split};

pub fn run(data: Option<&Path>, clip: Option<&str>) -> Result<()> {
    let data = data.context("info needs --data DATASET")?;
    let ds = Dataset::open(data)?;
    match clip {
        None => {
            println!("{}: {} clips with features", data.display(), ds.ids().len());
            for split in Split::ALL {
                println!("  {:5} {}", split.name(), ds.split_ids(split).len());
            }
            if ds.listed_without_features() > 0 {
                println!(
                    "  ({} ids in the split lists have no features file here)",
                    ds.listed_without_features()
                );
            }
            match ds.normalizer() {
                Ok(_) => println!("  Mean/Std: present"),
                Err(e) => println!("  Mean/Std: {}", printable_text(&e.to_string())),
            }
        }
        Some(id) => {
            let c = ds.load_clip(id)?;
            let frames = c.joints.frames();
            let (lo, hi) = c.joints.bounds();
            let skeleton = c.joints.skeleton();
            println!(
                "{id}: {frames} frames ({:.2} s at {} fps, {}), split {}",
                frames as f32 / skeleton.fps(),
                skeleton.fps(),
                skeleton.name(),
                c.split.map_or("none", Split::name)
            );
            println!(
                "  extent x {:.2}..{:.2} m, y {:.2}..{:.2} m, z {:.2}..{:.2} m",
                lo[0], hi[0], lo[1], hi[1], lo[2], hi[2]
            );
            for cap in &c.captions {
                println!("  caption: {}", printable_line(&cap.text));
            }
        }
    }
    Ok(())
}
