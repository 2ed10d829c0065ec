// Fake and hard quantization as autograd ops over the kernels of FakeQuant.swift.
//
//   weight: (rows, cols)   scales, zeros: (rows, groups)   codes: (rows, cols)   result: (rows, cols)
// Gradients go to each parent that requires one (a frozen weight, scale or zero gets none and
// costs nothing in the backward pass).
import QATAutograd
import QATTensor

/// The layout of a (rows, cols) weight with (rows, groups) scales and zeros, shapes checked.
func checkedLayout(rows: Int, cols: Int, scales: [Int], zeros: [Int], spec: QuantSpec, groups: Int? = nil,
                   grid: QuantGrid = .intAsym, op: String) throws -> QuantLayout {
    let layout = groups.map { QuantLayout(rows: rows, cols: cols, spec: spec, groups: $0, grid: grid) }
        ?? QuantLayout(rows: rows, cols: cols, spec: spec, grid: grid)
    let expected = [rows, layout.groups]
    guard scales == expected else {
        throw TensorError.shapeMismatch(op: "\(op) scales", lhs: scales, rhs: expected, hint: "scales must be (rows, groups) for \(spec) on \(cols) inputs")
    }
    guard zeros == expected else {
        throw TensorError.shapeMismatch(op: "\(op) zeros", lhs: zeros, rhs: expected, hint: "zeros must be (rows, groups) for \(spec) on \(cols) inputs")
    }
    return layout
}

/// W-hat = (clamp(round(W/s') + z', 0, qmax) - z') * s' with the spec's STE gradients to W, s, z.
public func fakeQuantize(weight: Var, scales: Var, zeros: Var, spec: QuantSpec) throws -> Var {
    guard weight.value.rank == 2 else {
        throw TensorError.invalidShape(op: "fake quant", shape: weight.shape, hint: "the weight must be (out, in)")
    }
    let l = try checkedLayout(rows: weight.shape[0], cols: weight.shape[1], scales: scales.shape, zeros: zeros.shape, spec: spec, op: "fake quant")
    let out = Tensor(uninitialized: weight.shape)
    fakeQuantForward(weight.value.data, scales: scales.value.data, zeros: zeros.value.data, out.data, layout: l)
    return Var.custom(out, name: "fake_quant", parents: [weight, scales, zeros]) { g in
        fakeQuantBackward(weight.value.data, scales: scales.value.data, zeros: zeros.value.data, g.data,
                          dw: weight.requiresGrad ? weight.gradBuffer().data : nil,
                          ds: scales.requiresGrad ? scales.gradBuffer().data : nil,
                          dz: zeros.requiresGrad ? zeros.gradBuffer().data : nil, layout: l)
    }
}

/// W = (q - z') * s' from frozen integer codes (rows * cols, row-major), with gradients
/// ds = g * (q - z') and dz = g * (-s'). `groupIndex` (cols) maps columns to groups (act-order);
/// nil means contiguous groups of spec.groupSize. `grid` selects the kernel (whether z is rounded).
public func hardDequantize(codes: [UInt8], rows: Int, cols: Int, groupIndex: [Int32]? = nil,
                           scales: Var, zeros: Var, spec: QuantSpec, grid: QuantGrid = .intAsym) throws -> Var {
    guard codes.count == rows * cols else {
        throw TensorError.invalidArgument(op: "hard dequant", message: "\(codes.count) codes for a \(rows)x\(cols) weight; expected \(rows * cols)")
    }
    if let gi = groupIndex {
        let groups = scales.shape.count == 2 ? scales.shape[1] : 0
        guard gi.count == cols, gi.allSatisfy({ $0 >= 0 && Int($0) < groups }) else {
            throw TensorError.invalidArgument(op: "hard dequant", message: "group index must have \(cols) entries in 0..<\(groups)")
        }
    }
    let l = try checkedLayout(rows: rows, cols: cols, scales: scales.shape, zeros: zeros.shape, spec: spec,
                              groups: groupIndex == nil ? nil : scales.shape[1], grid: grid, op: "hard dequant")
    let out = Tensor(uninitialized: [rows, cols])
    withPointers(codes, groupIndex) { q, gi in
        dequantForward(q, scales: scales.value.data, zeros: zeros.value.data, groupIndex: gi, out.data, layout: l)
    }
    return Var.custom(out, name: "hard_dequant", parents: [scales, zeros]) { g in
        withPointers(codes, groupIndex) { q, gi in
            dequantBackward(q, scales: scales.value.data, zeros: zeros.value.data, groupIndex: gi, g.data,
                            ds: scales.requiresGrad ? scales.gradBuffer().data : nil,
                            dz: zeros.requiresGrad ? zeros.gradBuffer().data : nil, layout: l)
        }
    }
}

/// Runs `body` with pointers to the codes and the optional group index.
func withPointers<R>(_ codes: [UInt8], _ groupIndex: [Int32]?, _ body: (UnsafePointer<UInt8>, UnsafePointer<Int32>?) -> R) -> R {
    codes.withUnsafeBufferPointer { q in
        guard let qp = q.baseAddress else {   // an empty weight: the kernels read nothing
            var none: UInt8 = 0
            return withUnsafePointer(to: &none) { body($0, nil) }
        }
        guard let groupIndex else { return body(qp, nil) }
        return groupIndex.withUnsafeBufferPointer { body(qp, $0.baseAddress) }
    }
}
