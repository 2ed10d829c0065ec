#!/usr/bin/env python3
"""Golden files for Tests/QATIOTests (safetensors, HF config.json, HDF5).

Independent reference for QATIO's Safetensors.swift, ModelConfig.swift and HDF5File.swift:
the files are written by the Python `safetensors` package and by h5py, never by QATLab.
Expected values go to *.expected.json as uint32 bit patterns (floats) so the Swift tests can
compare bit-exactly.

Run from the repository root (pip install numpy safetensors h5py):
    python3 Tests/Oracles/safetensors_golden.py
Writes Tests/QATIOTests/Golden/st_* except st_config_*.json: those are copies of the published
config.json files of SmolLM2-135M (LlamaForCausalLM), Qwen2.5-0.5B (Qwen2ForCausalLM) and
Mistral-7B-v0.1 (MistralForCausalLM), kept by hand.
"""
import json
import os
import shutil

import h5py
import numpy as np
from safetensors import TensorSpec, serialize
from safetensors.numpy import save_file

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "QATIOTests", "Golden")


def bits32(a):
    """float32 array -> list of uint32 bit patterns (row-major)."""
    return [int(x) for x in np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).ravel()]


def bf16_round(a):
    """float32 -> bfloat16 bits, round to nearest even (values here are finite)."""
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    r = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return r.astype(np.uint16)


def all_dtypes():
    """One tensor per dtype; F16/BF16 include subnormals, infinities, -0 and rounding cases."""
    f32 = np.array([[0.0, -0.0, 1.0, -2.5], [3.1415927, 1e-38, 1.4e-45, -3.4028235e38],
                    [np.inf, -np.inf, 0.1, 65504.0]], dtype=np.float32)
    f16 = np.array([0.0, -0.0, 1.0, -2.0, 0.333, 65504.0, 6.1e-5, 5.96e-8, np.inf, -np.inf, 1e-3, 2049.0],
                   dtype=np.float16).reshape(2, 2, 3)
    bf_src = np.array([0.0, -0.0, 1.0, -1.5, 3.1415927, 1e-30, 3.0e38, np.inf, 0.1, -7.0], dtype=np.float32)
    bf16 = bf16_round(bf_src).reshape(5, 2)
    i32 = np.array([0, 1, -1, 2147483647, -2147483648, 123456], dtype=np.int32).reshape(3, 2)
    u8 = np.arange(0, 256, 17, dtype=np.uint8)
    i8 = np.array([-128, -1, 0, 1, 127], dtype=np.int8)
    scalar = np.array(42.5, dtype=np.float32)
    empty = np.zeros((0, 3), dtype=np.float32)
    arrays = {"f32": f32, "f16": f16, "bf16": bf16, "i32": i32, "u8": u8, "i8": i8,
              "scalar": scalar, "empty": empty}
    specs = {}
    names = {"f32": "float32", "f16": "float16", "bf16": "bfloat16", "i32": "int32",
             "u8": "uint8", "i8": "int8", "scalar": "float32", "empty": "float32"}
    kept = []                                    # keeps each buffer alive until serialize returns
    for k, a in arrays.items():
        a = np.array(a, copy=True, order="C")    # (ascontiguousarray would turn the 0-d scalar into [1])
        kept.append(a)
        specs[k] = TensorSpec(dtype=names[k], shape=list(a.shape), data_ptr=a.ctypes.data, data_len=a.nbytes)
    blob = serialize(specs, metadata={"format": "pt", "note": "QATLab golden \u00e9"})
    with open(os.path.join(OUT, "st_alltypes.safetensors"), "wb") as f:
        f.write(blob)
    expected = {
        "metadata": {"format": "pt", "note": "QATLab golden \u00e9"},
        "f32": {"shape": list(f32.shape), "bits": bits32(f32)},
        "f16": {"shape": list(f16.shape), "bits": bits32(f16.astype(np.float32))},
        "bf16": {"shape": list(bf16.shape),
                 "bits": [int(x) << 16 for x in bf16.ravel()]},
        "i32": {"shape": list(i32.shape), "values": [int(x) for x in i32.ravel()]},
        "u8": {"shape": list(u8.shape), "values": [int(x) for x in u8.ravel()]},
        "i8": {"shape": list(i8.shape), "values": [int(x) for x in i8.ravel()]},
        "scalar": {"shape": [], "bits": bits32(scalar)},
        "empty": {"shape": [0, 3], "bits": []},
    }
    with open(os.path.join(OUT, "st_alltypes.expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)


def sharded():
    """Two shards plus model.safetensors.index.json, as transformers' save_pretrained lays them out."""
    d = os.path.join(OUT, "st_sharded")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    a = np.arange(12, dtype=np.float32).reshape(3, 4) / 8
    b = np.array([1.5, -2.25, 4.0], dtype=np.float32)
    c = (np.arange(6, dtype=np.float32) - 3).reshape(2, 3)
    save_file({"model.embed_tokens.weight": a}, os.path.join(d, "model-00001-of-00002.safetensors"),
              metadata={"format": "pt"})
    save_file({"model.norm.weight": b, "lm_head.weight": c},
              os.path.join(d, "model-00002-of-00002.safetensors"), metadata={"format": "pt"})
    index = {"metadata": {"total_size": int(a.nbytes + b.nbytes + c.nbytes)},
             "weight_map": {"model.embed_tokens.weight": "model-00001-of-00002.safetensors",
                            "model.norm.weight": "model-00002-of-00002.safetensors",
                            "lm_head.weight": "model-00002-of-00002.safetensors"}}
    with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
        json.dump(index, f, indent=2)
    for name in os.listdir(d):
        os.chmod(os.path.join(d, name), 0o644)   # save_file creates 0600 files
    expected = {"model.embed_tokens.weight": {"shape": [3, 4], "bits": bits32(a)},
                "model.norm.weight": {"shape": [3], "bits": bits32(b)},
                "lm_head.weight": {"shape": [2, 3], "bits": bits32(c)}}
    with open(os.path.join(OUT, "st_sharded.expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)


def hdf5():
    """An h5py file with float32 datasets of ranks 0-3, int32, float64, float16, a string dataset
    (not float32-compatible), an absurdly large unallocated dataset and attributes of every kind
    HDF5Attribute models."""
    path = os.path.join(OUT, "st_golden.h5")
    w = (np.arange(12, dtype=np.float32).reshape(3, 4) - 5.5) / 3
    cube = np.linspace(-1, 1, 24, dtype=np.float32).reshape(2, 3, 4)
    ids = np.array([7, -3, 2147483647, 0, -2147483648], dtype=np.int32)
    f64 = np.array([[0.5, -1.25], [1e-3, 3.0]], dtype=np.float64)
    f16 = np.array([1.0, -0.5, 65504.0], dtype=np.float16)
    with h5py.File(path, "w") as f:
        f.attrs["step"] = np.int64(1234)
        f.attrs["lr"] = np.float64(2.5e-4)
        f.attrs["command"] = "quantize m bits=2 \u00e9"           # h5py: variable-length UTF-8 str
        f.attrs["scales"] = np.array([0.5, 0.25, 0.125], dtype=np.float64)
        f.attrs["shape"] = np.array([3, 4], dtype=np.int64)
        f.create_dataset("weights", data=w)
        f.create_dataset("scalar", data=np.float32(-7.75))
        g = f.create_group("model/layers/0")
        g.create_dataset("cube", data=cube, chunks=(1, 3, 2), compression="gzip", compression_opts=4,
                         shuffle=True)
        g.attrs["bits"] = np.int32(2)
        g.attrs["name"] = "block 0"
        f.create_dataset("ids", data=ids)
        f.create_dataset("f64", data=f64)
        f.create_dataset("f16", data=f16)
        f.create_dataset("text", data=np.array([b"abc", b"de"], dtype="S3"))
        # 2^40 float32 elements (4 TiB) with no storage allocated: reading it must be refused.
        f.create_dataset("huge", shape=(1 << 20, 1 << 20), dtype=np.float32)
    expected = {"weights": {"shape": [3, 4], "bits": bits32(w)},
                "scalar": {"shape": [], "bits": bits32(np.float32(-7.75))},
                "model/layers/0/cube": {"shape": [2, 3, 4], "bits": bits32(cube)},
                "ids": {"shape": [5], "values": [int(x) for x in ids]},
                "f64": {"shape": [2, 2], "bits": bits32(f64.astype(np.float32))},
                "f16": {"shape": [3], "bits": bits32(f16.astype(np.float32))}}
    with open(os.path.join(OUT, "st_golden_h5.expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    all_dtypes()
    sharded()
    hdf5()
    print("wrote", sorted(p for p in os.listdir(OUT) if p.startswith("st_")))
