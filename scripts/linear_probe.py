"""Linear probe of a tokenizer's codes: how much of a take's style and content can a linear
classifier read from its DVQ code histograms? A cross-check for the captioner's model card, not
part of the product (which never needs Python).

Features per clip: the normalised code histogram of the whole clip and of 4 equal segments of the
code sequence (the same as `eval::baseline::code_descriptor`). Logistic regression (scikit-learn,
C = 10) on the train split's Bandai dataset-2 whole takes, accuracy on the test split's.

    geomotion encode --data CORPUS --dvq DIR > codes.jsonl
    python scripts/linear_probe.py CORPUS codes.jsonl K
"""

import json
import sys

import numpy as np
from sklearn.linear_model import LogisticRegression


def descriptor(codes, k):
    def hist(cs):
        v = np.zeros(k)
        for c in cs:
            v[c] += 1
        return v / max(len(cs), 1)

    n = len(codes)
    parts = [hist(codes)]
    for s in range(4):
        seg = codes[s * n // 4 : (s + 1) * n // 4]
        parts.append(hist(seg) if seg else hist(codes))
    return np.concatenate(parts)


def main(corpus, codes_file, k):
    manifest = {e["id"]: e for e in json.load(open(f"{corpus}/manifest.json"))}
    x, labels = {}, {}
    for line in open(codes_file):
        r = json.loads(line)
        e = manifest[r["id"]]
        if e["whole_take"] and e["dataset"] == "bandai-2":
            x[r["id"]] = descriptor(r["codes"], k)
            labels[r["id"]] = e["labels"]
    train = [i for i in x if manifest[i]["split"] == "train"]
    test = [i for i in x if manifest[i]["split"] == "test"]
    for label in ["style", "content"]:
        clf = LogisticRegression(C=10, max_iter=3000)
        clf.fit(np.stack([x[i] for i in train]), [labels[i][label] for i in train])
        pred = clf.predict(np.stack([x[i] for i in test]))
        right = sum(p == labels[i][label] for p, i in zip(pred, test))
        print(f"{label}: {right}/{len(test)} = {right / len(test):.3f} (train {len(train)} takes)")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
