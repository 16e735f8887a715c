#!/usr/bin/env bash
# Regenerates tests/data/caption_sets_250.expected.json with the reference implementation
# (pycocoevalcap 1.2's Bleu, Rouge, Cider via ../shared/bench/metrics_coco.py), in a virtual
# environment outside the repository. The Rust test `matches_pycocoevalcap_on_250_sets` compares
# against these frozen values to 1e-4. The product never needs Python.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${REF_VENV:-/tmp/refvenv}"
[ -x "$venv/bin/python" ] || { python3 -m venv "$venv" && "$venv/bin/pip" install -q pycocoevalcap==1.2; }
"$venv/bin/python" ../shared/bench/metrics_coco.py tests/data/caption_sets_250.jsonl > tests/data/caption_sets_250.expected.json
cat tests/data/caption_sets_250.expected.json
