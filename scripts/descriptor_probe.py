"""Linear probe of the retrieval baseline's descriptor: how much of a take's style and content
can a linear classifier read from the whole-clip descriptor that the captioner's motion summary
is made of? A cross-check for the captioner's model card, not part of the product.

Descriptor per whole take: per-feature mean and std over time of the Mean/Std-normalised
features plus the means of 4 equal time segments (6 x 263 values, as `eval::baseline::descriptor`),
standardised over the train takes. Logistic regression (scikit-learn) and a 1-nearest-neighbour
classifier on the same vectors, trained on the train split's whole takes of one Bandai dataset,
accuracy on its test whole takes.

    python scripts/descriptor_probe.py CORPUS
    python scripts/descriptor_probe.py CORPUS --summary   # the captioner's motion summary instead

`--summary` probes what the captioner reads: the descriptor standardised and projected with the
shipped index (`models/lm/nearest.safetensors`: desc_mean, desc_std, components), each component
divided by its standard deviation over the index's keys (`NearestIndex::summary`).
"""

import json
import struct
import sys

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier


def descriptor(corpus, clip, mean, std):
    x = (np.load(f"{corpus}/new_joint_vecs/{clip}.npy") - mean) / std
    n = len(x)
    parts = [x.mean(0), x.std(0)]
    for s in range(4):
        parts.append(x[s * n // 4 : max((s + 1) * n // 4, s * n // 4 + 1)].mean(0))
    return np.concatenate(parts)


def load_safetensors(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + n])
    out = {}
    for key, v in header.items():
        if key == "__metadata__":
            continue
        a, b = v["data_offsets"]
        dtype = {"F32": np.float32, "F64": np.float64}[v["dtype"]]
        out[key] = np.frombuffer(raw[8 + n + a : 8 + n + b], dtype=dtype).reshape(v["shape"])
    return out


def main(corpus, summary=False):
    manifest = json.load(open(f"{corpus}/manifest.json"))
    mean, std = np.load(f"{corpus}/Mean.npy"), np.load(f"{corpus}/Std.npy")
    index = load_safetensors("models/lm/nearest.safetensors") if summary else None
    for dataset in ["bandai-1", "bandai-2"]:
        takes = [e for e in manifest if e["whole_take"] and e["dataset"] == dataset]
        train = [e for e in takes if e["split"] == "train"]
        test = [e for e in takes if e["split"] == "test"]
        xtr = np.stack([descriptor(corpus, e["id"], mean, std) for e in train])
        xte = np.stack([descriptor(corpus, e["id"], mean, std) for e in test])
        if index is None:
            mu, sd = xtr.mean(0), xtr.std(0) + 1e-8
            xtr, xte = (xtr - mu) / sd, (xte - mu) / sd
        else:
            key_std = np.sqrt((index["keys"].astype(np.float64) ** 2).mean(0))
            project = lambda x: (
                ((x - index["desc_mean"]) / index["desc_std"]) @ index["components"] / key_std
            )
            xtr, xte = project(xtr), project(xte)
        for label in ["style", "content"]:
            ytr = [e["labels"][label] for e in train]
            yte = [e["labels"][label] for e in test]
            for name, clf in [
                ("logistic regression C=1", LogisticRegression(C=1, max_iter=3000)),
                ("1-nearest neighbour", KNeighborsClassifier(1)),
            ]:
                pred = clf.fit(xtr, ytr).predict(xte)
                right = sum(p == y for p, y in zip(pred, yte))
                print(f"{dataset} {label}, {name}: {right}/{len(yte)} ({len(train)} train takes)")


if __name__ == "__main__":
    main(sys.argv[1], summary="--summary" in sys.argv[2:])
