// fmt (the verbs' fixed-point numbers) and Help.fixed (`time`) print any Double without trapping:
// ordinary values exactly as before, 1e15 and beyond in exponent form, infinities and NaN as Swift
// writes them.
// The expected strings are worked by hand from the definition (scale by 10^digits, round half
// away from zero, split at the point).
import Testing
@testable import QATInterp
import QATTensor

@Suite struct NumberFormatTests {
    @Test func ordinaryValuesPrintAsBefore() {
        #expect(fmt(3.14159) == "3.1")                 // 31.4159 -> 31
        #expect(fmt(2.25) == "2.3")                    // 22.5 -> 23 (half away from zero)
        #expect(fmt(-0.06) == "-0.1")                  // 0.6 -> 1, sign kept
        #expect(fmt(-0.04) == "0.0")                   // 0.4 -> 0: no "-0.0"
        #expect(fmt(0.125, digits: 2) == "0.13")       // 12.5 -> 13
        #expect(fmt(42, digits: 0) == "42")
        #expect(fmt(100, digits: 3) == "100.000")
        #expect(fmt(0.5, digits: 4) == "0.5000")
        #expect(fmt(1e14, digits: 4) == "100000000000000.0000")   // below 1e15: still fixed point
        #expect(fmt(123456.75, digits: 1) == "123456.8")          // 1234567.5 -> 1234568
    }

    @Test func hugeAndNonFiniteValuesPrintWithoutTrapping() {
        #expect(fmt(1e19) == "1e+19")                  // Int(1e20) trapped before
        #expect(fmt(-1e300) == "-1e+300")
        #expect(fmt(1e15, digits: 4) == "1e+15")      // Swift's own text would be 1000000000000000.0
        // below 1e15 fixed point stays exact even where the scaled value passes 2^52 (it used to print
        // float noise: 725561595285362 as ...361.96, or switch to exponent form past 9e18)
        #expect(fmt(9.5e14, digits: 4) == "950000000000000.0000")
        #expect(fmt(725561595285362.0, digits: 2) == "725561595285362.00")
        #expect(fmt(-123456789012.3456, digits: 4) == "-123456789012.3456")
        #expect(fmt(99999.99999999999, digits: 12) == "99999.999999999985")   // the double's own digits (...985448)
        #expect(Help.fixed(725561595285362.0, 2) == fmt(725561595285362.0, digits: 2))   // `time` prints the same way
        #expect(fmt(9.5e18, digits: 2) == "9.5e+18")   // a perplexity of exp(43.7)
        #expect(fmt(1e300, digits: 4) == "1e+300")
        #expect(fmt(.infinity) == "inf")
        #expect(fmt(-.infinity, digits: 4) == "-inf")
        #expect(fmt(.nan) == "nan")
    }

    @Test func helpFixedPrintsAnyDouble() {
        #expect(Help.fixed(1.5, 3) == "1.500")
        #expect(Help.fixed(-0.0004, 3) == "0.000")
        #expect(Help.fixed(2.5, 0) == "3")
        #expect(Help.fixed(1e19, 3) == "1e+19")
        #expect(Help.fixed(-1e300, 3) == "-1e+300")
        #expect(Help.fixed(.infinity, 3) == "inf")
        #expect(Help.fixed(.nan, 3) == "nan")
    }
}
