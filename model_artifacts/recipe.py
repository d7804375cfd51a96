"""The quantization recipe, as data: recorded in the manifest and hashed into the build key.

Torch-free on purpose: `make model` hashes RECIPE to decide whether the artifact is up to date,
and importing pipeline.py for it would load torch first.
"""

from __future__ import annotations

from typing import Any

SMOOTH_ALPHAS = {"qkv": 0.8, "ffn_in": 0.6}

RECIPE: dict[str, Any] = {
    "recipe_version": 2,
    "method": "onnxruntime dynamic int8 after SmoothQuant, with weight-only int8 FFN outputs",
    "weights": "int8 symmetric, per output channel (all MatMuls and the QKV projection)",
    "activations": "uint8 asymmetric, per tensor, range computed at run time "
                   "(QAttention, DynamicQuantizeMatMul)",
    "smoothquant": {
        "alphas": SMOOTH_ALPHAS,
        "calibration": "model_artifacts/corpus/calibration.txt (400 sentences, disjoint from "
                       "the held-out corpus): max |x| per input channel over real tokens",
        "note": "qkv = the Attention input, ffn_in = the intermediate (h -> 4h) input; "
                "X/s is a Mul before the product, s folded into the weight rows",
    },
    "ffn_output": "weight-only int8 per output column (DequantizeLinear -> MatMul, fused "
                  "offline into MatMulNBits bits=8 block_size=32 accuracy_level=4)",
    "word_embeddings": "int8 rows with one fp32 scale per row; only gathered rows are "
                       "dequantized",
    "fused_ops": "Attention, BiasGelu (onnxruntime.transformers BERT fusions, raw 2-D "
                 "attention mask); SkipLayerNormalization left unfused (slower on CPU)",
}
