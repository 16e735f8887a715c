//! Tokenizer tests on real clips (the embedded demo sample, real held-out capture).

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use candle_core::{D, DType, Device, Tensor, Var};
use rand::{SeedableRng, rngs::StdRng};

use super::config::{DvqConfig, TrainConfig};
use super::conv::{Conv1d, ConvSpec};
use super::params::Params;
use super::quantize::{gumbel_softmax_hard, ortho_loss};
use super::train::{TrainRequest, train};
use super::{Tokenizer, TrainEnd};
use crate::motion::{Dataset, Features, Split};

fn demo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/demo")
}

fn tiny_request(out: PathBuf, steps: usize) -> TrainRequest {
    TrainRequest {
        data: demo(),
        split: Split::Test,
        out,
        model: DvqConfig::preset("tiny").unwrap(),
        train: TrainConfig {
            steps,
            batch_size: 8,
            lr: 2e-3,
            codebook_lr: 1e-3,
            checkpoint_every: 1000,
            log_every: 1,
            ..TrainConfig::default()
        },
        resume: false,
        stop_at: None,
    }
}

#[test]
fn conv_matches_candle_conv1d() {
    let dev = Device::Cpu;
    let mut rng = StdRng::seed_from_u64(7);
    let specs = [
        ConvSpec::same(5, 6, 3, 1),
        ConvSpec::same(5, 6, 3, 9),
        ConvSpec::same(5, 6, 1, 1),
        ConvSpec {
            c_in: 5,
            c_out: 6,
            kernel: 4,
            stride: 2,
            padding: 1,
            dilation: 1,
        },
    ];
    for spec in specs {
        let mut p = Params::new();
        let conv = Conv1d::new(&mut p, "c", spec, &mut rng, &dev).unwrap();
        let x = Tensor::randn(0f32, 1.0, (2, 24, 5), &dev).unwrap();
        let ours = conv.forward(&x).unwrap();
        let t = p.tensors();
        let reference = x
            .transpose(1, 2)
            .unwrap()
            .contiguous()
            .unwrap()
            .conv1d(&t["c.weight"], spec.padding, spec.stride, spec.dilation, 1)
            .unwrap()
            .broadcast_add(&t["c.bias"].reshape((1, 6, 1)).unwrap())
            .unwrap()
            .transpose(1, 2)
            .unwrap();
        assert_eq!(ours.dims(), reference.dims(), "{spec:?}");
        let diff = (ours - reference)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(diff < 1e-5, "{spec:?}: max difference {diff}");
    }
}

#[test]
fn hard_one_hot_forward_carries_the_soft_gradient() {
    let dev = Device::Cpu;
    let logits = Var::from_tensor(&Tensor::randn(0f32, 1.0, (6, 10), &dev).unwrap()).unwrap();
    let noise = Tensor::randn(0f32, 1.0, (6, 10), &dev).unwrap();
    let w = Tensor::randn(0f32, 1.0, (6, 10), &dev).unwrap();
    let tau = 0.4;
    let y = gumbel_softmax_hard(logits.as_tensor(), &noise, tau).unwrap();
    // Forward: exactly one-hot at argmax(logits + noise).
    let rows = y.to_vec2::<f32>().unwrap();
    let arg = (logits.as_tensor() + &noise)
        .unwrap()
        .argmax(D::Minus1)
        .unwrap()
        .to_vec1::<u32>()
        .unwrap();
    for (r, a) in rows.iter().zip(&arg) {
        assert_eq!(r.iter().filter(|&&v| v == 1.0).count(), 1);
        assert_eq!(r.iter().filter(|&&v| v == 0.0).count(), 9);
        assert_eq!(r[*a as usize], 1.0);
    }
    // Backward: the gradient of softmax((logits + noise) / τ).
    let g_hard = (y * &w).unwrap().sum_all().unwrap().backward().unwrap();
    let soft = candle_nn::ops::softmax(
        &((logits.as_tensor() + &noise).unwrap() / tau).unwrap(),
        D::Minus1,
    )
    .unwrap();
    let g_soft = (soft * &w).unwrap().sum_all().unwrap().backward().unwrap();
    let a = g_hard.get(logits.as_tensor()).unwrap();
    let b = g_soft.get(logits.as_tensor()).unwrap();
    let diff = (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    let scale = b
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!(scale > 1e-3, "the soft gradient is not trivial");
    assert!(diff < 1e-6, "gradients differ by {diff}");
}

#[test]
fn ortho_loss_is_zero_for_an_orthonormal_codebook() {
    let dev = Device::Cpu;
    // 4 orthonormal rows in R^6 scaled differently (the loss normalizes rows), plus a rotation.
    let eye = Tensor::eye(6, DType::F32, &dev)
        .unwrap()
        .narrow(0, 0, 4)
        .unwrap();
    let scales = Tensor::new(&[[0.5f32], [2.0], [1.0], [3.0]], &dev).unwrap();
    let (c, s) = (
        std::f32::consts::FRAC_1_SQRT_2,
        std::f32::consts::FRAC_1_SQRT_2,
    );
    let rot = Tensor::new(
        &[
            [c, -s, 0., 0., 0., 0.],
            [s, c, 0., 0., 0., 0.],
            [0., 0., 1., 0., 0., 0.],
            [0., 0., 0., 1., 0., 0.],
            [0., 0., 0., 0., 1., 0.],
            [0., 0., 0., 0., 0., 1.],
        ],
        &dev,
    )
    .unwrap();
    let book = eye.broadcast_mul(&scales).unwrap().matmul(&rot).unwrap();
    let l = ortho_loss(&book).unwrap().to_scalar::<f32>().unwrap();
    assert!(l.abs() < 1e-12, "L_ortho = {l}");
    let random = Tensor::randn(0f32, 1.0, (4, 6), &dev).unwrap();
    assert!(ortho_loss(&random).unwrap().to_scalar::<f32>().unwrap() > 1e-3);
}

#[test]
fn tiny_model_trains_50_steps_on_real_clips_and_the_loss_falls() {
    let dir = tempfile::tempdir().unwrap();
    let req = tiny_request(dir.path().join("tok"), 50);
    let mut losses = Vec::new();
    let end = train(&req, &Device::Cpu, &AtomicBool::new(false), &mut |p| {
        losses.push(p.loss.recon)
    })
    .unwrap();
    assert_eq!(end, TrainEnd::Finished);
    assert_eq!(losses.len(), 50);
    let first: f32 = losses[..10].iter().sum::<f32>() / 10.0;
    let last: f32 = losses[40..].iter().sum::<f32>() / 10.0;
    assert!(last < 0.9 * first, "reconstruction loss {first} → {last}");
    let log = std::fs::read_to_string(req.out.join("train_log.csv")).unwrap();
    assert_eq!(log.lines().count(), 51, "header + one row per step");
}

#[test]
fn resume_gives_the_same_weights_as_an_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let whole = tiny_request(dir.path().join("whole"), 6);
    train(&whole, &Device::Cpu, &AtomicBool::new(false), &mut |_| {}).unwrap();
    let mut part = tiny_request(dir.path().join("part"), 6);
    part.stop_at = Some(3);
    let end = train(&part, &Device::Cpu, &AtomicBool::new(false), &mut |_| {}).unwrap();
    assert_eq!(end, TrainEnd::Cancelled { step: 3 });
    part.stop_at = None;
    part.resume = true;
    assert_eq!(
        train(&part, &Device::Cpu, &AtomicBool::new(false), &mut |_| {}).unwrap(),
        TrainEnd::Finished
    );
    let a = Tokenizer::load(&whole.out, &Device::Cpu).unwrap();
    let b = Tokenizer::load(&part.out, &Device::Cpu).unwrap();
    let (ta, tb) = (a.model().params().tensors(), b.model().params().tensors());
    for (name, x) in &ta {
        let d = (x - &tb[name])
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert_eq!(d, 0.0, "{name} differs by {d}");
    }
    let log = std::fs::read_to_string(part.out.join("train_log.csv")).unwrap();
    assert_eq!(log.lines().count(), 7, "resumed log has each step once");
}

#[test]
fn encode_decode_keeps_the_frame_count_rounded_to_8() {
    let dir = tempfile::tempdir().unwrap();
    let req = tiny_request(dir.path().join("tok"), 2);
    train(&req, &Device::Cpu, &AtomicBool::new(false), &mut |_| {}).unwrap();
    let tok = Tokenizer::load(&req.out, &Device::Cpu).unwrap();
    let ds = Dataset::open(&demo()).unwrap();
    for id in ds.split_ids(Split::Test).into_iter().take(5) {
        let f = Features::load(&ds.features_path(id)).unwrap();
        let codes = tok.encode(f.as_slice()).unwrap();
        assert_eq!(codes.len(), f.frames() / 8, "{id}");
        let joints = tok.decode_joints(&codes).unwrap();
        assert_eq!(joints.len(), f.frames() / 8 * 8 * 22, "{id}");
        assert!(joints.iter().all(|p| p.iter().all(|v| v.is_finite())));
        let prim = tok.primitive(codes[0], 4).unwrap();
        assert_eq!(prim.len(), 32 * 263);
    }
    assert!(
        tok.encode(&vec![0.0; 7 * 263]).is_err(),
        "shorter than one code"
    );
    assert!(tok.decode(&[999]).is_err(), "code outside the codebook");
}

#[test]
/// The im2col convolution's weight gradient against central finite differences.
fn conv_weight_gradient_matches_finite_differences() {
    let dev = Device::Cpu;
    let mut rng = StdRng::seed_from_u64(7);
    for spec in [
        ConvSpec::same(5, 6, 3, 1),
        ConvSpec::same(5, 6, 1, 1),
        ConvSpec {
            c_in: 5,
            c_out: 6,
            kernel: 4,
            stride: 2,
            padding: 1,
            dilation: 1,
        },
    ] {
        let mut p = Params::new();
        let conv = Conv1d::new(&mut p, "c", spec, &mut rng, &dev).unwrap();
        let x = Tensor::randn(0f32, 1.0, (2, 24, 5), &dev).unwrap();
        let y0 = conv.forward(&x).unwrap();
        let w = Tensor::randn(0f32, 1.0, y0.dims(), &dev).unwrap();
        let loss = |conv: &Conv1d| {
            (conv.forward(&x).unwrap() * &w)
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap() as f64
        };
        let g = (&y0 * &w).unwrap().sum_all().unwrap().backward().unwrap();
        let (_, _, pw) = p.iter().next().unwrap();
        let gw = g
            .get(pw.as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let orig = pw
            .as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let mut worst = 0f64;
        for idx in [0usize, 7, 13, 29] {
            let eps = 1e-2f32;
            let mut v = orig.clone();
            v[idx] += eps;
            pw.set(&Tensor::from_vec(v, pw.dims(), &dev).unwrap())
                .unwrap();
            let lp = loss(&conv);
            let mut v = orig.clone();
            v[idx] -= eps;
            pw.set(&Tensor::from_vec(v, pw.dims(), &dev).unwrap())
                .unwrap();
            let lm = loss(&conv);
            pw.set(&Tensor::from_vec(orig.clone(), pw.dims(), &dev).unwrap())
                .unwrap();
            let num = (lp - lm) / (2.0 * eps as f64);
            worst = worst.max((num - gw[idx] as f64).abs() / num.abs().max(1.0));
        }
        assert!(worst < 1e-3, "{spec:?}: relative gradient error {worst}");
    }
}

#[test]
/// The CPU's fused convolution ops against the tensor-op path (what CUDA/Metal run) with
/// ReLU and ×2 up-sampling done as separate ops: output and the input, weight and bias
/// gradients, for every geometry the network uses.
fn fused_cpu_conv_matches_the_tensor_op_path_forward_and_backward_and_frozen() {
    use super::conv::upsample2;
    let dev = Device::Cpu;
    let mut rng = StdRng::seed_from_u64(11);
    let down = ConvSpec {
        c_in: 5,
        c_out: 6,
        kernel: 4,
        stride: 2,
        padding: 1,
        dilation: 1,
    };
    let specs = [
        ConvSpec::same(5, 6, 3, 1),
        ConvSpec::same(5, 6, 3, 9),
        ConvSpec::same(5, 6, 1, 1),
        down,
    ];
    for spec in specs {
        for (relu, upsample) in [(false, false), (true, false), (false, true)] {
            let mut p = Params::new();
            let mut conv = Conv1d::new(&mut p, "c", spec, &mut rng, &dev).unwrap();
            let x = Var::randn(0f32, 1.0, (3, 21, 5), &dev).unwrap();
            let run = |conv: &Conv1d| {
                match (relu, upsample) {
                    (true, _) => conv.forward_relu(&x),
                    (_, true) => conv.forward_upsampled(&x),
                    _ => conv.forward(&x),
                }
                .unwrap()
            };
            let fused = run(&conv);
            let mut xr = x.as_tensor().clone();
            if relu {
                xr = xr.relu().unwrap();
            }
            if upsample {
                xr = upsample2(&xr).unwrap();
            }
            let reference = conv.forward_tensor_ops(&xr).unwrap();
            let case = format!("{spec:?} relu {relu} upsample {upsample}");
            assert_eq!(fused.dims(), reference.dims(), "{case}");
            assert!(
                crate::testdata::max_abs_diff(&fused, &reference) < 1e-5,
                "{case}: forward"
            );
            let up = Tensor::randn(0f32, 1.0, fused.dims(), &dev).unwrap();
            let gf = (&fused * &up)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            let gr = (&reference * &up)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            let mut wrt: Vec<(String, Tensor)> = vec![("x".into(), x.as_tensor().clone())];
            wrt.extend(
                p.iter()
                    .map(|(n, _, v)| (n.to_string(), v.as_tensor().clone())),
            );
            for (name, t) in wrt {
                let (a, b) = (gf.get(&t).unwrap(), gr.get(&t).unwrap());
                assert_eq!(a.dims(), b.dims(), "{case}: d{name}");
                let d = crate::testdata::max_abs_diff(a, b);
                assert!(d < 1e-4, "{case}: d{name} differs by {d}");
            }
            // Frozen for inference: the weight in the product layout, the same forward pass.
            conv.freeze().unwrap();
            let frozen = run(&conv);
            assert_eq!(frozen.dims(), fused.dims(), "{case}: frozen");
            let d = crate::testdata::max_abs_diff(&frozen, &fused);
            assert!(d < 1e-5, "{case}: frozen forward differs by {d}");
        }
    }
}

/// A copy of the demo corpus (its split lists, not its manifest) whose first 10 test clips
/// are its val split.
fn demo_with_val(dir: &std::path::Path) -> PathBuf {
    let to = dir.join("demo");
    for sub in ["", "new_joint_vecs", "texts"] {
        let (from, dest) = (demo().join(sub), to.join(sub));
        std::fs::create_dir_all(&dest).unwrap();
        for e in std::fs::read_dir(&from).unwrap() {
            let p = e.unwrap().path();
            if p.is_file() && p.file_name().unwrap() != "manifest.json" {
                std::fs::copy(&p, dest.join(p.file_name().unwrap())).unwrap();
            }
        }
    }
    let test = std::fs::read_to_string(to.join("test.txt")).unwrap();
    let ids: Vec<&str> = test.lines().collect();
    std::fs::write(to.join("val.txt"), ids[..10].join("\n") + "\n").unwrap();
    std::fs::write(to.join("test.txt"), ids[10..].join("\n") + "\n").unwrap();
    to
}

/// `val_every`: the val loss is logged every N steps, the lowest one's model is in `best/`
/// with its step, and a resumed run scores exactly as an uninterrupted one.
#[test]
fn validation_keeps_the_best_model_and_resumes_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let data = demo_with_val(dir.path());
    let run = |name: &str, stop: Option<usize>, resume: bool| {
        let mut req = tiny_request(dir.path().join(name), 6);
        req.data = data.clone();
        req.train.val_every = 2;
        req.stop_at = stop;
        req.resume = resume;
        train(&req, &Device::Cpu, &AtomicBool::new(false), &mut |_| {}).unwrap();
        req.out
    };
    let whole = run("whole", None, false);
    run("part", Some(3), false);
    let part = run("part", None, true);
    let rows = |out: &PathBuf| -> Vec<(usize, f32)> {
        std::fs::read_to_string(out.join("val_log.csv"))
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                (f[0].parse().unwrap(), f[1].parse().unwrap())
            })
            .collect()
    };
    let w = rows(&whole);
    assert_eq!(w.iter().map(|r| r.0).collect::<Vec<_>>(), vec![2, 4, 6]);
    assert_eq!(
        rows(&part),
        w,
        "a resumed run scores as an uninterrupted one"
    );
    let best = w.iter().min_by(|a, b| a.1.total_cmp(&b.1)).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(whole.join("best/best.json")).unwrap())
            .unwrap();
    assert_eq!(json["step"].as_u64().unwrap() as usize, best.0);
    assert!((json["val_loss"].as_f64().unwrap() as f32 - best.1).abs() < 1e-6);
    Tokenizer::load(&whole.join("best"), &Device::Cpu).expect("best/ is a tokenizer folder");
}
