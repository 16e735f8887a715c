//! Fuzzing the readers of released files: the pickle stream of a GeoMotionGPT `dvq-gsst.pt`,
//! a T2M-GPT `net_last.pth` and a Lightning `GeoMotionGPT.ckpt` (mutated inside the torch zip,
//! which is then rebuilt, so the pickle parser sees the damage rather than the zip reader), and
//! the Hugging Face export's `config.json`.

use std::io::{Read, Write};
use std::path::Path;

use candle_core::Device;

use super::mutate::Mutator;
use super::{Campaign, SEED, message, repo};
use crate::dvq::Tokenizer;
use crate::lm::released::ReleasedCaptioner;

const PICKLE_CASES: usize = 500;
const CKPT_CASES: usize = 300;
const EXPORT_CONFIG_CASES: usize = 300;

/// The entries of a torch zip, in order.
fn zip_entries(path: &Path) -> Vec<(String, Vec<u8>)> {
    let mut z = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    (0..z.len())
        .map(|i| {
            let mut f = z.by_index(i).unwrap();
            let mut data = Vec::new();
            f.read_to_end(&mut data).unwrap();
            (f.name().unwrap().to_string(), data)
        })
        .collect()
}

/// Writes `entries` as a stored (uncompressed) zip, as `torch.save` does.
fn write_zip(path: &Path, entries: &[(String, Vec<u8>)]) {
    let mut z = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, data) in entries {
        z.start_file(name.as_str(), opts).unwrap();
        z.write_all(data).unwrap();
    }
    z.finish().unwrap();
}

/// Mutates the `data.pkl` of `seed_file` `cases` times and runs `case` on each rebuilt file.
fn fuzz_pickle(
    name: &'static str,
    seed_file: &Path,
    out: &Path,
    cases: usize,
    salt: u64,
    case: &dyn Fn() -> Result<(), String>,
) {
    let entries = zip_entries(seed_file);
    let pkl = entries
        .iter()
        .position(|(n, _)| n.ends_with("data.pkl"))
        .expect("a torch zip has data.pkl");
    let file_name = out.file_name().unwrap().to_string_lossy().into_owned();
    write_zip(out, &entries);
    case().expect("the rebuilt, unmutated file loads");
    let mut c = Campaign::new(name);
    let mut m = Mutator::new(SEED ^ salt);
    for _ in 0..cases {
        let (data, what) = m.mutate(&entries[pkl].1);
        let mut mutated = entries.clone();
        mutated[pkl].1 = data;
        write_zip(out, &mutated);
        c.run(
            &format!("{file_name} data.pkl: {what}"),
            &[&file_name],
            case,
        );
    }
    c.finish();
}

#[test]
fn fuzz_released_tokenizer_pickles() {
    let dir = tempfile::tempdir().unwrap();
    let stats = repo("tests/data/shared/humanml3d");
    for (seed, salt) in [("dvq-gsst.pt", 31), ("net_last.pth", 32)] {
        let out = dir.path().join(seed);
        let case = || {
            let tok = message(Tokenizer::open(&out, Some(&stats), &Device::Cpu))?;
            // What loads must encode without panicking (it may refuse).
            let _ = tok.encode(&vec![0.0; 16 * crate::motion::N_FEATURES]);
            Ok(())
        };
        fuzz_pickle(
            "released tokenizer .pt/.pth",
            &repo(&format!("tests/fixtures/released-tokenizers/{seed}")),
            &out,
            PICKLE_CASES,
            salt,
            &case,
        );
    }
}

#[test]
fn fuzz_released_captioner_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("GeoMotionGPT.ckpt");
    let gpt2 = repo("tests/fixtures/gpt2-tiny");
    let case = || {
        let cap = message(ReleasedCaptioner::load(&out, Some(&gpt2), &Device::Cpu))?;
        let _ = cap.caption(&[1, 2, 3], &mut |_| true);
        Ok(())
    };
    fuzz_pickle(
        "released captioner .ckpt",
        &repo("tests/fixtures/released-captioner/GeoMotionGPT.ckpt"),
        &out,
        CKPT_CASES,
        33,
        &case,
    );
}

#[test]
fn fuzz_released_export_config() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("fuzz-export");
    std::fs::create_dir_all(&export).unwrap();
    let from = repo("tests/fixtures/released-captioner/hf");
    std::fs::copy(
        from.join("model.safetensors"),
        export.join("model.safetensors"),
    )
    .unwrap();
    let path = export.join("config.json");
    let seed = std::fs::read(from.join("config.json")).unwrap();
    let stats = repo("tests/data/shared/humanml3d");
    let tokenizer_json = repo("tests/fixtures/gpt2-tiny/tokenizer.json");
    std::fs::copy(&tokenizer_json, export.join("tokenizer.json")).unwrap();
    // The export alone (its config gives the GPT-2 sizes), and as a tokenizer.
    let case = || {
        let cap = message(ReleasedCaptioner::load(&export, None, &Device::Cpu))?;
        let _ = cap.caption(&[1, 2], &mut |_| true);
        message(Tokenizer::open(&export, Some(&stats), &Device::Cpu)).map(|_| ())
    };
    std::fs::write(&path, &seed).unwrap();
    case().expect("the unmutated export loads");
    let mut c = Campaign::new("released export config.json");
    let mut m = Mutator::new(SEED ^ 34);
    for _ in 0..EXPORT_CONFIG_CASES {
        let (data, what) = m.mutate(&seed);
        std::fs::write(&path, &data).unwrap();
        c.run(
            &format!("export config.json: {what}"),
            &["fuzz-export"],
            case,
        );
    }
    c.finish();
}

/// The T2M evaluator's files: the pickle of `finest.tar` (inside the rebuilt zip) and the GloVe
/// vocabulary pickles (`our_vab_words.pkl`, `our_vab_idx.pkl`, read by serde-pickle).
#[test]
fn fuzz_t2m_evaluator_files() {
    use crate::eval::t2m::T2mEvaluator;
    use crate::eval::t2m::words::WordVectors;
    let dir = tempfile::tempdir().unwrap();
    let from = repo("tests/fixtures/t2m-evaluator");
    let t2m = dir.path().join("t2m");
    let model = t2m.join("text_mot_match/model");
    let meta = t2m.join("Comp_v6_KLD01/meta");
    std::fs::create_dir_all(&model).unwrap();
    std::fs::create_dir_all(&meta).unwrap();
    for f in ["mean.npy", "std.npy"] {
        std::fs::copy(from.join("t2m/Comp_v6_KLD01/meta").join(f), meta.join(f)).unwrap();
    }
    let tar = model.join("finest.tar");
    let clip = vec![0.1f32; 16 * crate::motion::N_FEATURES];
    let case = || {
        let ev = message(T2mEvaluator::load(&t2m, &Device::Cpu))?;
        let _ = ev.embed_motion(&clip);
        Ok(())
    };
    fuzz_pickle(
        "T2M evaluator finest.tar",
        &from.join("t2m/text_mot_match/model/finest.tar"),
        &tar,
        CKPT_CASES,
        35,
        &case,
    );
    let glove = dir.path().join("glove");
    std::fs::create_dir_all(&glove).unwrap();
    for f in ["our_vab_data.npy", "our_vab_words.pkl", "our_vab_idx.pkl"] {
        std::fs::copy(from.join("glove").join(f), glove.join(f)).unwrap();
    }
    let mut c = Campaign::new("GloVe vocabulary pickles");
    let mut m = Mutator::new(SEED ^ 36);
    for name in ["our_vab_words.pkl", "our_vab_idx.pkl"] {
        let seed = std::fs::read(from.join("glove").join(name)).unwrap();
        for _ in 0..PICKLE_CASES / 2 {
            let (data, what) = m.mutate(&seed);
            std::fs::write(glove.join(name), &data).unwrap();
            c.run(&format!("{name}: {what}"), &[name], || {
                let v = message(WordVectors::load(&glove, "our_vab"))?;
                let _ = v.vectorize("walk/VERB");
                Ok(())
            });
        }
        std::fs::write(glove.join(name), &seed).unwrap();
    }
    c.finish();
}
