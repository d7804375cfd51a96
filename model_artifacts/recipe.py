"""The quantization recipe, as data: recorded in the manifest and hashed into the build key.

Torch-free on purpose: `make model` hashes RECIPE to decide whether the artifact is up to date,
and importing pipeline.py for it would load torch first.
"""

from __future__ import annotations

from typing import Any

# SmoothQuant migration strength per product of a BERT layer (see model_artifacts/rowwise.py):
# qkv = the merged Q/K/V projection, attn_out = the attention output projection, ffn_in / ffn_out
# = the feed-forward h -> 4h and 4h -> h products. Chosen on the calibration corpus' statistics
# against the held-out gate: 0.5 everywhere gave recall@10 0.952, ffn_out 0.4 or 0.8 were worse.
SMOOTH_ALPHAS = {"qkv": 0.8, "ffn_in": 0.6, "attn_out": 0.6, "ffn_out": 0.6}

RECIPE: dict[str, Any] = {
    "recipe_version": 3,
    "method": "row-local int8: per-token dynamic activation scales after SmoothQuant",
    "weights": "int8 symmetric, per output channel (every projection; Q, K and V merged)",
    "activations": "uint8 around 128 (symmetric), one scale per token row = max|x| / 127, "
    "computed at run time (Abs, ReduceMax, blocked QuantizeLinear)",
    "products": "MatMulIntegerToFloat (int32 accumulation, times the weight column scales, "
    "then times the row scale given as its [..., 1] A scale): arithmetic that reads only the "
    "token's own row",
    "smoothquant": {
        "alphas": SMOOTH_ALPHAS,
        "calibration": "model_artifacts/corpus/calibration.txt (400 sentences, disjoint from "
        "the held-out corpus): max |x| per input channel over real tokens",
        "note": "X/c is a Mul before the product, c folded into the weight rows; for the "
        "attention output 1/c folds into V's weights and bias",
    },
    "attention": "fp32, per sequence, as plain batched ops (Transpose to [batch, heads, tokens, "
    "head size], FusedMatMul scaled by 1/sqrt(head size), Add of a key padding bias, Softmax, "
    "MatMul with V; model_artifacts/attention.py) instead of MultiHeadAttention, which was "
    "slower at one thread and gave the same bits; BiasGelu and LayerNormalization in fp32",
    "word_embeddings": "int8 rows with one fp32 scale per row; only gathered rows are dequantized",
    "batch_invariant": "every operation works per token row or per sequence: a text's vector "
    "does not depend on its batch-mates, batch size, padding or threads "
    "(checked by the build, see manifest invariance)",
}

# `make model PRECISION=fp32`: the exported graph as is, for users who want the vectors
# sentence-transformers gives (fidelity gate: model_artifacts/fidelity.FP32_GATE).
FP32_RECIPE: dict[str, Any] = {
    "recipe_version": 1,
    "method": "none: fp32 weights and activations, the torch export's own graph",
    "graph": "torch.onnx export (model_artifacts/export.py), then onnxruntime's EXTENDED "
    "optimisations offline (model_artifacts/quantize.optimize_offline); no fusion that "
    "changes the arithmetic's order per row",
    "batch_invariant": "checked by the build on a 400-text sample of the held-out corpus "
    "(see manifest invariance)",
}
RECIPES = {"int8": RECIPE, "fp32": FP32_RECIPE}
