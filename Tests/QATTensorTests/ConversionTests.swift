// checkedInt: whole numbers in Int's range convert; NaN, infinities, fractions and anything at or
// beyond 2^63 throw an error naming the quantity and the value (Int(x) would stop the process).
import QATTensor
import Testing

@Suite struct ConversionTests {
    @Test func wholeNumbersInRangeConvert() throws {
        #expect(try checkedInt(3.0, "n") == 3)
        #expect(try checkedInt(-0.0, "n") == 0)
        #expect(try checkedInt(-9_007_199_254_740_992.0, "n") == -9_007_199_254_740_992)
        // -2^63 is Int.min exactly; the largest Double below 2^63 is 2^63 - 1024
        #expect(try checkedInt(-9_223_372_036_854_775_808.0, "n") == Int.min)
        #expect(try checkedInt(9_223_372_036_854_774_784.0, "n") == 9_223_372_036_854_774_784)
        #expect(try checkedInt(Float(7), "n") == 7)
    }

    @Test func outOfRangeNonFiniteAndFractionsThrow() {
        let bad: [Double] = [1e19, -1e19, 9_223_372_036_854_775_808.0, 1e308 * 10, -.infinity, .nan, 2.5, -0.5]
        for x in bad {
            #expect(throws: ConversionError.self, "\(x)") { try checkedInt(x, "units=") }
        }
        #expect(throws: ConversionError.self) { try checkedInt(Float.nan, "a code") }
    }

    @Test func errorNamesTheQuantityTheValueAndWhatWasExpected() {
        do { _ = try checkedInt(1e19, "units="); Issue.record("1e19 converted") } catch {
            #expect("\(error)" == "units= is 1e+19, expected a whole number between -9223372036854775808 and 9223372036854775807: give a smaller number")
        }
        do { _ = try checkedInt(2.5, "widths="); Issue.record("2.5 converted") } catch {
            #expect("\(error)" == "widths= is 2.5, expected a whole number: round it, or give a whole number")
        }
        do { _ = try checkedInt(Double.infinity, "max="); Issue.record("inf converted") } catch {
            #expect("\(error)".hasPrefix("max= is inf, expected a finite whole number: check what produced it"))
        }
    }

    @Test func roundingVariantRoundsThenChecks() throws {
        #expect(try checkedInt(2.5, rounding: .down, "n") == 2)
        #expect(try checkedInt(2.1, rounding: .up, "n") == 3)
        #expect(try checkedInt(-2.5, rounding: .toNearestOrAwayFromZero, "n") == -3)
        #expect(try checkedInt(-2.5, rounding: .toNearestOrEven, "n") == -2)
        #expect(throws: ConversionError.self) { try checkedInt(Double.nan, rounding: .up, "n") }
        #expect(throws: ConversionError.self) { try checkedInt(1e300, rounding: .down, "n") }
        #expect(throws: ConversionError.self) { try checkedInt(-Double.infinity, rounding: .down, "n") }
    }

    @Test func arangeRefusesACountBeyondInt() {
        // (3e38 - -3e38) / 1 overflows Float to inf: old code trapped in Int(inf)
        #expect(throws: ConversionError.self) { try Tensor.arange(-3e38, 3e38) }
        #expect(throws: ConversionError.self) { try Tensor.arange(0, 1, step: 1e-30) }
    }
}
