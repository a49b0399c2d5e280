"""One-off measurement behind docs/PERFORMANCE.md, "Embedding backends": the
evaluation replay fed with ONNX Runtime int8 vectors (written by
``onnx_backends.py ... --all``), in the project's environment:

    .venv/bin/python docs/measurements/onnx_int8_clustering.py
"""
from pathlib import Path
import sys, json, numpy as np
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from cluster.evaluation import labelled_items, run_clusterer
from cluster.metrics import score
from cluster.settings import load_settings
from cluster.baselines import centroid_single_pass
from cluster.embedding import embedding_text
texts = json.load(open('/tmp/onnxmodel/all_texts.json')); V = np.load('/tmp/onnxmodel/all_int8.npy')
table = dict(zip(texts, V))
class Int8:
    model_name = "all-MiniLM-L6-v2"; dimension = 384; vector_tag = "all-MiniLM-L6-v2@onnx-int8"
    def embed(self, ts): return np.stack([table[t] for t in ts]) if ts else np.zeros((0, 384), np.float32)
s = load_settings()
for f in ['allsides_dev', 'ecbplus_dev', 'uci_headlines']:
    items = labelled_items(Path(__file__).resolve().parents[3] / 'shared' / 'data' / f'{f}.jsonl')
    pred, _ = run_clusterer(s, Int8(), items)
    sc = score([i.cluster for i in items], pred)
    vec = np.stack([table[embedding_text(i.article.title, i.article.text, 1000)] for i in items])
    b = score([i.cluster for i in items], centroid_single_pass(vec, [i.article.timestamp for i in items], 0.5))
    print(f, f"clusterer {sc.bcubed_precision:.3f}/{sc.bcubed_recall:.3f}/{sc.bcubed_f1:.3f} stories {sc.predicted_clusters}  baseline F1 {b.bcubed_f1:.3f}")
