//! Rotations, in one place for the whole motion pipeline: quaternions as HumanML3D
//! `common/quaternion.py` has them (`recover_from_ric`, the joints → features converter), and
//! 3×3 matrices from per-axis (Euler) angles as the ASF/AMC and BVH readers compose them.
//!
//! Plain arrays and the reference's operation order, so results match the reference to the bit
//! (the HumanML3D parity tests rely on it). Never imports Bevy.
//!
//! Conventions:
//! - Right-handed axes; axis indices 0, 1, 2 are x, y, z; angles are radians, positive
//!   counter-clockwise looking from the positive axis towards the origin.
//! - A quaternion is `[w, x, y, z]`, scalar first, one row of `quaternion.py`'s `(…, 4)`
//!   arrays. Rotation by `q` is `v ↦ q v q⁻¹`. Inputs are not normalised unless a function says.
//! - A matrix is row-major, `m[row][col]`, and acts on column vectors: `v' = M · v`. In
//!   [`mat_mul`]`(a, b) = A · B` the rotation `B` applies first.
//! - Euler angles: [`euler_extrinsic`] applies the first listed angle first (ASF `axis`, AMC
//!   `dof`: order `XYZ` is `Rz · Ry · Rx`); [`euler_intrinsic`] multiplies in listed order (BVH
//!   channels: `Zrotation Xrotation Yrotation` is `Rz · Rx · Ry`).

use num_traits::Float;

/// A 3×3 matrix, row-major (`m[row][col]`), acting on column vectors.
pub type Mat3<F = f64> = [[F; 3]; 3];

/// The 3×3 identity.
pub const IDENTITY: Mat3 = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];

// --- 3-vectors ---

/// Cross product `a × b`.
#[inline]
pub fn cross<F: Float>(a: [F; 3], b: [F; 3]) -> [F; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

/// Dot product `a · b`.
#[inline]
pub fn dot<F: Float>(a: [F; 3], b: [F; 3]) -> F {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

/// `v / |v|`; the zero vector is returned unchanged.
#[inline]
pub fn normalize<F: Float>(v: [F; 3]) -> [F; 3] {
    let n = dot(v, v).sqrt();
    if n > F::zero() { v.map(|x| x / n) } else { v }
}

// --- quaternions [w, x, y, z] (HumanML3D `common/quaternion.py`) ---

/// Hamilton product `q r` (`qmul`): the rotation `r` followed by `q`, so
/// `qrot(qmul(q, r), v) = qrot(q, qrot(r, v))`.
#[inline]
pub fn qmul<F: Float>(q: [F; 4], r: [F; 4]) -> [F; 4] {
    [
        q[0] * r[0] - q[1] * r[1] - q[2] * r[2] - q[3] * r[3],
        q[0] * r[1] + q[1] * r[0] + q[2] * r[3] - q[3] * r[2],
        q[0] * r[2] - q[1] * r[3] + q[2] * r[0] + q[3] * r[1],
        q[0] * r[3] + q[1] * r[2] - q[2] * r[1] + q[3] * r[0],
    ]
}

/// Conjugate `[w, −x, −y, −z]` (`qinv`): the inverse rotation of a unit quaternion.
#[inline]
pub fn qinv<F: Float>(q: [F; 4]) -> [F; 4] {
    [q[0], -q[1], -q[2], -q[3]]
}

/// Rotates `v` by the unit quaternion `q` (`qrot`): `v + 2 (w (q⃗ × v) + q⃗ × (q⃗ × v))`.
#[inline]
pub fn qrot<F: Float>(q: [F; 4], v: [F; 3]) -> [F; 3] {
    let qv = [q[1], q[2], q[3]];
    let uv = cross(qv, v);
    let uuv = cross(qv, uv);
    let two = F::one() + F::one();
    [
        v[0] + two * (q[0] * uv[0] + uuv[0]),
        v[1] + two * (q[0] * uv[1] + uuv[1]),
        v[2] + two * (q[0] * uv[2] + uuv[2]),
    ]
}

/// Unit quaternion of the shortest-arc rotation taking the direction of `v0` to that of `v1`
/// (`qbetween`; neither needs unit length). Opposite vectors, where the reference returns NaN,
/// get a half turn about an axis perpendicular to `v0`.
pub fn qbetween<F: Float>(v0: [F; 3], v1: [F; 3]) -> [F; 4] {
    let (zero, one) = (F::zero(), F::one());
    let v = cross(v0, v1);
    let w = (dot(v0, v0) * dot(v1, v1)).sqrt() + dot(v0, v1);
    let n = (w * w + dot(v, v)).sqrt();
    if n < F::from(1e-12).expect("a float type holds 1e-12") {
        let axis = if v0[0].abs() < F::from(0.9).expect("a float type holds 0.9") {
            [one, zero, zero]
        } else {
            [zero, one, zero]
        };
        let a = normalize(cross(v0, axis));
        return [zero, a[0], a[1], a[2]];
    }
    [w / n, v[0] / n, v[1] / n, v[2] / n]
}

/// Rotation matrix of a quaternion (`quaternion_to_matrix`); `q` need not be unit (it is
/// divided by `|q|²`). Column `k` of the result is `qrot(q / |q|, e_k)`.
pub fn quat_to_matrix<F: Float>(q: [F; 4]) -> Mat3<F> {
    let [r, i, j, k] = q;
    let one = F::one();
    let two_s = (one + one) / (r * r + i * i + j * j + k * k);
    [
        [
            one - two_s * (j * j + k * k),
            two_s * (i * j - k * r),
            two_s * (i * k + j * r),
        ],
        [
            two_s * (i * j + k * r),
            one - two_s * (i * i + k * k),
            two_s * (j * k - i * r),
        ],
        [
            two_s * (i * k - j * r),
            two_s * (j * k + i * r),
            one - two_s * (i * i + j * j),
        ],
    ]
}

// --- rotation matrices ---

/// Rotation by `rad` radians about axis 0, 1 or 2 (x, y, z; any other index is taken as z),
/// column-vector convention: `axis_rotation(2, θ) · [1, 0, 0] = [cos θ, sin θ, 0]`.
pub fn axis_rotation(axis: usize, rad: f64) -> Mat3 {
    let (s, c) = rad.sin_cos();
    match axis {
        0 => [[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]],
        1 => [[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]],
        _ => [[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]],
    }
}

/// Matrix product `A · B` (`B` applied first).
pub fn mat_mul(a: &Mat3, b: &Mat3) -> Mat3 {
    [0usize, 1, 2]
        .map(|i| [0usize, 1, 2].map(|j| (0..3usize).map(|k| a[i][k] * b[k][j]).sum::<f64>()))
}

/// Matrix times column vector, `A · v`.
pub fn mat_vec(a: &Mat3, v: [f64; 3]) -> [f64; 3] {
    [0usize, 1, 2].map(|i| a[i][0] * v[0] + a[i][1] * v[1] + a[i][2] * v[2])
}

/// Transpose `Aᵀ`: the inverse of a rotation.
pub fn transpose(a: &Mat3) -> Mat3 {
    [0usize, 1, 2].map(|i| [a[0][i], a[1][i], a[2][i]])
}

/// `C · M · C⁻¹` for a rotation `C`: the rotation `M`, given in the frame `C`, in the outer frame.
pub fn conjugate(c: &Mat3, m: &Mat3) -> Mat3 {
    mat_mul(&mat_mul(c, m), &transpose(c))
}

/// Composes per-axis rotations `(axis, radians)`, the first listed applied first (extrinsic,
/// about fixed axes): x, y, z gives `Rz · Ry · Rx`. The ASF/AMC convention (Acclaim `axis` and
/// `dof` orders); no steps gives the identity.
pub fn euler_extrinsic(steps: impl IntoIterator<Item = (usize, f64)>) -> Mat3 {
    steps
        .into_iter()
        .fold(IDENTITY, |m, (a, rad)| mat_mul(&axis_rotation(a, rad), &m))
}

/// Composes per-axis rotations `(axis, radians)` as the product in listed order (intrinsic,
/// each about the axes the previous ones turned): z, x, y gives `Rz · Rx · Ry`. The BVH
/// convention (rotation channels in the order the joint lists them); no steps gives the identity.
pub fn euler_intrinsic(steps: impl IntoIterator<Item = (usize, f64)>) -> Mat3 {
    steps
        .into_iter()
        .fold(IDENTITY, |m, (a, rad)| mat_mul(&m, &axis_rotation(a, rad)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: [f64; 3], b: [f64; 3]) -> bool {
        (0..3).all(|i| (a[i] - b[i]).abs() < 1e-12)
    }

    fn close_m(a: &Mat3, b: &Mat3) -> bool {
        (0..3).all(|i| close(a[i], b[i]))
    }

    /// A unit quaternion of no special axis.
    fn some_quat() -> [f64; 4] {
        let q = [0.3, -0.5, 0.7, 0.2];
        let n = q.iter().map(|x| x * x).sum::<f64>().sqrt();
        q.map(|x| x / n)
    }

    #[test]
    fn qrot_quarter_turn_about_y() {
        let h = (0.5f64).sqrt();
        // +90° about +Y takes +Z to +X.
        assert!(close(
            qrot([h, 0.0, h, 0.0], [0.0, 0.0, 1.0]),
            [1.0, 0.0, 0.0]
        ));
    }

    #[test]
    fn qmul_composes_and_qinv_inverts() {
        let (q, r, v) = (
            some_quat(),
            qbetween([1.0, 2.0, 0.5], [0.0, 1.0, 0.0]),
            [0.4, -1.0, 2.0],
        );
        assert!(close(qrot(qmul(q, r), v), qrot(q, qrot(r, v))));
        assert!(close(qrot(qinv(q), qrot(q, v)), v));
    }

    #[test]
    fn qbetween_takes_v0_to_v1() {
        let (v0, v1) = ([1.0, 2.0, 0.5], [-3.0, 0.2, 1.0]);
        assert!(close(qrot(qbetween(v0, v1), normalize(v0)), normalize(v1)));
        // Opposite vectors: a half turn, not NaN.
        assert!(close(
            qrot(qbetween(v0, v0.map(|x: f64| -x)), v0),
            v0.map(|x| -x)
        ));
    }

    #[test]
    fn quat_to_matrix_agrees_with_qrot() {
        let (q, v) = (some_quat(), [0.4, -1.0, 2.0]);
        assert!(close(mat_vec(&quat_to_matrix(q), v), qrot(q, v)));
        // Not normalised: the same rotation.
        assert!(close_m(
            &quat_to_matrix(q.map(|x| 3.0 * x)),
            &quat_to_matrix(q)
        ));
    }

    #[test]
    fn axis_rotations_match_quaternions() {
        let theta: f64 = 0.7;
        let (s, c) = (theta / 2.0).sin_cos();
        for axis in 0..3 {
            let mut q = [c, 0.0, 0.0, 0.0];
            q[axis + 1] = s;
            assert!(
                close_m(&axis_rotation(axis, theta), &quat_to_matrix(q)),
                "axis {axis}"
            );
        }
    }

    #[test]
    fn euler_orders() {
        let (x, y, z) = (0.3, -1.1, 0.8);
        let (rx, ry, rz) = (
            axis_rotation(0, x),
            axis_rotation(1, y),
            axis_rotation(2, z),
        );
        let zyx = mat_mul(&rz, &mat_mul(&ry, &rx));
        assert!(close_m(&euler_extrinsic([(0, x), (1, y), (2, z)]), &zyx));
        let zxy = mat_mul(&rz, &mat_mul(&rx, &ry));
        assert!(close_m(&euler_intrinsic([(2, z), (0, x), (1, y)]), &zxy));
        assert_eq!(euler_intrinsic([]), IDENTITY);
        let m = conjugate(&rx, &ry);
        assert!(close_m(&m, &mat_mul(&rx, &mat_mul(&ry, &transpose(&rx)))));
    }
}
