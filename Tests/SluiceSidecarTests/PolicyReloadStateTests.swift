import Foundation
@testable import SluiceSidecar
import Testing

/// Which policy-file texts get loaded: changed ones, once each unless forced.
@Suite struct PolicyReloadStateTests {
    @Test func theVersionInForceIsUnchangedEvenWhenForced() {
        let state = PolicyReloadState(current: "a")
        #expect(state.decide(version: "a", forced: false) == .unchanged)
        #expect(state.decide(version: "a", forced: true) == .unchanged)
    }

    @Test func aNewVersionLoads() {
        let state = PolicyReloadState(current: "a")
        #expect(state.decide(version: "b", forced: false) == .load)
        #expect(state.decide(version: "b", forced: true) == .load)
    }

    @Test func aRejectedVersionIsNotRetriedUntilForcedOrChanged() {
        var state = PolicyReloadState(current: "a")
        state.failed("b")
        #expect(state.current == "a")
        #expect(state.decide(version: "b", forced: false) == .alreadyRejected)
        #expect(state.decide(version: "b", forced: true) == .load)
        #expect(state.decide(version: "c", forced: false) == .load)
        #expect(state.decide(version: "a", forced: false) == .unchanged)
    }

    @Test func loadingMovesTheVersionAndForgetsTheRejection() {
        var state = PolicyReloadState(current: "a")
        state.failed("b")
        state.loaded("c")
        #expect(state.current == "c")
        #expect(state.rejected == nil)
        #expect(state.decide(version: "c", forced: false) == .unchanged)
        #expect(state.decide(version: "b", forced: false) == .load)
        #expect(state.decide(version: "a", forced: false) == .load)
    }

    @Test func aRevertToARejectedTextAfterAGoodOneIsTriedAgain() {
        var state = PolicyReloadState(current: "a")
        state.failed("b")
        state.failed("c")
        #expect(state.decide(version: "b", forced: false) == .load)
        #expect(state.decide(version: "c", forced: false) == .alreadyRejected)
    }

    @Test func theFingerprintIsStableAndSensitiveToEveryByte() {
        #expect(PolicyFingerprint.of(Data()) == "cbf29ce484222325")
        #expect(PolicyFingerprint.of(Data("a".utf8)) == "af63dc4c8601ec8c")
        #expect(PolicyFingerprint.of(Data("models: {}\n".utf8)) != PolicyFingerprint.of(Data("models: {} \n".utf8)))
        #expect(PolicyFingerprint.of(Data("x".utf8)).count == 16)
    }
}
