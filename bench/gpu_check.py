"""GPU check for the encoder graphs (run by bench/gpu-check.sh on the borrowed GPU machine; inputs in .gpu/).

1. golden: the tiny fixture's fp16-fused graph on the CUDA provider vs the fp32-fused graph on CPU (and vs golden.json);
   target max |diff| <= 2e-3 per component.
2. speed: BERT-base-sized fused graphs (weights filled with random values here) on CUDA: documents/s at 64 x 300 and
   queries/s at 64 x 32, fp16 and fp32.
Prints one JSON line per result; exits 0 with a reason when the CUDA provider is unavailable.
"""
import gzip, json, sys, time
import numpy as np

def emit(**kw):
    print(json.dumps(kw), flush=True)

try:
    import onnxruntime as ort
except Exception as e:  # noqa: BLE001
    emit(step="import", ok=False, error=repr(e)); sys.exit(0)
emit(step="onnxruntime", version=ort.__version__, providers=ort.get_available_providers(), device=ort.get_device())

import os
import onnx
from onnx import helper, numpy_helper, TensorProto

def load_random(variant, rng):
    """The zero-weight BERT-base graph with every weight filled with random values."""
    m = onnx.load_from_string(gzip.decompress(open(f".gpu/base-{variant}.onnx.gz", "rb").read()))
    for i, init in enumerate(m.graph.initializer):
        arr = numpy_helper.to_array(init)
        if arr.dtype in (np.float16, np.float32) and arr.size > 1 and not init.name.startswith("const_"):
            new = 1 + 0.1 * rng.standard_normal(arr.shape) if "gamma" in init.name else 0.02 * rng.standard_normal(arr.shape)
            m.graph.initializer[i].CopyFrom(numpy_helper.from_array(new.astype(arr.dtype), init.name))
    return m.SerializeToString()

def timed(fn, min_s=1.5, min_n=3):
    fn()
    n = 0; t0 = time.perf_counter()
    while n < min_n or time.perf_counter() - t0 < min_s:
        fn(); n += 1
    return (time.perf_counter() - t0) / n

def cpu_bench():
    """Same onnxruntime version as onnxruntime-node 1.30, on this quiet machine's CPU: our fused graph's FLOP/s
    as a fraction of one [1200x768]x[768x3072] MatMul's, at 2 and 16 threads."""
    L, H, I, D = 12, 768, 3072, 128
    flops_tok = lambda S: L * (2 * (4 * H * H + 2 * H * I) + 4 * S * H) + 2 * H * D
    rng = np.random.default_rng(1)
    model = load_random("fp32-fused", rng)
    w = numpy_helper.from_array(rng.standard_normal((H, I)).astype(np.float32), "w")
    g = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "mm",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["m", H])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["m", I])], [w])
    mm = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]); mm.ir_version = 8
    x = rng.standard_normal((1200, H)).astype(np.float32)
    for threads in [2, os.cpu_count() or 16]:
        so = ort.SessionOptions(); so.intra_op_num_threads = threads; so.inter_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        sm = ort.InferenceSession(mm.SerializeToString(), so, providers=["CPUExecutionProvider"])
        s = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
        for batch in [1, 16]:
            ids = rng.integers(1000, 30000, size=(batch, 300), dtype=np.int64); ids[:, 0] = 2; ids[:, -1] = 3
            feeds = {"input_ids": ids, "attention_mask": np.ones((batch, 300), dtype=np.int64)}
            before = 2 * 1200 * H * I / timed(lambda: sm.run(None, {"x": x}), 0.5) / 1e9
            dt = timed(lambda: s.run(None, feeds), 1.5, 2)
            after = 2 * 1200 * H * I / timed(lambda: sm.run(None, {"x": x}), 0.5) / 1e9
            gf = batch * 300 * flops_tok(300) / dt / 1e9
            emit(step="cpu-speed", variant="fp32-fused", threads=threads, batch=batch, seq=300, ms_per_batch=dt * 1000, docs_per_s=batch / dt,
                 gflops=gf, matmul_gflops=(before + after) / 2, fraction=gf / ((before + after) / 2))

if "CUDAExecutionProvider" not in ort.get_available_providers():
    emit(step="cuda", ok=False, reason="this onnxruntime build has no CUDAExecutionProvider (CPU-only wheel)")
    if "--cpu" in sys.argv:
        cpu_bench()
    sys.exit(0)

def session(model, provider):
    so = ort.SessionOptions(); so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    s = ort.InferenceSession(model, so, providers=[provider])
    return s, s.get_providers()[0]

golden = json.load(open(".gpu/golden.json"))
skip = set(golden["skiplist_ids"])
cpu, _ = session(".gpu/tiny-fp32-fused.onnx", "CPUExecutionProvider")
try:
    gpu, used = session(".gpu/tiny-fp16-fused.onnx", "CUDAExecutionProvider")
except Exception as e:  # noqa: BLE001
    emit(step="cuda-session", ok=False, error=str(e)[:2000]); sys.exit(0)
emit(step="cuda-session", ok=used == "CUDAExecutionProvider", provider=used)
worst_cpu = worst_golden = worst_cpu_golden = 0.0
for e in golden["encoding"]:
    ids = np.array([e["ids"]], dtype=np.int64); mask = np.array([e["attention_mask"]], dtype=np.int64)
    a = cpu.run(None, {"input_ids": ids, "attention_mask": mask})[0][0]
    b = gpu.run(None, {"input_ids": ids, "attention_mask": mask})[0][0]
    rows = [i for i in range(len(e["ids"])) if e["kind"] == "query" or (e["attention_mask"][i] and e["ids"][i] not in skip)]
    want = np.array(e["vectors"], dtype=np.float64).reshape(e["shape"])
    worst_cpu = max(worst_cpu, float(np.abs(a[rows] - b[rows]).max()))
    worst_golden = max(worst_golden, float(np.abs(b[rows] - want).max()))
    worst_cpu_golden = max(worst_cpu_golden, float(np.abs(a[rows] - want).max()))
emit(step="golden", cases=len(golden["encoding"]), fp16_cuda_vs_fp32_cpu=worst_cpu, fp16_cuda_vs_golden=worst_golden,
     fp32_cpu_vs_golden=worst_cpu_golden, ok=worst_cpu <= 2e-3)

rng = np.random.default_rng(0)
for variant in ["fp16-fused", "fp32-fused"]:
    s, used = session(load_random(variant, rng), "CUDAExecutionProvider")
    for kind, batch, seq in [("document", 64, 300), ("document", 1, 300), ("query", 64, 32)]:
        ids = rng.integers(1000, 30000, size=(batch, seq), dtype=np.int64); ids[:, 0] = 2; ids[:, -1] = 3
        mask = np.ones((batch, seq), dtype=np.int64)
        if kind == "query": mask[:, 24:] = 0
        feeds = {"input_ids": ids, "attention_mask": mask}
        for _ in range(3): s.run(None, feeds)
        n = 0; t0 = time.perf_counter()
        while n < 5 or time.perf_counter() - t0 < 2.0:
            out = s.run(None, feeds); n += 1
        dt = (time.perf_counter() - t0) / n
        emit(step="speed", variant=variant, provider=used, kind=kind, batch=batch, seq=seq, ms_per_batch=dt * 1000, texts_per_s=batch / dt,
             finite=bool(np.isfinite(out).all()))
if "--cpu" in sys.argv:
    cpu_bench()
