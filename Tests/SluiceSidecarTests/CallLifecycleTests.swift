import Testing
@testable import SluiceSidecar
import SluiceWire

/// The per-call state machine, driven by events alone: no sockets, no loop.
@Suite struct CallLifecycleTests {
    typealias Event = CallLifecycle.Event
    typealias Action = CallLifecycle.Action

    func machine(maxBody: Int = 100, maxHeld: Int = 1000) -> CallLifecycle {
        CallLifecycle(maxRequestBodyBytes: maxBody, maxBufferedResponseBytes: maxHeld)
    }

    /// Feeds events in order; returns the actions.
    func run(_ lifecycle: inout CallLifecycle, _ events: [Event]) -> [Action] {
        events.map { lifecycle.handle($0) }
    }

    /// A request read in full and its stages run, ready for a source.
    func requested(_ lifecycle: inout CallLifecycle) {
        #expect(run(&lifecycle, [.requestHead(contentLength: 2, expectsContinue: false), .requestBody(bytes: 2, reserved: true), .requestEnd]) == [.none, .appendRequestBody, .runStages])
    }

    @Test func jsonAnswerIsHeldThenSentWhole() {
        var lifecycle = machine()
        requested(&lifecycle)
        #expect(run(&lifecycle, [
            .sourceReady(duringRead: false), .sourceHead(status: 200, isEventStream: false),
            .sourceBody(bytes: 10, reserved: true), .sourceBody(bytes: 10, reserved: true), .sourceEnd(complete: true),
        ]) == [.startSource, .holdHead, .bufferBody, .bufferBody, .sendHeldAnswer])
        lifecycle.responseWritten()
        #expect(lifecycle.response == .ended)
        #expect(lifecycle.request == .idle)
        #expect(lifecycle.closeAfterResponse == false)
    }

    @Test func eventStreamHeadGoesOutAtOnceAndPartsAreRelayed() {
        var lifecycle = machine()
        requested(&lifecycle)
        #expect(run(&lifecycle, [
            .sourceReady(duringRead: false), .sourceHead(status: 200, isEventStream: true),
            .sourceBody(bytes: 5, reserved: true), .sourceEnd(complete: true),
        ]) == [.startSource, .sendStreamHead, .relayBody, .endStream])
    }

    @Test func eventStreamErrorStatusIsHeldLikeJSON() {
        var lifecycle = machine()
        requested(&lifecycle)
        #expect(run(&lifecycle, [.sourceReady(duringRead: false), .sourceHead(status: 429, isEventStream: true)]) == [.startSource, .holdHead])
    }

    @Test func streamWithoutItsFinalEventEndsBroken() {
        var lifecycle = machine()
        requested(&lifecycle)
        #expect(run(&lifecycle, [.sourceReady(duringRead: false), .sourceHead(status: 200, isEventStream: true), .sourceEnd(complete: false)])
            == [.startSource, .sendStreamHead, .endBrokenStream(.upstreamError)])
        #expect(lifecycle.closeAfterResponse == false) // framing intact: keep-alive goes on
    }

    @Test(arguments: [(UpstreamFailureKind.timeout, SluiceErrorCode.upstreamTimeout), (.connect, .upstreamError), (.closed, .upstreamError), (.protocolError, .upstreamError)])
    func failureBeforeTheHeadBecomesAnErrorReply(kind: UpstreamFailureKind, code: SluiceErrorCode) {
        var lifecycle = machine()
        requested(&lifecycle)
        #expect(run(&lifecycle, [.sourceReady(duringRead: false), .sourceFailed(kind)]) == [.startSource, .answerWithError(code)])
        // The error reply is a source of its own and flows through the same states.
        #expect(run(&lifecycle, [.sourceReady(duringRead: false), .sourceHead(status: code.status, isEventStream: false), .sourceBody(bytes: 50, reserved: true), .sourceEnd(complete: true)])
            == [.startSource, .holdHead, .bufferBody, .sendHeldAnswer])
    }

    @Test func failureWhileHoldingJSONIsStillAnErrorReply() {
        var lifecycle = machine()
        requested(&lifecycle)
        #expect(run(&lifecycle, [.sourceReady(duringRead: false), .sourceHead(status: 200, isEventStream: false), .sourceBody(bytes: 10, reserved: true), .sourceFailed(.brokenStream)])
            == [.startSource, .holdHead, .bufferBody, .answerWithError(.upstreamError)])
    }

    @Test func failureMidStreamEndsWithAnErrorEvent() {
        var lifecycle = machine()
        requested(&lifecycle)
        #expect(run(&lifecycle, [.sourceReady(duringRead: false), .sourceHead(status: 200, isEventStream: true), .sourceBody(bytes: 1, reserved: true), .sourceFailed(.timeout)])
            == [.startSource, .sendStreamHead, .relayBody, .endBrokenStream(.upstreamTimeout)])
        // The error event and the final chunk keep the framing intact: keep-alive goes on
        // (closing lost the client's next request on the connection; found by scripts/soak).
        #expect(lifecycle.closeAfterResponse == false)
    }

    @Test func oversizedJSONIsRelayedAndABreakAborts() {
        var lifecycle = machine(maxHeld: 15)
        requested(&lifecycle)
        #expect(run(&lifecycle, [
            .sourceReady(duringRead: false), .sourceHead(status: 200, isEventStream: false),
            .sourceBody(bytes: 10, reserved: true), .sourceBody(bytes: 10, reserved: true), .sourceBody(bytes: 10, reserved: true), .sourceFailed(.brokenStream),
        ]) == [.startSource, .holdHead, .bufferBody, .flushHeldAndRelay, .relayBody, .abort])
    }

    @Test func oversizedJSONThatEndsCleanlyEndsTheStream() {
        var lifecycle = machine(maxHeld: 15)
        requested(&lifecycle)
        #expect(run(&lifecycle, [.sourceReady(duringRead: false), .sourceHead(status: 200, isEventStream: false), .sourceBody(bytes: 16, reserved: true), .sourceEnd(complete: true)])
            == [.startSource, .holdHead, .flushHeldAndRelay, .endStream])
    }

    @Test func jsonThatCannotGetMemoryIsRelayedNotHeld() {
        var lifecycle = machine()
        requested(&lifecycle)
        #expect(run(&lifecycle, [.sourceReady(duringRead: false), .sourceHead(status: 200, isEventStream: false), .sourceBody(bytes: 1, reserved: false)])
            == [.startSource, .holdHead, .flushHeldAndRelay])
    }

    @Test func declaredTooLargeIsRejectedAtTheHead() {
        var lifecycle = machine(maxBody: 10)
        #expect(lifecycle.handle(.requestHead(contentLength: 11, expectsContinue: true)) == .reject(.requestTooLarge))
        #expect(lifecycle.closeAfterResponse)
        // The body that still comes is dropped; the reply flows as a source.
        #expect(run(&lifecycle, [.requestBody(bytes: 11, reserved: true), .sourceHead(status: 413, isEventStream: false), .requestEnd, .sourceBody(bytes: 3, reserved: true), .sourceEnd(complete: true)])
            == [.dropRequestBody, .holdHead, .none, .bufferBody, .sendHeldAnswer])
    }

    @Test func bodyJustAtTheLimitIsAcceptedOneMoreByteIsNot() {
        var atLimit = machine(maxBody: 10)
        #expect(run(&atLimit, [.requestHead(contentLength: nil, expectsContinue: false), .requestBody(bytes: 6, reserved: true), .requestBody(bytes: 4, reserved: true), .requestEnd])
            == [.none, .appendRequestBody, .appendRequestBody, .runStages])
        var over = machine(maxBody: 10)
        #expect(run(&over, [.requestHead(contentLength: nil, expectsContinue: false), .requestBody(bytes: 6, reserved: true), .requestBody(bytes: 5, reserved: true), .requestBody(bytes: 1, reserved: true)])
            == [.none, .appendRequestBody, .reject(.requestTooLarge), .dropRequestBody])
    }

    @Test func bodyWithoutMemoryIsShedAsOverloaded() {
        var lifecycle = machine()
        #expect(run(&lifecycle, [.requestHead(contentLength: nil, expectsContinue: false), .requestBody(bytes: 6, reserved: false)]) == [.none, .reject(.overloaded)])
        #expect(lifecycle.request == .discarding)
    }

    @Test func expectContinueIsAnsweredWhenTheBodyFits() {
        var lifecycle = machine()
        #expect(lifecycle.handle(.requestHead(contentLength: 5, expectsContinue: true)) == .sendContinue)
    }

    @Test func sourceDecidedDuringAReadStartsAtReadComplete() {
        var lifecycle = machine()
        requested(&lifecycle)
        #expect(lifecycle.handle(.sourceReady(duringRead: true)) == .none)
        #expect(lifecycle.response == .pendingStart)
        #expect(lifecycle.handle(.readComplete) == .startSource)
        #expect(lifecycle.handle(.readComplete) == .none)
    }

    @Test func rapidResetBeforeReadCompleteNeverStartsTheSource() {
        var lifecycle = machine()
        requested(&lifecycle)
        #expect(run(&lifecycle, [.sourceReady(duringRead: true), .clientClosed, .readComplete]) == [.none, .cancelAndFinish(.clientClosed), .none])
    }

    @Test(arguments: [
        [Event.sourceReady(duringRead: false)],
        [.sourceReady(duringRead: false), .sourceHead(status: 200, isEventStream: false)],
        [.sourceReady(duringRead: false), .sourceHead(status: 200, isEventStream: true), .sourceBody(bytes: 3, reserved: true)],
        [],
    ])
    func clientLeavingWhileTheCallRunsCancelsAndFinishesOnce(_ before: [Event]) {
        var lifecycle = machine()
        requested(&lifecycle)
        _ = run(&lifecycle, before)
        #expect(lifecycle.handle(.clientClosed) == .cancelAndFinish(.clientClosed))
        // Nothing the source might still say gets through, and a second close is nothing.
        #expect(run(&lifecycle, [.sourceBody(bytes: 1, reserved: true), .sourceEnd(complete: true), .sourceFailed(.closed), .clientClosed]) == [.none, .none, .none, .none])
    }

    @Test func clientLeavingMidRequestOrBetweenCallsHasNothingToFinish() {
        var midRequest = machine()
        #expect(run(&midRequest, [.requestHead(contentLength: 9, expectsContinue: false), .requestBody(bytes: 3, reserved: true), .clientClosed]) == [.none, .appendRequestBody, .none])
        var between = machine()
        requested(&between)
        _ = run(&between, [.sourceReady(duringRead: false), .sourceHead(status: 200, isEventStream: false), .sourceEnd(complete: true)])
        between.responseWritten()
        #expect(between.handle(.clientClosed) == .none)
    }

    @Test func backpressureReachesOnlyARunningSource() {
        var lifecycle = machine()
        #expect(lifecycle.handle(.clientWritabilityChanged(writable: false)) == .none)
        requested(&lifecycle)
        #expect(lifecycle.handle(.clientWritabilityChanged(writable: false)) == .none) // stages still running
        _ = lifecycle.handle(.sourceReady(duringRead: false))
        #expect(lifecycle.handle(.clientWritabilityChanged(writable: false)) == .setDemand(false))
        _ = lifecycle.handle(.sourceHead(status: 200, isEventStream: true))
        #expect(lifecycle.handle(.clientWritabilityChanged(writable: true)) == .setDemand(true))
    }

    @Test func keepAliveConnectionServesTheNextRequestAfterTheAnswer() {
        var lifecycle = machine()
        for _ in 0..<3 {
            requested(&lifecycle)
            _ = run(&lifecycle, [.sourceReady(duringRead: false), .sourceHead(status: 200, isEventStream: false), .sourceEnd(complete: true)])
            lifecycle.responseWritten()
        }
        #expect(lifecycle.closeAfterResponse == false)
    }

    @Test func eventsOutOfPlaceAreIgnored() {
        var lifecycle = machine()
        #expect(run(&lifecycle, [.requestEnd, .requestBody(bytes: 1, reserved: true), .sourceHead(status: 200, isEventStream: false), .sourceBody(bytes: 1, reserved: true), .sourceEnd(complete: true), .sourceFailed(.closed), .readComplete])
            == [.none, .none, .none, .none, .none, .none, .none])
        #expect(lifecycle.response == .none)
    }
}
