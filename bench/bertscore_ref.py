"""BERTScore reference for `geomotion bench metrics --python VENV/bin/python`: the `bert-score`
package scoring the same caption sets with the same MiniLM (all layers, no idf, no rescaling),
timed in its scorer; prints {"seconds", "n", "f1"} as JSON. The references arrive already in the
motion-to-text protocol form (at most 3; two become A, B, A), as geomotion scores them.

    VENV/bin/pip install torch transformers bert-score
    VENV/bin/python bench/bertscore_ref.py MODEL_DIR SETS.jsonl
"""
import json
import sys
import time

import bert_score

model_dir, sets_path = sys.argv[1], sys.argv[2]
sets = [json.loads(line) for line in open(sets_path) if line.strip()]
cands = [s["prediction"] for s in sets]
refs = [s["references"] for s in sets]
t = time.perf_counter()
P, R, F = bert_score.score(cands, refs, model_type=model_dir, num_layers=6, idf=False,
                           batch_size=64, device="cpu")
secs = time.perf_counter() - t
print(json.dumps({"seconds": secs, "n": len(sets), "f1": F.mean().item(),
                  "bert_score": bert_score.__version__}))
