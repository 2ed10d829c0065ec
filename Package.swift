// swift-tools-version:6.0
// QATLab: quantization-aware training of LLaMA-family models on a CPU.
//
// Targets, bottom to top (a target depends only on targets above it in this list):
//   CBLAS, CHDF5, CReadline   system libraries (OpenBLAS, HDF5 1.10, GNU readline)
//   CBF16                     bf16 matmuls with fp32 accumulation (oneDNN, libdnnl-dev) and the cpuid
//                             check for AVX512-BF16. oneDNN because Debian's OpenBLAS 0.3.21 is built
//                             without bfloat16 (cblas_sbgemm is declared in cblas.h but not in the
//                             library), and oneDNN's bf16 gemm runs ~2x sgemm on Zen 4 (`set precision=bf16`)
//   QATTensor                 Float32 tensors and their forward/backward kernels, threads, RNG
//   QATAutograd               reverse-mode autograd on a tape over QATTensor kernels
//   QATIO                     on-disk formats: GGUF, safetensors, HF config.json, HDF5
//   QATInterp                 the command language: values, parser, evaluator, verb table mechanics
//   QATTokenizer              byte-level BPE (vocab + merges, tokenizer.json) and the byte fallback
//   QATModel                  LLaMA-family model: blocks, full model, inference and training paths
//   QATEval                   evaluation beyond perplexity: KL to a reference, multiple choice, quiz tasks
//   QATQuant                  weight quantizers (fake/hard), the method and grid tables (RTN, GPTQ, AWQ), rotations, packing, export
//   QATTrain                  optimizers, schedules, one training loop (Block-AP, E2E-QP, full QAT, QFA), distillation
//   QATResults                results tables (terminal, CSV, Markdown, HDF5) and SVG plots
//   QATSweep                  sweep mechanics: grids, manifests, shared cache, local and Slurm backends
//   QATBench                  benchmark kernels: sgemm vs a block, model forward, training, evaluation
//   QATToolkit                the verb rows binding the command language to the library (REPL, scripts, CLI)
//   qat                       the executable
import PackageDescription

// Hot loops need a real CPU target: a default release build targets baseline x86-64, where
// rounded() is a libm call and nothing vectorizes (5-6x slower). Haswell (AVX2+FMA) runs on
// every machine this project runs on; `native` is an opt-in:
// swift build -c release -Xswiftc -target-cpu -Xswiftc native
let hot: [SwiftSetting] = [
    .unsafeFlags(["-target-cpu", "haswell"], .when(platforms: [.linux], configuration: .release)),
]

let package = Package(
    name: "QATLab",
    products: [
        .executable(name: "qat", targets: ["qat"]),
    ],
    targets: [
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS",
                       pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CHDF5", path: "Sources/CHDF5",
                       pkgConfig: "hdf5", providers: [.apt(["libhdf5-dev"])]),
        .systemLibrary(name: "CReadline", path: "Sources/CReadline",
                       providers: [.apt(["libreadline-dev"])]),

        .target(name: "CBF16", path: "Sources/CBF16",
                linkerSettings: [.linkedLibrary("dnnl"), .linkedLibrary("gomp")]),

        .target(name: "QATTensor", dependencies: ["CBLAS", "CBF16"], swiftSettings: hot),
        .target(name: "QATAutograd", dependencies: ["QATTensor"], swiftSettings: hot),
        .target(name: "QATIO", dependencies: ["QATTensor", "CHDF5"], swiftSettings: hot),
        .target(name: "QATInterp", dependencies: ["QATTensor"], swiftSettings: hot),
        .target(name: "QATTokenizer", dependencies: [], swiftSettings: hot),
        .target(name: "QATModel", dependencies: ["QATAutograd", "QATIO", "QATTensor", "QATTokenizer"], swiftSettings: hot),
        .target(name: "QATEval", dependencies: ["QATModel", "QATIO", "QATTokenizer", "QATAutograd", "QATTensor"], swiftSettings: hot),
        .target(name: "QATQuant", dependencies: ["QATModel", "QATAutograd", "QATIO", "QATTensor", "QATTokenizer", "CBLAS"],
                swiftSettings: hot),
        .target(name: "QATTrain", dependencies: ["QATQuant", "QATModel", "QATAutograd", "QATIO", "QATTensor", "QATTokenizer"],
                swiftSettings: hot),
        .target(name: "QATResults", dependencies: ["QATIO", "QATTensor"], swiftSettings: hot),
        .target(name: "QATSweep", dependencies: ["QATResults", "QATIO", "QATTensor"], swiftSettings: hot),
        .target(name: "QATBench", dependencies: ["QATTrain", "QATEval", "QATQuant", "QATModel", "QATAutograd", "QATTensor"],
                swiftSettings: hot),
        .target(name: "QATToolkit", dependencies: ["QATBench", "QATSweep", "QATResults", "QATTrain", "QATEval", "QATQuant",
                                                   "QATModel", "QATTokenizer", "QATIO", "QATAutograd", "QATTensor", "QATInterp"],
                swiftSettings: hot),
        .executableTarget(name: "qat", dependencies: ["QATToolkit", "QATInterp", "QATTensor", "CReadline"], swiftSettings: hot),

        .testTarget(name: "QATTensorTests", dependencies: ["QATTensor"], swiftSettings: hot),
        .testTarget(name: "QATAutogradTests", dependencies: ["QATAutograd", "QATTensor"], swiftSettings: hot),
        .testTarget(name: "QATIOTests", dependencies: ["QATIO", "QATTensor"], exclude: ["Golden"], swiftSettings: hot),
        .testTarget(name: "QATInterpTests", dependencies: ["QATInterp", "QATTensor"], swiftSettings: hot),
        .testTarget(name: "QATTokenizerTests", dependencies: ["QATTokenizer"], exclude: ["Golden"], swiftSettings: hot),
        .testTarget(name: "QATModelTests", dependencies: ["QATModel", "QATAutograd", "QATIO", "QATTensor", "QATTokenizer"],
                    exclude: ["Golden", "TinyArch"], swiftSettings: hot),
        .testTarget(name: "QATEvalTests", dependencies: ["QATEval", "QATQuant", "QATModel", "QATIO", "QATTensor"], swiftSettings: hot),
        .testTarget(name: "QATQuantTests", dependencies: ["QATQuant", "QATModel", "QATAutograd", "QATIO", "QATTensor", "QATTokenizer"],
                    exclude: ["Golden"],
                    swiftSettings: hot),
        .testTarget(name: "QATTrainTests", dependencies: ["QATTrain", "QATQuant", "QATModel", "QATAutograd", "QATIO", "QATTensor"],
                    swiftSettings: hot),
        .testTarget(name: "QATResultsTests", dependencies: ["QATResults", "QATIO"], exclude: ["Golden"], swiftSettings: hot),
        .testTarget(name: "QATBenchTests", dependencies: ["QATBench"], swiftSettings: hot),
        .testTarget(name: "QATToolkitTests", dependencies: ["QATToolkit", "QATBench", "QATSweep", "QATResults", "QATTrain", "QATQuant",
                                                            "QATModel", "QATIO", "QATTensor", "QATInterp"],
                    swiftSettings: hot),
    ]
)
