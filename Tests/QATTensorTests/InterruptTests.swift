// The Ctrl-C flag while a test holds it exclusively: only the holder's thread takes it, so a
// concurrently running test that polls (every interpreter statement does) cannot steal it.
import Foundation
import Testing
@testable import QATTensor

@Suite struct InterruptTests {
    @Test func onlyTheExclusiveThreadTakesTheFlag() { Interrupt.exclusively {
        Interrupt.request()
        let takenElsewhere = Flag()
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            takenElsewhere.value = Interrupt.take() || ((try? Interrupt.check()) == nil)
            done.signal()
        }
        done.wait()
        #expect(!takenElsewhere.value, "another thread consumed the holder's Ctrl-C")
        #expect(Interrupt.requested)
        #expect(throws: Interrupted.self) { try Interrupt.check() }
        #expect(!Interrupt.requested && !Interrupt.take())
    } }
}

/// Written by the other thread before the semaphore is signalled, read after the wait.
private final class Flag: @unchecked Sendable { var value = true }
