// Scalar transcendental functions from libm, reachable without Foundation.
#if canImport(Glibc)
import Glibc
#endif

extension Double {
    @inline(__always) var logValue: Double { Glibc.log(self) }
    @inline(__always) var expValue: Double { Glibc.exp(self) }
    @inline(__always) var cosValue: Double { Glibc.cos(self) }
}

@inline(__always) public func qexp(_ x: Float) -> Float { Glibc.expf(x) }
@inline(__always) public func qlog(_ x: Float) -> Float { Glibc.logf(x) }
@inline(__always) public func qexpD(_ x: Double) -> Double { Glibc.exp(x) }
@inline(__always) public func qlogD(_ x: Double) -> Double { Glibc.log(x) }
@inline(__always) public func qpow(_ x: Double, _ y: Double) -> Double { Glibc.pow(x, y) }
@inline(__always) public func qsin(_ x: Double) -> Double { Glibc.sin(x) }
@inline(__always) public func qcos(_ x: Double) -> Double { Glibc.cos(x) }
